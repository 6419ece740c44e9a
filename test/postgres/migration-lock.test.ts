// The migration lock on PostgreSQL: it dies with its process (even one killed mid-statement),
// a waiter says who holds it, and it times out naming the holder.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import pg from 'pg';
import { MemoryLogger } from '../../src/core/index.ts';
import { rejectsWith } from '../../src/store/contract/suite.ts';
import { MIGRATIONS, openStore } from '../../src/store/index.ts';

/** Every migration this release has, as migrate() reports them on an empty database. */
const ALL_VERSIONS = MIGRATIONS.map((m) => m.version);
import { MIGRATION_LOCK_KEY } from '../../src/store/postgres/migrate.ts';
import { until } from '../kit/poll.ts';
import { adminQuery, createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';

await requirePostgres();

const FIXTURE = fileURLToPath(new URL('./fixtures/hold-migration-lock.ts', import.meta.url));

interface Holder {
  pid: number;
  applicationName: string;
  client: string;
}

/** The backend holding the migration lock in `db`, as the server sees it, or undefined. */
async function lockHolder(db: TestDatabase): Promise<Holder | undefined> {
  const { rows } = await adminQuery(
    `SELECT l.pid, a.application_name, coalesce(host(a.client_addr), 'local socket') AS client
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1::bigint::oid AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = $2)`,
    [MIGRATION_LOCK_KEY, db.name],
  );
  const r = rows[0] as { pid: number; application_name: string; client: string } | undefined;
  return r && { pid: r.pid, applicationName: r.application_name, client: r.client };
}

/** A child process stuck inside its migration transaction, holding the lock. */
async function spawnHolder(db: TestDatabase): Promise<{ child: ChildProcess; holder: Holder; stderr: () => string }> {
  const child = spawn(process.execPath, [FIXTURE, db.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const holder = await until(
    async () => {
      if (child.exitCode !== null) throw new Error(`the lock-holding child exited early (${child.exitCode}): ${err}`);
      return lockHolder(db);
    },
    { timeoutMs: 10_000, what: 'the child process to take the migration lock' },
  );
  return { child, holder, stderr: () => err };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

test('a migration process killed mid-statement leaves no lock: migrate() in another process then succeeds promptly', async () => {
  const db = await createTestDatabase();
  const { child } = await spawnHolder(db);
  const store = await openStore({ url: db.url, logger: new MemoryLogger(), lockTimeoutMs: 30_000 });
  try {
    await kill(child);
    const started = performance.now();
    assert.deepEqual(await store.migrate(), { applied: ALL_VERSIONS });
    // The server notices the dead client within client_connection_check_interval (1s); without
    // it the backend would sleep on, holding the lock, until the 30s timeout.
    const took = performance.now() - started;
    assert.ok(took < 5000, `migrate took ${Math.round(took)}ms after the holder was killed`);
    const { rows } = await adminQuery('SELECT version, name FROM schema_migrations ORDER BY version', [], db.url);
    assert.deepEqual(
      rows,
      MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
    );
    assert.equal(await lockHolder(db), undefined);
  } finally {
    await kill(child);
    await store.close();
    await db.drop();
  }
});

test('a waiter logs who holds the lock (pid, application_name, client, state) and times out naming the holder', async () => {
  const db = await createTestDatabase();
  const { child, holder } = await spawnHolder(db);
  const logger = new MemoryLogger();
  const store = await openStore({ url: db.url, logger, lockTimeoutMs: 1000 });
  try {
    assert.equal(holder.applicationName, 'gatehouse');
    const who = `pid ${holder.pid} \\(application_name gatehouse, client ${holder.client.replace(/\./g, '\\.')}, state active, held for \\d+s\\)`;
    await rejectsWith(
      store.migrate(),
      'migration_failed',
      new RegExp(
        `^timed out after 1000ms waiting for the migration lock held by ${who}: ` +
          'if that process is gone its lock goes when its connection closes; otherwise raise database\\.migrationLockTimeout$',
      ),
    );
    const warns = logger.lines.filter((l) => l.level === 'warn');
    assert.equal(warns.length, 1);
    assert.match(warns[0]!.msg, new RegExp(`^waiting for the migration lock held by ${who}$`));
    assert.equal(warns[0]!.fields.holderPid, holder.pid);
    assert.equal(warns[0]!.fields.applicationName, 'gatehouse');
    assert.equal(warns[0]!.fields.clientAddr, holder.client === 'local socket' ? null : holder.client);
    assert.equal(warns[0]!.fields.state, 'active');
    // Nothing was applied while it waited.
    assert.deepEqual((await store.schemaStatus()).current, 0);
  } finally {
    await kill(child);
    await store.close();
    await db.drop();
  }
});

test('a waiter proceeds as soon as the holder commits', async () => {
  const db = await createTestDatabase();
  const holder = new pg.Client({ connectionString: db.url, application_name: 'lock-holder-under-test' });
  await holder.connect();
  const logger = new MemoryLogger();
  const store = await openStore({ url: db.url, logger, lockTimeoutMs: 30_000 });
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    const holderPid = Number((await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
    const migrating = store.migrate();
    const warn = await until(() => logger.lines.find((l) => l.level === 'warn'), {
      timeoutMs: 10_000,
      what: 'the waiter to log the holder',
    });
    assert.match(
      warn.msg,
      new RegExp(
        `^waiting for the migration lock held by pid ${holderPid} \\(application_name lock-holder-under-test, client [^,]+, state idle in transaction, held for \\d+s\\)$`,
      ),
    );
    await holder.query('COMMIT');
    assert.deepEqual(await migrating, { applied: ALL_VERSIONS });
    assert.ok(logger.lines.some((l) => l.level === 'info' && l.msg === 'took the migration lock'));
  } finally {
    await holder.end();
    await store.close();
    await db.drop();
  }
});

test('a waiter waits inside the server (woken when the lock is released), not in a client-side poll', async () => {
  const db = await createTestDatabase();
  const holder = new pg.Client({ connectionString: db.url, application_name: 'lock-holder-under-test' });
  await holder.connect();
  const logger = new MemoryLogger();
  const store = await openStore({ url: db.url, logger, lockTimeoutMs: 30_000 });
  let migrating: Promise<{ applied: number[] }> | undefined;
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    migrating = store.migrate();
    // The waiting backend is blocked on the advisory lock itself: PostgreSQL grants it the
    // moment the holder's transaction ends, with no poll interval in between. A lock request
    // is listed in pg_locks a moment before its backend reports the wait event, so the poll
    // waits for the wait event too; a client-side poll (pg_try_advisory_lock) never leaves an
    // ungranted request there at all, and the poll would time out.
    const waiting = await until(
      async () => {
        const { rows } = await adminQuery(
          `SELECT a.pid, a.wait_event_type, a.wait_event FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
        WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = $1 AND a.wait_event_type IS NOT NULL`,
          [db.name],
        );
        return rows[0] as { pid: number; wait_event_type: string; wait_event: string } | undefined;
      },
      { timeoutMs: 10_000, what: 'a backend waiting on the advisory lock' },
    );
    assert.equal(waiting.wait_event_type, 'Lock');
    assert.equal(waiting.wait_event, 'advisory');
    await holder.query('COMMIT');
    assert.deepEqual(await migrating, { applied: ALL_VERSIONS });
    assert.equal(logger.lines.filter((l) => l.level === 'warn').length, 1, 'the holder is named once');
  } finally {
    await holder.end();
    // A failed assertion above leaves the migration running: let it end before its pool does.
    await migrating?.catch(() => undefined);
    await store.close();
    await db.drop();
  }
});

test('two replicas migrating at once: each migration is applied exactly once', async () => {
  const db = await createTestDatabase();
  const a = await openStore({ url: db.url, logger: new MemoryLogger(), lockTimeoutMs: 30_000 });
  const b = await openStore({ url: db.url, logger: new MemoryLogger(), lockTimeoutMs: 30_000 });
  try {
    const results = await Promise.all([a.migrate(), b.migrate()]);
    // The lock is handed over between migrations, so either may apply any of them; together
    // they apply each exactly once, in order.
    const all = results.flatMap((r) => r.applied);
    assert.deepEqual(
      [...all].sort((x, y) => x - y),
      ALL_VERSIONS,
    );
    for (const r of results)
      assert.deepEqual(
        r.applied,
        [...r.applied].sort((x, y) => x - y),
      );
    await a.assertSchemaCurrent();
    await b.assertSchemaCurrent();
  } finally {
    await a.close();
    await b.close();
    await db.drop();
  }
});
