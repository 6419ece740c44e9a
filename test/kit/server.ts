// An in-process Gatehouse for the integration suites: a config written to a temp directory,
// users added through the CLI (so passwords are hashed the real way), startGatehouse on port 0,
// and requests over a real socket with explicit Host / X-Forwarded-* / Cookie headers.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { MemoryLogger, type Clock } from '../../src/core/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startGatehouse, type Running } from '../../src/app/index.ts';
import { runCli, type CliIO } from '../../src/cli/index.ts';
import { cookieValue, send, type HttpResponse } from './http.ts';
import { decodeEntities } from './html.ts';
import { PASSWORD, type Portal } from './sign-in.ts';
import { removeDir, tempDir } from './temp.ts';

export { PASSWORD };

/** 32 random bytes, base64 (44 characters): the shape operators paste. */
export const SECRET_A = '+IgCoVQqg0/lBY/ijpasDEt4ezf5x0YQM8oB0e4TIME=';
export const SECRET_B = '5gz8AqwGm/T2mcN0AH4r+8+L/C84Y9Dg+Kl7QDHYjDw=';

export const PORTAL = 'https://auth.example.test';

export interface UserSpec {
  name: string;
  email?: string;
  groups?: string[];
  password?: string;
}

export const ALICE: UserSpec = { name: 'alice', email: 'alice@example.test', groups: ['admins'] };
export const BOB: UserSpec = { name: 'bob', email: 'bob@other.example', groups: ['staff'] };

/** What the in-process suites get back from send(). */
export type Answer = HttpResponse;

/** A CliIO that records what a command printed. */
export function fakeIO(stdin = '', env: NodeJS.ProcessEnv = {}): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), readStdin: async () => stdin, env };
}

/** The base config every suite starts from; `extra` replaces top-level keys. */
export function baseConfig(dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    publicUrl: PORTAL,
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: dir,
    secrets: { session: SECRET_A },
    domains: [{ domain: 'example.test' }],
    apps: [
      { name: 'public-api', hosts: ['app.example.test'], paths: ['/public/**'], public: true },
      { name: 'app', hosts: ['app.example.test'], allow: { groups: ['admins'] } },
      { name: 'ops', hosts: ['ops.example.test'], allow: { groups: ['ops'] } },
    ],
    ...extra,
  };
}

export async function writeConfig(path: string, config: Record<string, unknown>): Promise<void> {
  await writeFile(path, stringify(config));
}

/** `gatehouse user add` in this process, against the config file. */
export async function addUser(configPath: string, u: UserSpec): Promise<void> {
  const args = ['user', 'add', u.name, '--password-stdin', '--config', configPath];
  if (u.email) args.push('--email', u.email);
  if (u.groups) args.push('--groups', u.groups.join(','));
  const io = fakeIO(`${u.password ?? PASSWORD}\n`);
  const code = await runCli(args, io);
  if (code !== 0) throw new Error(`user add ${u.name} failed: ${io.stderr.join('\n')}`);
}

export interface Instance {
  dir: string;
  configPath: string;
  /** The file to rewrite for a reload (behind a symlink when `unwatched`). */
  realConfigPath: string;
  running: Running;
  logger: MemoryLogger;
  announced: string[];
  port: number;
  /** The portal as a client behind a trusted TLS-terminating proxy sees it, for signIn(). */
  portal: Portal;
  close(): Promise<void>;
}

/** The portal of an in-process server: https://auth.example.test reached on its loopback port. */
export function instancePortal(running: Running, port: number): Portal {
  return {
    base: PORTAL,
    connectTo: { host: '127.0.0.1', port },
    headers: { 'x-forwarded-proto': 'https' },
    formPath: '/oauth2/start',
    cookieName: () => running.settings().cookieName,
  };
}

/**
 * Start an instance: config written to a fresh temp dir, users added first through the CLI
 * (so no bootstrap admin is made), then startGatehouse with a MemoryLogger.
 */
