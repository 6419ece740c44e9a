// Sessions against a real (in-memory SQLite) store and a frozen clock: begin/authenticate, the
// in-memory cache that keeps the hot path off the store, revocation (local, by the feed, by
// polling the store), idle and absolute expiry, tampered cookies, key rotation, identity refresh.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, MemoryLogger } from '../core/index.ts';
import { KeyRing } from '../crypto/index.ts';
import { Accounts, SignInThrottle } from '../accounts/index.ts';
import { openStore, type Store, type UserRecord } from '../store/index.ts';
import { Sessions, type SessionView } from './index.ts';

const SECRET_A = '+IgCoVQqg0/lBY/ijpasDEt4ezf5x0YQM8oB0e4TIME=';
const SECRET_B = '5gz8AqwGm/T2mcN0AH4r+8+L/C84Y9Dg+Kl7QDHYjDw=';
const HOUR = 3600_000;
const META = { ip: '192.0.2.1', userAgent: 'test' };

let clock: ManualClock;
let store: Store;
let logger: MemoryLogger;
let alice: UserRecord;
let keyring: KeyRing;
const started: Sessions[] = [];

function accountsOf(): Accounts {
  const throttle = new SignInThrottle({ perAccount: 5, perAddress: 20, windowMs: 60_000 }, clock);
  return new Accounts({ store, clock, logger, throttle, groups: [] });
}

async function make(opts: { lifetimeMs?: number; idleTimeoutMs?: number; keyring?: KeyRing } = {}): Promise<Sessions> {
  const s = new Sessions({
    keyring: opts.keyring ?? keyring,
    store,
    clock,
    logger,
    lifetimeMs: opts.lifetimeMs ?? 7 * 24 * HOUR,
    idleTimeoutMs: opts.idleTimeoutMs ?? 24 * HOUR,
    accounts: accountsOf(),
  });
  await s.start();
  started.push(s);
  return s;
}

/** Count calls to store.sessions.get (the store access the cache exists to avoid). */
function countGets(): { readonly n: number } {
  const counter = { n: 0 };
  const original = store.sessions.get.bind(store.sessions);
  store.sessions.get = (id: string) => {
    counter.n++;
    return original(id);
  };
  return counter;
}

async function settle(v: Promise<SessionView | null> | SessionView | null): Promise<SessionView | null> {
  return await v;
}

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 2, 1));
  logger = new MemoryLogger();
  store = await openStore({ url: 'sqlite::memory:', logger, clock });
  await store.migrate();
  keyring = KeyRing.fromSecrets([SECRET_A]);
  alice = await store.users.create({
    id: 'u-alice',
    username: 'alice',
    email: 'alice@example.test',
    emailVerified: true,
    name: 'Alice',
    groups: ['admins'],
    passwordHash: null,
    disabled: false,
  });
});

afterEach(async () => {
  for (const s of started.splice(0)) await s.stop();
  await store.close();
});

