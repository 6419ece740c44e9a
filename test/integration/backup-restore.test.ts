// `gatehouse backup` / `gatehouse restore` (issue 15): an online copy of the SQLite store taken
// while Gatehouse serves sign-ins, then the data directory lost, restored and started again:
// the session cookie from before the backup still works, the people, the agent (an OAuth client
// in the store) and the signing keys are the backup's, and what happened after the backup is
// gone. Plus every refusal: a running process, an existing file, a newer schema, a file that is
// not a Gatehouse database, PostgreSQL.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { runCli } from '../../src/cli/index.ts';
import { LATEST_SCHEMA_VERSION } from '../../src/store/index.ts';
import { send } from '../kit/http.ts';
import { ALICE, BOB, cookieHeader, fakeIO, forwardAuth, type Instance, PASSWORD, startInstance, writeConfig } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';
import { tempDir } from '../kit/temp.ts';
import { HTTPS, ISSUER } from '../kit/issuer.ts';
import { basic, json, MCP, mcpConfig, token } from '../kit/mcp.ts';

async function cli(configPath: string, ...args: string[]) {
  const io = fakeIO(`${PASSWORD}\n`, {});
  const code = await runCli([...args, '--config', configPath], io);
  return { code, out: io.stdout, err: io.stderr };
}

const APP = 'https://app.example.test/dashboard';