export async function startInstance(
  opts: {
    config?: (dir: string) => Record<string, unknown>;
    users?: UserSpec[];
    clock?: Clock;
    dir?: string;
    /**
     * Put the real config file behind a symlink in another directory, so the file watcher never
     * sees our rewrites and only explicit `running.reload('manual')` calls reload (exact counts).
     */
    unwatched?: boolean;
    /** More startGatehouse options (e.g. the access-token keys of the protected-resource suites). */
    start?: Partial<Parameters<typeof startGatehouse>[0]>;
  } = {},
): Promise<Instance> {
  const dir = opts.dir ?? (await tempDir('integration'));
  const configPath = join(dir, 'gatehouse.yaml');
  let realConfigPath = configPath;
  if (opts.unwatched) {
    await mkdir(join(dir, 'real'), { recursive: true });
    realConfigPath = join(dir, 'real', 'gatehouse.yaml');
    await writeConfig(realConfigPath, opts.config ? opts.config(dir) : baseConfig(dir));
    await symlink(realConfigPath, configPath);
  } else {
    await writeConfig(configPath, opts.config ? opts.config(dir) : baseConfig(dir));
  }
  for (const u of opts.users ?? [ALICE, BOB]) await addUser(configPath, u);
  const loaded = await loadConfig({ path: configPath, env: {} });
  const logger = new MemoryLogger();
  const announced: string[] = [];
  const running = await startGatehouse({
    loaded,
    logger,
    configPath,
    env: {},
    announce: (l) => announced.push(l),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...opts.start,
  });
  return {
    dir,
    configPath,
    realConfigPath,
    running,
    logger,
    announced,
    port: running.port,
    portal: instancePortal(running, running.port),
    close: async () => {
      await running.close();
      if (!opts.dir) await removeDir(dir);
    },
  };
}

/** A forward-auth subrequest as Traefik/Caddy send it, from loopback (a trusted proxy). */
export function forwardAuth(
  port: number,
  url: string,
  opts: { method?: string; cookie?: string; headers?: Record<string, string>; query?: string } = {},
): Promise<Answer> {
  const u = new URL(url);
  return send(port, {
    path: `/oauth2/auth${opts.query ?? ''}`,
    headers: {
      host: 'gatehouse.internal:4180',
      'x-forwarded-method': opts.method ?? 'GET',
      'x-forwarded-proto': u.protocol.slice(0, -1),
      'x-forwarded-host': u.host,
      'x-forwarded-uri': u.pathname + u.search,
      accept: 'text/html,application/xhtml+xml',
      ...(opts.cookie ? { cookie: opts.cookie } : {}),
      ...opts.headers,
    },
  });
}

export const BROWSER = { accept: 'text/html,application/xhtml+xml' };

export interface SignInForm {
  csrf: string;
  rd: string;
  loginCookie: string;
  page: Answer;
}

/**
 * GET /oauth2/start on the portal host: the form's hidden fields and the login-state cookie,
 * for suites that tamper with the form (a wrong csrf, a foreign rd). To just sign in, use signIn.
 */
export async function openForm(inst: Instance, rd?: string, headers: Record<string, string> = {}): Promise<SignInForm> {
  const s = inst.running.settings();
  const page = await send(inst.port, {
    path: `/oauth2/start${rd === undefined ? '' : `?rd=${encodeURIComponent(rd)}`}`,
    headers: { host: 'auth.example.test', 'x-forwarded-proto': 'https', ...BROWSER, ...headers },
  });
  if (page.status !== 200) throw new Error(`GET /oauth2/start answered ${page.status}`);
  const csrf = /name="csrf" value="([^"]*)"/.exec(page.body)?.[1];
  const rdField = /name="rd" value="([^"]*)"/.exec(page.body)?.[1];
  const loginCookie = cookieValue(page.setCookies, `${s.cookieName}_csrf`);
  if (csrf === undefined || rdField === undefined || loginCookie === undefined)
    throw new Error('the sign-in form lacks csrf, rd or its cookie');
  return { csrf, rd: decodeEntities(rdField), loginCookie, page };
}

/** POST /oauth2/sign_in with the form's fields (overridable). */
export async function postSignIn(
  inst: Instance,
  form: SignInForm,
  fields: { username: string; password: string; csrf?: string; rd?: string },
  headers: Record<string, string> = {},
): Promise<Answer> {
  const s = inst.running.settings();
  const body = new URLSearchParams({
    csrf: fields.csrf ?? form.csrf,
    rd: fields.rd ?? form.rd,
    username: fields.username,
    password: fields.password,
  }).toString();
  return send(inst.port, {
    method: 'POST',
    path: '/oauth2/sign_in',
    body,
    headers: {
      host: 'auth.example.test',
      'x-forwarded-proto': 'https',
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `${s.cookieName}_csrf=${form.loginCookie}`,
      ...BROWSER,
      ...headers,
    },
  });
}

/** `name=value` for a Cookie header. */
export function cookieHeader(inst: Instance, value: string): string {
  return `${inst.running.settings().cookieName}=${value}`;
}
