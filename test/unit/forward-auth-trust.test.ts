// Issue 18's bypass, at the gate: Caddy's forward_auth and Traefik's ForwardAuth pass a client's
// X-Original-URL on beside the X-Forwarded-* they set themselves. Whatever trustedProxies kind
// the proxy is listed with, that copy never decides: a disagreement is a logged 400.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BOB, baseConfig, cookieHeader, send, signIn, startInstance, type Instance } from './helpers.ts';

// What Caddy 2.6's forward_auth sends for GET https://app.example.test/admin/x (app: admins only).
const CADDY = {
  host: 'app.example.test', 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example.test',
  'x-forwarded-uri': '/admin/x', 'x-forwarded-for': '203.0.113.9', accept: 'text/html',
};
const SPOOFS = ['https://auth.example.test/oauth2/start', 'https://app.example.test/public/x', 'https://app.example.test/oauth2/sign_in', 'https://app.example.test/admin/x?y'];

for (const kind of ['auto', 'forwarded', 'nginx'] as const) {
  describe(`trustedProxies kind ${kind}: a client's X-Original-URL beside the proxy's X-Forwarded-*`, () => {
    let inst: Instance;
    let bob: string;
    before(async () => {
      inst = await startInstance({
        users: [BOB],
        config: (dir) => baseConfig(dir, { trustedProxies: kind === 'auto' ? ['127.0.0.0/8'] : [{ cidr: '127.0.0.0/8', kind }] }),
      });
      bob = cookieHeader(inst, (await signIn(inst, 'bob')).cookie);
    });
    after(async () => { await inst.close(); });

    test('is refused (403: nginx relays only 401 and 403 from auth_request) with a log line naming the disagreement, anonymous or signed in', async () => {
      for (const spoof of SPOOFS) {
        for (const cookie of [undefined, bob]) {
          const before = inst.logger.lines.length;
          const a = await send(inst.port, { path: '/oauth2/auth', headers: { ...CADDY, 'x-original-url': spoof, ...(cookie ? { cookie } : {}) } });
          assert.equal(a.status, 403, `${spoof} ${cookie ? 'bob' : 'anonymous'}`);
          assert.equal(a.body, 'forbidden\n');
          const logged = inst.logger.lines.slice(before).find((l) => l.msg === 'forward auth: bad original request');
          assert.match(String(logged?.fields.reason), /^X-Original-URL\/-Method and X-Forwarded-\* describe different requests \((host|path)(, path)?\); refused rather than guessed$/);
        }
      }
    });

    test('without the copy the proxy\'s own description decides (302 anonymous, 403 for bob)', async () => {
      // (An nginx-kind peer's X-Forwarded-Uri is not read: it judges /oauth2/auth on the app
      // host, which the same admins-only rule covers.)
      const anon = await send(inst.port, { path: '/oauth2/auth', headers: CADDY });
      assert.equal(anon.status, 302);
      assert.equal(anon.headers.location, `https://auth.example.test/oauth2/start?rd=${encodeURIComponent(`https://app.example.test${kind === 'nginx' ? '/oauth2/auth' : '/admin/x'}`)}`);
      assert.equal((await send(inst.port, { path: '/oauth2/auth', headers: { ...CADDY, cookie: bob } })).status, 403);
    });
  });
}
