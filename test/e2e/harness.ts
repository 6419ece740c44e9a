// End-to-end harness: real Gatehouse processes, real nginx and Caddy (run from the configs
// shipped in docs/proxies/), Apache (a relying party with mod_auth_openidc), a header-echoing
// upstream app, Chromium, and a small HTTP client with a cookie jar. Everything binds to
// loopback on free ports and keeps its state in a temporary directory removed on stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const docsProxies = path.join(repoRoot, 'docs', 'proxies');

const START_TIMEOUT_MS = 20_000;

/** A TCP port free on 127.0.0.1 right now (the OS picks it; closed again before returning). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') { reject(new Error('no port')); return; }
      srv.close(() => resolve(addr.port));
    });
  });
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `gatehouse-e2e-${prefix}-`));
}

/** Resolves once 127.0.0.1:port accepts a TCP connection; rejects after timeoutMs or when `failed()` says so. */
export async function waitForPort(port: number, timeoutMs: number, failed: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = failed();
    if (why !== undefined) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => { s.destroy(); resolve(false); });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not accept connections within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Stops a child process: SIGTERM, then SIGKILL if it has not exited after graceMs. */
async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Replaces every {{NAME}} in a template; fails on a placeholder without a value, so a docs
 * file that gains a placeholder cannot silently ship a literal "{{…}}" into a test run. */
export function render(template: string, vars: Record<string, string | number>): string {
  const out = template.replace(/\{\{([A-Z_]+)\}\}/g, (m, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`template placeholder ${m} has no value`);
    return String(v);
  });
  return out;
}

export async function readDoc(rel: string): Promise<string> {
  return readFile(path.join(docsProxies, rel), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// Gatehouse

export interface RunResult { code: number | null; stdout: string; stderr: string }

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
  stop(): Promise<void>;
}

export interface StartGatehouseOptions {
  env?: Record<string, string>;
  /** Wrap the server in another command, e.g. ['taskset', '-c', '0'] for the benchmark. */
  wrap?: string[];
  timeoutMs?: number;
}

const bin = path.join(repoRoot, 'bin', 'gatehouse.js');

function runCli(configPath: string, args: string[], stdin: string | undefined, env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args, '--config', configPath], {
      cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

/**
 * Starts `gatehouse serve --config <tmpfile>`. The YAML should say `listen: { port: 0 }`; a
 * temporary `dataDir` is added unless the YAML sets one. Resolves on the JSON log line whose
 * `msg` is "listening" (its `url` field gives the address).
 */
export async function startGatehouse(configYaml: string, opts: StartGatehouseOptions = {}): Promise<GatehouseProcess> {
  const dir = await tempDir('gatehouse');
  const dataDir = path.join(dir, 'data');
  await mkdir(dataDir);
  const configPath = path.join(dir, 'gatehouse.yaml');
  const yaml = /^dataDir:/m.test(configYaml) ? configYaml : `${configYaml.replace(/\n*$/, '\n')}dataDir: ${JSON.stringify(dataDir)}\n`;
  await writeFile(configPath, yaml, { mode: 0o600 });
  const env = { NO_COLOR: '1', ...opts.env };
  const wrap = opts.wrap ?? [];
  const cmd = wrap.length > 0 ? wrap[0]! : process.execPath;
  const args = wrap.length > 0 ? [...wrap.slice(1), process.execPath, bin, 'serve', '--config', configPath] : [bin, 'serve', '--config', configPath];
  const child = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
        if (rec.msg === 'listening' && typeof rec.url === 'string') { listeningUrl = rec.url; onListening?.(); }
      } catch { /* not a JSON log line */ }
    }
  };
  child.stdout.setEncoding('utf8').on('data', scan);
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const cleanup = async () => { await stopChild(child); await rm(dir, { recursive: true, force: true }); };
  try {
    await new Promise<void>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? START_TIMEOUT_MS;
      const timer = setTimeout(() => reject(new Error(`gatehouse did not log "listening" within ${timeoutMs} ms; output:\n${out}`)), timeoutMs);
      onListening = () => { clearTimeout(timer); resolve(); };
      if (listeningUrl !== undefined) onListening();
      child.once('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`gatehouse exited (${code ?? sig}) before listening; output:\n${out}`)); });
      child.once('error', (e) => { clearTimeout(timer); reject(e); });
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
    run: (args, stdin) => runCli(configPath, args, stdin, env),
    stop: cleanup,
  };
}

