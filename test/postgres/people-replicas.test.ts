// A password reset on two replicas of one PostgreSQL database: the link made by the operator on
// one (gatehouse user reset-link), used on the other; every session of the account, on both
// replicas, is refused by the gate within a second; the link works once, on either replica.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../../src/cli/index.ts';
import { ALICE, BROWSER, PASSWORD, baseConfig, cookieHeader, fakeIO, forwardAuth, startInstance, type Instance } from '../kit/server.ts';
import { cookieValue, send } from '../kit/http.ts';
import { signIn } from '../kit/sign-in.ts';
import { tempDir } from '../kit/temp.ts';
import { createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';

const COOKIE = '_gatehouse_people_replicas';
const APP = 'https://app.example.test/';

/** The new-password form of a link on one replica, then its POST: the answer. */
async function useLink(inst: Instance, link: string, password: string): Promise<{ form: number; post: number; body: string }> {
  const u = new URL(link);
  const headers = { host: 'auth.example.test', 'x-forwarded-proto': 'https', ...BROWSER };
  const page = await send(inst.port, { path: `${u.pathname}${u.search}`, headers });
  if (page.status !== 200) return { form: page.status, post: 0, body: page.body };
  const csrf = /name="csrf" value="([^"]*)"/.exec(page.body)?.[1] ?? '';
  const csrfCookie = cookieValue(page.setCookies, `${COOKIE}_csrf`) ?? '';
  const r = await send(inst.port, {
    method: 'POST',
    path: u.pathname,
    body: new URLSearchParams({ csrf, t: u.searchParams.get('t') ?? '', password }).toString(),
    headers: {
      ...headers,
      'content-type': 'application/x-www-form-urlencoded',
      origin: 'https://auth.example.test',
      cookie: `${COOKIE}_csrf=${csrfCookie}`,
    },
  });
  return { form: page.status, post: r.status, body: r.body };
}

describe('password reset across two replicas', () => {
  let db: TestDatabase;
  const replicas: Instance[] = [];

  before(async () => {
    await requirePostgres();
    db = await createTestDatabase();
    for (let i = 0; i < 2; i++) {
      const dir = await tempDir();
      replicas.push(
        await startInstance({
          dir,
          users: i === 0 ? [ALICE] : [],
          config: (d) => baseConfig(d, { database: { url: db.url }, session: { cookieName: COOKIE } }),
        }),
      );
    }
  });
  after(async () => {
    for (const r of replicas) await r.close();
    await db?.drop();
  });

  test('the link from one replica, used on the other, ends every session on both within 1 s; once', async () => {
    const [a, b] = replicas as [Instance, Instance];
    const onA = (await signIn(a, 'alice')).value;
    const onB = (await signIn(b, 'alice')).value;
    for (const inst of [a, b])
      for (const c of [onA, onB]) assert.equal((await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, c) })).status, 202);

    const io = fakeIO();
    assert.equal(await runCli(['user', 'reset-link', 'alice', '--config', a.configPath], io), 0, io.stderr.join('\n'));
    const link = (io.stdout[1] ?? '').trim();
    assert.match(link, /^https:\/\/auth\.example\.test\/oauth2\/reset\?t=[A-Za-z0-9_-]{43}$/);

    const setAt = Date.now();
    const used = await useLink(b, link, 'a whole new passphrase');
    assert.deepEqual([used.form, used.post], [200, 200], used.body.slice(0, 300));
    assert.match(used.body, /<h1>Password changed<\/h1>/);
    for (const inst of [a, b]) {
      for (const c of [onA, onB]) {
        const until = setAt + 1000;
        for (;;) {
          const st = (await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, c) })).status;
          if (st !== 202) {
            assert.equal(st, 302);
            break;
          }
          assert.ok(Date.now() < until, 'a session still passes the gate a second after the reset');
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
    // Once: on either replica the link is spent.
    for (const inst of [a, b]) assert.equal((await useLink(inst, link, 'yet another passphrase')).form, 410);
    await signIn(a, 'alice', 'a whole new passphrase');
    await assert.rejects(signIn(b, 'alice', PASSWORD), /got 401/);
  });
});
