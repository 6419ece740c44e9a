// Forward auth (/oauth2/auth) over a real socket: the answers nginx, Traefik and Caddy expect,
// identity headers, oauth2-proxy's allowed_* query restrictions, default deny, and the
// X-Forwarded/X-Original headers believed only from a trusted peer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { send } from '../kit/http.ts';
import { ALICE, type Answer, baseConfig, BOB, cookieHeader, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';

const JSON_401 = '{"error":"unauthorized","error_description":"sign-in required"}';
const JSON_403 = '{"error":"access_denied","error_description":"access is denied"}';
const start = (url: string) => `https://auth.example.test/oauth2/start?rd=${encodeURIComponent(url)}`;

function identity(a: Answer): Record<string, unknown> {
  return {
    user: a.headers['x-auth-request-user'],
    email: a.headers['x-auth-request-email'],
    groups: a.headers['x-auth-request-groups'],
    preferred: a.headers['x-auth-request-preferred-username'],
  };
}

describe('forward auth from a trusted proxy', () => {
  let inst: Instance;
  let alice: string;
  let bob: string;
  before(async () => {
    inst = await startInstance({ users: [ALICE, BOB] });
    alice = cookieHeader(inst, (await signIn(inst, 'alice')).value);
    bob = cookieHeader(inst, (await signIn(inst, 'bob')).value);
  });
  after(async () => {
    await inst.close();
  });

  test('an anonymous browser GET is sent to the portal with the original URL, path and query intact', async () => {
    const url = 'https://app.example.test/deep/path%20x/?q=a%26b&z=1;k=v';
    const a = await forwardAuth(inst.port, url);
    assert.equal(a.status, 302);
    assert.equal(a.headers.location, start(url));
    assert.equal(a.headers['cache-control'], 'no-store');
    assert.equal(a.body, 'sign-in required\n');
  });

  test('an anonymous browser POST is answered 303, so the portal is fetched with GET', async () => {
    const a = await forwardAuth(inst.port, 'https://app.example.test/form', { method: 'POST' });
    assert.equal(a.status, 303);
    assert.equal(a.headers.location, start('https://app.example.test/form'));
    assert.equal(a.headers['cache-control'], 'no-store');
  });

  for (const [what, headers] of [
    ['Accept: application/json', { accept: 'application/json' }],
    ['X-Requested-With', { 'x-requested-with': 'XMLHttpRequest' }],
    ['an Authorization header', { authorization: 'Bearer abc' }],
    ['Sec-Fetch-Mode: cors', { 'sec-fetch-mode': 'cors' }],
  ] as const) {
    test(`an API client (${what}) gets 401 with WWW-Authenticate and a JSON body`, async () => {
      const a = await forwardAuth(inst.port, 'https://app.example.test/api/x', { headers });
      assert.equal(a.status, 401);
      assert.equal(a.headers['www-authenticate'], 'Bearer realm="gatehouse"');
      assert.equal(a.headers['content-type'], 'application/json');
      assert.equal(a.headers['cache-control'], 'no-store');
      assert.equal(a.body, JSON_401);
    });
  }

  test('nginx (X-Original-URL / X-Original-Method) gets 401 with Location, never a redirect', async () => {
    const url = 'https://app.example.test/orig/path?x=1&y=%2F';
    const a = await send(inst.port, {
      path: '/oauth2/auth',
      headers: { host: 'gatehouse.internal', 'x-original-url': url, 'x-original-method': 'POST', accept: 'text/html' },
    });
    assert.equal(a.status, 401);
    assert.equal(a.headers.location, start(url));
    assert.equal(a.headers['www-authenticate'], 'Bearer realm="gatehouse"');
    assert.equal(a.headers['cache-control'], 'no-store');
  });

  test('signed in and allowed: 202 with all four identity headers', async () => {
    const a = await forwardAuth(inst.port, 'https://app.example.test/x', { cookie: alice });
    assert.equal(a.status, 202);
    assert.deepEqual(identity(a), { user: 'alice', email: 'alice@example.test', groups: 'admins', preferred: 'alice' });
    assert.equal(a.headers['cache-control'], 'no-store');
    assert.equal(a.body, '');
  });

  test('the same through nginx headers: 202 with identity', async () => {
    const a = await send(inst.port, {
      path: '/oauth2/auth',
      headers: { host: 'gatehouse.internal', 'x-original-url': 'https://app.example.test/x', 'x-original-method': 'GET', cookie: alice },
    });
    assert.equal(a.status, 202);
    assert.equal(a.headers['x-auth-request-user'], 'alice');
  });

  test('signed in but not in the allowed group: 403 (HTML for a browser, JSON for an API client)', async () => {
    const page = await forwardAuth(inst.port, 'https://app.example.test/x', { cookie: bob });
    assert.equal(page.status, 403);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.match(page.body, /<h1>Access denied<\/h1>/);
    assert.equal(page.headers['x-auth-request-user'], undefined);
    const api = await forwardAuth(inst.port, 'https://app.example.test/x', { cookie: bob, headers: { accept: 'application/json' } });
    assert.equal(api.status, 403);
    assert.equal(api.body, JSON_403);
  });

  test('a public path answers 202 to anyone, with every identity header present and empty', async () => {
    const a = await forwardAuth(inst.port, 'https://app.example.test/public/data.json');
    assert.equal(a.status, 202);
    assert.deepEqual(identity(a), { user: '', email: '', groups: '', preferred: '' });
    assert.equal(a.headers['cache-control'], 'no-store');
  });

  test('a public path passes the identity along when there is a session', async () => {
    const a = await forwardAuth(inst.port, 'https://app.example.test/public/data.json', { cookie: bob });
    assert.equal(a.status, 202);
    assert.deepEqual(identity(a), { user: 'bob', email: 'bob@other.example', groups: 'staff', preferred: 'bob' });
  });

  test('a public rule matches the normalized path only: dot segments cannot climb out of it', async () => {
    const a = await forwardAuth(inst.port, 'https://app.example.test/public/../admin', { headers: { accept: 'application/json' } });
    assert.equal(a.status, 401);
  });

  test('default deny: a host no rule names is 403 even anonymous, never a sign-in redirect', async () => {
    const anon = await forwardAuth(inst.port, 'https://unknown.example.test/');
    assert.equal(anon.status, 403);
    assert.equal(anon.headers.location, undefined);
    assert.equal(anon.headers['cache-control'], 'no-store');
    const signed = await forwardAuth(inst.port, 'https://unknown.example.test/', { cookie: alice });
    assert.equal(signed.status, 403);
  });

  describe('allowed_* restrictions on the auth URL are ANDed with the rule', () => {
    const cases: [string, string, number][] = [
      ['allowed_groups matching', '?allowed_groups=staff,admins', 202],
      ['allowed_groups failing', '?allowed_groups=staff', 403],
      ['allowed_emails matching (case-insensitive)', '?allowed_emails=ALICE@example.test', 202],
      ['allowed_emails failing', '?allowed_emails=bob@other.example', 403],
      ['allowed_email_domains matching', '?allowed_email_domains=example.test', 202],
      ['allowed_email_domains failing', '?allowed_email_domains=example.org', 403],
      ['allowed_email_domains on a suffix is not a match', '?allowed_email_domains=test', 403],
      ['all three matching', '?allowed_groups=admins&allowed_emails=alice@example.test&allowed_email_domains=example.test', 202],
      ['one of three failing', '?allowed_groups=admins&allowed_emails=alice@example.test&allowed_email_domains=nope.test', 403],
    ];
    for (const [what, query, status] of cases) {
      test(`${what}: ${status}`, async () => {
        const a = await forwardAuth(inst.port, 'https://app.example.test/x', { cookie: alice, query });
        assert.equal(a.status, status);
        assert.equal(a.headers['cache-control'], 'no-store');
        assert.equal(a.headers['x-auth-request-user'], status === 202 ? 'alice' : undefined);
      });
    }
  });

  test("the gate's own paths on an app host always pass (a protected sign-in page would loop)", async () => {
    const a = await forwardAuth(inst.port, 'https://app.example.test/oauth2/start?rd=x');
    assert.equal(a.status, 202);
    assert.equal(a.headers['x-auth-request-user'], '');
  });

  test('a malformed forwarded header is 400, not a guess', async () => {
    const a = await forwardAuth(inst.port, 'https://app.example.test/x', { headers: { 'x-forwarded-host': 'evil.test/@x' } });
    assert.equal(a.status, 400);
    assert.equal(a.headers['cache-control'], 'no-store');
  });

  test('a malformed X-Original-URL (nginx) is 403: auth_request relays nothing else but 2xx and 401', async () => {
    for (const url of [
      'https://app.example.test:8x/',
      'https://app.example.test:1234567/',
      'https://a,b.example.test/',
      'app.example.test/x',
    ]) {
      const a = await send(inst.port, {
        path: '/oauth2/auth',
        headers: { host: 'gatehouse.internal', 'x-original-url': url, 'x-original-method': 'GET' },
      });
      assert.equal(a.status, 403, url);
      assert.equal(a.headers['cache-control'], 'no-store');
    }
  });
});

describe('forward auth from an untrusted peer', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ users: [], config: (dir) => baseConfig(dir, { trustedProxies: ['10.9.9.9/32'] }) });
  });
  after(async () => {
    await inst.close();
  });

  test('X-Forwarded-Host / -Uri pointing at a public path are ignored: the request itself is judged', async () => {
    const a = await forwardAuth(inst.port, 'https://app.example.test/public/data.json');
    // Judged as gatehouse.internal:4180/oauth2/auth, which no rule names: default deny.
    assert.equal(a.status, 403);
    assert.equal(a.headers['x-auth-request-user'], undefined);
  });

  test('X-Original-URL pointing at a public path is ignored', async () => {
    const a = await send(inst.port, {
      path: '/oauth2/auth',
      headers: { host: 'gatehouse.internal', 'x-original-url': 'https://app.example.test/public/x', 'x-original-method': 'GET' },
    });
    assert.equal(a.status, 403);
  });

  test('the same headers from a trusted peer would have passed (the test above is not vacuous)', async () => {
    const trusted = await startInstance({ users: [] });
    try {
      const a = await forwardAuth(trusted.port, 'https://app.example.test/public/data.json');
      assert.equal(a.status, 202);
    } finally {
      await trusted.close();
    }
  });

  test('a spoofed X-Forwarded-Host cannot steer the sign-in redirect', async () => {
    const a = await send(inst.port, {
      path: '/private?x=1',
      headers: { host: 'app.example.test', 'x-forwarded-host': 'evil.test', 'x-forwarded-proto': 'https', accept: 'text/html' },
    });
    // Reverse-proxy fallback judges Host app.example.test over plain http (the socket's scheme).
    assert.equal(a.status, 302);
    assert.equal(a.headers.location, start('http://app.example.test/private?x=1'));
  });
});
