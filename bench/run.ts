// The forward-auth benchmark (`npm run bench`). Servers run pinned to CPU 0, wrk to CPU 1, all on
// loopback; every stage is bounded in time. Measures, in one run:
//   1. baseline      a bare node:http server answering 202 with three headers, sent the same
//                    request as the gatehouse stage (its cookie and X-Forwarded-* headers)
//   1b. baseline-bare  the same server sent a request with no headers (wrk's Host only)
//   2. gatehouse     GET /oauth2/auth with a valid session cookie and trusted X-Forwarded-*
//   2b. bearer       GET /oauth2/auth for a URL under a `resources:` entry with an agent's JWT
//   2c. nginx-no-auth  nginx (docs/proxies/nginx) serving the app without auth_request
//   2d. nginx        auth_request in front of Gatehouse (docs/proxies/nginx, upstream keepalive)
//   2e. baseline-2w   the baseline in a bare two-worker node:cluster server (both cores), the same request
//   2f. gatehouse-2w  the cookie check against `gatehouse serve --workers 2` (both cores)
//       (1-2f run back to back BENCH_ROUNDS times; the spread of each ratio is reported)
//   3. nginx-no-ka   the same without `keepalive` (what the docs warn about)
//   4. memory        Gatehouse's RSS after BENCH_REQUESTS requests spread over BENCH_SESSIONS sessions,
//                    in a fresh gate-only process, then in the process that served every stage
//   5. issuer        discovery and client_credentials at /oidc/token against oidc-provider alone (bench/issuer.ts)
// Prints the tables and writes bench/results/latest.json.
//
// Knobs (environment): BENCH_DURATION (10s), BENCH_CONNECTIONS (32), BENCH_SESSIONS (10000),
// BENCH_REQUESTS (1000000), BENCH_ROUNDS (3).
import { mintSessions } from './mint-sessions.ts';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, request } from '../test/kit/http.ts';
import { addUser, gateConfig, startGatehouse, type GatehouseProcess } from '../test/kit/process.ts';
import { startNginxFromDocs } from '../test/kit/proxy-docs.ts';
import { signIn } from '../test/kit/sign-in.ts';
import { tempDir } from '../test/kit/temp.ts';
import { runWrk } from './wrk.ts';
import {
  BOTH_CPUS,
  CONNECTIONS,
  DURATION,
  LOAD_CPU,
  ROUNDS,
  SERVER_CPU,
  here,
  log,
  measure,
  need,
  printSpread,
  roundOf,
  rowJson,
  spread,
  startPinned,
  table,
  type Ratio,
  type Rounds,
  type Row,
} from './stages.ts';
import { metricsOf, sample } from '../test/kit/workers.ts';
import { until } from '../test/kit/poll.ts';
import { ISSUER_RATIOS, RESOURCE, agentToken, createAgent, measureIssuer, resourcesYaml } from './issuer.ts';

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? '10000');
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? '1000000');
const USERS = 10;
const PASSWORD = 'bench-password-not-secret';
const PORTAL = 'auth.example.test';
const APP = 'app.example.test';

const notes: string[] = [];
/** Each round's compared stages: name -> req/s and p99. */
const rounds: Rounds = [];
const issuerRounds: Rounds = [];

const RATIOS: Ratio[] = [
  { label: 'gatehouse / baseline (req/s)', num: 'gatehouse', den: 'baseline', goal: '>= 0.8 idle, >= 0.7 busy' },
  { label: 'gatehouse / baseline (p99)', num: 'gatehouse', den: 'baseline', key: 'p99Ms', goal: '<= 1.5' },
  {
    label: 'gatehouse / baseline-bare (req/s)',
    num: 'gatehouse',
    den: 'baseline-bare',
    goal: 'none: the reference before it got the same request',
  },
  { label: 'bearer / gatehouse (req/s)', num: 'bearer', den: 'gatehouse', goal: '>= 0.9' },
  { label: 'nginx / nginx-no-auth (req/s)', num: 'nginx', den: 'nginx-no-auth', goal: '>= 0.5' },
  { label: 'gatehouse-2w / baseline-2w (req/s)', num: 'gatehouse-2w', den: 'baseline-2w', goal: 'as gatehouse / baseline' },
];

