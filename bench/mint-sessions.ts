// Sessions for the memory stage, made the way a sign-in makes them (Sessions.begin: a store
// record and a sealed cookie) but without the password check: 10,000 argon2id hashes would
// take minutes and leave the server's heap full of their buffers, measuring sign-in instead of
// the forward-auth path. Runs in the bench process against the server's SQLite file and
// generated secret.
import { join } from 'node:path';
import { silentLogger, systemClock } from '../src/core/index.ts';
import { KeyRing } from '../src/crypto/index.ts';
import { openStore } from '../src/store/index.ts';
import { Sessions } from '../src/sessions/index.ts';
import { Accounts, SignInThrottle } from '../src/accounts/index.ts';
import { readGeneratedSecrets } from '../src/app/index.ts';

export async function mintSessions(dataDir: string, cookieName: string, count: number): Promise<string[]> {
  const secrets = await readGeneratedSecrets(dataDir);
  if (!secrets) throw new Error(`no generated secret in ${dataDir}`);
  const store = await openStore({ url: `sqlite:${join(dataDir, 'gatehouse.db')}`, logger: silentLogger });
  try {
    const users = await store.users.list();
    if (users.length === 0) throw new Error('no users to mint sessions for');
    const sessions = new Sessions({
      keyring: KeyRing.fromSecrets(secrets),
      store,
      clock: systemClock,
      logger: silentLogger,
      lifetimeMs: 7 * 86_400_000,
      idleTimeoutMs: 86_400_000,
      accounts: new Accounts({
        store,
        clock: systemClock,
        logger: silentLogger,
        groups: [],
        throttle: new SignInThrottle({ perAccount: 5, perAddress: 20, windowMs: 60_000 }, systemClock),
      }),
    });
    const cookies: string[] = [];
    for (let i = 0; i < count; i++) {
      const { cookie } = await sessions.begin(users[i % users.length]!, { ip: null, userAgent: 'bench' });
      cookies.push(`${cookieName}=${cookie}`);
    }
    return cookies;
  } finally {
    await store.close();
  }
}
