import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { until } from '../../test/kit/poll.ts';
import { Metrics, outcomeOf, routeFor, type RouteLabel, type Outcome, type Decision, type SignInResult } from './metrics.ts';
import { mergeExpositions } from './metrics-merge.ts';

function lines(body: string, prefix: string): string[] {
  return body.split('\n').filter((l) => l.startsWith(prefix));
}

/** The value of the one sample `name` (with exactly these labels, or none). */
function value(body: string, series: string): number {
  const found = lines(body, `${series} `);
  assert.equal(found.length, 1, `${series}: ${found.length} samples`);
  return Number((found[0] as string).slice(series.length + 1));
}

/** A family's whole text: its HELP and TYPE lines and its samples, up to the blank line. */
function family(body: string, name: string): string {
  const start = body.indexOf(`# HELP ${name} `);
  assert.ok(start >= 0, `no family ${name}`);
  const end = body.indexOf('\n\n', start);
  return body.slice(start, end < 0 ? undefined : end + 1);
}

test('many instances live side by side, each with its own series', async () => {
  const a = new Metrics({ version: '1.0.0' });
  const b = new Metrics({ version: '2.0.0' });
  a.decision('allow');
  a.observe('healthz', 'GET', '2xx', performance.now());
  assert.deepEqual(lines((await a.render()).body, 'gatehouse_build_info'), ['gatehouse_build_info{version="1.0.0"} 1']);
  assert.deepEqual(lines((await b.render()).body, 'gatehouse_build_info'), ['gatehouse_build_info{version="2.0.0"} 1']);
  assert.deepEqual(lines((await b.render()).body, 'gatehouse_forward_auth_decisions_total{decision="allow"}'), [
    'gatehouse_forward_auth_decisions_total{decision="allow"} 0',
  ]);
  assert.deepEqual(lines((await b.render()).body, 'http_requests_total{'), []);
  assert.equal(value((await a.render()).body, 'gatehouse_forward_auth_decisions_total{decision="allow"}'), 1);
  a.close();
  b.close();
  a.close(); // twice is harmless
  // A closed instance still renders.
  assert.equal(value((await a.render()).body, 'gatehouse_build_info{version="1.0.0"}'), 1);
});

