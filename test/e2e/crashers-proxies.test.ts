// Issue 9 through the shipped proxy configs: every request that once ended the process is sent
// to nginx (docs/proxies/nginx) and to Caddy (docs/proxies/caddy/Caddyfile), loaded as shipped,
// in front of a real `gatehouse serve` process. Whatever the proxy passes on, Gatehouse answers:
// the same process (same pid) is alive after every request, no answer is a 5xx (nginx answers 502
// to everyone once Gatehouse is gone), and a signed-in user still gets through at the end.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from '../kit/http.ts';
import { addUser } from '../kit/process.ts';
import { signIn } from '../kit/sign-in.ts';
import { PORTAL_HOST, type Stack, startStack } from '../kit/stack.ts';
import { crashers, exchange } from '../kit/fuzz-requests.ts';

const PASSWORD = 'correct horse battery staple';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const kind of ['nginx', 'caddy'] as const) {
  describe(`issue 9 crashers through ${kind} (docs/proxies, as shipped)`, () => {
    let s: Stack;
    let pid: number;

    before(async () => {
      s = await startStack(kind);
      pid = s.gh.pid;
      await addUser(s.gh, 'alice', PASSWORD, ['admins']);
    });
    after(async () => {
      await s?.stop();
    });

    // The crashers aimed at the portal host and at a protected app host: the proxy routes each
    // to a different Gatehouse path (the portal proxied, the app through auth_request/forward_auth).
    for (const host of [PORTAL_HOST, 'app.example.test']) {
      for (const c of crashers(host)) {
        test(`${c.name} (Host ${host}): answered, never 5xx, the same Gatehouse process still serving`, async () => {
          const a = await exchange(s.port, c.bytes);
          assert.ok(a.status === 0 || a.status < 500, `${kind} answered ${a.status}: ${a.head.split('\r\n')[0]}`);
          assert.ok(alive(pid), `gatehouse (pid ${pid}) exited:\n${s.gh.logs().slice(-2000)}`);
          const health = await request(`${s.gh.url}/healthz`);
          assert.equal(health.status, 200);
        });
      }
    }

    test('after every crasher: the pid is unchanged, nothing was fatal, and a signed-in user gets through the proxy', async () => {
      assert.ok(alive(pid));
      assert.doesNotMatch(s.gh.logs(), /fatal|uncaught/i);
      const app = s.url('app.example.test', '/after');
      const { cookie } = await signIn(s.portal, 'alice', PASSWORD, app);
      const res = await request(app, { headers: { Cookie: cookie } });
      assert.equal(res.status, 200);
      assert.equal(s.gh.pid, pid);
    });
  });
}