describe('begin and authenticate', () => {
  test('begin stores the session and returns a cookie that authenticates to it', async () => {
    const s = await make();
    const { cookie, sid, expiresAt } = await s.begin(alice, META);
    assert.equal(expiresAt, clock.now() + 7 * 24 * HOUR);
    const rec = await store.sessions.get(sid);
    assert.deepEqual(rec, {
      id: sid,
      userId: 'u-alice',
      createdAt: clock.now(),
      expiresAt,
      lastSeenAt: clock.now(),
      revokedAt: null,
      ip: '192.0.2.1',
      userAgent: 'test',
      factors: null,
    });
    const view = await settle(s.authenticate(cookie));
    assert.ok(view);
    assert.equal(view.sid, sid);
    assert.equal(view.userId, 'u-alice');
    assert.equal(view.name, 'Alice');
    assert.deepEqual(view.identity, { username: 'alice', email: 'alice@example.test', emailVerified: true, groups: ['admins'] });
    assert.equal(view.expiresAt, expiresAt);
  });

  test('session ids never start with "-", so `gatehouse session revoke ID` can take any id `session list` prints', async () => {
    // node:util parseArgs reads a leading "-" as an option: `session revoke -Xyz…` exits 2
    // with "Unknown option '-X'". base64url ids start with "-" once in 64.
    const s = await make();
    const leading: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const { sid } = await s.begin(alice, META);
      if (sid.startsWith('-')) leading.push(sid);
    }
    assert.deepEqual(leading, []);
  });

  test('the cookie names the session only: no groups or email inside, and it stays small', async () => {
    await store.users.update('u-alice', { groups: Array.from({ length: 500 }, (_, i) => `group-${i}`) });
    const s = await make();
    const { cookie } = await s.begin((await store.users.get('u-alice'))!, META);
    assert.ok(cookie.length < 300, `${cookie.length} bytes`);
    assert.match(cookie, /^[A-Za-z0-9_-]+$/);
  });

  test('another process (a fresh Sessions on the same store) loads the session from the store once', async () => {
    const a = await make();
    const { cookie, sid } = await a.begin(alice, META);
    const b = await make();
    const gets = countGets();
    const first = b.authenticate(cookie);
    assert.ok(first instanceof Promise, 'the first sight of a session is a store lookup');
    assert.equal((await first)?.sid, sid);
    const second = b.authenticate(cookie);
    assert.ok(!(second instanceof Promise), 'the second is answered from memory');
    assert.equal(second?.sid, sid);
    assert.equal(gets.n, 1);
  });

  test('concurrent first requests for one session share one store lookup', async () => {
    const a = await make();
    const { cookie } = await a.begin(alice, META);
    const b = await make();
    const gets = countGets();
    const views = await Promise.all([b.authenticate(cookie), b.authenticate(cookie), b.authenticate(cookie)]);
    assert.ok(views.every((v) => v?.userId === 'u-alice'));
    assert.equal(gets.n, 1);
  });

  test('a session begun in this process is served from memory: no store access at all', async () => {
    const s = await make();
    const { cookie } = await s.begin(alice, META);
    const gets = countGets();
    for (let i = 0; i < 5; i++) {
      const v = s.authenticate(cookie);
      assert.ok(!(v instanceof Promise));
      assert.equal(v?.userId, 'u-alice');
    }
    assert.equal(gets.n, 0);
  });

  test('a cookie for a session that is not in the store is no session', async () => {
    const a = await make();
    const { cookie, sid } = await a.begin(alice, META);
    await store.sessions.deleteExpired(Number.MAX_SAFE_INTEGER);
    assert.equal(await store.sessions.get(sid), undefined);
    const b = await make();
    assert.equal(await settle(b.authenticate(cookie)), null);
  });

  test('a disabled user has no session in a process that loads it', async () => {
    const a = await make();
    const { cookie } = await a.begin(alice, META);
    await store.users.update('u-alice', { disabled: true });
    const b = await make();
    assert.equal(await settle(b.authenticate(cookie)), null);
  });
});

describe('cookies that are not ours', () => {
  test('undefined, empty, junk, tampered and oversized cookies are no session, without throwing', async () => {
    const s = await make();
    const { cookie } = await s.begin(alice, META);
    const flip = (c: string, i: number) => c.slice(0, i) + (c[i] === 'A' ? 'B' : 'A') + c.slice(i + 1);
    for (const bad of [
      undefined,
      '',
      'junk',
      '=',
      Buffer.from('x'.repeat(80)).toString('base64url'),
      flip(cookie, 5),
      flip(cookie, cookie.length - 3),
      cookie.slice(0, -1),
      cookie + 'A',
      'A'.repeat(5000),
    ]) {
      assert.equal(await settle(s.authenticate(bad)), null, JSON.stringify(bad?.slice(0, 12)));
    }
    assert.equal((await settle(s.authenticate(cookie)))?.userId, 'u-alice');
  });

  test('a value sealed by our key ring for another purpose (the login state) is no session', async () => {
    const s = await make();
    const { sid } = await s.begin(alice, META);
    const forged = keyring.seal('login-state', JSON.stringify({ v: 1, sid, uid: 'u-alice', iat: clock.now(), exp: clock.now() + HOUR }));
    assert.equal(await settle(s.authenticate(forged)), null);
  });

  test('a cookie sealed under another secret is no session', async () => {
    const other = await make({ keyring: KeyRing.fromSecrets([SECRET_B]) });
    const { cookie } = await other.begin(alice, META);
    const s = await make();
    assert.equal(await settle(s.authenticate(cookie)), null);
  });
});