test('request counter and duration histogram, by fixed labels only', async () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  const threeMsAgo = performance.now() - 3;
  m.observe('forward_auth', 'GET', 'allow', threeMsAgo);
  m.observe('forward_auth', 'GET', 'allow', threeMsAgo);
  m.observe('sign_in', 'POST', '3xx', performance.now() - 700);
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
  m.observe('sign_in', 'POST', '3xx', performance.now() - 6_000);
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

test('the feature families, exactly: at zero, then counted', async () => {
  const m = new Metrics({ version: '0.1.0', defaultMetrics: false });
  const zero = (await m.render()).body;
  assert.equal(
    zero.slice(zero.indexOf('# HELP config_reloads_total')),
    `# HELP config_reloads_total configuration reloads, by result
# TYPE config_reloads_total counter
config_reloads_total{result="success"} 0
config_reloads_total{result="failure"} 0

# HELP gatehouse_forward_auth_decisions_total forward-auth decisions
# TYPE gatehouse_forward_auth_decisions_total counter
gatehouse_forward_auth_decisions_total{decision="public"} 0
gatehouse_forward_auth_decisions_total{decision="allow"} 0
gatehouse_forward_auth_decisions_total{decision="deny"} 0
gatehouse_forward_auth_decisions_total{decision="authenticate"} 0
gatehouse_forward_auth_decisions_total{decision="invalid"} 0

# HELP gatehouse_sign_in_attempts_total sign-in attempts, by result
# TYPE gatehouse_sign_in_attempts_total counter
gatehouse_sign_in_attempts_total{result="success"} 0
gatehouse_sign_in_attempts_total{result="failure"} 0
gatehouse_sign_in_attempts_total{result="throttled"} 0

# HELP gatehouse_sessions_revoked_total sessions revoked (sign-out, admin, expiry of trust)
# TYPE gatehouse_sessions_revoked_total counter
gatehouse_sessions_revoked_total 0

# HELP gatehouse_build_info always 1; the version is in the label
# TYPE gatehouse_build_info gauge
gatehouse_build_info{version="0.1.0"} 1
`,
  );
  for (let i = 0; i < 1000; i++) m.decision('allow');
  m.decision('public');
  m.decision('authenticate');
  m.decision('invalid');
  m.signIn('success');
  m.signIn('failure');
  m.configReload('success');
  m.configReload('success');
  m.sessionsRevoked(2);
  // Outside the tables (only a cast gets there): folded, never a new series.
  m.decision('DROP TABLE' as Decision);
  m.signIn('maybe' as SignInResult);
  m.configReload('partial' as 'success');
  m.sessionsRevoked(-5);
  m.sessionsRevoked(Number.NaN);
  const body = (await m.render()).body;
  assert.equal(
    family(body, 'config_reloads_total') +
      family(body, 'gatehouse_forward_auth_decisions_total') +
      family(body, 'gatehouse_sign_in_attempts_total'),
    `# HELP config_reloads_total configuration reloads, by result
# TYPE config_reloads_total counter
config_reloads_total{result="success"} 2
config_reloads_total{result="failure"} 1
# HELP gatehouse_forward_auth_decisions_total forward-auth decisions
# TYPE gatehouse_forward_auth_decisions_total counter
gatehouse_forward_auth_decisions_total{decision="public"} 1
gatehouse_forward_auth_decisions_total{decision="allow"} 1000
gatehouse_forward_auth_decisions_total{decision="deny"} 0
gatehouse_forward_auth_decisions_total{decision="authenticate"} 1
gatehouse_forward_auth_decisions_total{decision="invalid"} 2
# HELP gatehouse_sign_in_attempts_total sign-in attempts, by result
# TYPE gatehouse_sign_in_attempts_total counter
gatehouse_sign_in_attempts_total{result="success"} 1
gatehouse_sign_in_attempts_total{result="failure"} 2
gatehouse_sign_in_attempts_total{result="throttled"} 0
`,
  );
  assert.equal(value(body, 'gatehouse_sessions_revoked_total'), 2);
  assert.ok(!body.includes('DROP') && !body.includes('maybe') && !body.includes('partial'));
});

test('label values are escaped: backslash, double quote and newline', async () => {
  const m = new Metrics({ version: '1.0"beta\\x\nnext', defaultMetrics: false });
  const body = (await m.render()).body;
  assert.equal(
    family(body, 'gatehouse_build_info'),
    '# HELP gatehouse_build_info always 1; the version is in the label\n# TYPE gatehouse_build_info gauge\ngatehouse_build_info{version="1.0\\"beta\\\\x\\nnext"} 1\n',
  );
  // Still one sample line, and the workers' join reads it back whole.
  const merged = mergeExpositions([{ worker: 1, text: body }]);
  assert.deepEqual(lines(merged, 'gatehouse_build_info{'), ['gatehouse_build_info{worker="1",version="1.0\\"beta\\\\x\\nnext"} 1']);
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
  m.observe('healthz', 'GET', '2xx', performance.now());
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

// The process's own families and their types, in the order they are written.
const PROCESS_FAMILIES: [string, string][] = [
  ['process_cpu_user_seconds_total', 'counter'],
  ['process_cpu_system_seconds_total', 'counter'],
  ['process_cpu_seconds_total', 'counter'],
  ['process_start_time_seconds', 'gauge'],
  ['process_resident_memory_bytes', 'gauge'],
  ['process_virtual_memory_bytes', 'gauge'],
  ['process_heap_bytes', 'gauge'],
  ['process_open_fds', 'gauge'],
  ['process_max_fds', 'gauge'],
  ['nodejs_eventloop_lag_seconds', 'gauge'],
  ['nodejs_eventloop_lag_min_seconds', 'gauge'],
  ['nodejs_eventloop_lag_max_seconds', 'gauge'],
  ['nodejs_eventloop_lag_mean_seconds', 'gauge'],
  ['nodejs_eventloop_lag_stddev_seconds', 'gauge'],
  ['nodejs_eventloop_lag_p50_seconds', 'gauge'],
  ['nodejs_eventloop_lag_p90_seconds', 'gauge'],
  ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
  ['nodejs_heap_size_total_bytes', 'gauge'],
  ['nodejs_heap_size_used_bytes', 'gauge'],
  ['nodejs_external_memory_bytes', 'gauge'],
  ['nodejs_heap_space_size_total_bytes', 'gauge'],
  ['nodejs_heap_space_size_used_bytes', 'gauge'],
  ['nodejs_heap_space_size_available_bytes', 'gauge'],
  ['nodejs_version_info', 'gauge'],
  ['nodejs_gc_duration_seconds', 'histogram'],
];

test('default process metrics: every family once, with its type, after the product’s own', async (t) => {
  const m = new Metrics({ version: 't' });
  t.after(() => m.close());
  // The event-loop monitor samples every 10 ms: wait for its first samples.
  await new Promise((r) => setTimeout(r, 50));
  const body = (await m.render()).body;
  const types = body
    .split('\n')
    .filter((l) => l.startsWith('# TYPE '))
    .map((l) => l.split(' ').slice(2));
  assert.deepEqual(types.slice(7), PROCESS_FAMILIES);
  assert.equal(body.split('\n').filter((l) => l.startsWith('# HELP ')).length, types.length);
  // Each family's samples follow its HELP and TYPE; families are separated by one blank line.
  assert.ok(body.endsWith('\n') && !body.endsWith('\n\n'));
  for (const block of body.slice(0, -1).split('\n\n')) {
    const [help, type, ...samples] = block.split('\n');
    const name = (type as string).split(' ')[2] as string;
    assert.ok(help?.startsWith(`# HELP ${name} `), block);
    for (const s of samples) assert.ok(s.startsWith(name), `${name}: ${s}`);
  }
  for (const [name] of PROCESS_FAMILIES.slice(0, 20)) assert.ok(Number.isFinite(value(body, name)), name);
  assert.equal(
    value(
      body,
      `nodejs_version_info{version="${process.version}",major="${process.versions.node.split('.')[0]}",minor="${process.versions.node.split('.')[1]}",patch="${process.versions.node.split('.')[2]}"}`,
    ),
    1,
  );
  assert.ok(value(body, 'nodejs_heap_space_size_used_bytes{space="old"}') > 0);
  assert.ok(value(body, 'process_open_fds') > 2);
  assert.ok(value(body, 'process_max_fds') >= value(body, 'process_open_fds'));
  assert.ok(value(body, 'nodejs_heap_size_used_bytes') <= value(body, 'nodejs_heap_size_total_bytes'));
  assert.ok(value(body, 'nodejs_eventloop_lag_min_seconds') <= value(body, 'nodejs_eventloop_lag_max_seconds'));
  // The delay of one immediate: more than nothing, far less than a second on an idle loop.
  const lag = value(body, 'nodejs_eventloop_lag_seconds');
  assert.ok(lag > 0 && lag < 1, String(lag));
});

test('default process metrics have sane values', async (t) => {
  const m = new Metrics({ version: 't' });
  t.after(() => m.close());
  const first = (await m.render()).body;
  const rss = process.memoryUsage.rss();
  const resident = value(first, 'process_resident_memory_bytes');
  assert.ok(resident > rss / 2 && resident < rss * 2, `${resident} vs ${rss}`);
  assert.ok(value(first, 'process_virtual_memory_bytes') >= resident);
  const started = value(first, 'process_start_time_seconds');
  const now = Date.now() / 1000;
  assert.ok(started <= now + 1 && started > now - 3600, String(started));
  // CPU time is counted since the process started, and only grows.
  let spin = 0;
  for (let i = 0; i < 2e6; i++) spin += Math.sqrt(i);
  assert.ok(spin > 0);
  const second = (await m.render()).body;
  for (const c of ['process_cpu_user_seconds_total', 'process_cpu_system_seconds_total', 'process_cpu_seconds_total']) {
    assert.ok(value(second, c) >= value(first, c), c);
  }
  assert.ok(value(second, 'process_cpu_seconds_total') > value(first, 'process_cpu_seconds_total'));
  const cpu = process.cpuUsage();
  assert.ok(value(second, 'process_cpu_seconds_total') <= (cpu.user + cpu.system) / 1e6);
  assert.ok(
    Math.abs(
      value(second, 'process_cpu_seconds_total') -
        value(second, 'process_cpu_user_seconds_total') -
        value(second, 'process_cpu_system_seconds_total'),
    ) < 1e-6,
  );
});

test('garbage collections are counted by kind', async (t) => {
  const m = new Metrics({ version: 't' });
  t.after(() => m.close());
  let keep: object[] = [];
  const minor = await until(
    async () => {
      // Short-lived objects fill the young generation: a minor collection (a scavenge) follows.
      for (let i = 0; i < 200_000; i++) keep.push({ i });
      keep = [];
      const body = (await m.render()).body;
      return lines(body, 'nodejs_gc_duration_seconds_count{kind="minor"} ').length === 1 && body;
    },
    { timeoutMs: 10_000, what: 'a minor collection was counted' },
  );
  const count = value(minor, 'nodejs_gc_duration_seconds_count{kind="minor"}');
  assert.ok(count > 0);
  const buckets = lines(minor, 'nodejs_gc_duration_seconds_bucket{kind="minor",');
  assert.deepEqual(
    buckets.map((l) => /le="([^"]+)"/.exec(l)?.[1]),
    ['0.001', '0.01', '0.1', '1', '2', '5', '+Inf'],
  );
  const cumulative = buckets.map((l) => Number(l.split(' ')[1]));
  for (let i = 1; i < cumulative.length; i++) assert.ok((cumulative[i] as number) >= (cumulative[i - 1] as number));
  assert.equal(cumulative.at(-1), count);
  assert.ok(value(minor, 'nodejs_gc_duration_seconds_sum{kind="minor"}') > 0);
  // Only kinds that happened have series.
  for (const l of lines(minor, 'nodejs_gc_duration_seconds_count{')) assert.match(l, /kind="(major|minor|incremental|weakcb)"/);
});

test('defaultMetrics: false writes none of the process families', async () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  const body = (await m.render()).body;
  assert.equal(body.split('\n').filter((l) => /^(# (HELP|TYPE) )?(process|nodejs)_/.test(l)).length, 0);
  m.close();
});

test('the exposition joins with other workers’: every family once', async (t) => {
  const a = new Metrics({ version: 't' });
  const b = new Metrics({ version: 't' });
  t.after(() => {
    a.close();
    b.close();
  });
  a.decision('deny');
  const merged = mergeExpositions([
    { worker: 1, text: (await a.render()).body },
    { worker: 2, text: (await b.render()).body },
  ]);
  const types = merged.split('\n').filter((l) => l.startsWith('# TYPE '));
  assert.equal(new Set(types).size, types.length);
  assert.equal(types.length, 7 + PROCESS_FAMILIES.length);
  assert.deepEqual(lines(merged, 'gatehouse_forward_auth_decisions_total{worker="1",decision="deny"} '), [
    'gatehouse_forward_auth_decisions_total{worker="1",decision="deny"} 1',
  ]);
  assert.equal(lines(merged, 'process_resident_memory_bytes{').length, 2);
});

test('instances never closed do not keep the process alive', () => {
  const url = new URL('./metrics.ts', import.meta.url).href;
  const script = `
    import { Metrics } from ${JSON.stringify(url)};
    const all = [];
    for (let i = 0; i < 50; i++) all.push(new Metrics({ version: String(i) }));
    for (const m of all) { m.decision('allow'); await m.render(); }
    console.log('rendered');
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'rendered');
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

test('docs/running.md lists exactly the process families written, each with its type', async () => {
  const doc = await readFile(new URL('../../docs/running.md', import.meta.url), 'utf8');
  const start = doc.indexOf('| series | type | what |');
  assert.ok(start > 0, 'the process metrics table in docs/running.md');
  const rows = doc.slice(start).split('\n').slice(2);
  const listed: [string, string][] = [];
  for (const row of rows) {
    if (!row.startsWith('|')) break;
    const [series, type] = row.split('|').slice(1, 3) as [string, string];
    for (const name of series.match(/`[^`]+`/g) ?? []) {
      // `a_{x,y}_b{label}`: one family per alternative, the labels dropped.
      const bare = name.slice(1, -1).replace(/\{[a-z,]+\}$/, '');
      const alt = /\{([a-z0-9,]+)\}/.exec(bare);
      const names = alt ? (alt[1] as string).split(',').map((x) => bare.replace(alt[0], x)) : [bare];
      for (const n of names) listed.push([n, type.trim()]);
    }
  }
  assert.deepEqual(listed, PROCESS_FAMILIES);
});
