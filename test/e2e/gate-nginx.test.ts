// Gatehouse behind the nginx config from docs/proxies/nginx, driven over plain HTTP (no browser):
// the forward-auth contract as a client and the app see it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { alertText } from '../kit/html.ts';
import { browse, CookieJar, type HttpResponse, request } from '../kit/http.ts';
import { until } from '../kit/poll.ts';
import { addUser } from '../kit/process.ts';
import { signIn, submitSignIn } from '../kit/sign-in.ts';
import { assertNoSpoof, headerValues, SPOOFED_HEADERS as SPOOFED } from '../kit/spoofing.ts';
import { refusedAnonymous, type Stack, startStack } from '../kit/stack.ts';
import { type SeenRequest } from '../kit/whoami.ts';

const PASSWORD = 'correct horse battery staple';
const WINDOW_MS = 2000;

function lastSeen(stack: Stack, url: string): SeenRequest | undefined {
  return stack.app.seen.filter((r) => r.url === url).at(-1);
}

describe('Gatehouse behind nginx (docs/proxies/nginx)', () => {
  let s: Stack;
  const app = (p: string) => s.url('app.example.test', p);
  const app2 = (p: string) => s.url('app2.other.test', p);

  before(async () => {
    s = await startStack('nginx', { extra: `signIn: { throttle: { perAccount: 3, perAddress: 1000, window: ${WINDOW_MS / 1000}s } }` });
    await addUser(s.gh, 'alice', PASSWORD, ['admins']);
    await addUser(s.gh, 'bob', PASSWORD, []);
    await addUser(s.gh, 'carol', PASSWORD, ['admins']);
  });
  after(async () => {
    await s?.stop();
  });

  describe('the auth endpoint, called the way nginx calls it', () => {
    const direct = (headers: Record<string, string>) => request(`${s.gh.url}/oauth2/auth`, { headers });

    test("not signed in, a browser: 401 with Location to the portal's start carrying the original URL", async () => {
      const original = app('/some/path?q=1&x=%2F');
      const res = await direct({ 'X-Original-URL': original, 'X-Original-Method': 'GET', Accept: 'text/html' });
      assert.equal(res.status, 401);
      assert.equal(res.headers.location, `${s.portal}/oauth2/start?rd=${encodeURIComponent(original)}`);
    });

    test('not signed in, an API client: 401 with WWW-Authenticate and no Location (nginx would redirect on one)', async () => {
      const res = await direct({ 'X-Original-URL': app('/api/x'), 'X-Original-Method': 'GET', Accept: 'application/json' });
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="gatehouse"');
      assert.equal(res.headers.location, undefined);
    });

    test('answers carry Content-Length: 0 and no body, so nginx keeps the upstream connection alive', async () => {
      // nginx reads only the header of an auth subrequest's answer; a chunked or non-empty body
      // makes it close the connection, and every check then pays a new TCP handshake.
      const { cookie } = await signIn(s.portal, 'alice', PASSWORD, app('/'));
      const allowed = await direct({ 'X-Original-URL': app('/k'), 'X-Original-Method': 'GET', Cookie: cookie });
      assert.equal(allowed.status, 202);
      assert.equal(allowed.headers['content-length'], '0');
      assert.equal(allowed.headers['transfer-encoding'], undefined);
      assert.equal(allowed.body, '');
      const anon = await direct({ 'X-Original-URL': app('/k'), 'X-Original-Method': 'GET', Accept: 'text/html' });
      assert.equal(anon.status, 401);
      assert.equal(anon.headers['content-length'], '0');
      assert.equal(anon.body, '');
    });
  });

  test('(d) an API call without a session gets 401 with WWW-Authenticate through nginx', async () => {
    const n = s.app.seen.length;
    const res = await request(app('/api/data'), { headers: { Accept: 'application/json' } });
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="gatehouse"');
    assert.equal(res.headers.location, undefined);
    assert.equal(s.app.seen.length, n, 'the app never saw it');
  });

  test('a browser without a session is redirected to the portal with the exact original URL', async () => {
    const original = app('/some/path?q=1&x=%2F');
    const res = await request(original, { headers: { Accept: 'text/html' } });
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, `${s.portal}/oauth2/start?rd=${encodeURIComponent(original)}`);
  });

  test('signed in over HTTP: the app gets the identity and the exact path and query', async () => {
    const target = app('/some/path?q=1&x=%2F');
    const { jar, location } = await signIn(s.portal, 'alice', PASSWORD, target);
    assert.equal(location, target);
    const { res } = await browse(jar, target);
    assert.equal(res.status, 200);
    const seen = lastSeen(s, '/some/path?q=1&x=%2F')!;
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-User'), ['alice']);
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-Email'), ['alice@example.org']);
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-Groups'), ['admins']);
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-Preferred-Username'), ['alice']);
  });

  test('(e) spoofed identity headers never reach the app, signed in or on a public path', async () => {
    const { jar } = await signIn(s.portal, 'alice', PASSWORD, app('/'));
    const cookie = jar.header(app('/'))!;
    const signedIn = await request(app('/spoof/signed-in'), { headers: [...SPOOFED, ['Cookie', cookie]] });
    assert.equal(signedIn.status, 200);
    const seen = lastSeen(s, '/spoof/signed-in');
    assertNoSpoof(seen);
    assert.deepEqual(headerValues(seen!, 'X-Auth-Request-User'), ['alice']);
    const anonymous = await request(app('/adsb/spoof'), { headers: SPOOFED });
    assert.equal(anonymous.status, 200);
    assertNoSpoof(lastSeen(s, '/adsb/spoof'));
    const publicSignedIn = await request(app('/adsb/spoof2'), { headers: [...SPOOFED, ['Cookie', cookie]] });
    assert.equal(publicSignedIn.status, 200);
    assertNoSpoof(lastSeen(s, '/adsb/spoof2'));
  });

  test('(i) a public path on a protected host works anonymously; a deeper or dot-segment path does not', async () => {
    const res = await request(app('/adsb/feed.json?since=1'), { headers: { Accept: 'application/json' } });
    assert.equal(res.status, 200);
    const seen = lastSeen(s, '/adsb/feed.json?since=1')!;
    for (const h of ['X-Auth-Request-User', 'X-Auth-Request-Email', 'X-Auth-Request-Groups'])
      assert.deepEqual(headerValues(seen, h), [], h);
    const api = await request(s.url('api.example.test', '/adsb/feed.json'), { headers: { Accept: 'application/json' } });
    assert.equal(api.status, 200);
    // "/adsb/*" is one segment; and the rule is matched on the normalized path only.
    const n = s.app.seen.length;
    for (const p of ['/adsb/a/b', '/adsb/%2e%2e/secret', '/adsb/..%2fsecret', '/ADSB/x']) {
      const r = await request(app(p), { headers: { Accept: 'text/html' } });
      assert.equal(r.status, 302, p);
      assert.ok((r.headers.location ?? '').startsWith(`${s.portal}/oauth2/start?rd=`), `${p}: ${r.headers.location}`);
    }
    assert.equal(s.app.seen.length, n, 'the app saw none of them');
  });

  test('(h) a signed-in user outside the allowed group gets 403 and the app never sees the request', async () => {
    const { jar } = await signIn(s.portal, 'bob', PASSWORD, app('/'));
    const n = s.app.seen.length;
    const res = await request(app('/admin'), { headers: { Accept: 'text/html', Cookie: jar.header(app('/'))! } });
    assert.equal(res.status, 403);
    assert.equal(s.app.seen.length, n);
  });

  test('(c) a second domain is signed in through the ticket hop, without the password again', async () => {
    const { jar } = await signIn(s.portal, 'alice', PASSWORD, app('/'));
    const target = app2('/x?y=1&z=%2F');
    const { res, hops, url } = await browse(jar, target, { headers: { Accept: 'text/html' } });
    assert.equal(res.status, 200, JSON.stringify(hops));
    assert.equal(url, target);
    assert.deepEqual(
      hops.map((h) => new URL(h.url).pathname),
      ['/x', '/oauth2/start', '/oauth2/ticket', '/x'],
    );
    assert.deepEqual(headerValues(lastSeen(s, '/x?y=1&z=%2F')!, 'X-Auth-Request-User'), ['alice']);
    // The ticket set a cookie on the other registrable domain itself.
    assert.ok(
      jar.cookies.some((c) => c.domain === 'other.test' || c.domain === 'app2.other.test'),
      JSON.stringify(jar.cookies.map((c) => c.domain)),
    );
  });

  test('a ticket works once', async () => {
    const { jar } = await signIn(s.portal, 'alice', PASSWORD, app('/'));
    const first = await request(`${s.portal}/oauth2/start?rd=${encodeURIComponent(app2('/once'))}`, {
      headers: { Cookie: jar.header(s.portal + '/')!, Accept: 'text/html' },
    });
    assert.equal(first.status, 302);
    const ticketUrl = first.headers.location!;
    assert.equal(new URL(ticketUrl).pathname, '/oauth2/ticket');
    const redeemed = await request(ticketUrl, { headers: { Accept: 'text/html' } });
    assert.equal(redeemed.status, 302);
    assert.equal(redeemed.headers.location, app2('/once'));
    assert.equal((redeemed.headers['set-cookie'] ?? []).length, 1);
    const replay = await request(ticketUrl, { headers: { Accept: 'text/html' } });
    assert.equal(replay.headers['set-cookie'], undefined, 'a replayed ticket sets no cookie');
  });

  test('(f) sign-out ends the session on every domain within 1 s', async () => {
    const { jar } = await signIn(s.portal, 'alice', PASSWORD, app('/'));
    await browse(jar, app2('/'), { headers: { Accept: 'text/html' } });
    const c1 = jar.header(app('/'))!;
    const c2 = jar.header(app2('/'))!;
    for (const [u, c] of [
      [app('/f'), c1],
      [app2('/f'), c2],
    ] as const) {
      assert.equal((await request(u, { headers: { Cookie: c, Accept: 'application/json' } })).status, 200, u);
    }
    const out = await request(app(`/oauth2/sign_out?rd=${encodeURIComponent(app('/'))}`), { headers: { Cookie: c1, Accept: 'text/html' } });
    assert.equal(out.status, 302);
    await until(async () => refusedAnonymous(await request(app('/f'), { headers: { Cookie: c1, Accept: 'application/json' } }), s.portal), {
      timeoutMs: 1000,
      what: 'example.test refuses the old cookie',
    });
    await until(
      async () => refusedAnonymous(await request(app2('/f'), { headers: { Cookie: c2, Accept: 'application/json' } }), s.portal),
      { timeoutMs: 1000, what: 'other.test refuses its cookie' },
    );
  });

  test('(f) `gatehouse session revoke <id>` from another process is refused on every domain within 1 s', async () => {
    const fresh = await addUser(s.gh, 'erin', PASSWORD, ['admins']).then(() => 'erin');
    const { jar } = await signIn(s.portal, fresh, PASSWORD, app('/'));
    await browse(jar, app2('/'), { headers: { Accept: 'text/html' } });
    const c1 = jar.header(app('/'))!;
    const c2 = jar.header(app2('/'))!;
    assert.equal((await request(app2('/r'), { headers: { Cookie: c2, Accept: 'application/json' } })).status, 200);
    const list = await s.gh.run(['session', 'list', '--user', fresh]);
    assert.equal(list.code, 0, list.stderr);
    const ids = list.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('\t')[0]!);
    assert.equal(ids.length, 1, list.stdout);
    const rev = await s.gh.run(['session', 'revoke', ids[0]!]);
    assert.equal(rev.code, 0, rev.stderr);
    await until(async () => refusedAnonymous(await request(app('/r'), { headers: { Cookie: c1, Accept: 'application/json' } }), s.portal), {
      timeoutMs: 1000,
      what: 'example.test refuses the revoked session',
    });
    await until(
      async () => refusedAnonymous(await request(app2('/r'), { headers: { Cookie: c2, Accept: 'application/json' } }), s.portal),
      { timeoutMs: 1000, what: 'other.test refuses the revoked session' },
    );
  });

  describe('(g) throttling per account', () => {
    let wrongError: string | undefined;
    let throttledCorrect: HttpResponse;
    let throttledWrong: HttpResponse;

    before(async () => {
      const rd = app('/');
      for (let i = 0; i < 3; i++) {
        const { res } = await submitSignIn(s.portal, 'carol', 'wrong password', rd);
        assert.equal(res.headers.location, undefined);
        wrongError = alertText(res.body);
      }
      throttledCorrect = (await submitSignIn(s.portal, 'carol', PASSWORD, rd)).res;
      throttledWrong = (await submitSignIn(s.portal, 'carol', 'wrong password', rd)).res;
    });

    test('a wrong password shows a generic error', () => {
      assert.equal(wrongError, 'Incorrect username or password.');
    });

    test('while throttled a correct password is refused, indistinguishable from a wrong one', () => {
      assert.ok(throttledCorrect.status !== 302 && throttledCorrect.status !== 303, `status ${throttledCorrect.status}`);
      assert.equal(throttledCorrect.headers.location, undefined);
      assert.equal(throttledCorrect.status, throttledWrong.status);
      assert.equal(alertText(throttledCorrect.body), alertText(throttledWrong.body));
    });

    test('while throttled the form says so, with a 429 and Retry-After, whether the password was right or not', () => {
      // Saying "throttled" reveals nothing about the account: unknown names are throttled too.
      assert.equal(throttledCorrect.status, 429);
      assert.match(alertText(throttledCorrect.body) ?? '', /^Too many failed attempts\. Try again in \d+ seconds\.$/);
      assert.match(String(throttledCorrect.headers['retry-after']), /^\d+$/);
    });

    test('another account is not affected', async () => {
      await signIn(s.portal, 'alice', PASSWORD, app('/'));
    });

    test('the throttle lifts after the window', async () => {
      await new Promise((r) => setTimeout(r, WINDOW_MS + 300));
      const jar = new CookieJar();
      const ok = await signIn(s.portal, 'carol', PASSWORD, app('/'), { jar });
      assert.equal(ok.location, app('/'));
    });
  });
});
