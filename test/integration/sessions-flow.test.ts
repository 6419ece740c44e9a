// Browser sessions end to end: cookie size, foreign cookies of the same name, sign-out,
// revocation from the CLI against the same SQLite file, idle and absolute expiry with a frozen
// clock, and secret rotation through a config reload.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/index.ts';
import { runCli } from '../../src/cli/index.ts';
import { send, setCookieFor } from '../kit/http.ts';
import { until } from '../kit/poll.ts';
import {
  ALICE,
  baseConfig,
  BOB,
  BROWSER,
  cookieHeader,
  fakeIO,
  forwardAuth,
  SECRET_A,
  SECRET_B,
  startInstance,
  writeConfig,
} from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';
import { tempDir } from '../kit/temp.ts';

const APP = 'https://app.example.test/x';
const START = `https://auth.example.test/oauth2/start?rd=${encodeURIComponent(APP)}`;

describe('session cookies', () => {
  test('a user in 300 groups gets a cookie well under 4096 bytes, and every group in the header', async () => {
    const groups = Array.from({ length: 300 }, (_, i) => `team-with-a-rather-long-group-name-${String(i).padStart(3, '0')}`);
    const inst = await startInstance({ users: [{ name: 'carol', email: 'carol@example.test', groups: [...groups, 'admins'] }] });
    try {
      const { value: cookie, res: answer } = await signIn(inst, 'carol');
      const header = setCookieFor(answer.setCookies, inst.running.settings().cookieName)!;
      assert.ok(header.length < 4096, `Set-Cookie is ${header.length} bytes`);
      assert.ok(cookie.length < 512, `the cookie value is ${cookie.length} bytes`);
      const a = await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, cookie) });
      assert.equal(a.status, 202);
      assert.equal(a.headers['x-auth-request-groups'], [...groups, 'admins'].join(','));
    } finally {
      await inst.close();
    }
  });

  test('a foreign cookie of the same name is no session: a sign-in redirect, no 500, no loop', async () => {
    const inst = await startInstance({ users: [ALICE] });
    try {
      const junk = cookieHeader(inst, Buffer.from("someone else's sidecar session value ".repeat(4)).toString('base64url'));
      const a = await forwardAuth(inst.port, APP, { cookie: junk });
      assert.equal(a.status, 302);
      assert.equal(a.headers.location, START);
      // The portal renders its form (no redirect back to the app, so no loop).
      const page = await send(inst.port, {
        path: `/oauth2/start?rd=${encodeURIComponent(APP)}`,
        headers: { host: 'auth.example.test', cookie: junk, ...BROWSER },
      });
      assert.equal(page.status, 200);
      const home = await send(inst.port, { path: '/', headers: { host: 'auth.example.test', cookie: junk, ...BROWSER } });
      assert.equal(home.status, 302);
      assert.equal(home.headers.location, '/oauth2/sign_in');
      for (const v of ['', '=', 'a.b.c', '%%%', 'x'.repeat(5000)]) {
        const r = await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, v) });
        assert.equal(r.status, 302, `cookie ${JSON.stringify(v.slice(0, 10))}`);
      }
      // A tampered real cookie is no session either.
      const { value: cookie } = await signIn(inst, 'alice');
      const flipped = cookie.slice(0, 20) + (cookie[20] === 'A' ? 'B' : 'A') + cookie.slice(21);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, flipped) })).status, 302);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, cookie) })).status, 202);
    } finally {
      await inst.close();
    }
  });
});

describe('two cookies of our name (a stale or foreign one sent first)', () => {
  // Browsers send same-name cookies longer-path first, then oldest first (RFC 6265 §5.4): a
  // stale cookie under another Domain/Path (an old cookieDomain, a sidecar's cookie) comes
  // before the fresh one. Reading only the first makes sign-in loop forever: the new cookie
  // never wins. Every value of the name must be tried.
  test('forward auth accepts the valid one whatever its position', async () => {
    const inst = await startInstance({ users: [ALICE] });
    try {
      const { value: cookie } = await signIn(inst, 'alice');
      const name = inst.running.settings().cookieName;
      const stale = Buffer.from('stale value of a sidecar cookie with the same name').toString('base64url');
      const after = await forwardAuth(inst.port, APP, { cookie: `${name}=${cookie}; ${name}=${stale}` });
      assert.equal(after.status, 202);
      const before = await forwardAuth(inst.port, APP, { cookie: `${name}=${stale}; ${name}=${cookie}` });
      assert.equal(before.status, 202, 'the stale cookie first must not hide the valid one (else: a sign-in loop)');
      assert.equal(before.headers['x-auth-request-user'], 'alice');
    } finally {
      await inst.close();
    }
  });

  test('the portal sees the session too, so /oauth2/start goes on to rd instead of showing the form again', async () => {
    const inst = await startInstance({ users: [ALICE] });
    try {
      const { value: cookie } = await signIn(inst, 'alice');
      const name = inst.running.settings().cookieName;
      const a = await send(inst.port, {
        path: `/oauth2/start?rd=${encodeURIComponent(APP)}`,
        headers: { host: 'auth.example.test', cookie: `${name}=c3RhbGU; ${name}=${cookie}`, ...BROWSER },
      });
      assert.equal(a.status, 302);
      assert.equal(a.headers.location, APP);
    } finally {
      await inst.close();
    }
  });
});

