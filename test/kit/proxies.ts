// nginx, Caddy and Apache as real processes in the foreground, each with every path (pid, logs,
// temp files, state) in its own temporary directory removed on stop().
import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCommand, START_TIMEOUT_MS, stopChild, waitForPort } from './process.ts';
import { removeDir, tempDir } from './temp.ts';

export interface ProxyProcess {
  port: number;
  pid: number;
  dir: string;
  /** nginx's error log, or Caddy's output. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

async function startProxyProcess(
  name: string,
  dir: string,
  cmd: string,
  args: string[],
  port: number,
  logFile: string | undefined,
  env: Record<string, string> = {},
): Promise<ProxyProcess> {
  const child = spawn(cmd, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  let exitInfo: string | undefined;
  child.on('exit', (code, sig) => {
    exitInfo = `${code ?? sig}`;
  });
  const log = async () => {
    let file = '';
    if (logFile !== undefined) file = await readFile(logFile, 'utf8').catch(() => '');
    return `${out}${file}`;
  };
  const stop = async () => {
    await stopChild(child);
    await removeDir(dir);
  };
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
  const dir = await tempDir('e2e-nginx');
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
  const check = await runCommand('nginx', [...nginxArgs, '-t', '-q']);
  if (check.code !== 0) {
    const text = await readFile(errorLog, 'utf8').catch(() => '');
    await removeDir(dir);
    throw new Error(`nginx -t failed: ${check.stderr}${text}\n--- http.conf ---\n${httpConf}`);
  }
  const wrap = opts.wrap ?? [];
  const cmd = wrap.length > 0 ? wrap[0]! : 'nginx';
  const args = wrap.length > 0 ? [...wrap.slice(1), 'nginx', ...nginxArgs] : nginxArgs;
  return startProxyProcess('nginx', dir, cmd, args, opts.port, errorLog);
}

/** `nginx -t` on `httpConf` (inside http{}) with `files` beside it; nothing is started. */
export async function nginxConfigTest(httpConf: string, files: Record<string, string>): Promise<{ ok: boolean; output: string }> {
  const dir = await tempDir('e2e-nginx-t');
  try {
    for (const [rel, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await writeFile(path.join(dir, rel), text);
    }
    await writeFile(path.join(dir, 'http.conf'), httpConf);
    const errorLog = path.join(dir, 'error.log');
    await writeFile(
      path.join(dir, 'nginx.conf'),
      [
        `pid ${dir}/nginx.pid;`,
        `error_log ${errorLog} notice;`,
        'events {}',
        'http {',
        '  access_log off;',
        `  client_body_temp_path ${dir}/client_body;`,
        `  proxy_temp_path ${dir}/proxy;`,
        `  fastcgi_temp_path ${dir}/fastcgi;`,
        `  uwsgi_temp_path ${dir}/uwsgi;`,
        `  scgi_temp_path ${dir}/scgi;`,
        '  include http.conf;',
        '}',
        '',
      ].join('\n'),
    );
    const r = await runCommand('nginx', ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', errorLog, '-t', '-q']);
    return { ok: r.code === 0, output: `${r.stdout}${r.stderr}${await readFile(errorLog, 'utf8').catch(() => '')}` };
  } finally {
    await removeDir(dir);
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
  const dir = await tempDir('e2e-apache');
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
  const check = await runCommand('/usr/sbin/apache2', [...args, '-t']);
  if (check.code !== 0) {
    await removeDir(dir);
    throw new Error(`apache2 -t failed: ${check.stdout}${check.stderr}\n--- apache2.conf ---\n${main}`);
  }
  return startProxyProcess('apache2', dir, '/usr/sbin/apache2', args, opts.port, errorLog);
}

/** Global options prepended to a Caddyfile: plain HTTP on the port, no admin endpoint. */
function caddyGlobals(port: number): string {
  return ['{', '\tadmin off', '\tauto_https off', `\thttp_port ${port}`, '}', ''].join('\n');
}

/** Starts `caddy run` with the Caddyfile (site addresses must be http://…:port) and its state in a temp dir. */
export async function startCaddy(caddyfile: string, opts: { port: number }): Promise<ProxyProcess> {
  const dir = await tempDir('e2e-caddy');
  const file = path.join(dir, 'Caddyfile');
  await writeFile(file, `${caddyGlobals(opts.port)}${caddyfile}`);
  const env = { HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') };
  return startProxyProcess('caddy', dir, 'caddy', ['run', '--adapter', 'caddyfile', '--config', file], opts.port, undefined, env);
}
