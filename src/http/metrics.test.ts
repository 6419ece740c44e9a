import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics, outcomeOf, routeFor, type RouteLabel, type Outcome } from './metrics.ts';

function lines(body: string, prefix: string): string[] {
  return body.split('\n').filter((l) => l.startsWith(prefix));
}

test('many instances live side by side on their own registries', async () => {
  const a = new Metrics({ version: '1.0.0' });
  const b = new Metrics({ version: '2.0.0' });
  a.decision('allow');
  assert.deepEqual(lines((await a.render()).body, 'gatehouse_build_info'), ['gatehouse_build_info{version="1.0.0"} 1']);
  assert.deepEqual(lines((await b.render()).body, 'gatehouse_build_info'), ['gatehouse_build_info{version="2.0.0"} 1']);
  assert.deepEqual(lines((await b.render()).body, 'gatehouse_forward_auth_decisions_total{decision="allow"}'), [
    'gatehouse_forward_auth_decisions_total{decision="allow"} 0',
  ]);
});

test('request counter and duration histogram, by fixed labels only', async () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  const threeMsAgo = process.hrtime.bigint() - 3_000_000n;
  m.observe('forward_auth', 'GET', 'allow', threeMsAgo);
  m.observe('forward_auth', 'GET', 'allow', threeMsAgo);
  m.observe('sign_in', 'POST', '3xx', process.hrtime.bigint() - 700_000_000n);
  // Anything outside the tables is folded, never a new label value.
  m.observe('/admin/users/42?x=1' as RouteLabel, 'PROPFIND', 'weird' as Outcome, threeMsAgo);
  const out = await m.render();
  assert.equal(out.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  assert.deepEqual(lines(out.body, 'http_requests_total'), [
    'http_requests_total{route="forward_auth",method="GET",outcome="allow"} 2',
    'http_requests_total{route="sign_in",method="POST",outcome="3xx"} 1',
    'http_requests_total{route="other",method="OTHER",outcome="5xx"} 1',
  ]);
  const fa = lines(out.body, 'http_request_duration_seconds_bucket{route="forward_auth",outcome="allow",');
  assert.deepEqual(
    fa.map((l) => l.replace('route="forward_auth",outcome="allow",', '')),
    [
      'http_request_duration_seconds_bucket{le="0.0005"} 0',
      'http_request_duration_seconds_bucket{le="0.001"} 0',
      'http_request_duration_seconds_bucket{le="0.0025"} 0',
      'http_request_duration_seconds_bucket{le="0.005"} 2',
      'http_request_duration_seconds_bucket{le="0.01"} 2',
      'http_request_duration_seconds_bucket{le="0.025"} 2',
      'http_request_duration_seconds_bucket{le="0.05"} 2',
      'http_request_duration_seconds_bucket{le="0.1"} 2',
      'http_request_duration_seconds_bucket{le="0.25"} 2',
      'http_request_duration_seconds_bucket{le="0.5"} 2',
      'http_request_duration_seconds_bucket{le="1"} 2',
      'http_request_duration_seconds_bucket{le="2.5"} 2',
      'http_request_duration_seconds_bucket{le="5"} 2',
      'http_request_duration_seconds_bucket{le="+Inf"} 2',
    ],
  );
  const sum = Number(lines(out.body, 'http_request_duration_seconds_sum{route="forward_auth",outcome="allow"} ')[0]?.split(' ')[1]);
  assert.ok(sum >= 0.006 && sum < 0.01, String(sum));
  assert.deepEqual(lines(out.body, 'http_request_duration_seconds_count'), [
    'http_request_duration_seconds_count{route="forward_auth",outcome="allow"} 2',
    'http_request_duration_seconds_count{route="sign_in",outcome="3xx"} 1',
    'http_request_duration_seconds_count{route="other",outcome="5xx"} 1',
  ]);
  assert.deepEqual(lines(out.body, 'http_request_duration_seconds_bucket{route="sign_in",outcome="3xx",le="0.5"}'), [
    'http_request_duration_seconds_bucket{route="sign_in",outcome="3xx",le="0.5"} 0',
  ]);
  assert.deepEqual(lines(out.body, 'http_request_duration_seconds_bucket{route="sign_in",outcome="3xx",le="1"}'), [
    'http_request_duration_seconds_bucket{route="sign_in",outcome="3xx",le="1"} 1',
  ]);
  // A value over the last bound is only in +Inf.
  m.observe('sign_in', 'POST', '3xx', process.hrtime.bigint() - 6_000_000_000n);
  const again = (await m.render()).body;
  assert.deepEqual(lines(again, 'http_request_duration_seconds_bucket{route="sign_in",outcome="3xx",le="5"}'), [
    'http_request_duration_seconds_bucket{route="sign_in",outcome="3xx",le="5"} 1',
  ]);
  assert.deepEqual(lines(again, 'http_request_duration_seconds_bucket{route="sign_in",outcome="3xx",le="+Inf"}'), [
    'http_request_duration_seconds_bucket{route="sign_in",outcome="3xx",le="+Inf"} 2',
  ]);
});