// ---------------------------------------------------------------------------------------------
// nginx and Caddy

export interface ProxyProcess {
  port: number;
  pid: number;
  dir: string;
  /** nginx's error log, or Caddy's output. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

async function startProxyProcess(name: string, dir: string, cmd: string, args: string[], port: number,
  logFile: string | undefined, env: Record<string, string> = {}): Promise<ProxyProcess> {
  const child = spawn(cmd, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  let exitInfo: string | undefined;
  child.on('exit', (code, sig) => { exitInfo = `${code ?? sig}`; });
  const log = async () => {
    let file = '';
    if (logFile !== undefined) file = await readFile(logFile, 'utf8').catch(() => '');
    return `${out}${file}`;
  };
  const stop = async () => { await stopChild(child); await rm(dir, { recursive: true, force: true }); };
  try {
    await waitForPort(port, START_TIMEOUT_MS, () => (exitInfo === undefined ? undefined : `${name} exited (${exitInfo}) before listening`));
  } catch (e) {
    const text = await log();
    await stop();
    throw new Error(`${(e as Error).message}; log:\n${text}`, { cause: e });
  }
  return { port, pid: child.pid!, dir, log, stop };
}

export interface NginxOptions {
  /** The port the config listens on (it must contain `listen <port>`). */
  port: number;
  /** Extra files written relative to the config directory, e.g. { 'snippets/x.conf': '…' }. */
  files?: Record<string, string>;
  wrap?: string[];
  /** Log every request to access.log in the temp dir (off by default: the benchmark runs nginx too). */
  accessLog?: boolean;
}

/**
 * Starts nginx in the foreground, without a master process, with `httpConf` inside http{} and
 * every path (pid, logs, temp files) in a temporary directory. Relative `include` paths in
 * httpConf resolve against that directory, where `files` are written.
 */
