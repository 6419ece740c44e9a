// The OCI image (issue 15): `npm run image` builds it from scratch with buildah, then the image is
// run as its config says (entrypoint, command, user, environment), with its root filesystem
// read-only as Kubernetes' readOnlyRootFilesystem makes it, a /data volume and a /tmp tmpfs:
// /readyz answers, Chromium signs in as the bootstrap admin and sees the demo app, the process
// is uid 10001 with a read-only root, and it wrote nothing but its database in /data.
//
// Running it: buildah's chroot isolation (no OCI runtime, which this sandbox cannot start: crun
// fails on setrlimit). buildah run has no --read-only, so the container's root is bind-mounted
// read-only on itself before `buildah run` chroots into it (what a runtime does for
// readOnlyRootFilesystem), with a small tmpfs on /run for the file buildah itself puts there.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../kit/chromium.ts';
import { freePort } from '../kit/http.ts';
import { repoRoot } from '../kit/paths.ts';
import { tempDir } from '../kit/temp.ts';
import { until } from '../kit/poll.ts';

const exec = promisify(execFile);
const IMAGE = `localhost/gatehouse:e2e-${process.pid}`;
const bh = (...args: string[]) => exec('buildah', ['--storage-driver', 'vfs', ...args], { maxBuffer: 64 << 20 });

interface ImageConfig {
  User: string;
  Entrypoint: string[];
  Cmd: string[];
  Env: string[];
  Volumes: Record<string, object>;
  WorkingDir: string;
  Labels: Record<string, string>;
  ExposedPorts: Record<string, object>;
}

/** Every descendant of a process, from /proc (children lists of each task). */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const t of tasks) {
    const kids = (await readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => ''))
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
    for (const k of kids) out.push(k, ...(await descendants(k)));
  }
  return out;
}

