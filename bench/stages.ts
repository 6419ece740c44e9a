// What every benchmark stage shares: the CPU split (servers on CPU 0, wrk on CPU 1), the knobs,
// pinned reference servers, one measured wrk run per stage, and the printed table.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from '../test/kit/http.ts';
import { runWrk, type WrkResult } from './wrk.ts';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const SERVER_CPU = 0;
export const LOAD_CPU = 1;
/** The two-worker rows: the servers may run on either core (wrk stays on LOAD_CPU). */
export const BOTH_CPUS = '0,1';
export const DURATION = process.env.BENCH_DURATION ?? '10s';
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? '32');
/** How many times the compared stages run back to back (the machine is shared: one round can be off). */
export const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? '3'));

/** Each round's compared stages: name -> req/s and p99. */
export type Rounds = Array<Record<string, { rps: number; p99Ms: number }>>;
/** A goal stated as a ratio of two stages measured back to back. */
export interface Ratio {
  label: string;
  num: string;
  den: string;
  key?: 'p99Ms';
  goal: string;
}

/** min / median / max of a ratio over the rounds. */
export function spread(
  rounds: Rounds,
  num: string,
  den: string,
  key: 'rps' | 'p99Ms' = 'rps',
): { min: number; median: number; max: number } | undefined {
  const v = rounds
    .map((r) => (r[num] && r[den] ? r[num][key] / r[den][key] : NaN))
    .filter((x) => Number.isFinite(x))
    .sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const round = (x: number) => +x.toFixed(3);
  return {
    min: round(v[0]!),
    median: round(v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2),
    max: round(v[v.length - 1]!),
  };
}

export function printSpread(rounds: Rounds, ratios: Ratio[]): void {
  console.log(`\nratios over ${rounds.length} round(s), each pair measured back to back (min / median / max; goal)`);
  for (const x of ratios) {
    const sp = spread(rounds, x.num, x.den, x.key);
    if (sp !== undefined)
      console.log(`  ${x.label.padEnd(40)} ${sp.min.toFixed(3)} / ${sp.median.toFixed(3)} / ${sp.max.toFixed(3)}   (${x.goal})`);
  }
}

/** A round's rows as `Rounds` records them. */
export function roundOf(rows: Row[]): Rounds[number] {
  return Object.fromEntries(rows.map((x) => [x.name, { rps: x.result.rps, p99Ms: x.result.p99Ms }]));
}

export interface Row {
  name: string;
  what: string;
  result: WrkResult;
  /** The row this one is compared with besides the baseline (the cookie check for the bearer check, oidc-provider for the issuer). */
  reference?: string;
}

export const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

export function need(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  // Only a missing program is fatal: `wrk -v` prints its version and exits 1.
  if (r.error !== undefined) throw new Error(`${cmd} is needed (run: bash scripts/install-e2e-deps.sh): ${r.error.message}`);
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '';
}

export interface Pinned {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** A child process pinned to a CPU (default SERVER_CPU; or a list, as taskset -c reads it) that prints a JSON "listening" line with its url. */
export async function startPinned(args: string[], cpu: number | string = SERVER_CPU, env: Record<string, string> = {}): Promise<Pinned> {
  const child = spawn('taskset', ['-c', String(cpu), process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start`)), 10_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const m = /"msg":"listening","url":"([^"]+)"/.exec(buf);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited ${code}`));
    });
  });
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface Target {
  url: string;
  headers: Record<string, string>;
  expectStatus: number;
  /** A form body: the request becomes a POST with this body (bench/post-form.lua). */
  form?: string;
}

/**
 * One stage: a single request must answer `expectStatus` first (so a misconfigured stage fails
 * instead of measuring error pages), then a 2 s warm-up (JIT, pools) and the measured run. Any
 * non-2xx/3xx answer or socket error fails the stage.
 */
export async function measure(name: string, what: string, t: Target, reference?: string): Promise<Row> {
  const headers = t.form === undefined ? t.headers : { ...t.headers, 'Content-Type': 'application/x-www-form-urlencoded' };
  const probe = await request(t.url, { headers, ...(t.form === undefined ? {} : { method: 'POST', body: t.form }) });
  if (probe.status !== t.expectStatus) {
    throw new Error(`${name}: a single request answered ${probe.status}, expected ${t.expectStatus}: ${probe.body.slice(0, 200)}`);
  }
  const script = t.form === undefined ? {} : { script: path.join(here, 'post-form.lua'), scriptArgs: [t.form] };
  await runWrk({ url: t.url, headers, connections: CONNECTIONS, duration: '2s', cpu: LOAD_CPU, timeoutMs: 30_000, ...script });
  log(`${name}: wrk -t1 -c${CONNECTIONS} -d${DURATION} ${t.form === undefined ? 'GET' : 'POST'} ${t.url}`);
  const result = await runWrk({
    url: t.url,
    headers,
    connections: CONNECTIONS,
    duration: DURATION,
    cpu: LOAD_CPU,
    timeoutMs: 120_000,
    ...script,
  });
  if (result.non2xx3xx > 0 || result.socketErrors > 0) {
    throw new Error(`${name}: ${result.non2xx3xx} non-2xx/3xx responses, ${result.socketErrors} socket errors:\n${result.raw}`);
  }
  return { name, what, result, ...(reference === undefined ? {} : { reference }) };
}

const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(1)}%`;

/**
 * The printed table: req/s, p50, p99, the ratio to `baseline` (a row name; omitted when null)
 * and, for rows that name a reference, the ratio to that row.
 */
export function table(rows: Row[], baseline: string | null): string {
  const rpsOf = (n: string) => rows.find((r) => r.name === n)?.result.rps;
  const base = baseline === null ? undefined : rpsOf(baseline);
  const head = ['stage', 'req/s', 'p50 ms', 'p99 ms', ...(base === undefined ? [] : [`vs ${baseline}`]), 'vs reference'];
  const body = rows.map((r) => {
    const ref = r.reference === undefined ? undefined : rpsOf(r.reference);
    return [
      r.name,
      r.result.rps.toFixed(0),
      r.result.p50Ms.toFixed(3),
      r.result.p99Ms.toFixed(3),
      ...(base === undefined ? [] : [pct(r.result.rps, base)]),
      ref === undefined ? '' : `${pct(r.result.rps, ref)} of ${r.reference!}`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** A row as latest.json records it. */
export function rowJson(r: Row, rows: Row[], baseline: string | null): Record<string, unknown> {
  const rpsOf = (n: string) => rows.find((x) => x.name === n)?.result.rps;
  const base = baseline === null ? undefined : rpsOf(baseline);
  const ref = r.reference === undefined ? undefined : rpsOf(r.reference);
  return {
    name: r.name,
    what: r.what,
    rps: r.result.rps,
    p50Ms: r.result.p50Ms,
    p90Ms: r.result.p90Ms,
    p99Ms: r.result.p99Ms,
    requests: r.result.requests,
    ...(base === undefined ? {} : { ratioToBaseline: +(r.result.rps / base).toFixed(4) }),
    ...(ref === undefined ? {} : { reference: r.reference, ratioToReference: +(r.result.rps / ref).toFixed(4) }),
  };
}