describe('revocation', () => {
  test('revoke ends the session at once, records it in the store, and reports whether it was active', async () => {
    const s = await make();
    const { cookie, sid } = await s.begin(alice, META);
    assert.equal(await s.revoke(sid), true);
    assert.equal(s.authenticate(cookie), null);
    assert.equal((await store.sessions.get(sid))?.revokedAt, clock.now());
    assert.equal(await s.revoke(sid), false);
  });

  test('a revocation by another replica arrives through the feed and refuses the cached session synchronously', async () => {
    const a = await make();
    const b = await make();
    const { cookie, sid } = await a.begin(alice, META);
    assert.equal((await settle(b.authenticate(cookie)))?.sid, sid);
    await a.revoke(sid);
    assert.equal(b.authenticate(cookie), null);
  });

  test('store.revocations.publish from elsewhere (no local revoke) refuses the session', async () => {
    const s = await make();
    const { cookie, sid } = await s.begin(alice, META);
    await store.revocations.publish(sid);
    assert.equal(s.authenticate(cookie), null);
  });

  test('a revocation written to the store by another process (no feed) is picked up by the poll', async () => {
    const s = await make();
    const { cookie, sid } = await s.begin(alice, META);
    clock.advance(1000);
    assert.equal(await store.sessions.revoke(sid, clock.now()), true);
    assert.equal((await settle(s.authenticate(cookie)))?.sid, sid, 'still cached until the poll');
    await s.pollRevocations();
    assert.equal(s.authenticate(cookie), null);
  });

  test('revocations still in force are loaded at start: the refusal needs no store lookup', async () => {
    const a = await make();
    const { cookie, sid } = await a.begin(alice, META);
    await store.sessions.revoke(sid, clock.now());
    clock.advance(HOUR);
    const b = await make();
    const gets = countGets();
    const v = b.authenticate(cookie);
    assert.ok(!(v instanceof Promise));
    assert.equal(v, null);
    assert.equal(gets.n, 0);
  });

  test('a session revoked in the store is refused by a process loading it for the first time', async () => {
    const a = await make();
    const { cookie, sid } = await a.begin(alice, META);
    const b = await make();
    await store.sessions.revoke(sid, clock.now());
    assert.equal(await settle(b.authenticate(cookie)), null);
  });
});

describe('expiry', () => {
  test('idle longer than idleTimeout: refused; each use keeps it alive', async () => {
    const s = await make({ idleTimeoutMs: HOUR });
    const { cookie } = await s.begin(alice, META);
    for (let i = 0; i < 4; i++) {
      clock.advance(HOUR);
      assert.ok(await settle(s.authenticate(cookie)), `use ${i + 1}, exactly idleTimeout after the last`);
    }
    clock.advance(HOUR + 1);
    assert.equal(await settle(s.authenticate(cookie)), null);
  });

  test('idle time is kept in the store (flush), so another process sees the last use', async () => {
    const a = await make({ idleTimeoutMs: HOUR });
    const { cookie, sid } = await a.begin(alice, META);
    clock.advance(50 * 60_000);
    assert.ok(await settle(a.authenticate(cookie)));
    await a.flush();
    assert.equal((await store.sessions.get(sid))?.lastSeenAt, clock.now());
    clock.advance(50 * 60_000);
    const b = await make({ idleTimeoutMs: HOUR });
    assert.ok(await settle(b.authenticate(cookie)), 'idle 50 minutes, not 100');
    const c = await make({ idleTimeoutMs: HOUR });
    clock.advance(HOUR + 1);
    assert.equal(await settle(c.authenticate(cookie)), null);
  });

  test('past the absolute lifetime: refused however active', async () => {
    const s = await make({ lifetimeMs: 2 * HOUR, idleTimeoutMs: 24 * HOUR });
    const { cookie } = await s.begin(alice, META);
    clock.advance(2 * HOUR - 1);
    assert.ok(await settle(s.authenticate(cookie)));
    clock.advance(1);
    assert.equal(await settle(s.authenticate(cookie)), null);
    const other = await make({ lifetimeMs: 2 * HOUR });
    assert.equal(await settle(other.authenticate(cookie)), null);
  });

  test('a longer lifetime configured later does not extend a session sealed under the shorter one', async () => {
    const s = await make({ lifetimeMs: 2 * HOUR });
    const { cookie } = await s.begin(alice, META);
    s.configure({ keyring, lifetimeMs: 30 * 24 * HOUR, idleTimeoutMs: 24 * HOUR });
    clock.advance(2 * HOUR);
    assert.equal(await settle(s.authenticate(cookie)), null);
  });
});

describe('key rotation', () => {
  test('[B, A] still opens cookies sealed under A; [B] alone refuses them at once, even cached', async () => {
    const s = await make();
    const { cookie } = await s.begin(alice, META);
    assert.ok(await settle(s.authenticate(cookie)));
    s.configure({ keyring: KeyRing.fromSecrets([SECRET_B, SECRET_A]), lifetimeMs: 7 * 24 * HOUR, idleTimeoutMs: 24 * HOUR });
    assert.ok(await settle(s.authenticate(cookie)));
    const underB = (await s.begin(alice, META)).cookie;
    s.configure({ keyring: KeyRing.fromSecrets([SECRET_B]), lifetimeMs: 7 * 24 * HOUR, idleTimeoutMs: 24 * HOUR });
    assert.equal(await settle(s.authenticate(cookie)), null);
    assert.ok(await settle(s.authenticate(underB)));
  });
});