describe('backup while serving, lose the data directory, restore, start again', () => {
  let dir: string;
  let inst: Instance | undefined;
  let configPath: string;
  const backupFile = () => join(dir, 'backups', 'gatehouse-backup.db');
  const dbFile = () => join(dir, 'gatehouse.db');

  before(async () => {
    dir = await tempDir();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'backups'));
  });
  after(async () => {
    await inst?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('sessions, people, clients and signing keys from before the backup work after the restore; later changes are gone', async () => {
    inst = await startInstance({ dir, config: (d) => mcpConfig(d), users: [ALICE, BOB] });
    configPath = inst.configPath;
    const alice = await signIn(inst, 'alice');
    assert.equal((await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, alice.value) })).status, 202);
    const agent = await cli(configPath, 'agent', 'create', 'builder', '--groups', 'ci');
    assert.equal(agent.code, 0, agent.err.join('\n'));
    const agentSecret = /client_secret: +(\S+)/.exec(agent.out.join('\n'))![1]!;
    const t1 = await token(
      inst,
      { grant_type: 'client_credentials', resource: MCP, scope: 'mcp:tools' },
      { authorization: basic('agent:builder', agentSecret) },
    );
    assert.equal(t1.status, 200, t1.body);
    const tokenBefore = String(json(t1).access_token);
    const jwksBefore = JSON.parse((await send(inst.port, { path: '/oidc/jwks', headers: HTTPS })).body) as JSONWebKeySet;

    // Online: sign-ins keep writing sessions while the copy is taken.
    const during = Promise.all(Array.from({ length: 12 }, () => signIn(inst!, 'bob')));
    const b = await cli(configPath, 'backup', backupFile());
    await during;
    assert.equal(b.code, 0, b.err.join('\n'));
    assert.match(
      b.out[0]!,
      new RegExp(`^backed up ${dbFile()} to ${backupFile()} \\(\\d+ bytes\\): schema version ${LATEST_SCHEMA_VERSION}; .*users 2\\b`),
    );
    assert.equal(b.out[1], 'the data is sealed with secrets.session from the config: keep that secret; a restore needs the same one');
    assert.equal(statSync(backupFile()).mode & 0o777, 0o600);
    // One self-contained file: no WAL beside it, and no temporary file left behind.
    assert.deepEqual(readdirSync(join(dir, 'backups')), ['gatehouse-backup.db']);

    // After the backup: a new user and a new session, which the restore must not bring back.
    assert.equal((await cli(configPath, 'user', 'add', 'carol', '--password-stdin')).code, 0);
    const carol = await signIn(inst, 'carol');
    await inst.running.close();
    inst = undefined;

    // The disk is lost.
    for (const f of readdirSync(dir)) if (f.startsWith('gatehouse.db')) rmSync(join(dir, f));
    const r = await cli(configPath, 'restore', backupFile());
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal(r.out[0], `restored ${backupFile()} to ${dbFile()}: ${/: (schema version .*)$/.exec(b.out[0]!)![1]}`);
    assert.equal(statSync(dbFile()).mode & 0o777, 0o600);

    inst = await startInstance({ dir, config: (d) => mcpConfig(d), users: [] });
    // The session cookie from before the backup.
    const fa = await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, alice.value) });
    assert.equal(fa.status, 202);
    assert.equal(fa.headers['x-auth-request-user'], 'alice');
    // The session made after the backup is not there.
    assert.notEqual((await forwardAuth(inst.port, 'https://app.example.test/', { cookie: cookieHeader(inst, carol.value) })).status, 202);
    // People: exactly those of the backup.
    const users = await cli(configPath, 'user', 'list');
    assert.deepEqual(users.out.map((l) => l.split('\t')[0]).sort(), ['alice', 'bob']);
    // Signing keys: the same set, and a token issued before the backup verifies.
    const jwksAfter = JSON.parse((await send(inst.port, { path: '/oidc/jwks', headers: HTTPS })).body) as JSONWebKeySet;
    assert.deepEqual(jwksAfter, jwksBefore);
    const { payload } = await jwtVerify(tokenBefore, createLocalJWKSet(jwksAfter), { issuer: ISSUER, audience: MCP });
    assert.equal(payload.sub, 'agent:builder');
    // Clients: the agent's secret still gets a token.
    const t2 = await token(
      inst,
      { grant_type: 'client_credentials', resource: MCP, scope: 'mcp:tools' },
      { authorization: basic('agent:builder', agentSecret) },
    );
    assert.equal(t2.status, 200, t2.body);
    // And the restored store takes new sign-ins.
    await signIn(inst, 'bob');
  });

  test('restore refuses while Gatehouse has the database open, and changes nothing', async () => {
    assert.ok(inst, 'the previous test left an instance running');
    const before = statSync(dbFile());
    const r = await cli(configPath, 'restore', backupFile(), '--force');
    assert.equal(r.code, 1);
    assert.deepEqual(r.out, []);
    assert.equal(r.err.length, 1);
    assert.equal(
      r.err[0],
      `gatehouse restore: ${dbFile()} is open in another process (database is locked): stop Gatehouse (scale it to 0) before a restore`,
    );
    assert.equal(statSync(dbFile()).ino, before.ino);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('before-restore') || f.startsWith('.restore')),
      [],
    );
  });

  test('restore over an existing database (left by a crash, with its WAL) needs --force and keeps the old one beside it', async () => {
    await inst!.running.close();
    inst = undefined;
    // A crashed process leaves a -wal beside the file; copy the live pair as a crash would.
    const live = new DatabaseSync(dbFile());
    live.exec('PRAGMA journal_mode = WAL');
    live.exec('PRAGMA wal_autocheckpoint = 0');
    live.exec("UPDATE users SET email = 'changed-after-backup@example.test' WHERE username = 'alice'");
    const walSize = statSync(`${dbFile()}-wal`).size;
    assert.ok(walSize > 0);
    copyFileSync(dbFile(), join(dir, 'crashed.db'));
    copyFileSync(`${dbFile()}-wal`, join(dir, 'crashed.db-wal'));
    live.close();
    rmSync(dbFile());
    rmSync(`${dbFile()}-wal`, { force: true });
    rmSync(`${dbFile()}-shm`, { force: true });
    copyFileSync(join(dir, 'crashed.db'), dbFile());
    copyFileSync(join(dir, 'crashed.db-wal'), `${dbFile()}-wal`);

    const refused = await cli(configPath, 'restore', backupFile());
    assert.equal(refused.code, 1);
    assert.deepEqual(refused.err, [
      `gatehouse restore: ${dbFile()} exists: pass --force to replace it (it is kept beside it, renamed, not deleted)`,
    ]);

    const r = await cli(configPath, 'restore', backupFile(), '--force');
    assert.equal(r.code, 0, r.err.join('\n'));
    const kept = /^the database it replaced is kept as (.+)$/.exec(r.out[1]!)![1]!;
    // The in-use probe opens the old file, and SQLite folds its -wal into it on close; a -wal
    // still there would have moved with it. Either way none is left beside the restored file.
    assert.ok(existsSync(kept));
    assert.equal(existsSync(`${dbFile()}-wal`), false);
    // The restored file holds the backup's data, not the replaced file's WAL.
    const db = new DatabaseSync(dbFile(), { readOnly: true });
    assert.equal((db.prepare("SELECT email FROM users WHERE username = 'alice'").get() as { email: string }).email, ALICE.email);
    db.close();
    // The kept file, opened with its WAL, still has the change: nothing was lost.
    const old = new DatabaseSync(kept, { readOnly: true });
    assert.equal(
      (old.prepare("SELECT email FROM users WHERE username = 'alice'").get() as { email: string }).email,
      'changed-after-backup@example.test',
    );
    old.close();
  });

  test('backup refuses to overwrite a file without --force; --force replaces it', async () => {
    const again = await cli(configPath, 'backup', backupFile());
    assert.equal(again.code, 1);
    assert.deepEqual(again.err, [`gatehouse backup: ${backupFile()} exists: pass --force to replace it`]);
    assert.equal((await cli(configPath, 'backup', backupFile(), '--force')).code, 0);
  });

  test('restore refuses a backup from a newer release, a file that is not a Gatehouse database, and a damaged file', async () => {
    const newer = join(dir, 'backups', 'newer.db');
    copyFileSync(backupFile(), newer);
    const db = new DatabaseSync(newer);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
      LATEST_SCHEMA_VERSION + 1,
      'from the future',
      0,
    );
    db.close();
    const r1 = await cli(configPath, 'restore', newer, '--force');
    assert.equal(r1.code, 1);
    assert.deepEqual(r1.err, [
      `gatehouse restore: the backup's schema version ${LATEST_SCHEMA_VERSION + 1} is newer than this release's ${LATEST_SCHEMA_VERSION}: restore it with the release that made it, or a later one`,
    ]);

    const other = join(dir, 'backups', 'other.db');
    const o = new DatabaseSync(other);
    o.exec('CREATE TABLE t (x)');
    o.close();
    const r2 = await cli(configPath, 'restore', other, '--force');
    assert.deepEqual([r2.code, r2.err], [1, [`gatehouse restore: ${other} is not a Gatehouse database (no schema_migrations table)`]]);

    const damaged = join(dir, 'backups', 'damaged.db');
    writeFileSync(damaged, 'not a database at all, just text');
    const r3 = await cli(configPath, 'restore', damaged, '--force');
    assert.equal(r3.code, 1);
    assert.match(r3.err[0]!, new RegExp(`^gatehouse restore: ${damaged} cannot be read as a SQLite database \\(`));
    assert.equal(existsSync(`${dbFile()}`), true);
  });
});