/** The GET stages: a URL, its headers and the one status every answer must have. */
function bench(
  name: string,
  what: string,
  url: string,
  headers: Record<string, string>,
  expectStatus: number,
  reference?: string,
): Promise<Row> {
  return measure(name, what, { url, headers, expectStatus }, reference);
}

/**
 * The memory stage on one Gatehouse process: BENCH_SESSIONS - 1 more sessions minted beside
 * `cookie`'s, BENCH_REQUESTS checks rotating over all of them, the process's RSS (and its
 * anonymous part) before, after minting and after the checks, and V8's heap from its /metrics.
 */
async function memoryStage(
  target: GatehouseProcess,
  cookie: string,
  headers: Record<string, string>,
  cleanups: Array<() => Promise<void>>,
): Promise<Record<string, unknown>> {
  const before = await rss(target.pid);
  const started = Date.now();
  const cookies = [cookie, ...(await mintSessions(target.dataDir, cookie.slice(0, cookie.indexOf('=')), SESSIONS - 1))];
  log(`sessions: ${cookies.length} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const afterSessions = await rss(target.pid);
  const dir = await tempDir('bench');
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const cookieFile = path.join(dir, 'cookies.txt');
  await writeFile(cookieFile, `${cookies.join('\n')}\n`);
  log(`memory: ${REQUESTS} requests over ${cookies.length} sessions`);
  const load = await runWrk({
    url: `${target.url}/oauth2/auth`,
    headers,
    connections: CONNECTIONS,
    duration: '600s',
    cpu: LOAD_CPU,
    script: path.join(here, 'rotate-cookies.lua'),
    scriptArgs: [cookieFile, String(REQUESTS)],
    interruptOn: 'rotate-cookies: limit reached',
    timeoutMs: 700_000,
  });
  if (load.non2xx3xx > 0) throw new Error(`memory run: ${load.non2xx3xx} non-2xx/3xx responses (sessions refused?)`);
  const afterLoad = await rss(target.pid);
  // Where the memory is: V8's heap (from the process's own /metrics) versus everything else.
  const metricsText = (await request(`${target.url}/metrics`, { headers: {} })).body;
  const mib = (name: string) => +(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metricsText)?.[1] ?? NaN) / 1048576).toFixed(1);
  return {
    heapUsedMiB: mib('nodejs_heap_size_used_bytes'),
    heapTotalMiB: mib('nodejs_heap_size_total_bytes'),
    externalMiB: mib('nodejs_external_memory_bytes'),
    sessions: cookies.length,
    requests: load.requests,
    rps: load.rps,
    p50Ms: load.p50Ms,
    p99Ms: load.p99Ms,
    rssAtStartMiB: before.rssMiB,
    rssAfterSessionsMiB: afterSessions.rssMiB,
    rssAfterRequestsMiB: afterLoad.rssMiB,
    peakRssMiB: afterLoad.hwmMiB,
    anonAtStartMiB: before.anonMiB,
    anonAfterRequestsMiB: afterLoad.anonMiB,
  };
}

/** Resident memory, and how much of it is anonymous (heap, malloc, stacks) rather than mapped files (the node binary, libraries). */
async function rss(pid: number): Promise<{ rssMiB: number; anonMiB: number; hwmMiB: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const kb = (text: string, k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return {
    rssMiB: +(kb(status, 'VmRSS') / 1024).toFixed(1),
    anonMiB: +(kb(rollup, 'Anonymous') / 1024).toFixed(1),
    hwmMiB: +(kb(status, 'VmHWM') / 1024).toFixed(1),
  };
}

async function main(): Promise<void> {
  if (os.availableParallelism() < 2) throw new Error('the benchmark needs 2 CPUs: the servers on CPU 0, wrk on CPU 1');
  const loadAtStart = os.loadavg();
  const versions = {
    node: process.version,
    nginx: need('nginx', ['-v']),
    wrk: need('wrk', ['-v']).replace(/ Copyright.*/, ''),
    taskset: need('taskset', ['--version']),
  };
  const rows: Row[] = [];
  const issuerRows: Row[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  let memory: Record<string, unknown> | undefined;
  let memoryShared: Record<string, unknown> | undefined;
  let failure: string | undefined;
  try {
    // 1. baseline: kept running (idle) while the other stages of each round run.
    const baseline = await startPinned([path.join(here, 'baseline-server.ts'), 'baseline']);
    cleanups.push(baseline.stop);

    // Gatehouse behind the docs' nginx config, with an upstream app, all pinned to CPU 0.
    const app = await startPinned([path.join(here, 'baseline-server.ts'), 'app']);
    cleanups.push(app.stop);
    const nginxPort = await freePort();
    const portalBase = `http://${PORTAL}:${nginxPort}`;
    const appUrl = `http://${APP}:${nginxPort}/dashboard`;
    const gatehouseYaml = gateConfig({
      publicUrl: portalBase,
      apps: `  - { name: app, hosts: [${APP}], allow: { groups: [admins] } }`,
      // The resource is the bearer stage's and the issuer stages' audience.
      extra: `signIn: { throttle: { perAccount: 1000000, perAddress: 1000000 } }\n${resourcesYaml}`,
    });
    const gh = await startGatehouse(gatehouseYaml, {
      wrap: ['taskset', '-c', String(SERVER_CPU)],
      // The flags and environment `npm start` and the binary's shebang give Gatehouse; BENCH_GATEHOUSE_NODE_OPTIONS overrides the flags.
      env: { NODE_OPTIONS: process.env.BENCH_GATEHOUSE_NODE_OPTIONS ?? '--max-semi-space-size=4', MALLOC_MMAP_THRESHOLD_: '1048576' },
    });
    cleanups.push(gh.stop);
    const upstream = new URL(app.url).host;
    const nginx = await startNginxFromDocs({
      port: nginxPort,
      gatehouse: `127.0.0.1:${gh.port}`,
      portalName: PORTAL,
      sites: [{ serverName: APP, upstream }],
      wrap: ['taskset', '-c', String(SERVER_CPU)],
    });
    cleanups.push(nginx.stop);
    // The same nginx config serving the same app without the auth_request include: the
    // reference for the nginx row (what nginx and the app cost without any check).
    const noAuthPort = await freePort();
    const nginxNoAuth = await startNginxFromDocs({
      port: noAuthPort,
      gatehouse: `127.0.0.1:${gh.port}`,
      portalName: PORTAL,
      sites: [{ serverName: APP, upstream }],
      wrap: ['taskset', '-c', String(SERVER_CPU)],
      noAuth: true,
    });
    cleanups.push(nginxNoAuth.stop);
    // The two-worker rows: a bare two-worker node:cluster server, and `serve --workers 2` on the
    // same data directory (its SQLite file and generated secret: the cookie signed in below is
    // valid there too). Their processes may run on either core; wrk stays on CPU 1.
    const baseline2 = await startPinned([path.join(here, 'baseline-server.ts'), 'cluster'], BOTH_CPUS);
    cleanups.push(baseline2.stop);
    const gh2 = await startGatehouse(`${gatehouseYaml}dataDir: ${JSON.stringify(gh.dataDir)}\n`, {
      wrap: ['taskset', '-c', BOTH_CPUS],
      env: {
        NODE_OPTIONS: process.env.BENCH_GATEHOUSE_NODE_OPTIONS ?? '--max-semi-space-size=4',
        MALLOC_MMAP_THRESHOLD_: '1048576',
        GATEHOUSE_WORKERS: '2',
      },
    });
    cleanups.push(gh2.stop);
    await until(async () => sample(await metricsOf(gh2.port), 'gatehouse_workers{state="ready"}') === 2, {
      timeoutMs: 60_000,
      what: 'serve --workers 2: both workers ready',
    });
    for (let u = 0; u < USERS; u++) await addUser(gh, `user${u}`, PASSWORD, ['admins']);
    const session = await signIn(portalBase, 'user0', PASSWORD, appUrl);
    const cookie = session.jar.header(appUrl);
    if (cookie === undefined) throw new Error('no session cookie for the app host after sign-in');
    const forwarded = {
      Cookie: cookie,
      'X-Forwarded-Proto': 'http',
      'X-Forwarded-Host': `${APP}:${nginxPort}`,
      'X-Forwarded-Uri': '/dashboard',
      'X-Forwarded-Method': 'GET',
    };
    // The bearer stage's token (issue 6): an agent's JWT for a URL under the configured resource.
    const agent = await createAgent(gh, 'bench');
    const jwt = await agentToken(gh, new URL(portalBase).host, agent);
    const resourceUrl = new URL(RESOURCE);
    const bearer = {
      Authorization: `Bearer ${jwt}`,
      'X-Forwarded-Proto': resourceUrl.protocol.slice(0, -1),
      'X-Forwarded-Host': resourceUrl.host,
      'X-Forwarded-Uri': resourceUrl.pathname,
      'X-Forwarded-Method': 'GET',
    };
    const viaNginx = { Host: `${APP}:${nginxPort}`, Cookie: cookie };

    // 2. The compared stages, back to back, ROUNDS times (the machine is shared: one round's
    // ratios can be off, the spread over rounds says by how much). The table shows round 1.
    for (let round = 0; round < ROUNDS; round++) {
      if (ROUNDS > 1) log(`round ${round + 1} of ${ROUNDS}`);
      const r: Row[] = [];
      // The reference gets the very request the cookie check gets: node:http parses the cookie
      // and the four X-Forwarded-* headers for both, so the ratio is what the check itself costs.
      r.push(
        await bench(
          'baseline',
          "node:http, 202 + three headers, the gatehouse stage's request",
          `${baseline.url}/oauth2/auth`,
          forwarded,
          202,
        ),
      );
      // The same server with a request of no headers: how much of a check's time is node:http
      // reading those headers (the reference of this bench before it sent them).
      r.push(await bench('baseline-bare', 'node:http, 202 + three headers, no request headers', `${baseline.url}/oauth2/auth`, {}, 202));
      // Gatehouse alone, as Traefik/Caddy call it.
      r.push(await bench('gatehouse', 'GET /oauth2/auth, session cookie, X-Forwarded-*', `${gh.url}/oauth2/auth`, forwarded, 202));
      // The same check with the bearer token, right after the cookie stage: the same process.
      r.push(
        await bench(
          'bearer',
          'GET /oauth2/auth, agent JWT (ES256) for a resources: URL, X-Forwarded-*',
          `${gh.url}/oauth2/auth`,
          bearer,
          202,
          'gatehouse',
        ),
      );
      // nginx in front of the app without a check, then with auth_request (keepalive).
      r.push(
        await bench(
          'nginx-no-auth',
          'nginx -> app, the same config without auth_request',
          `http://127.0.0.1:${noAuthPort}/dashboard`,
          { Host: `${APP}:${noAuthPort}` },
          200,
        ),
      );
      r.push(
        await bench(
          'nginx',
          'nginx auth_request -> Gatehouse (keepalive 32) -> app',
          `http://127.0.0.1:${nginxPort}/dashboard`,
          viaNginx,
          200,
          'nginx-no-auth',
        ),
      );
      r.push(
        await bench(
          'baseline-2w',
          "node:cluster, 2 workers, 202 + three headers, the gatehouse stage's request (either core)",
          `${baseline2.url}/oauth2/auth`,
          forwarded,
          202,
        ),
      );
      r.push(
        await bench(
          'gatehouse-2w',
          'serve --workers 2: GET /oauth2/auth, session cookie (either core)',
          `${gh2.url}/oauth2/auth`,
          forwarded,
          202,
          'baseline-2w',
        ),
      );
      if (round === 0) rows.push(...r);
      rounds.push(roundOf(r));
    }
    await baseline.stop();
    await nginxNoAuth.stop();
    await baseline2.stop();
    // What two workers cost: the primary and each worker, after the rounds.
    const children = (await readFile(`/proc/${gh2.pid}/task/${gh2.pid}/children`, 'utf8').catch(() => ''))
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    const primaryRss = await rss(gh2.pid);
    const workerRss = await Promise.all(children.map((c) => rss(Number(c)).catch(() => undefined)));
    notes.push(
      `serve --workers 2 after the rounds: RSS primary ${primaryRss.rssMiB} MiB, workers ${workerRss.map((w) => (w ? `${w.rssMiB}` : '?')).join(' and ')} MiB`,
    );
    await gh2.stop();

    // 3. nginx without upstream keepalive (what the docs warn about).
    await nginx.stop();
    const nginxNoKa = await startNginxFromDocs({
      port: nginxPort,
      gatehouse: `127.0.0.1:${gh.port}`,
      portalName: PORTAL,
      sites: [{ serverName: APP, upstream }],
      wrap: ['taskset', '-c', String(SERVER_CPU)],
      noKeepalive: true,
    });
    cleanups.push(nginxNoKa.stop);
    rows.push(
      await bench(
        'nginx-no-keepalive',
        'the same without `keepalive` to Gatehouse',
        `http://127.0.0.1:${nginxPort}/dashboard`,
        viaNginx,
        200,
      ),
    );
    await nginxNoKa.stop();

    // 3b. Gatehouse alone on its core (the comparison with an SSO handler "on one core"): nginx
    // and the app move to the load core, beside wrk, so that core bounds this row too.
    const splitPort = await freePort();
    const appSplit = await startPinned([path.join(here, 'baseline-server.ts'), 'app'], LOAD_CPU);
    cleanups.push(appSplit.stop);
    const nginxSplit = await startNginxFromDocs({
      port: splitPort,
      gatehouse: `127.0.0.1:${gh.port}`,
      portalName: PORTAL,
      sites: [{ serverName: APP, upstream: new URL(appSplit.url).host }],
      wrap: ['taskset', '-c', String(LOAD_CPU)],
    });
    cleanups.push(nginxSplit.stop);
    rows.push(
      await bench(
        'nginx-split',
        'nginx (keepalive) + app + wrk on one core, Gatehouse alone on the other',
        `http://127.0.0.1:${splitPort}/dashboard`,
        { Host: `${APP}:${splitPort}`, Cookie: cookie },
        200,
      ),
    );
    await nginxSplit.stop();
    await appSplit.stop();

    // 4. Memory after many requests across many sessions: first in a fresh Gatehouse with the
    // gate alone (apps, no resources or clients: oidc-provider never loads), the forward-auth
    // deployment the goal is about, then in the process that served every stage above (the
    // issuer built by the bearer stage's token, the heap V8 grew at 40,000 checks a second).
    const gateOnly = await startGatehouse(
      gateConfig({
        publicUrl: portalBase,
        apps: `  - { name: app, hosts: [${APP}], allow: { groups: [admins] } }`,
        extra: 'signIn: { throttle: { perAccount: 1000000, perAddress: 1000000 } }',
      }),
      {
        wrap: ['taskset', '-c', String(SERVER_CPU)],
        env: { NODE_OPTIONS: process.env.BENCH_GATEHOUSE_NODE_OPTIONS ?? '--max-semi-space-size=4', MALLOC_MMAP_THRESHOLD_: '1048576' },
      },
    );
    cleanups.push(gateOnly.stop);
    for (let u = 0; u < USERS; u++) await addUser(gateOnly, `user${u}`, PASSWORD, ['admins']);
    const gateOnlySession = await signIn(
      { base: portalBase, connectTo: { host: '127.0.0.1', port: gateOnly.port } },
      'user0',
      PASSWORD,
      appUrl,
    );
    const gateOnlyCookie = gateOnlySession.jar.header(appUrl);
    if (gateOnlyCookie === undefined) throw new Error('no session cookie from the gate-only instance');
    const { Cookie: _c, ...forwardedNoCookie } = forwarded;
    memory = await memoryStage(gateOnly, gateOnlyCookie, forwardedNoCookie, cleanups);
    await gateOnly.stop();
    memoryShared = await memoryStage(gh, cookie, forwardedNoCookie, cleanups);

    // 5. The issuer against oidc-provider alone (issue 5), last: its load does not touch the memory figures.
    await measureIssuer(gh, new URL(portalBase).host, agent, issuerRows, issuerRounds);
  } catch (e) {
    // Keep what was measured; the report says where it stopped.
    failure = (e as Error).message;
    process.exitCode = 1;
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }

  if (rows.length === 0) throw new Error(failure ?? 'nothing was measured');
  const report = {
    date: new Date().toISOString(),
    // Load averages at the start and the end: other work on the machine shows up in every figure.
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cpus: os.availableParallelism(),
      kernel: os.release(),
      loadAverage: { start: loadAtStart, end: os.loadavg() },
    },
    settings: { duration: DURATION, connections: CONNECTIONS, wrkThreads: 1, serverCpu: SERVER_CPU, loadCpu: LOAD_CPU },
    versions,
    results: rows.map((r) => rowJson(r, rows, 'baseline')),
    rounds,
    ratios: RATIOS.map((x) => ({ ratio: x.label, goal: x.goal, ...spread(rounds, x.num, x.den, x.key) })),
    issuerRounds,
    issuerRatios: ISSUER_RATIOS.map((x) => ({ ratio: x.label, goal: x.goal, ...spread(issuerRounds, x.num, x.den, x.key) })),
    memory,
    memoryShared,
    ...(issuerRows.length > 0 ? { issuer: issuerRows.map((r) => rowJson(r, issuerRows, null)) } : {}),
    notes,
    ...(failure !== undefined ? { failure } : {}),
  };
  const out = path.join(here, 'results');
  await mkdir(out, { recursive: true });
  await writeFile(path.join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(table(rows, 'baseline'));
  printSpread(rounds, RATIOS);
  for (const [label, m] of [
    ['memory, gate only (a fresh process: apps, no resources or clients)', memory],
    ['memory, the process that served every stage above (issuer built)', memoryShared],
  ] as const) {
    if (m === undefined) continue;
    console.log(
      `\n${label}: RSS ${String(m.rssAfterRequestsMiB)} MiB after ${String(m.requests)} requests over ${String(m.sessions)} sessions ` +
        `(start ${String(m.rssAtStartMiB)} MiB, after minting sessions ${String(m.rssAfterSessionsMiB)} MiB, peak ${String(m.peakRssMiB)} MiB; ` +
        `V8 heap ${String(m.heapUsedMiB)} MiB used of ${String(m.heapTotalMiB)} MiB; anonymous ${String(m.anonAtStartMiB)} -> ${String(m.anonAfterRequestsMiB)} MiB, the rest is mapped files)`,
    );
  }
  if (issuerRows.length > 0) {
    console.log(`\nissuer (reference: oidc-provider alone, same client and grant)\n${table(issuerRows, null)}`);
    printSpread(issuerRounds, ISSUER_RATIOS);
  }
  for (const n of notes) console.log(`note: ${n}`);
  if (failure !== undefined) console.log(`\nINCOMPLETE: ${failure}`);
  console.log(`\nwritten to ${path.relative(process.cwd(), path.join(out, 'latest.json'))}`);
}

main().catch((e: unknown) => {
  console.error(`bench: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