describe('identity changes', () => {
  test('reidentify() makes the next request refresh the identity from the store (groups changed in config or store)', async () => {
    const s = await make();
    const { cookie } = await s.begin(alice, META);
    await store.users.update('u-alice', { groups: ['admins', 'ops'] });
    assert.deepEqual((await settle(s.authenticate(cookie)))?.identity.groups, ['admins'], 'cached until told');
    s.reidentify();
    await settle(s.authenticate(cookie)); // starts the background refresh
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual((await settle(s.authenticate(cookie)))?.identity.groups, ['admins', 'ops']);
  });

  test('the identity is refreshed by itself after a minute', async () => {
    const s = await make();
    const { cookie } = await s.begin(alice, META);
    await store.users.update('u-alice', { email: 'alice@new.example', name: 'Alice B.' });
    clock.advance(61_000);
    await settle(s.authenticate(cookie));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const v = await settle(s.authenticate(cookie));
    assert.equal(v?.identity.email, 'alice@new.example');
    assert.equal(v?.name, 'Alice B.');
  });

  test('a user disabled in the store loses the cached session at the next refresh', async () => {
    const s = await make();
    const { cookie } = await s.begin(alice, META);
    await store.users.update('u-alice', { disabled: true });
    s.reidentify();
    await settle(s.authenticate(cookie));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(await settle(s.authenticate(cookie)), null);
  });
});

describe('memory bounds (issue 9)', () => {
  test('a stream of unique junk cookies adds nothing to memory', async () => {
    const s = await make();
    const { cookie } = await s.begin(alice, META);
    assert.ok(await settle(s.authenticate(cookie)));
    for (let i = 0; i < 5_000; i++) {
      assert.equal(await settle(s.authenticate(`${cookie.slice(0, 20)}${i.toString(36)}${'A'.repeat(i % 200)}`)), null);
    }
    assert.equal(s.cachedCookies, 1);
    assert.equal(s.cachedSessions, 1);
  });

  test('valid sessions past limits.sessionCache: both caches stay within it, and an evicted session still works (from the store)', async () => {
    const s = new Sessions({
      keyring,
      store,
      clock,
      logger,
      lifetimeMs: 7 * 24 * HOUR,
      idleTimeoutMs: 24 * HOUR,
      cacheSize: 50,
      accounts: accountsOf(),
    });
    await s.start();
    started.push(s);
    const cookies: string[] = [];
    for (let i = 0; i < 400; i++) {
      const { cookie } = await s.begin(alice, META);
      cookies.push(cookie);
      assert.ok(await settle(s.authenticate(cookie)));
      assert.ok(
        s.cachedCookies <= 50 && s.cachedSessions <= 50,
        `after ${i + 1}: ${s.cachedCookies} cookies, ${s.cachedSessions} sessions`,
      );
    }
    const first = await settle(s.authenticate(cookies[0]));
    assert.equal(first?.identity.username, 'alice');
    assert.ok(s.cachedCookies <= 50 && s.cachedSessions <= 50);
  });
});

describe('factor state', () => {
  test('travels in the cookie: a new process reads it without asking the store for more than the session', async () => {
    const a = await make();
    const f = { amr: ['pwd', 'otp', 'mfa'], mfaAt: clock.now(), passkeyAt: null };
    const { cookie } = await a.begin(alice, META, undefined, f);
    const b = await make();
    assert.deepEqual((await settle(b.authenticate(cookie)))?.factors, f);
    const plain = (await a.begin(alice, META)).cookie;
    assert.deepEqual((await settle(b.authenticate(plain)))?.factors, { amr: ['pwd'], mfaAt: null, passkeyAt: null });
  });

  test('elevate: the same session with newer factors; another process that loaded the old cookie takes the newer state', async () => {
    const a = await make();
    const b = await make();
    const { cookie, sid } = await a.begin(alice, META);
    assert.equal((await settle(b.authenticate(cookie)))?.factors.mfaAt, null);
    clock.advance(1000);
    const up = { amr: ['pwd', 'hwk', 'user', 'mfa'], mfaAt: clock.now(), passkeyAt: clock.now() };
    const next = await a.elevate(cookie, up);
    assert.ok(next && next !== cookie);
    assert.equal((await settle(a.authenticate(cookie)))?.factors.mfaAt, up.mfaAt, 'this process: at once, for the session');
    const seen = await settle(b.authenticate(next));
    assert.deepEqual([seen?.sid, seen?.factors], [sid, up]);
    assert.deepEqual((await settle(b.authenticate(cookie)))?.factors, up, 'an older cookie never lowers it');
    await a.revoke(sid);
    assert.equal(await a.elevate(next, up), null, 'a revoked session is not elevated');
    assert.equal((await store.sessions.get(sid))?.factors, JSON.stringify(up), 'recorded for explain');
  });
});