describe('PostgreSQL and argument errors', () => {
  test('a PostgreSQL store is backed up and restored with pg_dump / pg_restore, named in the error', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir, 'gatehouse.yaml');
      await writeConfig(path, {
        publicUrl: 'https://auth.example.test',
        dataDir: dir,
        database: { url: 'postgres://gatehouse:pw@db.example.test/gatehouse' },
      });
      const b = await cli(path, 'backup', join(dir, 'x.db'));
      assert.deepEqual(
        [b.code, b.err],
        [
          1,
          [
            'gatehouse backup: database.url is PostgreSQL: back it up with PostgreSQL\'s own tool, which copies one consistent snapshot while Gatehouse keeps serving: pg_dump --format=custom --file FILE "$DATABASE_URL" (docs/backups.md)',
          ],
        ],
      );
      const r = await cli(path, 'restore', join(dir, 'x.db'));
      assert.deepEqual(
        [r.code, r.err],
        [
          1,
          [
            'gatehouse restore: database.url is PostgreSQL: restore a pg_dump archive with pg_restore --clean --if-exists --no-owner --dbname "$DATABASE_URL" FILE, with every replica stopped (docs/backups.md)',
          ],
        ],
      );
      // The password never appears in what is printed.
      assert.ok(!JSON.stringify([b, r]).includes(':pw@'));
      assert.equal(existsSync(join(dir, 'x.db')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('without a file, or with a generated secret: what to do is said', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir, 'gatehouse.yaml');
      await writeConfig(path, { publicUrl: 'https://auth.example.test', dataDir: dir });
      assert.deepEqual((await cli(path, 'backup')).err, ['gatehouse backup: needs one FILE to write']);
      assert.deepEqual((await cli(path, 'backup', join(dir, 'b.db'))).err, [
        `gatehouse backup: there is no database at ${join(dir, 'gatehouse.db')} to back up (check database.url and dataDir)`,
      ]);
      assert.equal((await cli(path, 'user', 'add', 'dave', '--password-stdin')).code, 0);
      const b = await cli(path, 'backup', join(dir, 'b.db'));
      assert.equal(b.code, 0, b.err.join('\n'));
      assert.equal(
        b.out[1],
        `the data is sealed with the generated root secret ${join(dir, 'secret')}, which is not in the backup: keep a copy of it with the backup; a restore needs the same one`,
      );
      assert.deepEqual((await cli(path, 'backup', join(dir, 'missing', 'b.db'))).err, [
        `gatehouse backup: the directory ${join(dir, 'missing')} does not exist`,
      ]);
      // A restore onto a fresh volume: the data directory is created, private.
      const fresh = join(dir, 'fresh');
      await writeConfig(join(dir, 'fresh.yaml'), { publicUrl: 'https://auth.example.test', dataDir: fresh });
      const r = await cli(join(dir, 'fresh.yaml'), 'restore', join(dir, 'b.db'));
      assert.equal(r.code, 0, r.err.join('\n'));
      assert.equal(statSync(fresh).mode & 0o777, 0o700);
      assert.equal(existsSync(join(fresh, 'gatehouse.db')), true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
