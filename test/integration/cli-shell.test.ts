// The CLI as a shell runs it: a fresh machine without a data directory, output piped into
// `head`, and `serve` on another port without a config file (4180 is oauth2-proxy's default too).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { runCli } from '../../src/cli/index.ts';
import { baseConfig, fakeIO, writeConfig } from '../kit/server.ts';
import { tempDir } from '../kit/temp.ts';
import { freePort } from '../kit/http.ts';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'gatehouse.js');

function sh(
  script: string,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const c = spawn('bash', ['-o', 'pipefail', '-c', script], {
      cwd: opts.cwd,
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    c.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    c.on('error', rej);
    c.on('close', (code) => res({ code, stdout, stderr }));
  });
}

/** Runs `gatehouse serve` until it logs "listening" (and prints the sign-in line, with `announced`); returns the url, then stops it. */
function serveUntilListening(
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; announced?: boolean },
): Promise<{ url: string; out: string }> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, [BIN, 'serve', ...args], {
      cwd: opts.cwd,
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      c.kill('SIGKILL');
      rej(new Error(`no "listening" within 20 s:\n${out}`));
    }, 20_000);
    const scan = (d: string) => {
      out += d;
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        const rec = JSON.parse(line) as { msg?: string; url?: string };
        if (rec.msg === 'listening' && rec.url !== undefined && (opts.announced !== true || /sign in at /.test(out))) {
          clearTimeout(timer);
          c.once('close', () => res({ url: rec.url!, out }));
          c.kill('SIGTERM');
          return;
        }
      }
    };
    c.stdout.setEncoding('utf8').on('data', scan);
    c.stderr.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    c.once('exit', (code) => {
      clearTimeout(timer);
      if (!out.includes('"listening"')) rej(new Error(`serve exited ${code}:\n${out}`));
    });
  });
}