export async function startNginx(httpConf: string, opts: NginxOptions): Promise<ProxyProcess> {
  const dir = await tempDir('nginx');
  for (const [rel, text] of Object.entries(opts.files ?? {})) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text);
  }
  await writeFile(path.join(dir, 'http.conf'), httpConf);
  const errorLog = path.join(dir, 'error.log');
  const main = [
    'daemon off;',
    'master_process off;',
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${errorLog} notice;`,
    'events { worker_connections 4096; }',
    'http {',
    opts.accessLog === true ? `  access_log ${dir}/access.log;` : '  access_log off;',
    `  client_body_temp_path ${dir}/client_body;`,
    `  proxy_temp_path ${dir}/proxy;`,
    `  fastcgi_temp_path ${dir}/fastcgi;`,
    `  uwsgi_temp_path ${dir}/uwsgi;`,
    `  scgi_temp_path ${dir}/scgi;`,
    '  include http.conf;',
    '}',
    '',
  ].join('\n');
  const confPath = path.join(dir, 'nginx.conf');
  await writeFile(confPath, main);
  const nginxArgs = ['-p', `${dir}/`, '-c', confPath, '-e', errorLog];
  // `nginx -t` first: a config error then reads as nginx's own message, not as a timeout.
  const check = await new Promise<RunResult>((resolve) => {
    const c = spawn('nginx', [...nginxArgs, '-t', '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let so = ''; let se = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { so += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { se += d; });
    c.on('close', (code) => resolve({ code, stdout: so, stderr: se }));
  });
  if (check.code !== 0) {
    const text = await readFile(errorLog, 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`nginx -t failed: ${check.stderr}${text}\n--- http.conf ---\n${httpConf}`);
  }
  const wrap = opts.wrap ?? [];
  const cmd = wrap.length > 0 ? wrap[0]! : 'nginx';
  const args = wrap.length > 0 ? [...wrap.slice(1), 'nginx', ...nginxArgs] : nginxArgs;
  return startProxyProcess('nginx', dir, cmd, args, opts.port, errorLog);
}

/** `nginx -t` on `httpConf` (inside http{}) with `files` beside it; nothing is started. */
export async function nginxConfigTest(httpConf: string, files: Record<string, string>): Promise<{ ok: boolean; output: string }> {
  const dir = await tempDir('nginx-t');
  try {
    for (const [rel, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await writeFile(path.join(dir, rel), text);
    }
    await writeFile(path.join(dir, 'http.conf'), httpConf);
    const errorLog = path.join(dir, 'error.log');
    await writeFile(path.join(dir, 'nginx.conf'), [
      `pid ${dir}/nginx.pid;`, `error_log ${errorLog} notice;`, 'events {}',
      'http {', '  access_log off;', `  client_body_temp_path ${dir}/client_body;`, `  proxy_temp_path ${dir}/proxy;`,
      `  fastcgi_temp_path ${dir}/fastcgi;`, `  uwsgi_temp_path ${dir}/uwsgi;`, `  scgi_temp_path ${dir}/scgi;`, '  include http.conf;', '}', '',
    ].join('\n'));
    const r = await new Promise<RunResult>((resolve) => {
      const c = spawn('nginx', ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', errorLog, '-t', '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let so = ''; let se = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => { so += d; });
      c.stderr.setEncoding('utf8').on('data', (d: string) => { se += d; });
      c.on('close', (code) => resolve({ code, stdout: so, stderr: se }));
    });
    return { ok: r.code === 0, output: `${r.stdout}${r.stderr}${await readFile(errorLog, 'utf8').catch(() => '')}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface ApacheOptions {
  /** The port the config listens on (it must contain `Listen 127.0.0.1:<port>`). */
  port: number;
  /** Files written relative to the server root; `mode` makes a CGI script executable. */
  files?: Record<string, string | { text: string; mode: number }>;
}

/**
 * Starts Debian's Apache (`apache2 -X`: one process, in the foreground) with `conf` after a
 * preamble that puts ServerRoot, the pid file, the error log and the runtime directory in a
 * temporary directory and loads the prefork MPM. `conf` (given the server root if a function)
 * loads the other modules it needs. Run as root, Apache refuses to serve as root, so it
 * switches to www-data and the directory is made readable to it.
 */
export async function startApache(conf: string | ((serverRoot: string) => string), opts: ApacheOptions): Promise<ProxyProcess> {
  const dir = await tempDir('apache');
  const asRoot = process.getuid?.() === 0;
  for (const [rel, f] of Object.entries(opts.files ?? {})) {
    const file = path.join(dir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    const { text, mode } = typeof f === 'string' ? { text: f, mode: 0o644 } : f;
    await writeFile(file, text, { mode });
  }
  const errorLog = path.join(dir, 'error.log');
  const main = [
    `ServerRoot ${JSON.stringify(dir)}`,
    `PidFile ${JSON.stringify(path.join(dir, 'apache2.pid'))}`,
    `DefaultRuntimeDir ${JSON.stringify(dir)}`,
    `ErrorLog ${JSON.stringify(errorLog)}`,
    'LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so',
    // -X serves one connection at a time: a browser's idle keep-alive connection would hold up
    // every other connection until KeepAliveTimeout.
    'KeepAlive Off',
    ...(asRoot ? ['User www-data', 'Group www-data'] : []),
    typeof conf === 'string' ? conf : conf(dir),
    '',
  ].join('\n');
  const confPath = path.join(dir, 'apache2.conf');
  await writeFile(confPath, main);
  if (asRoot) await chmod(dir, 0o755);
  const args = ['-f', confPath, '-X'];
  // `apache2 -t` first: a config error then reads as Apache's own message, not as a timeout.
  const check = await new Promise<RunResult>((resolve) => {
    const c = spawn('/usr/sbin/apache2', [...args, '-t'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let so = ''; let se = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { so += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { se += d; });
    c.on('close', (code) => resolve({ code, stdout: so, stderr: se }));
  });
  if (check.code !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`apache2 -t failed: ${check.stdout}${check.stderr}\n--- apache2.conf ---\n${main}`);
  }
  return startProxyProcess('apache2', dir, '/usr/sbin/apache2', args, opts.port, errorLog);
}

/** nginx from the shipped docs: gatehouse.conf (upstream + portal) and app.conf for the given sites. */
export async function startNginxFromDocs(v: {
  port: number; gatehouse: string; portalName: string; sites: Array<{ serverName: string; upstream: string }>; wrap?: string[];
  /** Replace the upstream block's `keepalive 32;` with nothing (the benchmark's "no keepalive" run). */
  noKeepalive?: boolean;
}): Promise<ProxyProcess> {
  let gatehouseConf = render(await readDoc('nginx/gatehouse.conf'), { GATEHOUSE: v.gatehouse, LISTEN: v.port, PORTAL_NAME: v.portalName });
  if (v.noKeepalive === true) {
    if (!/^\s*keepalive 32;$/m.test(gatehouseConf)) throw new Error('docs/proxies/nginx/gatehouse.conf no longer has "keepalive 32;"');
    gatehouseConf = gatehouseConf.replace(/^\s*keepalive 32;$/m, '');
  }
  const appTemplate = await readDoc('nginx/app.conf');
  const apps = v.sites.map((s) => render(appTemplate, { LISTEN: v.port, SERVER_NAME: s.serverName, APP_UPSTREAM: s.upstream }));
  return startNginx([gatehouseConf, ...apps].join('\n'), {
    port: v.port,
    wrap: v.wrap,
    files: await nginxSnippets(),
  });
}

/** Every file in docs/proxies/nginx/snippets/, as `snippets/<name>` → text (what an operator copies to /etc/nginx/snippets/). */
export async function nginxSnippets(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of (await readdir(path.join(docsProxies, 'nginx', 'snippets'))).sort()) {
    files[`snippets/${name}`] = await readDoc(`nginx/snippets/${name}`);
  }
  return files;
}

/** Global options prepended to a Caddyfile: plain HTTP on the port, no admin endpoint. */
function caddyGlobals(port: number): string {
  return ['{', '\tadmin off', '\tauto_https off', `\thttp_port ${port}`, '}', ''].join('\n');
}

/** Starts `caddy run` with the Caddyfile (site addresses must be http://…:port) and its state in a temp dir. */
export async function startCaddy(caddyfile: string, opts: { port: number }): Promise<ProxyProcess> {
  const dir = await tempDir('caddy');
  const file = path.join(dir, 'Caddyfile');
  await writeFile(file, `${caddyGlobals(opts.port)}${caddyfile}`);
  const env = { HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') };
  return startProxyProcess('caddy', dir, 'caddy', ['run', '--adapter', 'caddyfile', '--config', file], opts.port, undefined, env);
}

/** Caddy from docs/proxies/caddy/Caddyfile. */
export async function startCaddyFromDocs(v: { port: number; gatehouse: string; portalName: string; appNames: string[]; upstream: string; moreSites?: string[] }): Promise<ProxyProcess> {
  const site = (name: string) => `http://${name}:${v.port}`;
  const template = await readDoc('caddy/Caddyfile');
  const text = render(template, {
    GATEHOUSE: v.gatehouse,
    APP_SITE: v.appNames.map(site).join(', '),
    APP_UPSTREAM: v.upstream,
    PORTAL_SITE: site(v.portalName),
  });
  // Another protected site is the shipped app site block again, with its own address.
  const block = /^\{\{APP_SITE\}\} \{\n[\s\S]*?\n\}\n/m.exec(template);
  if ((v.moreSites ?? []).length > 0 && block === null) throw new Error('docs/proxies/caddy/Caddyfile: no {{APP_SITE}} block');
  const more = (v.moreSites ?? []).map((name) => render(block![0], { APP_SITE: site(name), APP_UPSTREAM: v.upstream, GATEHOUSE: v.gatehouse }));
  return startCaddy([text, ...more].join('\n'), { port: v.port });
}

// ---------------------------------------------------------------------------------------------
// The upstream app

export interface SeenRequest {
  method: string;
  url: string;
  /** [name, value] pairs exactly as received (req.rawHeaders). */
  headers: Array<[string, string]>;
}

export interface Whoami {
  port: number;
  /** host:port, for {{APP_UPSTREAM}}. */
  address: string;
  /** Every request seen, oldest first. */
  seen: SeenRequest[];
  stop(): Promise<void>;
}

/** What a test server saw of a request: method, URL and the raw header pairs. */
export function recordRequest(req: http.IncomingMessage): SeenRequest {
  const headers: Array<[string, string]> = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  return { method: req.method ?? '', url: req.url ?? '', headers };
}

/** An app that answers every request with JSON {method, url, headers} (raw header names). */
export async function startWhoami(): Promise<Whoami> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const rec = recordRequest(req);
    seen.push(rec);
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify(rec);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('whoami: no address');
  return {
    port: addr.port,
    address: `127.0.0.1:${addr.port}`,
    seen,
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** Every spelling of an identity header a client might try to smuggle; each value contains "mallory". */
export const SPOOFED_HEADERS: Array<[string, string]> = [
  ['X-Auth-Request-User', 'mallory'],
  ['X-Auth-Request_User', 'mallory'],
  ['x_auth_request_email', 'mallory@evil.test'],
  ['X-Auth-Request-Email', 'mallory@evil.test'],
  ['X-Auth-Request-Groups', 'mallory-group'],
  ['X-Auth-Request-Preferred-Username', 'mallory'],
  ['X-Forwarded-User', 'mallory'],
  ['X-Forwarded-Email', 'mallory@evil.test'],
  ['X-Forwarded_Email', 'mallory@evil.test'],
  ['X-Forwarded-Groups', 'mallory-group'],
];

// Client copies of the headers the gate reads and of identity headers, for the spoofing tables.

/** Every spoofed value below carries this (or 6.6.6.6), so a copy that gets through is spotted. */
export const SPOOF_MARK = 'mallory';
const MARK = SPOOF_MARK;

/** Every header Gatehouse reads to learn the original request or the client's address. */
export const GATE_HEADERS = [
  'X-Original-URL', 'X-Original-Method', 'X-Original-URI', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host',
  'X-Forwarded-Uri', 'X-Forwarded-Method', 'X-Forwarded-Port', 'X-Forwarded-Prefix', 'Forwarded', 'X-Real-IP',
];
/** Identity header names apps read (Gatehouse's and oauth2-proxy's, Authelia's, Grafana's, Authentik's, generic). */
export const IDENTITY_HEADERS = [
  'X-Auth-Request-User', 'X-Auth-Request-Email', 'X-Auth-Request-Groups', 'X-Auth-Request-Preferred-Username', 'X-Auth-Request-Access-Token',
  'X-Forwarded-User', 'X-Forwarded-Email', 'X-Forwarded-Groups', 'X-Forwarded-Preferred-Username', 'X-Forwarded-Access-Token',
  'Remote-User', 'Remote-Email', 'Remote-Groups', 'Remote-Name', 'X-Remote-User', 'X-Remote-Email', 'X-Remote-Groups', 'X-Remote-Name',
  'X-User', 'X-Email', 'X-Groups', 'X-WEBAUTH-USER', 'X-WEBAUTH-EMAIL', 'X-WEBAUTH-NAME', 'X-WEBAUTH-GROUPS', 'X-WEBAUTH-ROLE',
  'X-Authentik-Username', 'X-Authentik-Email', 'X-Authentik-Groups', 'X-Authentik-Name', 'X-Authentik-Uid',
];
/**
 * Headers the gate does not read but other proxies set and some frameworks believe (Tornado's
 * X-Scheme, Rails' X-Forwarded-Ssl, oauth2-proxy's X-Auth-Request-Redirect): the shipped nginx and
 * Caddy files drop them too.
 */
export const PROXY_HEADERS = ['X-Forwarded-Server', 'X-Forwarded-Ssl', 'X-Forwarded-Scheme', 'X-Scheme', 'X-Sent-From', 'X-Auth-Request-Redirect'];

/** Each name in every case and with "_" for "-" (all of them, and only the last). */
export function spellings(name: string): string[] {
  const lastUnderscore = (n: string) => { const i = n.lastIndexOf('-'); return i < 0 ? n : `${n.slice(0, i)}_${n.slice(i + 1)}`; };
  const forms = [name, name.toLowerCase(), name.toUpperCase(), name.replaceAll('-', '_'), name.toLowerCase().replaceAll('-', '_'), lastUnderscore(name)];
  return [...new Set(forms)];
}

/**
 * Whether a header value the app or the gate received is one of the spoofed values below: the
 * mark, the spoofed address, or the spoofed port as a number of its own (a random request id
 * such as nginx's $request_id may contain the digits 8443).
 */
export function carriesSpoof(value: string): boolean {
  return value.includes(MARK) || value.includes('6.6.6.6') || /(^|[^0-9a-z])8443($|[^0-9a-z])/i.test(value);
}

/** A value for the header that would flip the decision if believed, and that the app check can spot. */
export function spoofValue(name: string, port: number): string {
  switch (name.toLowerCase()) {
    case 'x-original-url': return `http://api.example.test:${port}/adsb/${MARK}`;
    case 'x-original-uri': case 'x-forwarded-uri': case 'x-forwarded-prefix': return `/adsb/${MARK}`;
    case 'x-original-method': case 'x-forwarded-method': return 'OPTIONS';
    case 'x-forwarded-host': return `auth.example.test:${port}`;
    case 'x-forwarded-proto': return 'https';
    case 'x-forwarded-port': return '8443';
    case 'x-forwarded-for': case 'x-real-ip': return '6.6.6.6';
    case 'forwarded': return `for=6.6.6.6;host=auth.example.test:${port};proto=https`;
    default: return `${MARK}-${name.toLowerCase().includes('email') ? `${MARK}@evil.test` : 'admins'}`;
  }
}

/** Throws unless the app saw the request and none of its header values came from SPOOFED_HEADERS. */
export function assertNoSpoof(req: SeenRequest | undefined): void {
  if (req === undefined) throw new Error('the app did not see the request');
  const leaked = req.headers.filter(([, v]) => v.includes('mallory'));
  if (leaked.length > 0) throw new Error(`spoofed headers reached the app: ${JSON.stringify(leaked)}`);
}

/** Values of a header (case-insensitive name) in a request the app saw. */
export function headerValues(req: SeenRequest, name: string): string[] {
  const n = name.toLowerCase();
  return req.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

// ---------------------------------------------------------------------------------------------
// HTTP client with a cookie jar

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string> | Array<[string, string]>;
  body?: string;
  /** Connect here instead of the URL's host (the URL's host:port still goes in the Host header). */
  connectTo?: { host: string; port: number };
}

/**
 * One HTTP request without following redirects. The connection goes to 127.0.0.1 on the URL's
 * port (every test host name resolves to loopback) unless `connectTo` says otherwise; the Host
 * header is the URL's host unless `headers` sets one. Header arrays keep odd spellings as sent.
 */
export function request(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const headerList: Array<[string, string]> = Array.isArray(opts.headers) ? [...opts.headers] : Object.entries(opts.headers ?? {});
  if (!headerList.some(([k]) => k.toLowerCase() === 'host')) headerList.unshift(['Host', u.host]);
  if (opts.body !== undefined && !headerList.some(([k]) => k.toLowerCase() === 'content-length')) {
    headerList.push(['Content-Length', String(Buffer.byteLength(opts.body))]);
  }
  const flat: string[] = [];
  for (const [k, v] of headerList) flat.push(k, v);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: opts.connectTo?.host ?? '127.0.0.1',
      port: opts.connectTo?.port ?? (u.port === '' ? 80 : Number(u.port)),
      method: opts.method ?? 'GET',
      path: `${u.pathname}${u.search}`,
      headers: flat,
      setHost: false,
      agent: false,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.end(opts.body);
  });
}

interface StoredCookie { name: string; value: string; domain: string; hostOnly: boolean; path: string }

/** A minimal cookie jar (RFC 6265 §5.3 domain and path matching; no expiry clock beyond Max-Age<=0). */
export class CookieJar {
  cookies: StoredCookie[] = [];

  /** Stores the Set-Cookie headers of a response to `url`. */
  store(url: string, res: HttpResponse): void {
    const host = new URL(url).hostname;
    const list = res.headers['set-cookie'] ?? [];
    for (const line of list) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let domain = host;
      let hostOnly = true;
      let cookiePath = '/';
      let expired = false;
      for (const a of attrs) {
        const [k = '', ...rest] = a.split('=');
        const key = k.trim().toLowerCase();
        const val = rest.join('=').trim();
        if (key === 'domain' && val !== '') { domain = val.replace(/^\./, '').toLowerCase(); hostOnly = false; }
        if (key === 'path' && val.startsWith('/')) cookiePath = val;
        if (key === 'max-age' && Number(val) <= 0) expired = true;
        if (key === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.domain === domain && c.path === cookiePath));
      if (!expired) this.cookies.push({ name, value, domain, hostOnly, path: cookiePath });
    }
  }

  /** The Cookie header for a request to `url`, or undefined when no cookie applies. */
  header(url: string): string | undefined {
    const u = new URL(url);
    const host = u.hostname;
    const matches = this.cookies.filter((c) =>
      (c.hostOnly ? host === c.domain : host === c.domain || host.endsWith(`.${c.domain}`))
      && (u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)));
    return matches.length === 0 ? undefined : matches.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

/** A request that carries the jar's cookies and stores the response's. */
export async function jarRequest(jar: CookieJar, url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  const headers: Array<[string, string]> = Array.isArray(opts.headers) ? [...opts.headers] : Object.entries(opts.headers ?? {});
  const cookie = jar.header(url);
  if (cookie !== undefined) headers.push(['Cookie', cookie]);
  const res = await request(url, { ...opts, headers });
  jar.store(url, res);
  return res;
}

export interface Hop { url: string; status: number; location?: string }

/**
 * GETs `url` and follows redirects like a browser would (cookies from the jar, relative
 * Locations resolved), at most `maxHops` times. Returns the final response and every hop.
 */
export async function browse(jar: CookieJar, url: string, opts: { headers?: Record<string, string>; maxHops?: number } = {}): Promise<{ res: HttpResponse; url: string; hops: Hop[] }> {
  const hops: Hop[] = [];
  let current = url;
  for (let i = 0; ; i++) {
    const res = await jarRequest(jar, current, { headers: opts.headers });
    const loc = res.headers.location;
    hops.push({ url: current, status: res.status, ...(loc !== undefined ? { location: loc } : {}) });
    if (res.status < 300 || res.status >= 400 || loc === undefined) return { res, url: current, hops };
    if (i >= (opts.maxHops ?? 10)) throw new Error(`too many redirects: ${JSON.stringify(hops)}`);
    current = new URL(loc, current).toString();
  }
}

// ---------------------------------------------------------------------------------------------
// Sign-in over plain HTTP

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : m;
    }
    return entities[e.toLowerCase()] ?? m;
  });
}

