// protect() and its settings under Node's fetch/Request/Response/Web Crypto, for the answers that
// need no issuer: fail closed on bad settings, https only, the callback without its state
// cookie, API clients, public paths, and identity headers (the full flow runs in workerd against
// Gatehouse: test/e2e/edge-worker.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { protect, readSettings, EdgeConfigError, createSealer, type EdgeEnv, type Identity } from '../../edge/src/index.ts';

const SECRET = 'a-session-secret-of-at-least-32-chars!!';
const env = (over: Partial<EdgeEnv> = {}): EdgeEnv => ({
  GATEHOUSE_ISSUER: 'https://auth.example.org',
  GATEHOUSE_CLIENT_ID: 'edge-app',
  GATEHOUSE_CLIENT_SECRET: 'client-secret',
  GATEHOUSE_SESSION_SECRET: SECRET,
  GATEHOUSE_RULES: [{ paths: ['=/', '=/index.html', '/assets'], public: true }, { allow: { groups: ['staff'] } }],
  ...over,
});

async function cookieFor(id: Identity, lifetime = 300): Promise<string> {
  const s = await createSealer([SECRET], 'session');
  const now = Math.floor(Date.now() / 1000);
  return `__Host-gatehouse_edge=${await s.seal('__Host-gatehouse_edge', { sub: id.sub, u: id.username, e: id.email, g: id.groups, iat: now, exp: now + lifetime })}`;
}

describe('edge settings', () => {
  test('every problem at once, each naming its binding', () => {
    try {
      readSettings({
        GATEHOUSE_ISSUER: 'http://auth.example.org/',
        GATEHOUSE_SESSION_SECRET: 'short',
        GATEHOUSE_RULES: '[{"paths":["x"]}]',
        GATEHOUSE_SESSION_LIFETIME: '2',
        GATEHOUSE_ALLOW_HTTP: 'yes',
      });
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof EdgeConfigError);
      assert.deepEqual(e.problems, [
        'GATEHOUSE_ALLOW_HTTP: expected "true" or "false"',
        'GATEHOUSE_ISSUER: expected an https URL (http only with GATEHOUSE_ALLOW_HTTP=true, for local development)',
        "GATEHOUSE_ISSUER: no trailing slash: the issuer identifier is compared exactly (Gatehouse's is publicUrl without one)",
        'GATEHOUSE_CLIENT_ID: missing',
        "GATEHOUSE_CLIENT_SECRET: missing; set it with `wrangler secret put GATEHOUSE_CLIENT_SECRET` (the client's secret in Gatehouse)",
        'GATEHOUSE_SESSION_SECRET: secret 1 has 5 characters; use 32 or more (e.g. `openssl rand -base64 32`)',
        'GATEHOUSE_RULES: rules[0].paths: "x" must start with "/" (or "=/" for one exact path, without "*"), without query, fragment or whitespace',
        'GATEHOUSE_SESSION_LIFETIME: expected whole seconds from 5 to 86400',
      ]);
    }
    const s = readSettings(env({ GATEHOUSE_RULES: '[{"public":true}]', GATEHOUSE_SESSION_SECRET: `${SECRET}, ${SECRET}x` }));
    assert.equal(s.lifetime, 300);
    assert.deepEqual(s.sessionSecrets, [SECRET, `${SECRET}x`]);
    assert.deepEqual(s.rules, [{ public: true }]);
  });
});

describe('edge protect()', () => {
  const next = (req: Request, id: Identity | null) =>
    Response.json({ id, user: req.headers.get('x-auth-request-user'), cookie: req.headers.get('cookie') });

  test('bad settings: every request refused (500), the reason in the log only', async () => {
    const errors: string[] = [];
    const orig = console.error;
    console.error = (m: string) => {
      errors.push(m);
    };
    try {
      const r = await protect(new Request('https://app.example.org/'), env({ GATEHOUSE_RULES: undefined }), next);
      assert.equal(r.status, 500);
      assert.equal(await r.text(), "the sign-in gate is misconfigured; see the Worker's log\n");
    } finally {
      console.error = orig;
    }
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^gatehouse edge: invalid settings: GATEHOUSE_RULES: missing/);
  });

  test('plain http goes to https (308, method kept) unless GATEHOUSE_ALLOW_HTTP', async () => {
    const r = await protect(new Request('http://app.example.org/a?b=1', { method: 'POST', body: 'x' }), env(), next);
    assert.equal(r.status, 308);
    assert.equal(r.headers.get('location'), 'https://app.example.org/a?b=1');
  });

  test('public: the app gets no identity, whatever the client sent', async () => {
    const r = await protect(new Request('https://app.example.org/', { headers: { 'X-Auth-Request-User': 'mallory' } }), env(), next);
    assert.deepEqual(await r.json(), { id: null, user: null, cookie: null });
  });

  test("signed in and allowed: identity headers, and the edge's own cookies taken out", async () => {
    const c = await cookieFor({ sub: 's', username: 'alice', email: null, groups: ['staff'] });
    const r = await protect(
      new Request('https://app.example.org/x', {
        headers: { Cookie: `a=1; ${c}; __Host-gatehouse_edge_login_abc=zz; b=2`, 'X-Auth-Request-User': 'mallory' },
      }),
      env(),
      next,
    );
    assert.deepEqual(await r.json(), {
      id: { sub: 's', username: 'alice', email: null, groups: ['staff'] },
      user: 'alice',
      cookie: 'a=1; b=2',
    });
  });

  test('signed in, not allowed: 403; a cookie sealed for plain http does not open on https', async () => {
    const r = await protect(
      new Request('https://app.example.org/x', {
        headers: { Cookie: await cookieFor({ sub: 's', username: 'bob', email: null, groups: ['other'] }) },
      }),
      env(),
      next,
    );
    assert.equal(r.status, 403);
    assert.match(await r.text(), /Signed in as bob, who is not allowed here\./);
    const moved = (await cookieFor({ sub: 's', username: 'alice', email: null, groups: ['staff'] })).replace(
      '__Host-gatehouse_edge=',
      'gatehouse_edge=',
    );
    const api = await protect(
      new Request('https://app.example.org/x', { headers: { Cookie: moved, Accept: 'application/json' } }),
      env(),
      next,
    );
    assert.equal(api.status, 401);
  });

  test('not signed in, an API client: 401 with WWW-Authenticate, never a redirect', async () => {
    for (const headers of [
      { Accept: 'application/json' },
      { Accept: 'text/html', 'Sec-Fetch-Mode': 'cors' },
      { Accept: 'text/html', 'X-Requested-With': 'XMLHttpRequest' },
    ]) {
      const r = await protect(new Request('https://app.example.org/x', { headers }), env(), next);
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="gatehouse"');
      assert.deepEqual(await r.json(), { error: 'unauthorized', error_description: 'sign-in required' });
    }
  });

  test('the callback without its sealed state cookie (another browser, expired, forged): 400, nothing signed in', async () => {
    for (const cookie of [undefined, '__Host-gatehouse_edge_login_AAAAAAAAAAAA=forged']) {
      const r = await protect(
        new Request(
          'https://app.example.org/.gatehouse/callback?code=c&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&iss=https%3A%2F%2Fauth.example.org',
          { headers: cookie ? { Cookie: cookie } : {} },
        ),
        env(),
        next,
      );
      assert.equal(r.status, 400);
      assert.match(await r.text(), /<h1>Sign-in expired<\/h1>/);
      assert.ok(!(r.headers.get('set-cookie') ?? '').includes('__Host-gatehouse_edge='), 'no session cookie');
    }
  });
});