describe('ending sessions', () => {
  test('sign-out clears the cookie and the same cookie is refused afterwards (302 browser, 401 API)', async () => {
    const inst = await startInstance({ users: [ALICE] });
    try {
      const { value: cookie } = await signIn(inst, 'alice');
      const c = cookieHeader(inst, cookie);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: c })).status, 202);
      const out = await send(inst.port, {
        method: 'POST',
        path: '/oauth2/sign_out',
        headers: { host: 'auth.example.test', cookie: c, ...BROWSER },
      });
      assert.equal(out.status, 200);
      const name = inst.running.settings().cookieName;
      assert.equal(setCookieFor(out.setCookies, name), `${name}=; Domain=example.test; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax`);
      assert.match(out.body, /You are signed out of every app\./);
      const again = await forwardAuth(inst.port, APP, { cookie: c });
      assert.equal(again.status, 302);
      assert.equal(again.headers.location, START);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: c, headers: { accept: 'application/json' } })).status, 401);
      const info = await send(inst.port, { path: '/oauth2/userinfo', headers: { host: 'auth.example.test', cookie: c } });
      assert.equal(info.status, 401);
    } finally {
      await inst.close();
    }
  });

  test('sign-out with rd redirects there (validated) and still ends the session', async () => {
    const inst = await startInstance({ users: [ALICE] });
    try {
      const c = cookieHeader(inst, (await signIn(inst, 'alice')).value);
      const out = await send(inst.port, {
        path: `/oauth2/sign_out?rd=${encodeURIComponent('https://evil.com/')}`,
        headers: { host: 'auth.example.test', cookie: c },
      });
      assert.equal(out.status, 302);
      assert.equal(out.headers.location, 'https://auth.example.test/');
      assert.equal((await forwardAuth(inst.port, APP, { cookie: c })).status, 302);
    } finally {
      await inst.close();
    }
  });

  test('`gatehouse session revoke ID` run against the same data directory is seen by the running instance within a second', async () => {
    const inst = await startInstance({ users: [ALICE] });
    try {
      const c = cookieHeader(inst, (await signIn(inst, 'alice')).value);
      // Warm: the running instance has this session in memory.
      assert.equal((await forwardAuth(inst.port, APP, { cookie: c })).status, 202);
      const list = fakeIO();
      assert.equal(await runCli(['session', 'list', '--user', 'alice', '--config', inst.configPath], list), 0);
      assert.equal(list.stdout.length, 1);
      const sid = list.stdout[0]!.split('\t')[0]!;
      const io = fakeIO();
      // `--` because a base64url id may start with "-" (see sessions.test.ts: ids must not).
      assert.equal(await runCli(['session', 'revoke', '--config', inst.configPath, '--', sid], io), 0);
      assert.deepEqual(io.stdout, ['revoked 1 session(s)']);
      const revokedAt = Date.now();
      await until(async () => (await forwardAuth(inst.port, APP, { cookie: c })).status === 302, {
        timeoutMs: 1500,
        what: 'the CLI revocation reached the server',
      });
      assert.ok(Date.now() - revokedAt <= 1500);
      const again = fakeIO();
      assert.equal(await runCli(['session', 'revoke', '--config', inst.configPath, '--', sid], again), 1);
      assert.deepEqual(again.stdout, ['no such active session']);
    } finally {
      await inst.close();
    }
  });

  test('`gatehouse session revoke --user` and `user disable` end every session of the user in the running instance', async () => {
    const inst = await startInstance({ users: [ALICE, { ...BOB, groups: ['admins'] }] });
    try {
      const a1 = cookieHeader(inst, (await signIn(inst, 'alice')).value);
      const a2 = cookieHeader(inst, (await signIn(inst, 'alice')).value);
      const b = cookieHeader(inst, (await signIn(inst, 'bob')).value);
      for (const c of [a1, a2, b]) assert.equal((await forwardAuth(inst.port, APP, { cookie: c })).status, 202);
      const io = fakeIO();
      assert.equal(await runCli(['session', 'revoke', '--user', 'alice', '--config', inst.configPath], io), 0);
      assert.deepEqual(io.stdout, ['revoked 2 session(s) and 0 OpenID record(s) (grants, refresh tokens)']);
      await until(
        async () =>
          (await forwardAuth(inst.port, APP, { cookie: a1 })).status === 302 &&
          (await forwardAuth(inst.port, APP, { cookie: a2 })).status === 302,
        { timeoutMs: 1500, what: 'both revocations reached the server' },
      );
      assert.equal((await forwardAuth(inst.port, APP, { cookie: b })).status, 202, "bob's session is untouched");
      const dis = fakeIO();
      assert.equal(await runCli(['user', 'disable', 'bob', '--config', inst.configPath], dis), 0);
      assert.deepEqual(dis.stdout, [
        'disabled bob; ended 1 session(s), revoked 0 OpenID record(s) (grants, refresh tokens, OpenID sessions)',
      ]);
      await until(async () => (await forwardAuth(inst.port, APP, { cookie: b })).status === 302, {
        timeoutMs: 1500,
        what: 'the disabled user is signed out',
      });
    } finally {
      await inst.close();
    }
  });

  test('a session idle longer than session.idleTimeout is refused; activity keeps it alive', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const inst = await startInstance({ users: [ALICE], clock, config: (dir) => baseConfig(dir, { session: { idleTimeout: '1h' } }) });
    try {
      const c = cookieHeader(inst, (await signIn(inst, 'alice')).value);
      for (let i = 0; i < 3; i++) {
        clock.advance(50 * 60_000);
        assert.equal((await forwardAuth(inst.port, APP, { cookie: c })).status, 202, `after ${(i + 1) * 50} minutes of steady use`);
      }
      clock.advance(2 * 3600_000);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: c })).status, 302);
      // And it stays refused (no "touch" on a refused request).
      assert.equal((await forwardAuth(inst.port, APP, { cookie: c })).status, 302);
    } finally {
      await inst.close();
    }
  });

  test('a session older than session.lifetime is refused however active it is', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const inst = await startInstance({
      users: [ALICE],
      clock,
      config: (dir) => baseConfig(dir, { session: { lifetime: '2h', idleTimeout: '1d' } }),
    });
    try {
      const { value: cookie, res: answer } = await signIn(inst, 'alice');
      assert.match(String(setCookieFor(answer.setCookies, inst.running.settings().cookieName)), /; Max-Age=7200;/);
      const c = cookieHeader(inst, cookie);
      clock.advance(60 * 60_000);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: c })).status, 202);
      clock.advance(60 * 60_000 - 1);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: c })).status, 202);
      clock.advance(1);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: c })).status, 302);
    } finally {
      await inst.close();
    }
  });
});