/** Attributes of every <input> tag: name/value/type, quoted with " or ' or unquoted, any order. */
export function parseInputs(html: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (const tag of html.matchAll(/<input\b([^>]*)>/gi)) {
    const attrs: Record<string, string> = {};
    for (const a of (tag[1] ?? '').matchAll(/([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
      attrs[a[1]!.toLowerCase()] = decodeEntities(a[2] ?? a[3] ?? a[4] ?? '');
    }
    out.push(attrs);
  }
  return out;
}

/** name → value of the hidden inputs of a page. */
export function hiddenInputs(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of parseInputs(html)) if (i.type?.toLowerCase() === 'hidden' && i.name !== undefined) out[i.name] = i.value ?? '';
  return out;
}

/** The `action` of the first form, resolved against the page URL (the page URL itself when absent). */
export function formAction(html: string, pageUrl: string): string {
  const m = /<form\b[^>]*\baction\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(html);
  const action = m === null ? '' : decodeEntities(m[1] ?? m[2] ?? m[3] ?? '');
  return new URL(action === '' ? pageUrl : action, pageUrl).toString();
}

export interface SignInAttempt { form: HttpResponse; res: HttpResponse; jar: CookieJar }

/**
 * Loads `<base>/oauth2/sign_in?rd=<rd>` and posts the form with these credentials. Returns the
 * POST's response whatever it is (a redirect on success; the form again on failure).
 * `base` is the portal origin as the client sees it (e.g. http://auth.example.test:<port>).
 */
export async function submitSignIn(base: string, username: string, password: string, rd: string,
  opts: { jar?: CookieJar; headers?: Record<string, string> } = {}): Promise<SignInAttempt> {
  const jar = opts.jar ?? new CookieJar();
  const pageUrl = `${base}/oauth2/sign_in?rd=${encodeURIComponent(rd)}`;
  const form = await jarRequest(jar, pageUrl, { headers: { Accept: 'text/html', ...opts.headers } });
  if (form.status !== 200) throw new Error(`GET ${pageUrl}: expected 200, got ${form.status}: ${form.body.slice(0, 300)}`);
  const hidden = hiddenInputs(form.body);
  if (hidden.csrf === undefined) throw new Error(`GET ${pageUrl}: no hidden "csrf" input in the sign-in form`);
  const body = new URLSearchParams({ ...hidden, username, password }).toString();
  const res = await jarRequest(jar, formAction(form.body, pageUrl), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'text/html', Origin: new URL(base).origin, ...opts.headers },
    body,
  });
  return { form, res, jar };
}

