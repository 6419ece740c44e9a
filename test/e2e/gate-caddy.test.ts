// Gatehouse behind the Caddy config from docs/proxies/caddy, over plain HTTP: Caddy calls the
// gate with X-Forwarded-* and hands every non-2xx answer to the client as it is.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { browse, request } from '../kit/http.ts';
import { until } from '../kit/poll.ts';
import { addUser } from '../kit/process.ts';
import { signIn } from '../kit/sign-in.ts';
import { assertNoSpoof, headerValues, SPOOFED_HEADERS } from '../kit/spoofing.ts';
import { refusedAnonymous, type Stack, startStack } from '../kit/stack.ts';
import { type SeenRequest } from '../kit/whoami.ts';

const PASSWORD = 'correct horse battery staple';

describe('Gatehouse behind Caddy (docs/proxies/caddy)', () => {
  let s: Stack;
  const app = (p: string) => s.url('app.example.test', p);
  const app2 = (p: string) => s.url('app2.other.test', p);
  const lastSeen = (url: string): SeenRequest | undefined => s.app.seen.filter((r) => r.url === url).at(-1);

  before(async () => {
    s = await startStack('caddy');
    await addUser(s.gh, 'alice', PASSWORD, ['admins']);
    await addUser(s.gh, 'bob', PASSWORD, []);
  });
  after(async () => {
    await s?.stop();
  });

  test('a browser without a session gets a 302 to the portal with the exact original URL', async () => {
    const original = app('/some/path?q=1&x=%2F');
    const res = await request(original, { headers: { Accept: 'text/html' } });
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, `${s.portal}/oauth2/start?rd=${encodeURIComponent(original)}`);
  });

  test('a form POST without a session gets a 303, so the portal is fetched with GET', async () => {
    const res = await request(app('/form'), {
      method: 'POST',
      headers: { Accept: 'text/html', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
    });
    assert.equal(res.status, 303);
    assert.equal(res.headers.location, `${s.portal}/oauth2/start?rd=${encodeURIComponent(app('/form'))}`);
  });

  test('(d) an API call without a session gets 401 with WWW-Authenticate', async () => {
    const n = s.app.seen.length;
    const res = await request(app('/api/data'), { headers: { Accept: 'application/json' } });
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="gatehouse"');
    assert.equal(s.app.seen.length, n);
  });

  test('(e) spoofed identity headers never reach the app, signed in or on a public path', async () => {
    const { jar } = await signIn(s.portal, 'alice', PASSWORD, app('/'));
    const cookie = jar.header(app('/'))!;
    assert.equal((await request(app('/spoof/in'), { headers: [...SPOOFED_HEADERS, ['Cookie', cookie]] })).status, 200);
    assertNoSpoof(lastSeen('/spoof/in'));
    assert.deepEqual(headerValues(lastSeen('/spoof/in')!, 'X-Auth-Request-User'), ['alice']);
    assert.equal((await request(app('/adsb/spoof'), { headers: SPOOFED_HEADERS })).status, 200);
    assertNoSpoof(lastSeen('/adsb/spoof'));
  });

  test('(i) a public path on a protected host works anonymously', async () => {
    const res = await request(app('/adsb/feed.json'), { headers: { Accept: 'application/json' } });
    assert.equal(res.status, 200);
    const seen = lastSeen('/adsb/feed.json')!;
    for (const h of ['X-Auth-Request-User', 'X-Auth-Request-Email', 'X-Auth-Request-Groups']) {
      assert.ok(
        headerValues(seen, h).every((v) => v === ''),
        `${h}: ${JSON.stringify(headerValues(seen, h))}`,
      );
    }
  });

  test("(h) a signed-in user outside the group gets the gate's 403 page", async () => {
    const { jar } = await signIn(s.portal, 'bob', PASSWORD, app('/'));
    const res = await request(app('/admin'), { headers: { Accept: 'text/html', Cookie: jar.header(app('/'))! } });
    assert.equal(res.status, 403);
    assert.match(res.body, /<h1>Access denied<\/h1>/);
  });

  test('(c) the ticket hop through forward_auth signs in the second domain', async () => {
    const { jar } = await signIn(s.portal, 'alice', PASSWORD, app('/'));
    const target = app2('/x?y=1');
    const { res, hops, url } = await browse(jar, target, { headers: { Accept: 'text/html' } });
    assert.equal(res.status, 200, JSON.stringify(hops));
    assert.equal(url, target);
    assert.deepEqual(
      hops.map((h) => new URL(h.url).pathname),
      ['/x', '/oauth2/start', '/oauth2/ticket', '/x'],
    );
    assert.deepEqual(headerValues(lastSeen('/x?y=1')!, 'X-Auth-Request-User'), ['alice']);
  });

  test('(f) sign-out is refused on every domain within 1 s', async () => {
    const { jar } = await signIn(s.portal, 'alice', PASSWORD, app('/'));
    await browse(jar, app2('/'), { headers: { Accept: 'text/html' } });
    const c1 = jar.header(app('/'))!;
    const c2 = jar.header(app2('/'))!;
    assert.equal((await request(app2('/f'), { headers: { Cookie: c2, Accept: 'application/json' } })).status, 200);
    const out = await request(`${s.portal}/oauth2/sign_out?rd=${encodeURIComponent(app('/'))}`, {
      headers: { Cookie: jar.header(`${s.portal}/`)!, Accept: 'text/html' },
    });
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
});
