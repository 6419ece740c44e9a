// Issue 18's bypass, at the gate: Caddy's forward_auth and Traefik's ForwardAuth pass a client's
// X-Original-URL on beside the X-Forwarded-* they set themselves. Whatever trustedProxies kind
// the proxy is listed with, that copy never decides: a disagreement is a logged 400.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { send } from '../kit/http.ts';
import { ALICE, baseConfig, BOB, cookieHeader, type Instance, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';

// What Caddy 2.6's forward_auth sends for GET https://app.example.test/admin/x (app: admins only).
const CADDY = {
  host: 'app.example.test',
  'x-forwarded-method': 'GET',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'app.example.test',
  'x-forwarded-uri': '/admin/x',
  'x-forwarded-for': '203.0.113.9',
  accept: 'text/html',
};
const SPOOFS = [
  'https://auth.example.test/oauth2/start',
  'https://app.example.test/public/x',
  'https://app.example.test/oauth2/sign_in',
  'https://app.example.test/admin/x?y',
];

for (const kind of ['auto', 'forwarded', 'nginx'] as const) {
  describe(`trustedProxies kind ${kind}: a client's X-Original-URL beside the proxy's X-Forwarded-*`, () => {
    let inst: Instance;
    let bob: string;
    before(async () => {
      inst = await startInstance({
        users: [BOB],
        config: (dir) => baseConfig(dir, { trustedProxies: kind === 'auto' ? ['127.0.0.0/8'] : [{ cidr: '127.0.0.0/8', kind }] }),
      });
      bob = cookieHeader(inst, (await signIn(inst, 'bob')).value);
    });
    after(async () => {
      await inst.close();
    });

    test('is refused (403: nginx relays only 401 and 403 from auth_request) with a log line naming the disagreement, anonymous or signed in', async () => {
      for (const spoof of SPOOFS) {
        for (const cookie of [undefined, bob]) {
          const before = inst.logger.lines.length;
          const a = await send(inst.port, {
            path: '/oauth2/auth',
            headers: { ...CADDY, 'x-original-url': spoof, ...(cookie ? { cookie } : {}) },
          });
          assert.equal(a.status, 403, `${spoof} ${cookie ? 'bob' : 'anonymous'}`);
          assert.equal(a.body, 'forbidden\n');
          const logged = inst.logger.lines.slice(before).find((l) => l.msg === 'forward auth: bad original request');
          assert.match(
            String(logged?.fields.reason),
            /^X-Original-URL\/-Method and X-Forwarded-\* describe different requests \((host|path)(, path)?\); refused rather than guessed$/,
          );
        }
      }
    });

    test("without the copy the proxy's own description decides (302 anonymous, 403 for bob); an nginx-kind peer that sent no X-Original-URL is refused", async () => {
      // An nginx-kind peer's X-Forwarded-Uri is not read: nothing names the request to judge
      // but /oauth2/auth itself, which is refused (see the suite below).
      const anon = await send(inst.port, { path: '/oauth2/auth', headers: CADDY });
      if (kind === 'nginx') {
        assert.equal(anon.status, 403);
        assert.equal(anon.body, 'forbidden\n');
      } else {
        assert.equal(anon.status, 302);
        assert.equal(
          anon.headers.location,
          `https://auth.example.test/oauth2/start?rd=${encodeURIComponent('https://app.example.test/admin/x')}`,
        );
      }
      assert.equal((await send(inst.port, { path: '/oauth2/auth', headers: { ...CADDY, cookie: bob } })).status, 403);
    });
  });
}

// A proxy that names no original request the gate believes: Traefik or Caddy listed with kind
// nginx (the Kubernetes base lists the pod ranges as nginx; its Traefik Middleware sends
// X-Forwarded-Uri), or an oauth2-proxy-style nginx snippet (Host and X-Forwarded-Uri, no
// X-Original-URL). The gate saw only /oauth2/auth; judging that gave every path of the host one
// verdict, so bob (staff) passed to /admin/x, which only admins may reach.
describe('a forward-auth request that names no original request is refused, never judged as /oauth2/auth', () => {
  let inst: Instance;
  let bob: string;
  let alice: string;
  before(async () => {
    inst = await startInstance({
      users: [BOB, ALICE],
      config: (dir) =>
        baseConfig(dir, {
          trustedProxies: [{ cidr: '127.0.0.0/8', kind: 'nginx' }],
          apps: [
            { name: 'admin-area', hosts: ['app.example.test'], paths: ['/admin/**'], allow: { groups: ['admins'] } },
            { name: 'app', hosts: ['app.example.test'], allow: { anyUser: true } },
          ],
        }),
    });
    bob = cookieHeader(inst, (await signIn(inst, 'bob')).value);
    alice = cookieHeader(inst, (await signIn(inst, 'alice')).value);
  });
  after(async () => {
    await inst.close();
  });

  // What reaches the gate from each: the headers that proxy sets for GET https://app.example.test/admin/x.
  const TRAEFIK = {
    host: 'gatehouse:4180',
    'x-forwarded-method': 'GET',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'app.example.test',
    'x-forwarded-uri': '/admin/x',
    'x-forwarded-for': '203.0.113.9',
  };
  const OAUTH2_PROXY_STYLE = { host: 'app.example.test', 'x-forwarded-uri': '/admin/x', 'x-real-ip': '203.0.113.9' };
  const PORTAL_HOST = { host: 'auth.example.test' };
  const cases: Array<[string, Record<string, string>]> = [
    ['Traefik as kind nginx', TRAEFIK],
    ['Caddy as kind nginx', CADDY],
    ['an oauth2-proxy-style nginx snippet', OAUTH2_PROXY_STYLE],
    ['no forwarded headers at all, on the portal host', PORTAL_HOST],
  ];

  test('403 with a warning naming trustedProxies kind, for anonymous, bob and alice alike', async () => {
    for (const [what, headers] of cases) {
      for (const [who, cookie] of [
        ['anonymous', undefined],
        ['bob', bob],
        ['alice', alice],
      ] as const) {
        const before = inst.logger.lines.length;
        const a = await send(inst.port, {
          path: '/oauth2/auth',
          headers: { ...headers, accept: 'text/html', ...(cookie ? { cookie } : {}) },
        });
        assert.equal(a.status, 403, `${what}, ${who}`);
        assert.equal(a.body, 'forbidden\n', `${what}, ${who}`);
        assert.equal(a.headers['x-auth-request-user'], undefined, `${what}, ${who}`);
        const logged = inst.logger.lines
          .slice(before)
          .find((l) => l.msg.startsWith('forward auth: the proxy did not send the original request'));
        assert.equal(logged?.level, 'warn', `${what}, ${who}`);
      }
    }
  });

  test('the same request described by X-Original-URL is judged by the rules: bob 403 at /admin/x, 202 elsewhere; alice 202', async () => {
    const nginx = (uri: string) => ({
      host: 'gatehouse',
      'x-original-url': `https://app.example.test${uri}`,
      'x-original-method': 'GET',
      'x-forwarded-for': '203.0.113.9',
    });
    assert.equal((await send(inst.port, { path: '/oauth2/auth', headers: { ...nginx('/admin/x'), cookie: bob } })).status, 403);
    assert.equal((await send(inst.port, { path: '/oauth2/auth', headers: { ...nginx('/elsewhere'), cookie: bob } })).status, 202);
    assert.equal((await send(inst.port, { path: '/oauth2/auth', headers: { ...nginx('/admin/x'), cookie: alice } })).status, 202);
  });
});
