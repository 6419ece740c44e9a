// Runs wrk and parses what it prints. wrk has no machine-readable output; the lines read here
// ("Requests/sec:", the --latency distribution, "Non-2xx or 3xx responses:") are stable since 4.0.
import { spawn } from 'node:child_process';

export interface WrkResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  non2xx3xx: number;
  socketErrors: number;
  raw: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function toMs(value: string, unit: string): number {
  const f = UNIT_MS[unit];
  if (f === undefined) throw new Error(`wrk: unknown latency unit "${unit}"`);
  // Rounded to the nanosecond: wrk prints at most that precision, and 0.814 beats 0.8140000000000001.
  return Math.round(Number(value) * f * 1e6) / 1e6;
}

/** Parses the output of `wrk --latency`. Throws when an expected line is missing. */
export function parseWrk(out: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const total = /^\s*(\d+) requests in /m.exec(out);
  if (rps === null || total === null) throw new Error(`wrk: unexpected output:\n${out}`);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    if (m === null) throw new Error(`wrk: no ${p}% latency line (was --latency given?):\n${out}`);
    return toMs(m[1]!, m[2]!);
  };
  const non = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: Number(total[1]),
    rps: Number(rps[1]),
    p50Ms: pct('50'),
    p90Ms: pct('90'),
    p99Ms: pct('99'),
    non2xx3xx: non === null ? 0 : Number(non[1]),
    socketErrors: errs === null ? 0 : Number(errs[1]) + Number(errs[2]) + Number(errs[3]) + Number(errs[4]),
    raw: out,
  };
}

export interface WrkOptions {
  url: string;
  headers: Record<string, string>;
  connections: number;
  duration: string;
  /** Run under `taskset -c <cpu>`. */
  cpu?: number;
  script?: string;
  scriptArgs?: string[];
  /** Send wrk SIGINT (it stops early and still reports) when its stderr contains this. */
  interruptOn?: string;
  /** Kill wrk if it runs this long (it should stop by itself). */
  timeoutMs: number;
}

export function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.duration}`, '--latency', '--timeout', '5s'];
  for (const [k, v] of Object.entries(o.headers)) args.push('-H', `${k}: ${v}`);
  if (o.script !== undefined) args.push('-s', o.script);
  args.push(o.url);
  if (o.scriptArgs !== undefined) args.push('--', ...o.scriptArgs);
  const [cmd, argv] = o.cpu === undefined ? (['wrk', args] as const) : (['taskset', ['-c', String(o.cpu), 'wrk', ...args]] as const);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    let interrupted = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!interrupted && o.interruptOn !== undefined && out.includes(o.interruptOn)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`wrk exited ${code}:\n${out}`));
        return;
      }
      try {
        resolve(parseWrk(out));
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}
