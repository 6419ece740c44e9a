// Reverse-proxy mode in a running instance: an app with `upstream` is proxied by Gatehouse
// itself. What the upstream receives is recorded by a tiny echo server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { send } from '../kit/http.ts';
import { ALICE, baseConfig, BOB, BROWSER, cookieHeader, type Instance, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';

interface Echo {
  method: string;
  url: string;
  rawHeaders: string[];
}

function headerValues(e: Echo, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < e.rawHeaders.length; i += 2) if (e.rawHeaders[i]!.toLowerCase() === name) out.push(e.rawHeaders[i + 1]!);
  return out;
}
const normalized = (n: string) => n.toLowerCase().replaceAll('_', '-');

describe('reverse-proxy mode', () => {
  let upstream: Server;
  let inst: Instance;
  let alice: string;
  let bob: string;
  before(async () => {
    upstream = createServer((req, res) => {
      const body = JSON.stringify({ method: req.method, url: req.url, rawHeaders: req.rawHeaders });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
      res.end(body);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    inst = await startInstance({
      users: [ALICE, BOB],
      config: (dir) =>
        baseConfig(dir, {
          apps: [
            {
              name: 'whoami-public',
              hosts: ['whoami.example.test'],
              paths: ['/public/**'],
              public: true,
              upstream: `http://127.0.0.1:${port}`,
            },
            { name: 'whoami', hosts: ['whoami.example.test'], allow: { groups: ['admins'] }, upstream: `http://127.0.0.1:${port}` },
          ],
        }),
    });
    alice = cookieHeader(inst, (await signIn(inst, 'alice')).value);
    bob = cookieHeader(inst, (await signIn(inst, 'bob')).value);
  });
  after(async () => {
    await inst.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  const get = (path: string, headers: Record<string, string>) =>
    send(inst.port, { path, headers: { host: 'whoami.example.test', 'x-forwarded-proto': 'https', ...headers } });

  test("the app's response carries the app's headers, not Gatehouse's CSP and framing rules", async () => {
    const r = await get('/page', { ...BROWSER, cookie: alice });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-upstream'], 'yes');
    assert.equal(r.headers['content-security-policy'], undefined);
    assert.equal(r.headers['x-frame-options'], undefined);
    // The gate's own answers on that host still get them where they are pages of ours.
    const own = await send(inst.port, { path: '/oauth2/sign_in', headers: { host: 'auth.example.test', ...BROWSER } });
    assert.match(String(own.headers['content-security-policy']), /^default-src 'none'/);
  });

  test("on a proxied app host, /metrics and /healthz are the app's paths, not Gatehouse's", async () => {
    const m = await get('/metrics', { ...BROWSER, cookie: alice });
    assert.equal(m.status, 200);
    assert.equal(m.headers['x-upstream'], 'yes');
    assert.equal((JSON.parse(m.body) as Echo).url, '/metrics');
    // Without a session the gate guards them like any other path of the app.
    assert.equal((await get('/healthz', { accept: 'application/json' })).status, 401);
    // Elsewhere they are Gatehouse's own.
    const own = await send(inst.port, { path: '/metrics', headers: { host: 'gatehouse.internal' } });
    assert.equal(own.status, 200);
    assert.match(own.body, /^# HELP /m);
  });

  test('an anonymous browser is sent to the portal; an API client gets 401', async () => {
    const a = await get('/page?x=1', BROWSER);
    assert.equal(a.status, 302);
    assert.equal(
      a.headers.location,
      `https://auth.example.test/oauth2/start?rd=${encodeURIComponent('https://whoami.example.test/page?x=1')}`,
    );
    assert.equal(a.headers['x-upstream'], undefined);
    const api = await get('/api', { accept: 'application/json' });
    assert.equal(api.status, 401);
    assert.equal(api.headers['www-authenticate'], 'Bearer realm="gatehouse"');
  });

  test('signed in but not allowed: 403, the upstream is never called', async () => {
    const a = await get('/page', { ...BROWSER, cookie: bob });
    assert.equal(a.status, 403);
    assert.equal(a.headers['x-upstream'], undefined);
  });

  test('signed in and allowed: proxied with our identity headers, path and query intact', async () => {
    const a = await get('/page?x=1&y=%2F', { ...BROWSER, cookie: alice });
    assert.equal(a.status, 200);
    assert.equal(a.headers['x-upstream'], 'yes');
    const e = JSON.parse(a.body) as Echo;
    assert.equal(e.url, '/page?x=1&y=%2F');
    assert.deepEqual(headerValues(e, 'x-auth-request-user'), ['alice']);
    assert.deepEqual(headerValues(e, 'x-auth-request-email'), ['alice@example.test']);
    assert.deepEqual(headerValues(e, 'x-auth-request-groups'), ['admins']);
    assert.deepEqual(headerValues(e, 'x-auth-request-preferred-username'), ['alice']);
  });

  test('identity headers a client sends, in any spelling, never reach the upstream', async () => {
    const smuggled = {
      'X-Auth-Request-User': 'mallory',
      'X-Auth-Request_User': 'mallory',
      x_auth_request_email: 'mallory@evil.test',
      'X-Auth-Request-Groups': 'admins,root',
      'X-Forwarded_Email': 'mallory@evil.test',
      'X-Forwarded-User': 'mallory',
      'Remote-User': 'mallory',
    };
    const a = await get('/page', { ...BROWSER, cookie: alice, ...smuggled });
    assert.equal(a.status, 200);
    const e = JSON.parse(a.body) as Echo;
    for (let i = 0; i < e.rawHeaders.length; i += 2) {
      assert.notEqual(e.rawHeaders[i + 1], 'mallory', `${e.rawHeaders[i]} reached the upstream`);
      assert.notEqual(e.rawHeaders[i + 1], 'mallory@evil.test', `${e.rawHeaders[i]} reached the upstream`);
      assert.ok(
        !/_/.test(e.rawHeaders[i]!) || !normalized(e.rawHeaders[i]!).startsWith('x-auth-request'),
        `${e.rawHeaders[i]} reached the upstream`,
      );
    }
    assert.deepEqual(headerValues(e, 'x-auth-request-user'), ['alice']);
    assert.deepEqual(headerValues(e, 'x-auth-request-groups'), ['admins']);
  });

  test('identity headers are stripped for an anonymous request to a public path too', async () => {
    const port = (upstream.address() as AddressInfo).port;
    const pub = await startInstance({
      users: [],
      config: (dir) =>
        baseConfig(dir, { apps: [{ name: 'open', hosts: ['open.example.test'], public: true, upstream: `http://127.0.0.1:${port}` }] }),
    });
    try {
      const a = await send(pub.port, {
        path: '/',
        headers: { host: 'open.example.test', 'X-Auth-Request-User': 'mallory', 'X-Auth-Request_User': 'mallory' },
      });
      assert.equal(a.status, 200);
      const e = JSON.parse(a.body) as Echo;
      assert.deepEqual(headerValues(e, 'x-auth-request-user'), ['']);
      assert.deepEqual(headerValues(e, 'x-auth-request_user'), []);
    } finally {
      await pub.close();
    }
  });

  test('the session cookie and the login-state cookie are not forwarded; other cookies are', async () => {
    const name = inst.running.settings().cookieName;
    const a = await get('/page', { ...BROWSER, cookie: `theme=dark; ${alice}; ${name}_login=abc; lang=en` });
    assert.equal(a.status, 200);
    const e = JSON.parse(a.body) as Echo;
    assert.deepEqual(headerValues(e, 'cookie'), ['theme=dark; lang=en']);
  });

  test('the decision is on the path actually forwarded, not on a client-chosen X-Forwarded-Uri', async () => {
    const a = await get('/private', { ...BROWSER, 'x-forwarded-uri': '/public/x' });
    assert.equal(a.status, 302);
    assert.equal(a.headers['x-upstream'], undefined);
    const pub = await get('/public/x', BROWSER);
    assert.equal(pub.status, 200);
    assert.equal((JSON.parse(pub.body) as Echo).url, '/public/x');
  });

  test('the host is passed upstream as the client saw it', async () => {
    const a = await get('/', { ...BROWSER, cookie: alice });
    const e = JSON.parse(a.body) as Echo;
    assert.deepEqual(headerValues(e, 'x-forwarded-host'), ['whoami.example.test']);
    assert.deepEqual(headerValues(e, 'x-forwarded-proto'), ['https']);
  });
});
