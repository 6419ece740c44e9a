// A rolling update, for real (issue 15; docs/upgrades.md): release N, the commit before the last
// schema change (taken from git history), and release N+1, this checkout, as two processes
// against one PostgreSQL database at once. N starts on an empty database and migrates it to its
// schema; N+1 starts while N serves and migrates further (expand only). Then, side by side:
// N's sessions work on N+1 and N+1's on N, N still signs people in on the migrated schema, a
// sign-out on N+1 is refused by N within a second, and N, restarted, refuses to start against
// the newer schema (naming both versions) instead of running against it.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { LATEST_SCHEMA_VERSION } from '../../src/store/index.ts';
import { jarRequest, request, type CookieJar } from '../kit/http.ts';
import { repoRoot } from '../kit/paths.ts';
import { adminQuery, createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';
import { timeUntil, until } from '../kit/poll.ts';
import { submitSignIn } from '../kit/sign-in.ts';

const exec = promisify(execFile);
const SECRET = '+IgCoVQqg0/lBY/ijpasDEt4ezf5x0YQM8oB0e4TIME=';
const PASSWORD = 'correct horse battery staple';
const PORTAL = 'http://auth.example.test';
const APP = 'http://app.example.test/dashboard';

interface Proc {
  name: string;
  child: ChildProcess;
  port: number;
  out: () => string;
  stop(): Promise<void>;
}

function config(db: string, dataDir: string): string {
  // Only keys both releases know.
  return `publicUrl: ${PORTAL}
listen: { host: 127.0.0.1, port: 0 }
dataDir: ${JSON.stringify(dataDir)}
secrets: { session: "${SECRET}" }
database: { url: "${db}" }
domains: [ { domain: example.test, allowHttp: true } ]
apps:
  - { name: app, hosts: [app.example.test], allow: { anyUser: true } }
`;
}

/** `gatehouse serve` from a checkout; resolves once it logs "listening" and /readyz answers 200. */
async function serve(name: string, bin: string, configPath: string): Promise<Proc> {
  const child = spawn(process.execPath, [bin, 'serve', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
  let port = 0;
  await until(
    async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}) before it was ready:\n${out}`);
      const m = /"url":"http:\/\/127\.0\.0\.1:(\d+)","version":"[^"]+","msg":"listening"/.exec(out);
      if (m) port = Number(m[1]);
      return (
        port !== 0 &&
        (await request(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.status === 200,
          () => false,
        ))
      );
    },
    { timeoutMs: 30_000, what: `${name} ready`, intervalMs: 100 },
  ).catch(async (e: unknown) => {
    await stop();
    throw new Error(`${(e as Error).message}:\n${out}`, { cause: e });
  });
  return { name, child, port, out: () => out, stop };
}

/** The sign-in form on the portal host of one process, posted like a browser; returns the jar. */
async function signInOn(p: Proc, username: string): Promise<CookieJar> {
  const { res, jar } = await submitSignIn({ base: PORTAL, connectTo: { host: '127.0.0.1', port: p.port } }, username, PASSWORD, APP);
  assert.equal(res.status, 303, `${p.name}: sign-in answered ${res.status}: ${res.body.slice(0, 200)}`);
  assert.equal(res.headers.location, APP);
  return jar;
}

/** Forward auth as Traefik/Caddy ask it, from loopback (a trusted proxy), with a Cookie header for the app host. */
async function check(p: Proc, cookie: string | undefined): Promise<number> {
  const u = new URL(APP);
  const res = await request(`http://127.0.0.1:${p.port}/oauth2/auth`, {
    headers: {
      'X-Forwarded-Method': 'GET',
      'X-Forwarded-Proto': 'http',
      'X-Forwarded-Host': u.host,
      'X-Forwarded-Uri': u.pathname,
      Accept: 'application/json',
      ...(cookie ? { Cookie: cookie } : {}),
    },
  });
  return res.status;
}