export interface SignedIn {
  jar: CookieJar;
  /** The Cookie header value to send to the portal's host after sign-in. */
  cookie: string;
  location: string;
}

/** Signs in over HTTP and returns the jar holding the session cookie; throws unless the POST answers a redirect
 * (302, or 303 — the right answer to a POST, RFC 9110 §15.4.4) with Set-Cookie. */
export async function signIn(base: string, username: string, password: string, rd: string,
  opts: { jar?: CookieJar; headers?: Record<string, string> } = {}): Promise<SignedIn> {
  const { res, jar } = await submitSignIn(base, username, password, rd, opts);
  const location = res.headers.location;
  if ((res.status !== 302 && res.status !== 303) || location === undefined) {
    throw new Error(`sign-in as ${username}: expected 302 or 303, got ${res.status}: ${res.body.slice(0, 300)}`);
  }
  if ((res.headers['set-cookie'] ?? []).length === 0) throw new Error(`sign-in as ${username}: 302 without Set-Cookie`);
  const cookie = jar.header(`${base}/`);
  if (cookie === undefined) throw new Error(`sign-in as ${username}: no cookie for ${base}`);
  return { jar, cookie, location };
}

// ---------------------------------------------------------------------------------------------
// Chromium

/** Loopback for every test host name, so the browser can use real-looking names. */
export const HOST_RULES = 'MAP *.example.test 127.0.0.1, MAP *.other.test 127.0.0.1, MAP *.example.net 127.0.0.1';

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--host-resolver-rules=${HOST_RULES}`,
      // Plain-http test hosts: no upgrade attempt, no interstitial.
      '--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,HttpsFirstModeV2ForTypicallySecureUsers',
    ],
  });
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
    o.apps ?? [
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

// ---------------------------------------------------------------------------------------------
// A whole stack: Gatehouse behind nginx or Caddy from docs/proxies, with the whoami app

export interface Stack {
  kind: 'nginx' | 'caddy';
  /** The proxy's port; every host name below is served there. */
  port: number;
  gh: GatehouseProcess;
  app: Whoami;
  proxy: ProxyProcess;
  /** http://<host>:<port><path> */
  url(host: string, pathAndQuery: string): string;
  /** The portal origin, as publicUrl says. */
  portal: string;
  stop(): Promise<void>;
}

export const PORTAL_HOST = 'auth.example.test';
/** Hosts the stacks serve as protected apps (they share one whoami upstream). */
export const APP_HOSTS = ['app.example.test', 'app2.other.test', 'api.example.test'];

export async function startStack(kind: 'nginx' | 'caddy', o: {
  apps?: string; extra?: string; trustedProxies?: string;
  /** The proxy's port, when something must know the portal's URL before the stack starts (an upstream IdP's redirect URI). */
  port?: number;
  /** More protected sites, each its own nginx server block / Caddy site, on the same whoami app. */
  moreSites?: string[];
} = {}): Promise<Stack> {
  const port = o.port ?? await freePort();
  const portal = `http://${PORTAL_HOST}:${port}`;
  const app = await startWhoami();
  let gh: GatehouseProcess | undefined;
  try {
    gh = await startGatehouse(gateConfig({
      publicUrl: portal, ...(o.apps !== undefined ? { apps: o.apps } : {}), ...(o.extra !== undefined ? { extra: o.extra } : {}),
      ...(o.trustedProxies !== undefined ? { trustedProxies: o.trustedProxies } : {}),
    }));
    const gatehouse = `127.0.0.1:${gh.port}`;
    const more = o.moreSites ?? [];
    const proxy = kind === 'nginx'
      ? await startNginxFromDocs({ port, gatehouse, portalName: PORTAL_HOST, sites: [APP_HOSTS.join(' '), ...more].map((serverName) => ({ serverName, upstream: app.address })) })
      : await startCaddyFromDocs({ port, gatehouse, portalName: PORTAL_HOST, appNames: APP_HOSTS, upstream: app.address, moreSites: more });
    const g = gh;
    return {
      kind, port, gh: g, app, proxy, portal,
      url: (host, p) => `http://${host}:${port}${p}`,
      stop: async () => { await proxy.stop(); await g.stop(); await app.stop(); },
    };
  } catch (e) {
    await gh?.stop();
    await app.stop();
    throw e;
  }
}

/** The text of the element marked role="alert" (the sign-in form's error), or undefined. */
export function alertText(html: string): string | undefined {
  const m = /<(\w+)\b[^>]*\brole\s*=\s*["']alert["'][^>]*>([\s\S]*?)<\/\1>/i.exec(html);
  return m === null ? undefined : decodeEntities(m[2]!.replace(/<[^>]*>/g, '')).trim();
}

/** Polls until `check` is true, for at most `ms`; returns the elapsed time or throws. */
export async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Refused as not signed in: 401 (an API client) or a redirect to the portal's start (a browser). */
export function refusedAnonymous(r: HttpResponse, portal: string): boolean {
  return r.status === 401 || ((r.status === 302 || r.status === 303) && (r.headers.location ?? '').startsWith(`${portal}/oauth2/start?`));
}
