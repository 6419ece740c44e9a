// The sign-in portal over a real socket: the form, CSRF, one generic failure for wrong password
// and unknown user, the session cookie's attributes, open-redirect defences on rd, and
// throttling per account and per address with a frozen clock.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/index.ts';
import { send, setCookieFor } from '../kit/http.ts';
import {
  ALICE,
  baseConfig,
  BOB,
  BROWSER,
  cookieHeader,
  type Instance,
  openForm,
  PASSWORD,
  postSignIn,
  startInstance,
} from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';

const FALLBACK = 'https://auth.example.test/';
const ERROR_P = (text: string) => `<p class="error" role="alert" id="err">${text}</p>`;
const GENERIC = 'Incorrect username or password.';

const RD_ATTACKS = [
  '//evil.com',
  'https://evil.com',
  'https://example.test.evil.com',
  '/\\evil.com',
  'https://a@evil.com',
  'javascript:alert(1)',
  'https://app.example.test\\@evil.com',
];

describe('the sign-in portal', () => {
  let inst: Instance;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  before(async () => {
    inst = await startInstance({ users: [ALICE, BOB], clock });
  });
  after(async () => {
    await inst.close();
  });

  test("GET /oauth2/start renders the form with hidden csrf and rd, and sets the form guard's cookie", async () => {
    const form = await openForm(inst, 'https://app.example.test/x?y=1');
    const name = `${inst.running.settings().cookieName}_csrf`;
    assert.equal(form.page.status, 200);
    assert.equal(form.page.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(form.page.headers['cache-control'], 'no-store');
    assert.match(form.csrf, /^[A-Za-z0-9_-]{20,}$/);
    assert.equal(form.rd, 'https://app.example.test/x?y=1');
    assert.match(form.page.body, /<form method="post" action="\/oauth2\/sign_in" novalidate>/);
    assert.equal(
      setCookieFor(form.page.setCookies, name),
      `${name}=${form.loginCookie}; Path=/; Max-Age=900; Secure; HttpOnly; SameSite=Lax`,
    );
    assert.equal(form.page.headers['referrer-policy'], 'same-origin');
    // The CSP lets the form's redirect go to the app's origin, and nowhere else.
    assert.match(String(form.page.headers['content-security-policy']), /form-action 'self' https:\/\/app\.example\.test(;|$)/);
  });

  test('a correct password: 303 to rd and a session cookie scoped to the domain, HttpOnly, Secure, SameSite=Lax', async () => {
    const form = await openForm(inst, 'https://app.example.test/x?y=1');
    const a = await postSignIn(inst, form, { username: 'alice', password: PASSWORD });
    const name = inst.running.settings().cookieName;
    assert.equal(a.status, 303);
    assert.equal(a.headers.location, 'https://app.example.test/x?y=1');
    assert.equal(a.headers['cache-control'], 'no-store');
    const set = setCookieFor(a.setCookies, name);
    assert.match(
      String(set),
      new RegExp(`^${name}=[A-Za-z0-9_-]+; Domain=example\\.test; Path=/; Max-Age=604800; Secure; HttpOnly; SameSite=Lax$`),
    );
    // The login state is cleared.
    assert.equal(setCookieFor(a.setCookies, `${name}_login`), `${name}_login=; Path=/oauth2/; Max-Age=0; Secure; HttpOnly; SameSite=Lax`);
  });

  test('a wrong password and an unknown user get the same status and the same words', async () => {
    const wrong = await postSignIn(inst, await openForm(inst), { username: 'alice', password: 'not the password' });
    const unknown = await postSignIn(inst, await openForm(inst), { username: 'mallory', password: 'not the password' });
    for (const a of [wrong, unknown]) {
      assert.equal(a.status, 401);
      assert.ok(a.body.includes(ERROR_P(GENERIC)), 'the generic error is shown');
      assert.equal(
        a.setCookies.some((c) => c.startsWith(`${inst.running.settings().cookieName}=`)),
        false,
        'no session cookie',
      );
      assert.equal(a.body.includes('not the password'), false, 'the password is never echoed');
    }
    const errors = (b: string) => b.match(/<p class="error"[^>]*>[^<]*<\/p>/g);
    assert.deepEqual(errors(wrong.body), errors(unknown.body));
  });

  test('a disabled account gets the same generic failure', async () => {
    const s = inst.running.store;
    const bob = await s.users.findByUsername('bob');
    await s.users.update(bob!.id, { disabled: true });
    try {
      const a = await postSignIn(inst, await openForm(inst), { username: 'bob', password: PASSWORD });
      assert.equal(a.status, 401);
      assert.ok(a.body.includes(ERROR_P(GENERIC)));
    } finally {
      await s.users.update(bob!.id, { disabled: false });
    }
  });

  test('a missing csrf field is refused with 400 and a fresh form', async () => {
    const form = await openForm(inst);
    const body = new URLSearchParams({ rd: form.rd, username: 'alice', password: PASSWORD }).toString();
    const a = await send(inst.port, {
      method: 'POST',
      path: '/oauth2/sign_in',
      body,
      headers: {
        host: 'auth.example.test',
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `${inst.running.settings().cookieName}_csrf=${form.loginCookie}`,
        ...BROWSER,
      },
    });
    assert.equal(a.status, 400);
    assert.ok(a.body.includes(ERROR_P('Your sign-in form expired. Please try again.')));
    assert.equal(
      a.setCookies.some((c) => c.startsWith(`${inst.running.settings().cookieName}=`)),
      false,
    );
  });

  test('a forged csrf (from another form) is refused with 400, even with the right password', async () => {
    const mine = await openForm(inst);
    const theirs = await openForm(inst);
    const a = await postSignIn(inst, mine, { username: 'alice', password: PASSWORD, csrf: theirs.csrf });
    assert.equal(a.status, 400);
    assert.equal(
      a.setCookies.some((c) => c.startsWith(`${inst.running.settings().cookieName}=`)),
      false,
    );
  });

  test('a post without the login-state cookie (a cross-site post) is refused with 400', async () => {
    const form = await openForm(inst);
    const a = await postSignIn(inst, { ...form, loginCookie: 'forged' }, { username: 'alice', password: PASSWORD });
    assert.equal(a.status, 400);
  });

  test('an expired sign-in form (loginStateLifetime 15m) is refused with 400', async () => {
    const form = await openForm(inst);
    clock.advance(15 * 60_000 + 1);
    const a = await postSignIn(inst, form, { username: 'alice', password: PASSWORD });
    assert.equal(a.status, 400);
  });

  for (const rd of RD_ATTACKS) {
    test(`rd ${JSON.stringify(rd)} falls back to the portal, at /oauth2/start and at the POST`, async () => {
      const form = await openForm(inst, rd);
      assert.equal(form.rd, FALLBACK);
      const a = await postSignIn(inst, form, { username: 'alice', password: PASSWORD, rd });
      assert.equal(a.status, 303);
      assert.equal(a.headers.location, FALLBACK);
    });
  }

  test('rd to a subdomain of a configured domain is kept', async () => {
    const form = await openForm(inst, 'https://deep.app.example.test/a?b=c');
    assert.equal(form.rd, 'https://deep.app.example.test/a?b=c');
  });

  test('/oauth2/start when already signed in goes straight to rd', async () => {
    const { value: cookie } = await signIn(inst, 'alice');
    const a = await send(inst.port, {
      path: `/oauth2/start?rd=${encodeURIComponent('https://app.example.test/again')}`,
      headers: { host: 'auth.example.test', cookie: cookieHeader(inst, cookie), ...BROWSER },
    });
    assert.equal(a.status, 302);
    assert.equal(a.headers.location, 'https://app.example.test/again');
  });

  test('X-Auth-Request-Redirect names the destination when there is no rd, under the same checks', async () => {
    const { value: cookie } = await signIn(inst, 'alice');
    const go = (header: string) =>
      send(inst.port, {
        path: '/oauth2/start',
        headers: { host: 'auth.example.test', cookie: cookieHeader(inst, cookie), 'x-auth-request-redirect': header, ...BROWSER },
      });
    assert.equal((await go('https://app.example.test/from-header')).headers.location, 'https://app.example.test/from-header');
    assert.equal((await go('https://evil.example.com/')).headers.location, 'https://auth.example.test/');
    assert.equal((await go('/\\evil.example.com')).headers.location, 'https://auth.example.test/');
  });

  test('/oauth2/start reached on an app host sends the browser to the portal, resolving a path-only rd on that host', async () => {
    const a = await send(inst.port, {
      path: `/oauth2/start?rd=${encodeURIComponent('/some/page?x=1')}`,
      headers: { host: 'app.example.test', 'x-forwarded-proto': 'https', ...BROWSER },
    });
    assert.equal(a.status, 302);
    assert.equal(
      a.headers.location,
      `https://auth.example.test/oauth2/start?rd=${encodeURIComponent('https://app.example.test/some/page?x=1')}`,
    );
  });
});

describe('sign-in throttling', () => {
  test('per account: the 4th failure is 429 with Retry-After, a correct password is refused while throttled, and works after the window', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const inst = await startInstance({
      users: [ALICE, BOB],
      clock,
      config: (dir) => baseConfig(dir, { signIn: { throttle: { perAccount: 3, perAddress: 100, window: '2s' } } }),
    });
    try {
      for (let i = 0; i < 3; i++) {
        const a = await postSignIn(inst, await openForm(inst), { username: 'alice', password: 'wrong password' });
        assert.equal(a.status, 401, `attempt ${i + 1}`);
      }
      const fourth = await postSignIn(inst, await openForm(inst), { username: 'alice', password: 'wrong password' });
      assert.equal(fourth.status, 429);
      assert.equal(fourth.headers['retry-after'], '2');
      assert.ok(fourth.body.includes(ERROR_P('Too many failed attempts. Try again in 2 seconds.')));

      const good = await postSignIn(inst, await openForm(inst), { username: 'alice', password: PASSWORD });
      assert.equal(good.status, 429, 'a correct password is refused while throttled');
      assert.equal(
        good.setCookies.some((c) => c.startsWith(`${inst.running.settings().cookieName}=`)),
        false,
      );

      // The account is held, not the address: bob from the same address signs in.
      const other = await postSignIn(inst, await openForm(inst), { username: 'bob', password: PASSWORD });
      assert.equal(other.status, 303);
      // Case does not dodge the per-account counter.
      const upper = await postSignIn(inst, await openForm(inst), { username: 'ALICE', password: PASSWORD });
      assert.equal(upper.status, 429);

      clock.advance(1000);
      const later = await postSignIn(inst, await openForm(inst), { username: 'alice', password: PASSWORD });
      assert.equal(later.status, 429);
      assert.equal(later.headers['retry-after'], '1');

      clock.advance(1001);
      const after = await postSignIn(inst, await openForm(inst), { username: 'alice', password: PASSWORD });
      assert.equal(after.status, 303);
    } finally {
      await inst.close();
    }
  });

  test('per address: failures on many accounts from one address hold that address only', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const inst = await startInstance({
      users: [ALICE, BOB],
      clock,
      config: (dir) => baseConfig(dir, { signIn: { throttle: { perAccount: 100, perAddress: 4, window: '1m' } } }),
    });
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    try {
      for (const user of ['u1', 'u2', 'u3', 'u4']) {
        const a = await postSignIn(inst, await openForm(inst), { username: user, password: 'wrong password' }, from('203.0.113.7'));
        assert.equal(a.status, 401);
      }
      const held = await postSignIn(inst, await openForm(inst), { username: 'alice', password: PASSWORD }, from('203.0.113.7'));
      assert.equal(held.status, 429);
      assert.equal(held.headers['retry-after'], '60');
      const elsewhere = await postSignIn(inst, await openForm(inst), { username: 'alice', password: PASSWORD }, from('198.51.100.9'));
      assert.equal(elsewhere.status, 303);
    } finally {
      await inst.close();
    }
  });
});