test('feature counters start at zero so alert rules always have a series', async () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  m.decision('deny');
  m.decision('deny');
  m.signIn('throttled');
  m.configReload('failure');
  m.sessionsRevoked();
  m.sessionsRevoked(3);
  const body = (await m.render()).body;
  assert.deepEqual(lines(body, 'gatehouse_forward_auth_decisions_total{'), [
    'gatehouse_forward_auth_decisions_total{decision="public"} 0',
    'gatehouse_forward_auth_decisions_total{decision="allow"} 0',
    'gatehouse_forward_auth_decisions_total{decision="deny"} 2',
    'gatehouse_forward_auth_decisions_total{decision="authenticate"} 0',
    'gatehouse_forward_auth_decisions_total{decision="invalid"} 0',
  ]);
  assert.deepEqual(lines(body, 'gatehouse_sign_in_attempts_total{'), [
    'gatehouse_sign_in_attempts_total{result="success"} 0',
    'gatehouse_sign_in_attempts_total{result="failure"} 0',
    'gatehouse_sign_in_attempts_total{result="throttled"} 1',
  ]);
  assert.deepEqual(lines(body, 'config_reloads_total{'), [
    'config_reloads_total{result="success"} 0',
    'config_reloads_total{result="failure"} 1',
  ]);
  assert.deepEqual(lines(body, 'gatehouse_sessions_revoked_total'), ['gatehouse_sessions_revoked_total 4']);
});

test('the exposition is well formed: HELP and TYPE once per family, then its samples', async () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  const empty = (await m.render()).body;
  assert.ok(
    empty.startsWith(
      '# HELP http_requests_total HTTP requests answered, by route, method and outcome\n# TYPE http_requests_total counter\n\n# HELP http_request_duration_seconds',
    ),
    empty,
  );
  m.observe('healthz', 'GET', '2xx', process.hrtime.bigint());
  const body = (await m.render()).body;
  const families = body
    .split('\n')
    .filter((l) => l.startsWith('# TYPE '))
    .map((l) => l.split(' ')[2]);
  assert.deepEqual(families, [
    'http_requests_total',
    'http_request_duration_seconds',
    'config_reloads_total',
    'gatehouse_forward_auth_decisions_total',
    'gatehouse_sign_in_attempts_total',
    'gatehouse_sessions_revoked_total',
    'gatehouse_build_info',
  ]);
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('# ')) continue;
    assert.match(line, /^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+$/, line);
  }
});

test('default process metrics are exported without a prefix', async () => {
  const body = (await new Metrics({ version: 't' }).render()).body;
  assert.equal(lines(body, 'process_cpu_user_seconds_total ').length, 1);
  assert.equal(lines(body, 'process_resident_memory_bytes ').length, 1);
  assert.equal(lines(body, 'nodejs_eventloop_lag_seconds ').length, 1);
});

test('status classes and route labels', () => {
  assert.deepEqual([101, 200, 204, 302, 399, 401, 404, 500, 503, 999].map(outcomeOf), [
    '1xx',
    '2xx',
    '2xx',
    '3xx',
    '3xx',
    '4xx',
    '4xx',
    '5xx',
    '5xx',
    '5xx',
  ]);
  assert.equal(routeFor('/oauth2/auth'), 'forward_auth');
  assert.equal(routeFor('/oauth2/auth?rd=x'), 'forward_auth');
  assert.equal(routeFor('/oauth2/sign_in'), 'sign_in');
  assert.equal(routeFor('/healthz'), 'healthz');
  assert.equal(routeFor('/oauth2/auth/extra'), 'other');
  assert.equal(routeFor('/anything/else'), 'other');
});
