// /metrics never answers through the public door: not on the portal host, not under a configured
// domain, not for any request a proxy forwarded. With metrics.listen it lives on its own
// listener only. The table is generated: every forwarding header, in several spellings, on
// every host kind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { send } from '../kit/http.ts';
import { baseConfig, type Instance, startInstance } from '../kit/server.ts';
import { exchange } from '../kit/fuzz-requests.ts';

const FORWARDING = [
  ['x-forwarded-for', '203.0.113.7'],
  ['x-forwarded-host', 'gatehouse.internal'],
  ['x-forwarded-proto', 'https'],
  ['x-forwarded-uri', '/metrics'],
  ['x-forwarded-method', 'GET'],
  ['x-forwarded-port', '443'],
  ['x-forwarded-prefix', '/'],
  ['forwarded', 'for=203.0.113.7'],
  ['x-real-ip', '203.0.113.7'],
  ['x-original-url', 'http://gatehouse.internal/metrics'],
  ['x-original-method', 'GET'],
  ['x-original-uri', '/metrics'],
] as const;
const PUBLIC_HOSTS = [
  'auth.example.test',
  'AUTH.example.test:443',
  'auth.example.test.',
  'app.example.test',
  'example.test',
  'deep.sub.example.test:8443',
];
const SCRAPER_HOSTS = [
  'gatehouse.internal',
  '10.1.2.3:4180',
  'gatehouse:4180',
  '[fd00::5]:4180',
  'gatehouse.gatehouse.svc.cluster.local:4180',
];

const isMetrics = (body: string): boolean => /^# TYPE /m.test(body);

describe('/metrics on the main listener', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ users: [] });
  });
  after(async () => {
    await inst.close();
  });

  test('a scraper addressing the process by IP or an internal name gets the metrics', async () => {
    for (const host of SCRAPER_HOSTS) {
      const a = await send(inst.port, { path: '/metrics', headers: { host } });
      assert.equal(a.status, 200, host);
      assert.ok(isMetrics(a.body), host);
    }
  });

  test('the portal host and every host under domains[] get 404', async () => {
    for (const host of PUBLIC_HOSTS) {
      const a = await send(inst.port, { path: '/metrics', headers: { host } });
      assert.deepEqual([a.status, a.body], [404, 'not found\n'], host);
    }
  });

  test('any forwarding header, in any case, on any host, gets 404', async () => {
    let n = 0;
    for (const host of [...SCRAPER_HOSTS, ...PUBLIC_HOSTS]) {
      for (const [name, value] of FORWARDING) {
        for (const spelling of [name, name.toUpperCase(), name.replace(/(^|-)(\w)/g, (_m, d: string, c: string) => d + c.toUpperCase())]) {
          const a = await send(inst.port, { path: '/metrics', headers: { host, [spelling]: value } });
          assert.equal(a.status, 404, `${host} ${spelling}`);
          assert.ok(!isMetrics(a.body));
          n++;
        }
      }
    }
    assert.equal(n, (SCRAPER_HOSTS.length + PUBLIC_HOSTS.length) * FORWARDING.length * 3);
  });

  test('the probes stay on every host (a proxy may health-check through the portal name)', async () => {
    for (const host of PUBLIC_HOSTS) {
      assert.equal((await send(inst.port, { path: '/healthz', headers: { host, 'x-forwarded-for': '203.0.113.7' } })).status, 200);
    }
  });
});

describe('metrics.listen: a listener of its own', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ users: [], config: (dir) => baseConfig(dir, { metrics: { listen: { host: '127.0.0.1', port: 0 } } }) });
  });
  after(async () => {
    await inst.close();
  });

  test('serves /metrics, /healthz and /readyz, and 404 for anything else', async () => {
    const port = inst.running.metricsPort;
    assert.ok(port !== undefined && port > 0 && port !== inst.port);
    const m = await send(port, { path: '/metrics', headers: { host: 'auth.example.test' } });
    assert.equal(m.status, 200);
    assert.ok(isMetrics(m.body));
    assert.equal((await send(port, { path: '/healthz' })).body, 'ok');
    assert.equal((await send(port, { path: '/readyz' })).status, 200);
    for (const path of ['/', '/oauth2/auth', '/oauth2/sign_in', '/.well-known/openid-configuration', '/metrics/x']) {
      assert.equal((await send(port, { path })).status, 404, path);
    }
    assert.equal((await send(port, { path: '/metrics', method: 'POST', body: '' })).status, 405);
    // CONNECT: an answer (405), not a silently closed socket.
    const connectAnswer = await exchange(port, Buffer.from('CONNECT 127.0.0.1:9464 HTTP/1.1\r\nHost: 127.0.0.1:9464\r\n\r\n', 'latin1'));
    assert.equal(connectAnswer.status, 405, connectAnswer.head);
    assert.equal((await send(port, { path: '/healthz' })).body, 'ok');
  });

  test('the main listener no longer serves /metrics, even to a scraper', async () => {
    for (const host of SCRAPER_HOSTS) {
      assert.equal((await send(inst.port, { path: '/metrics', headers: { host } })).status, 404, host);
    }
  });
});