describe('the OCI image, built here from scratch and run read-only', () => {
  let buildLog = '';
  let config: ImageConfig;
  let ctr = '';
  let rootfs = '';
  let dir = '';
  let dataDir = '';
  let port = 0;
  let metricsPort = 0;
  let child: ChildProcess | undefined;
  let out = '';
  let browser: Browser | undefined;
  const mounted: string[] = [];

  before(async () => {
    // `npm run image`, exactly as documented (IMAGE picks a tag this run owns).
    const built = await exec('npm', ['run', '-s', 'image'], { cwd: repoRoot, env: { ...process.env, IMAGE }, maxBuffer: 64 << 20 });
    buildLog = built.stderr;
    assert.equal(built.stdout.trim(), IMAGE);
    const inspected = JSON.parse((await bh('inspect', '--type', 'image', IMAGE)).stdout) as { OCIv1: { config: ImageConfig } };
    config = inspected.OCIv1.config;

    dir = await tempDir('gatehouse-image');
    dataDir = join(dir, 'data');
    await mkdir(dataDir, { mode: 0o700 });
    await chown(dataDir, 10001, 10001);
    port = await freePort();
    metricsPort = await freePort();
    // The image's own config with this run's ports (the host's ports are the container's here).
    const shipped = await readFile(join(repoRoot, 'deploy/container/gatehouse.yaml'), 'utf8');
    const conf = shipped
      .replace('publicUrl: http://localhost:4180', `publicUrl: http://localhost:${port}`)
      .replace('listen: { host: 0.0.0.0, port: 4180 }', `listen: { host: 0.0.0.0, port: ${port} }`)
      .replace('listen: { host: 0.0.0.0, port: 9464 }', `listen: { host: 0.0.0.0, port: ${metricsPort} }`);
    assert.notEqual(conf, shipped);
    await mkdir(join(dir, 'config'));
    await writeFile(join(dir, 'config', 'gatehouse.yaml'), conf);
    await chmod(join(dir, 'config', 'gatehouse.yaml'), 0o644);

    ctr = (await bh('from', '--name', `gatehouse-e2e-${process.pid}`, IMAGE)).stdout.trim();
    rootfs = (await bh('mount', ctr)).stdout.trim();
    await exec('mount', ['--bind', rootfs, rootfs]);
    mounted.push(rootfs);
    await exec('mount', ['-o', 'remount,ro,bind', rootfs]);
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=755', 'tmpfs', join(rootfs, 'run')]);
    mounted.push(join(rootfs, 'run'));

    child = spawn(
      'buildah',
      [
        '--storage-driver',
        'vfs',
        'run',
        '--isolation',
        'chroot',
        '--network',
        'host',
        '-v',
        `${dataDir}:/data`,
        '-v',
        `${join(dir, 'config')}:/etc/gatehouse:ro`,
        '--mount',
        'type=tmpfs,destination=/tmp',
        ctr,
        '--',
        ...config.Entrypoint,
        ...config.Cmd,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    // Ready: /readyz on the metrics listener (the probe the manifests use), within a minute, and
    // the container's own log says it listens (so the 200 is this server's, not another process's).
    await until(
      async () => {
        if (child!.exitCode !== null) throw new Error(`the container exited (${child!.exitCode}):\n${out}`);
        return (
          /"msg":"listening"/.test(out) &&
          (await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then(
            (r) => r.status === 200,
            () => false,
          ))
        );
      },
      { timeoutMs: 60_000, what: '/readyz 200', intervalMs: 250 },
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}:\n${out}`, { cause: e });
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    for (const m of mounted.reverse()) await exec('umount', [m]).catch(() => {});
    if (ctr) await bh('rm', ctr).catch(() => {});
    await bh('rmi', IMAGE).catch(() => {});
    if (dir) await exec('rm', ['-rf', dir]);
  });

  test('the image: from scratch, non-root user, /data volume, the entrypoint runs the bundled Node.js 24, OCI labels', async () => {
    assert.equal(config.User, '10001:10001');
    assert.deepEqual(config.Entrypoint, ['/usr/local/bin/node', '--use-system-ca', '--max-semi-space-size=4', '/app/bin/gatehouse.js']);
    assert.deepEqual(config.Cmd, ['serve']);
    assert.deepEqual(Object.keys(config.Volumes), ['/data']);
    assert.deepEqual(Object.keys(config.ExposedPorts).sort(), ['4180/tcp', '9464/tcp']);
    assert.ok(config.Env.includes('GATEHOUSE_CONFIG=/etc/gatehouse'));
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(config.Labels['org.opencontainers.image.version'], pkg.version);
    assert.equal(config.Labels['org.opencontainers.image.title'], 'gatehouse');
    assert.equal(config.Labels['org.opencontainers.image.base.name'], 'scratch');
    assert.match(config.Labels['org.opencontainers.image.revision'] ?? '', /^[0-9a-f]{40}(-dirty)?$/);
    assert.match(config.Labels['org.opencontainers.image.created'] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(config.Labels['io.gatehouse.node.version'] ?? '', /^v24\./);
    // Nothing but what the app needs: no shell, no package manager, no dev dependencies.
    const top = (await readdir(rootfs)).sort();
    assert.deepEqual(top, ['app', 'data', 'dev', 'etc', 'lib', 'lib64', 'proc', 'run', 'sys', 'tmp', 'usr']);
    for (const absent of [
      'bin/sh',
      'usr/bin',
      'app/node_modules/typescript',
      'app/node_modules/eslint',
      'app/node_modules/node',
      'app/test',
    ]) {
      await assert.rejects(stat(join(rootfs, absent)), { code: 'ENOENT' }, `${absent} is in the image`);
    }
    assert.equal(
      (await readdir(join(rootfs, 'app/src/store'))).some((f) => f.endsWith('.test.ts')),
      false,
    );
    // Node's compile cache, filled at build time for the entrypoint's flags.
    assert.ok(config.Env.includes('NODE_COMPILE_CACHE=/app/.compile-cache'));
    // Node names the cache's subdirectory after the uid: one filled by another user is never read.
    assert.deepEqual(
      (await readdir(join(rootfs, 'app/.compile-cache'))).map((d) => d.replace(/^v[\d.]+-x64-[0-9a-f]+-/, '')),
      ['10001'],
    );
    const size = Number((await exec('du', ['-sb', rootfs])).stdout.split('\t')[0]);
    console.log(`# image ${IMAGE}: ${(size / 1048576).toFixed(1)} MiB uncompressed; build log tail: ${buildLog.trim().split('\n').at(-1)}`);
  });

  test('the running server: uid 10001, root filesystem read-only, writes only its database in /data', async () => {
    const pids = await descendants(child!.pid!);
    const server: number[] = [];
    for (const p of pids) {
      const cmd = (await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).split('\0');
      if (cmd[0] === '/usr/local/bin/node' && cmd.includes('/app/bin/gatehouse.js')) server.push(p);
    }
    assert.equal(server.length, 1, `one server process under buildah run, found ${server.length}`);
    const status = await readFile(`/proc/${server[0]}/status`, 'utf8');
    assert.match(status, /^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
    assert.match(status, /^Gid:\s+10001\s+10001\s+10001\s+10001$/m);
    assert.match(status, /^CapEff:\s+0000000000000000$/m);
    // Its root: the image's files, mounted read-only.
    const mounts = (await readFile(`/proc/${server[0]}/mountinfo`, 'utf8')).split('\n').map((l) => l.split(' '));
    const root = mounts.find((f) => f[4] === '/');
    assert.ok(root, 'no root mount');
    assert.ok(root[5]!.split(',').includes('ro'), `the root is mounted ${root[5]}`);
    const env = (await readFile(`/proc/${server[0]}/environ`, 'utf8')).split('\0');
    assert.ok(env.includes('GATEHOUSE_CONFIG=/etc/gatehouse'));
    // /data holds the database (and its WAL), owned by the user, private. Read through the
    // server's own view of its filesystem: `buildah run` mounts the image's declared /data volume
    // as well as the -v bind, in no fixed order, so the host directory is not always the one on
    // top (a runtime replaces the declared volume with the bind; buildah's chroot mode may not).
    const data = `/proc/${server[0]}/root/data`;
    const files = (await readdir(data)).sort();
    const dataMounts = mounts.filter((f) => f[4] === '/data').map((f) => f.join(' '));
    assert.ok(files.includes('gatehouse.db'), `/data in the container: [${files.join(', ')}]; mounts: ${dataMounts.join(' | ')}\n${out}`);
    assert.ok(dataMounts.length >= 1, 'no mount at /data: the database would be on the read-only root');
    for (const f of files) {
      const st = await stat(join(data, f));
      assert.equal(st.uid, 10001, `${f} is owned by ${st.uid}`);
      assert.equal(st.mode & 0o077, 0, `${f} is readable by others`);
    }
    assert.match(out, /"msg":"listening"/);
    console.log(`# the server in the image: ${/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]} kB resident after start-up`);
    assert.doesNotMatch(out, /EROFS|read-only file system/i);
  });

  test('Chromium signs in as the bootstrap admin and the demo app behind the gate greets it', async () => {
    const password = /one-time password (\S+)/.exec(out)?.[1];
    assert.ok(password, `no bootstrap password in the output:\n${out}`);
    const ctx = await browser!.newContext();
    ctx.setDefaultTimeout(15_000);
    try {
      const page = await ctx.newPage();
      const target = `http://localhost:${port}/`;
      await page.goto(target);
      assert.match(new URL(page.url()).pathname, /^\/oauth2\//, `not on the sign-in page: ${page.url()}`);
      await page.locator('input[name="username"]').fill('admin');
      await page.locator('input[name="password"]').fill(password);
      await page.locator('form button[type="submit"], form input[type="submit"]').first().click();
      await page.waitForURL(target);
      assert.equal(await page.locator('h1').innerText(), 'Hello, admin');
    } finally {
      await ctx.close();
    }
    // Metrics are on their own listener, not on the public one.
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status, 200);
    assert.equal((await fetch(`http://localhost:${port}/metrics`)).status, 404);
  });
});
