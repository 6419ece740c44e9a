// `gatehouse user reset-factors NAME`: an operator removes every second factor of a person who
// lost them (TOTP authenticator, passkeys and security keys, recovery codes) and ends every
// session of theirs on every replica; audited. With factors required for them, their next
// sign-in takes them through enrolment again.
import type { Store } from '../store/index.ts';
import { endAllAccess } from '../accounts/index.ts';
import type { CliIO } from './io.ts';

export async function resetFactors(store: Store, username: string, io: CliIO): Promise<number> {
  const user = await store.users.findByUsername(username);
  if (!user) {
    io.err(`gatehouse: no user named "${username}"`);
    return 1;
  }
  const gone = await store.factors.deleteAll(user.id);
  const now = Date.now();
  const { sessions } = await endAllAccess(store, user.id, now);
  await store.audit.append({
    at: now,
    actor: 'cli',
    action: 'factor_reset',
    outcome: 'ok',
    target: user.username,
    detail: { totp: gone.totp, passkeys: gone.passkeys, recoveryCodes: gone.recoveryCodes, sessionsEnded: sessions.length },
  });
  io.out(
    `reset the second factors of ${user.username}: ${gone.totp ? 'removed the authenticator app' : 'no authenticator app'}, ` +
      `removed ${gone.passkeys} passkey(s) and ${gone.recoveryCodes} unused recovery code(s); ended ${sessions.length} session(s)`,
  );
  return 0;
}
