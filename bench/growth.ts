// Growth (`npm run bench:growth`): how the forward-auth check's cost and Gatehouse's resident
// memory grow with the number of sessions, rules (apps) and accounts, so an operator can size a
// deployment. Each point is a fresh `gatehouse serve` pinned to CPU 0, wrk on CPU 1:
//   sessions   1,000 / 10,000 / 100,000 sessions (10 apps, 100 accounts)
//   rules      10 / 100 / 1,000 apps, the checked host's app last (10,000 sessions, 100 accounts)
//   accounts   100 / 10,000 / 100,000 accounts in the store (10,000 sessions over the first ones, 10 apps)
// At each point every session is checked once (the first sight reads the store), then wrk
// rotates over all of them for BENCH_DURATION: req/s, p50, p99 and the RSS afterwards. A bare
// node:http server is measured right before each point; the point's ratio is to that run (the
// machine is shared: only ratios measured back to back compare).
// Writes bench/results/growth.json and the table and chart between the markers in
// docs/benchmarks.md, with the machine and its load average.
//
// Knobs: BENCH_DURATION (10s), BENCH_CONNECTIONS (32), GROWTH_SESSIONS, GROWTH_RULES,
// GROWTH_ACCOUNTS (comma-separated sizes).
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { join } from 'node:path';
import { silentLogger } from '../src/core/index.ts';
import { openStore } from '../src/store/index.ts';
import { request } from '../test/kit/http.ts';
import { gateConfig, startGatehouse } from '../test/kit/process.ts';
import { tempDir } from '../test/kit/temp.ts';
import { mintSessions } from './mint-sessions.ts';
import { CONNECTIONS, DURATION, LOAD_CPU, SERVER_CPU, here, log, measure, need, startPinned } from './stages.ts';
import { runWrk } from './wrk.ts';

const sizes = (v: string | undefined, d: number[]) => (v === undefined ? d : v.split(',').map(Number));
const SESSIONS = sizes(process.env.GROWTH_SESSIONS, [1_000, 10_000, 100_000]);
const RULES = sizes(process.env.GROWTH_RULES, [10, 100, 1_000]);
const ACCOUNTS = sizes(process.env.GROWTH_ACCOUNTS, [100, 10_000, 100_000]);
const BASE = { sessions: 10_000, rules: 10, accounts: 100 };
const COOKIE = 'gh_s';
const MARK_BEGIN = '<!-- growth:begin (written by npm run bench:growth) -->';
const MARK_END = '<!-- growth:end -->';

interface Point {
  dimension: 'sessions' | 'rules' | 'accounts';
  sessions: number;
  rules: number;
  accounts: number;
}
interface Measured extends Point {
  baselineRps: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  rssMiB: number;
  anonMiB: number;
  heapUsedMiB: number;
  rssIdleMiB: number;
}

/** App i of `count`: five shapes in turn (public paths, protected, host pairs, wildcard with a network, admin paths); the last is the checked app. */
function appsYaml(count: number): string {
  const lines: string[] = [];
  for (let i = 0; i < count - 1; i++) {
    const j = Math.floor(i / 5);
    switch (i % 5) {
      case 0:
        lines.push(`  - { name: api-${j}, hosts: [api-${j}.example.test], paths: ['/public/*'], methods: [GET, HEAD], public: true }`);
        break;
      case 1:
        lines.push(`  - { name: team-${j}, hosts: [team-${j}.example.test], allow: { groups: [team-${j % 50}] } }`);
        break;
      case 2:
        lines.push(
          `  - { name: pair-${j}, hosts: [pair-${j}.example.test, pair-${j}.internal.example.test], allow: { users: [user-${j % 200}] } }`,
        );
        break;
      case 3:
        lines.push(`  - { name: zone-${j}, hosts: ['*.zone-${j}.example.test'], networks: [10.0.0.0/8], allow: { anyUser: true } }`);
        break;
      default:
        lines.push(`  - { name: admin-${j}, hosts: [admin-${j}.example.test], paths: ['/admin/*'], allow: { groups: [admins] } }`);
    }
  }
  lines.push('  - { name: app, hosts: [app.example.test], allow: { groups: [admins] } }');
  return lines.join('\n');
}

