// The raw-HTTP fuzz of issue 9 through the shipped proxy configs (docs/proxies/nginx and the
// Caddyfile, loaded as shipped) in front of a real `gatehouse serve`: generated and mutated
// requests to the portal and to protected app hosts, with junk and tampered session cookies.
// Properties: the proxy always answers, never with a 5xx (502/504: Gatehouse gone or hung; 500:
// nginx got an answer auth_request does not relay); the Gatehouse process is
// the same pid throughout; and no request reaches the app with an identity or at an app path
// (no request here carries a valid session, and every app path is protected). FUZZ_RUNS sets
// the count.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { request } from '../kit/http.ts';
import { addUser } from '../kit/process.ts';
import { signIn } from '../kit/sign-in.ts';
import { APP_HOSTS, PORTAL_HOST, type Stack, startStack } from '../kit/stack.ts';
import { exchange, requestArb, serialize, show } from '../kit/fuzz-requests.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? '300');
const SEED = Number(process.env.FUZZ_SEED ?? '20269');
const PASSWORD = 'correct horse battery staple';
/** Paths forward auth passes on every host (gateway/forward-auth.ts). */
const GATE_PATHS = new Set(['/oauth2/start', '/oauth2/sign_in', '/oauth2/sign_out', '/oauth2/ticket', '/oauth2/callback']);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const kind of ['nginx', 'caddy'] as const) {
  describe(`fuzz through ${kind} (docs/proxies, as shipped)`, () => {
    let s: Stack;
    let realCookie: string;
    let cookieName: string;

    before(async () => {
      // Every path of every app host is protected: nothing may reach the app without a session.
      s = await startStack(kind, { apps: `  - { name: app, hosts: [${APP_HOSTS.join(', ')}], allow: { groups: [admins] } }` });
      await addUser(s.gh, 'alice', PASSWORD, ['admins']);
      const { cookie } = await signIn(s.portal, 'alice', PASSWORD, s.url('app.example.test', '/'));
      const pair = cookie.split('; ').find((c) => /^_gatehouse_[0-9a-f]+=/.test(c)) ?? cookie;
      cookieName = pair.slice(0, pair.indexOf('='));
      realCookie = pair.slice(pair.indexOf('=') + 1);
      // The session is real (so the property below is not vacuous) ...
      const allowed = await request(s.url('app.example.test', '/check'), { headers: { Cookie: `${cookieName}=${realCookie}` } });
      assert.equal(allowed.status, 200);
      // ... and the app's log starts empty for the fuzz.
      s.app.seen.length = 0;
    });
    after(async () => {
      await s?.stop();
    });

    test(`generated requests (${RUNS} runs): always answered, never a 5xx, the same Gatehouse, no allow without a session`, async () => {
      const pid = s.gh.pid;
      const statuses = new Map<number, number>();
      const hosts = [PORTAL_HOST, ...APP_HOSTS, `app.example.test:${s.port}`];
      await fc.assert(
        fc.asyncProperty(requestArb({ cookieName, realCookie, hosts }), async (r) => {
          const bytes = serialize(r);
          const seen = s.app.seen.length;
          const a = await exchange(s.port, bytes, 10_000, { halfClose: false });
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          assert.ok(a.status !== 0 && a.status < 500, `${kind} answered ${a.status} for ${show(bytes)}`);
          assert.ok(alive(pid), `gatehouse exited after ${show(bytes)}:\n${s.gh.logs().slice(-2000)}`);
          // The gate's own sign-in paths pass forward auth on any host, and the shipped Caddyfile
          // sends an app host's /oauth2/* to the app: those arrive anonymous (every identity header
          // empty). Anything else reaching the app is an allow without a session.
          for (const x of s.app.seen.slice(seen)) {
            const path = x.url.split('?')[0] as string;
            assert.ok(GATE_PATHS.has(path), `the app was reached by ${show(bytes)}: ${JSON.stringify(x)}`);
            for (const [name, value] of x.headers) if (/^x-auth-request-/i.test(name)) assert.equal(value, '', `${name} reached the app`);
          }
        }),
        { seed: SEED, numRuns: RUNS },
      );
      assert.doesNotMatch(s.gh.logs(), /fatal|uncaught/i);
      assert.equal((await request(`${s.gh.url}/healthz`)).status, 200);
      console.log(`# ${kind}: statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((x, y) => x[0] - y[0])))}`);
    });
  });
}