describe('secret rotation through a reload', () => {
  test('a cookie sealed under A works after [B, A], and stops after [B] alone; new cookies are sealed under B', async () => {
    const inst = await startInstance({ users: [ALICE], unwatched: true });
    try {
      const underA = cookieHeader(inst, (await signIn(inst, 'alice')).value);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: underA })).status, 202);

      await writeConfig(inst.realConfigPath, baseConfig(inst.dir, { secrets: { session: [SECRET_B, SECRET_A] } }));
      assert.equal(await inst.running.reload('manual'), true);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: underA })).status, 202, 'the old key still opens its cookies');
      const underB = cookieHeader(inst, (await signIn(inst, 'alice')).value);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: underB })).status, 202);

      await writeConfig(inst.realConfigPath, baseConfig(inst.dir, { secrets: { session: [SECRET_B] } }));
      assert.equal(await inst.running.reload('manual'), true);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: underA })).status, 302, 'a key rotated away stops working at once');
      assert.equal((await forwardAuth(inst.port, APP, { cookie: underB })).status, 202, 'cookies sealed under B were sealed under B');
    } finally {
      await inst.close();
    }
  });

  test('a ${file:} secret in another directory is watched from start-up: rotating it takes effect without a restart', async () => {
    const dir = await tempDir();
    const secretFile = join(dir, 'secrets', 'session');
    await mkdir(join(dir, 'secrets'));
    await writeFile(secretFile, SECRET_A);
    const inst = await startInstance({
      dir,
      users: [ALICE],
      config: (d) => baseConfig(d, { secrets: { session: `\${file:${secretFile}}` } }),
    });
    try {
      const underA = cookieHeader(inst, (await signIn(inst, 'alice')).value);
      assert.equal((await forwardAuth(inst.port, APP, { cookie: underA })).status, 202);
      await writeFile(secretFile, SECRET_B);
      await until(async () => (await forwardAuth(inst.port, APP, { cookie: underA })).status === 302, {
        timeoutMs: 3000,
        what: 'the rotated secret file was picked up (cookies under the removed secret refused)',
      });
    } finally {
      await inst.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