describe('release N and release N+1 against one PostgreSQL database at once', () => {
  let db: TestDatabase;
  let dir: string;
  let nBin: string;
  let commitN: string;
  let n: Proc | undefined;
  let n1: Proc | undefined;
  let configN: string;

  before(async () => {
    await requirePostgres();
    // N: the newest commit whose migrations are the current ones minus the last (a proper prefix,
    // version and name alike). "The parent of the last commit that touched migrations.ts" is not
    // that when work on the schema was merged from a branch: the parent may hold a migration that
    // was renumbered before it landed, which no release ever ran.
    const migrationsAt = async (rev: string): Promise<string[]> => {
      const text = (await exec('git', ['show', `${rev}:src/store/migrations.ts`], { cwd: repoRoot, maxBuffer: 16 << 20 })).stdout;
      return [...text.matchAll(/version:\s*(\d+),\s*name:\s*'([^']+)'/g)].map((m) => `${m[1]}:${m[2]}`);
    };
    const current = await migrationsAt('HEAD');
    const revs = (
      await exec('git', ['rev-list', '--full-history', 'HEAD', '--', 'src/store/migrations.ts'], { cwd: repoRoot, maxBuffer: 16 << 20 })
    ).stdout
      .trim()
      .split('\n');
    assert.ok(revs.length > 1 && /^[0-9a-f]{40}$/.test(revs[0] ?? ''), 'this test needs the git history (a clone that is not shallow)');
    let found: string | undefined;
    for (const rev of revs) {
      const list = await migrationsAt(rev);
      if (list.length === current.length - 1 && list.every((m, i) => m === current[i])) {
        found = rev;
        break;
      }
    }
    assert.ok(found, `no commit holds the migrations ${current.slice(0, -1).join(', ')}`);
    commitN = found;
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-rolling-'));
    await mkdir(join(dir, 'n'));
    // What N runs from: its entry, its sources and every other tree they import (edge/ since the
    // wrangler check), as far as that commit has them.
    const trees = (await exec('git', ['ls-tree', '--name-only', commitN], { cwd: repoRoot })).stdout
      .split('\n')
      .filter((p) => ['bin', 'src', 'edge', 'package.json'].includes(p));
    const archive = spawn('git', ['archive', commitN, ...trees], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    const untar = spawn('tar', ['-x', '-C', join(dir, 'n')], { stdio: ['pipe', 'inherit', 'inherit'] });
    archive.stdout!.pipe(untar.stdin!);
    await new Promise((r, j) => untar.once('exit', (c) => (c === 0 ? r(c) : j(new Error(`tar exited ${c}`)))));
    // N runs with this release's node_modules: a package N loads that this release no longer
    // does (prom-client) stays in devDependencies so that N starts here; without it N's CLI
    // exits 1 at its first import.
    await symlink(join(repoRoot, 'node_modules'), join(dir, 'n', 'node_modules'));
    nBin = join(dir, 'n', 'bin', 'gatehouse.js');
    db = await createTestDatabase();
    configN = join(dir, 'n.yaml');
    await writeFile(configN, config(db.url, join(dir, 'data-n')));
    await writeFile(join(dir, 'n1.yaml'), config(db.url, join(dir, 'data-n1')));
  });

  after(async () => {
    await n?.stop();
    await n1?.stop();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("N migrates an empty database and serves; N+1 migrates it further while N serves; both serve each other's sessions", async () => {
    const add = spawn(process.execPath, [nBin, 'user', 'add', 'alice', '--password-stdin', '--config', configN], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    add.stdin!.end(`${PASSWORD}\n`);
    assert.equal(await new Promise((r) => add.once('exit', r)), 0);

    n = await serve(`N (${commitN.slice(0, 7)})`, nBin, configN);
    const schemaN = Number((await adminQuery('SELECT max(version) AS v FROM schema_migrations', [], db.url)).rows[0].v);
    assert.equal(schemaN, LATEST_SCHEMA_VERSION - 1, 'N is the release one schema version behind');
    const a = (await signInOn(n, 'alice')).header(APP);
    assert.equal(await check(n, a), 202);

    // N+1 starts while N serves, and migrates.
    n1 = await serve('N+1 (this checkout)', join(repoRoot, 'bin', 'gatehouse.js'), join(dir, 'n1.yaml'));
    assert.equal(
      Number((await adminQuery('SELECT max(version) AS v FROM schema_migrations', [], db.url)).rows[0].v),
      LATEST_SCHEMA_VERSION,
    );
    assert.match(n1.out(), /"msg":"migrations applied"/);

    // N keeps serving on the migrated schema: ready, its own session, and new sign-ins.
    assert.equal((await request(`http://127.0.0.1:${n.port}/readyz`)).status, 200);
    assert.equal(await check(n, a), 202);
    const b = (await signInOn(n, 'alice')).header(APP);
    // Sessions cross both ways.
    assert.equal(await check(n1, a), 202);
    assert.equal(await check(n1, b), 202);
    const cJar = await signInOn(n1, 'alice');
    const c = cJar.header(APP);
    assert.equal(await check(n, c), 202);
    // Without a session, both refuse the same way.
    assert.equal(await check(n, undefined), 401);
    assert.equal(await check(n1, undefined), 401);

    // A sign-out on N+1 is refused by N within a second (the revocation feed, across releases),
    // asked with the cookie's old value, as a copy of it would be.
    const out = await jarRequest(cJar, `${PORTAL}/oauth2/sign_out`, {
      connectTo: { host: '127.0.0.1', port: n1.port },
      headers: { Accept: 'text/html' },
    });
    assert.ok([200, 302, 303].includes(out.status), `sign-out answered ${out.status}`);
    const old = n;
    const refusedAfter = await timeUntil(async () => (await check(old, c)) === 401, {
      timeoutMs: 3000,
      what: 'N refuses the signed-out session',
      intervalMs: 20,
    }).catch(() => -1);
    assert.ok(refusedAfter >= 0 && refusedAfter <= 1000, `N refused the signed-out session after ${refusedAfter} ms`);
    console.log(`# revocation on N+1 refused by N after ${refusedAfter} ms`);
    // The other sessions are untouched.
    assert.equal(await check(n, a), 202);
    assert.equal(await check(n1, b), 202);
  });

  test('N, restarted after N+1 migrated, refuses to start and names both schema versions; N+1 keeps serving', async () => {
    assert.ok(n && n1, 'the previous test started both');
    await n.stop();
    const again = spawn(process.execPath, [nBin, 'serve', '--config', configN], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    again.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    again.stderr!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const code = await new Promise((r) => again.once('exit', r));
    assert.equal(code, 1);
    assert.match(
      out,
      new RegExp(
        `the database schema is at version ${LATEST_SCHEMA_VERSION} but this release of gatehouse knows up to version ${LATEST_SCHEMA_VERSION - 1}`,
      ),
    );
    assert.equal((await request(`http://127.0.0.1:${n1.port}/readyz`)).status, 200);
  });
});