/** Accounts written straight to the store (no password: 100,000 argon2id hashes would take hours). */
async function addAccounts(dataDir: string, count: number): Promise<void> {
  const store = await openStore({ url: `sqlite:${join(dataDir, 'gatehouse.db')}`, logger: silentLogger });
  try {
    for (let i = 0; i < count; i++) {
      const n = String(i).padStart(6, '0');
      await store.users.create({
        id: `u${n}`,
        username: `user${n}`,
        email: `user${n}@example.org`,
        emailVerified: true,
        name: null,
        groups: ['admins'],
        passwordHash: null,
        disabled: false,
      });
    }
  } finally {
    await store.close();
  }
}

async function memoryOf(pid: number): Promise<{ rssMiB: number; anonMiB: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN);
  return { rssMiB: +(kb('Rss') / 1024).toFixed(1), anonMiB: +(kb('Anonymous') / 1024).toFixed(1) };
}

async function measurePoint(p: Point, dir: string, baselineUrl: string): Promise<Measured> {
  const baselineRps = (
    await measure('baseline', 'node:http, 202 + three headers', { url: `${baselineUrl}/oauth2/auth`, headers: {}, expectStatus: 202 })
  ).result.rps;
  log(`${p.dimension}: ${p.sessions} sessions, ${p.rules} apps, ${p.accounts} accounts`);
  const gh = await startGatehouse(
    gateConfig({
      publicUrl: 'http://auth.example.test',
      apps: appsYaml(p.rules),
      extra: `session: { cookieName: ${COOKIE} }`,
    }),
    {
      wrap: ['taskset', '-c', String(SERVER_CPU)],
      env: { NODE_OPTIONS: process.env.BENCH_GATEHOUSE_NODE_OPTIONS ?? '--max-semi-space-size=4', MALLOC_MMAP_THRESHOLD_: '1048576' },
    },
  );
  try {
    // Migrations run after the server listens: the store is written to once /readyz says so.
    for (let i = 0; (await request(`${gh.url}/readyz`, { headers: {} })).status !== 200; i++) {
      if (i > 300) throw new Error('gatehouse did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    const idle = await memoryOf(gh.pid);
    await addAccounts(gh.dataDir, p.accounts);
    const cookies = await mintSessions(gh.dataDir, COOKIE, p.sessions);
    const file = path.join(dir, `cookies-${p.sessions}.txt`);
    await writeFile(file, `${cookies.join('\n')}\n`);
    const headers = {
      'X-Forwarded-Proto': 'http',
      'X-Forwarded-Host': 'app.example.test',
      'X-Forwarded-Uri': '/dashboard',
      'X-Forwarded-Method': 'GET',
    };
    const probe = await request(`${gh.url}/oauth2/auth`, { headers: { ...headers, Cookie: cookies[0]! } });
    if (probe.status !== 202) throw new Error(`a single check answered ${probe.status}, expected 202`);
    const script = path.join(here, 'rotate-cookies.lua');
    // Every session seen once (its first sight reads the store), then the measured run.
    const warm = await runWrk({
      url: `${gh.url}/oauth2/auth`,
      headers,
      connections: CONNECTIONS,
      duration: '600s',
      cpu: LOAD_CPU,
      script,
      scriptArgs: [file, String(cookies.length)],
      interruptOn: 'rotate-cookies: limit reached',
      timeoutMs: 700_000,
    });
    const r = await runWrk({
      url: `${gh.url}/oauth2/auth`,
      headers,
      connections: CONNECTIONS,
      duration: DURATION,
      cpu: LOAD_CPU,
      script,
      scriptArgs: [file],
      timeoutMs: 120_000,
    });
    if (warm.non2xx3xx > 0 || r.non2xx3xx > 0 || r.socketErrors > 0)
      throw new Error(`${r.non2xx3xx + warm.non2xx3xx} refused checks, ${r.socketErrors} socket errors`);
    const mem = await memoryOf(gh.pid);
    const metrics = (await request(`${gh.url}/metrics`, { headers: {} })).body;
    const heapUsed = Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(metrics)?.[1] ?? NaN);
    return {
      ...p,
      baselineRps,
      rps: r.rps,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      rssMiB: mem.rssMiB,
      anonMiB: mem.anonMiB,
      heapUsedMiB: +(heapUsed / 1048576).toFixed(1),
      rssIdleMiB: idle.rssMiB,
    };
  } finally {
    await gh.stop();
  }
}

const bar = (v: number, max: number, width = 30) => '█'.repeat(Math.max(1, Math.round((v / max) * width)));

function markdown(points: Measured[], machine: Record<string, unknown>): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const lines = [
    MARK_BEGIN,
    '',
    `Measured ${String(machine.date)} on ${String(machine.cpu)}, ${String(machine.cpus)} CPUs, Linux ${String(machine.kernel)}, Node.js ${String(machine.node)}; ` +
      `load average ${String(machine.loadStart)} at the start and ${String(machine.loadEnd)} at the end (other work on the machine lowers every figure). ` +
      `Gatehouse on one core, wrk (\`-t1 -c${CONNECTIONS} -d${DURATION}\`) on the other, rotating over every session. ` +
      "Each point's ratio is to a bare `node:http` server answering 202, measured right before it (its req/s in the baseline column). " +
      `Past \`limits.sessionCache\` (50,000 by default) sessions are evicted and read again from the store when next seen: size it to the sessions active at once.`,
    '',
    '| grows | sessions | apps | accounts | baseline req/s | req/s | vs baseline | p50 ms | p99 ms | RSS idle MiB | RSS after MiB | anonymous MiB | V8 heap used MiB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...points.map(
      (p) =>
        `| ${p.dimension} | ${n(p.sessions)} | ${n(p.rules)} | ${n(p.accounts)} | ${n(Math.round(p.baselineRps))} | ${n(Math.round(p.rps))} | ${((p.rps / p.baselineRps) * 100).toFixed(0)}% | ${p.p50Ms.toFixed(2)} | ${p.p99Ms.toFixed(2)} | ${p.rssIdleMiB.toFixed(0)} | ${p.rssMiB.toFixed(0)} | ${p.anonMiB.toFixed(0)} | ${p.heapUsedMiB.toFixed(0)} |`,
    ),
    '',
    '```text',
    ...(['sessions', 'rules', 'accounts'] as const).flatMap((d) => {
      const ps = points.filter((p) => p.dimension === d);
      const ratio = (p: Measured) => p.rps / p.baselineRps;
      const maxRatio = Math.max(...points.map(ratio));
      const maxRss = Math.max(...points.map((p) => p.rssMiB));
      const label = (p: Measured) => `${d === 'rules' ? 'apps' : d} ${n(p[d])}`.padEnd(17);
      return ps.length === 0
        ? []
        : [
            `${d}: req/s as a share of the baseline`,
            ...ps.map((p) => `  ${label(p)} ${bar(ratio(p), maxRatio).padEnd(31)} ${(ratio(p) * 100).toFixed(0)}%`),
            `${d}: RSS after (MiB)`,
            ...ps.map((p) => `  ${label(p)} ${bar(p.rssMiB, maxRss).padEnd(31)} ${p.rssMiB.toFixed(0)}`),
          ];
    }),
    '```',
    '',
    MARK_END,
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (os.availableParallelism() < 2) throw new Error('the benchmark needs 2 CPUs: the servers on CPU 0, wrk on CPU 1');
  need('wrk', ['-v']);
  need('taskset', ['--version']);
  const loadStart = os.loadavg();
  const points: Point[] = [
    ...SESSIONS.map((s) => ({ dimension: 'sessions' as const, ...BASE, sessions: s })),
    ...RULES.map((r) => ({ dimension: 'rules' as const, ...BASE, rules: r })),
    ...ACCOUNTS.map((a) => ({ dimension: 'accounts' as const, ...BASE, accounts: a })),
  ];
  const dir = await tempDir('growth');
  const measured: Measured[] = [];
  const baseline = await startPinned([path.join(here, 'baseline-server.ts'), 'baseline']);
  try {
    for (const p of points) measured.push(await measurePoint(p, dir, baseline.url));
  } finally {
    await baseline.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const loadEnd = os.loadavg();
  const f = (l: number[]) => l.map((x) => x.toFixed(1)).join(' / ');
  const machine = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.availableParallelism(),
    kernel: os.release(),
    node: process.version,
    loadStart: f(loadStart),
    loadEnd: f(loadEnd),
  };
  const out = path.join(here, 'results');
  await mkdir(out, { recursive: true });
  await writeFile(path.join(out, 'growth.json'), `${JSON.stringify({ machine, points: measured }, null, 2)}\n`);
  const md = markdown(measured, machine);
  const docs = path.join(here, '..', 'docs', 'benchmarks.md');
  const text = await readFile(docs, 'utf8');
  const a = text.indexOf(MARK_BEGIN);
  const b = text.indexOf(MARK_END);
  if (a === -1 || b === -1) throw new Error('docs/benchmarks.md has no growth markers');
  await writeFile(docs, `${text.slice(0, a)}${md}${text.slice(b + MARK_END.length)}`);
  console.log(md);
}

main().catch((e: unknown) => {
  console.error(`bench: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