describe('the CLI from a shell', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a command that needs the store creates a missing data directory (owner-only)', async () => {
    const dataDir = join(dir, 'fresh', 'nested', 'data');
    const config = join(dir, 'fresh.yaml');
    await writeConfig(config, baseConfig(dataDir));
    const io = fakeIO('a long enough password\n');
    assert.equal(await runCli(['user', 'add', 'erin', '--password-stdin', '--config', config], io), 0, io.stderr.join('\n'));
    const st = await stat(dataDir);
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o777, 0o700);
    const list = fakeIO();
    assert.equal(await runCli(['user', 'list', '--config', config], list), 0, list.stderr.join('\n'));
    assert.match(list.stdout.join('\n'), /^erin\b/m);
  });

  test('a data directory that cannot be created is one clear line naming dataDir', async () => {
    const config = join(dir, 'blocked.yaml');
    const file = join(dir, 'a-file');
    await writeFile(file, '');
    await writeConfig(config, baseConfig(join(file, 'data')));
    const io = fakeIO();
    assert.equal(await runCli(['user', 'list', '--config', config], io), 1);
    assert.deepEqual(io.stderr, [`dataDir: cannot create ${join(file, 'data')}: ENOTDIR`]);
  });

  test('output piped into a reader that stops early ends quietly (EPIPE), exit status 0', async () => {
    // `head -c0` exits before gatehouse writes anything: every write meets a closed pipe.
    const none = await sh(`"${process.execPath}" "${BIN}" --help | head -c0`);
    assert.deepEqual({ code: none.code, stderr: none.stderr, stdout: none.stdout }, { code: 0, stderr: '', stdout: '' });
    const config = join(dir, 'many.yaml');
    await writeConfig(config, baseConfig(join(dir, 'many')));
    for (const name of ['u1', 'u2', 'u3']) {
      const io = fakeIO('a long enough password\n');
      assert.equal(await runCli(['user', 'add', name, '--password-stdin', '--config', config], io), 0);
    }
    const first = await sh(`"${process.execPath}" "${BIN}" user list --config "${config}" | head -n 1`);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, '');
    assert.match(first.stdout, /^u1\b[^\n]*\n$/);
  });

  test('serve --port and GATEHOUSE_PORT listen there without a config file; the demo URL follows', async () => {
    const cwd = join(dir, 'demo');
    await mkdir(cwd);
    const p1 = await freePort();
    const a = await serveUntilListening(['--port', String(p1)], { cwd, env: { GATEHOUSE_CONFIG: '' }, announced: true });
    assert.equal(a.url, `http://127.0.0.1:${p1}`);
    assert.match(a.out, new RegExp(`http://localhost:${p1}/oauth2/sign_in`));
    assert.ok((await stat(join(cwd, 'data'))).isDirectory(), 'the default ./data was created');
    const p2 = await freePort();
    const b = await serveUntilListening([], { cwd, env: { GATEHOUSE_CONFIG: '', GATEHOUSE_PORT: String(p2) } });
    assert.equal(b.url, `http://127.0.0.1:${p2}`);
    // The flag wins over the environment.
    const p3 = await freePort();
    const c = await serveUntilListening(['-p', String(p3)], { cwd, env: { GATEHOUSE_CONFIG: '', GATEHOUSE_PORT: String(p2) } });
    assert.equal(c.url, `http://127.0.0.1:${p3}`);
  });

  test('serve --port with a config file overrides listen.port', async () => {
    const config = join(dir, 'port.yaml');
    await writeConfig(config, baseConfig(join(dir, 'port-data')));
    const p = await freePort();
    const r = await serveUntilListening(['--config', config, '--port', String(p)], { cwd: dir });
    assert.equal(r.url, `http://127.0.0.1:${p}`);
  });

  test('serve --port with a config file whose publicUrl is on this machine at another port warns that the printed URLs lead elsewhere', async () => {
    const config = join(dir, 'port-local.yaml');
    await writeConfig(config, {
      ...baseConfig(join(dir, 'port-local-data')),
      publicUrl: 'http://localhost:4180',
      domains: [{ domain: 'localhost', allowHttp: true }],
      apps: [],
    });
    const p = await freePort();
    const warning = `gatehouse: warning: publicUrl http://localhost:4180 names port 4180, but --port makes Gatehouse listen on ${p}: the URLs it prints work only through a proxy or a port mapping to 4180 (change publicUrl to match)`;
    const r = await serveUntilListening(['--config', config, '--port', String(p)], { cwd: dir });
    assert.ok(r.out.split('\n').includes(warning), r.out);
    // The same port, or a public publicUrl (the proxy's address): no warning.
    const same = join(dir, 'port-same.yaml');
    await writeConfig(same, {
      ...baseConfig(join(dir, 'port-same-data')),
      publicUrl: `http://localhost:${p}`,
      domains: [{ domain: 'localhost', allowHttp: true }],
      apps: [],
    });
    assert.doesNotMatch((await serveUntilListening(['--config', same, '--port', String(p)], { cwd: dir })).out, /names port/);
    const pub = join(dir, 'port-public.yaml');
    await writeConfig(pub, baseConfig(join(dir, 'port-public-data')));
    assert.doesNotMatch((await serveUntilListening(['--config', pub, '--port', String(p)], { cwd: dir })).out, /names port/);
  });

  test('a bad port is a usage error naming where it came from', async () => {
    for (const [args, env, source, value] of [
      [['--port', 'http']],
      [['--port', '70000']],
      [['--port', '0']],
      [[], { GATEHOUSE_PORT: '-1' }],
    ].map(([a, e]) => [a, e ?? {}, (e as object | undefined) ? 'GATEHOUSE_PORT' : '--port', (a as string[])[1] ?? '-1'] as const)) {
      const io = fakeIO('', env as NodeJS.ProcessEnv);
      assert.equal(await runCli(['serve', ...(args as string[])], io), 2);
      assert.deepEqual(io.stderr, [`gatehouse serve: ${source}: expected a port number from 1 to 65535, got "${value}"`]);
    }
  });
});
