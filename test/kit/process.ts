// Real processes for the end-to-end and PostgreSQL suites: `gatehouse serve` from bin/ with a
// config in a temp directory, its CLI against the same config, and the child-process plumbing
// (run to completion, stop with a grace period, wait for a port).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { acceptsConnections } from './http.ts';
import { gatehouseBin as bin, repoRoot } from './paths.ts';
import { until } from './poll.ts';
import { removeDir, tempDir } from './temp.ts';

export const START_TIMEOUT_MS = 20_000;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, collecting its output. */
export function runCommand(
  cmd: string,
  args: string[],
  opts: { stdin?: string; env?: Record<string, string>; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.stdin ?? '');
  });
}

/** Stops a child process: SIGTERM, then SIGKILL if it has not exited after graceMs. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Resolves once 127.0.0.1:port accepts a TCP connection; rejects after timeoutMs or as soon as `failed()` says why. */
export async function waitForPort(port: number, timeoutMs: number, failed: () => string | undefined): Promise<void> {
  await until(
    async () => {
      const why = failed();
      if (why !== undefined) throw new Error(why);
      return acceptsConnections(port);
    },
    { timeoutMs, what: `port ${port} accepting connections` },
  );
}

// ---------------------------------------------------------------------------------------------
// Gatehouse

export interface GatehouseProcess {
  /** http://127.0.0.1:<port> as logged by the "listening" line. */
  url: string;
  port: number;
  pid: number;
  configPath: string;
  dataDir: string;
  /** Everything the process wrote to stdout and stderr so far. */
  logs(): string;
  /** Runs another CLI command against the same config file, e.g. ['user', 'add', 'alice', …]. */
  run(args: string[], stdin?: string): Promise<RunResult>;
  /** Resolves when the process has exited, with its status or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export interface StartGatehouseOptions {
  env?: Record<string, string>;
  /** Wrap the server in another command, e.g. ['taskset', '-c', '0'] for the benchmark. */
  wrap?: string[];
  /** Run bin/gatehouse.js itself, so its shebang line picks the flags and environment (this Node.js first on PATH). */
  shebang?: boolean;
  timeoutMs?: number;
}

/**
 * Starts `gatehouse serve --config <tmpfile>`. The YAML should say `listen: { port: 0 }`; a
 * temporary `dataDir` is added unless the YAML sets one. Resolves on the JSON log line whose
 * `msg` is "listening" (its `url` field gives the address).
 */
export async function startGatehouse(configYaml: string, opts: StartGatehouseOptions = {}): Promise<GatehouseProcess> {
  const dir = await tempDir('e2e-gatehouse');
  const dataDir = path.join(dir, 'data');
  await mkdir(dataDir);
  const configPath = path.join(dir, 'gatehouse.yaml');
  const yaml = /^dataDir:/m.test(configYaml) ? configYaml : `${configYaml.replace(/\n*$/, '\n')}dataDir: ${JSON.stringify(dataDir)}\n`;
  await writeFile(configPath, yaml, { mode: 0o600 });
  const env: Record<string, string> = {
    NO_COLOR: '1',
    ...(opts.shebang ? { PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` } : {}),
    ...opts.env,
  };
  const wrap = opts.wrap ?? [];
  const cmd = wrap.length > 0 ? wrap[0]! : opts.shebang ? bin : process.execPath;
  const args =
    wrap.length > 0
      ? [...wrap.slice(1), process.execPath, bin, 'serve', '--config', configPath]
      : [...(opts.shebang ? [] : [bin]), 'serve', '--config', configPath];
  const child = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let out = '';
  let pending = '';
  let listeningUrl: string | undefined;
  let onListening: (() => void) | undefined;
  const scan = (chunk: string) => {
    out += chunk;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (listeningUrl !== undefined || !line.startsWith('{')) continue;
      try {
        const rec = JSON.parse(line) as { msg?: unknown; url?: unknown };
        if (rec.msg === 'listening' && typeof rec.url === 'string') {
          listeningUrl = rec.url;
          onListening?.();
        }
      } catch {
        /* not a JSON log line */
      }
    }
  };
  child.stdout.setEncoding('utf8').on('data', scan);
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const cleanup = async () => {
    await stopChild(child);
    await removeDir(dir);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? START_TIMEOUT_MS;
      const timer = setTimeout(
        () => reject(new Error(`gatehouse did not log "listening" within ${timeoutMs} ms; output:\n${out}`)),
        timeoutMs,
      );
      onListening = () => {
        clearTimeout(timer);
        resolve();
      };
      if (listeningUrl !== undefined) onListening();
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`gatehouse exited (${code ?? sig}) before listening; output:\n${out}`));
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  } catch (e) {
    await cleanup();
    throw e;
  }
  const url = listeningUrl!;
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid!,
    configPath,
    dataDir,
    logs: () => out,
    exited,
    run: (args, stdin) => runCommand(process.execPath, [bin, ...args, '--config', configPath], { stdin: stdin ?? '', env, cwd: repoRoot }),
    stop: cleanup,
  };
}

// ---------------------------------------------------------------------------------------------
// Gate config for the suites

export interface GateConfigOptions {
  publicUrl: string;
  /** Extra YAML appended at top level (apps, signIn, …). */
  extra?: string;
  apps?: string;
  /** A fixed port instead of 0, for a publicUrl that is Gatehouse itself (no proxy in front). */
  listenPort?: number;
  /** More served domains (plain http allowed), e.g. ['localhost']. */
  domains?: string[];
  /** The trustedProxies YAML value; default: loopback as plain addresses (kind auto). */
  trustedProxies?: string;
}

/** The suites' standard config: two domains over http, loopback proxies trusted, a few apps. */
export function gateConfig(o: GateConfigOptions): string {
  return [
    `publicUrl: ${o.publicUrl}`,
    `listen: { host: 127.0.0.1, port: ${o.listenPort ?? 0} }`,
    'log: { level: info }',
    'domains:',
    '  - { domain: example.test, allowHttp: true }',
    '  - { domain: other.test, allowHttp: true }',
    ...(o.domains ?? []).map((d) => `  - { domain: ${d}, allowHttp: true }`),
    `trustedProxies: ${o.trustedProxies ?? "['127.0.0.0/8', '::1/128']"}`,
    'apps:',
    o.apps ??
      [
        '  - { name: public-api, hosts: [api.example.test, app.example.test], paths: [/adsb/*], public: true }',
        '  - { name: app, hosts: [app.example.test, app2.other.test], allow: { groups: [admins] } }',
        '  - { name: api, hosts: [api.example.test], allow: { groups: [admins] } }',
      ].join('\n'),
    o.extra ?? '',
    '',
  ].join('\n');
}

/** Adds a local user through the CLI; throws with the CLI's output if it fails. */
export async function addUser(gh: GatehouseProcess, name: string, password: string, groups: string[]): Promise<void> {
  const args = ['user', 'add', name, '--email', `${name}@example.org`, '--password-stdin'];
  if (groups.length > 0) args.push('--groups', groups.join(','));
  const r = await gh.run(args, `${password}\n`);
  if (r.code !== 0) throw new Error(`gatehouse ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
}
