// SQLite-only behaviour: the migration lock (BEGIN IMMEDIATE, polled so the event loop never
// blocks), open failures, and a closed store.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import { MemoryLogger } from '../../core/index.ts';
import { rejectsWith } from '../contract/suite.ts';
import { MIGRATIONS, openStore } from '../index.ts';

/** Every migration this release has, applied to a fresh database. */
const ALL_VERSIONS = MIGRATIONS.map((m) => m.version);

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(dir, `t-${++n}.db`);

/** Yields to the event loop until `probe` holds, at most 500 turns. */
async function until(probe: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !probe(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(probe(), 'condition never held');
}

test("migrate waits for another process's write lock without blocking, says so once, and times out", async () => {
  const path = freshPath();
  const other = new DatabaseSync(path);
  const logger = new MemoryLogger();
  const store = await openStore({ url: `sqlite:${path}`, logger, lockTimeoutMs: 300 });
  try {
    other.exec('BEGIN IMMEDIATE');
    let ticks = 0;
    const ticker = setInterval(() => {
      ticks++;
    }, 10);
    await rejectsWith(
      store.migrate(),
      'migration_failed',
      `timed out after 300ms waiting for the migration lock: another process holds the write lock on ${path}; ` +
        'if it is gone the lock is already free, otherwise raise database.migrationLockTimeout',
    );
    clearInterval(ticker);
    assert.ok(ticks >= 5, `the event loop was blocked while waiting (${ticks} ticks)`);
    // (The other connection made the file with the umask's mode, which start-up tightens and logs.)
    assert.deepEqual(
      logger.lines.filter((l) => l.level === 'warn' && l.msg.includes('migration lock')).map((l) => l.msg),
      [`waiting for the migration lock: another process holds the write lock on ${path}`],
    );
    other.exec('ROLLBACK');
    assert.deepEqual(await store.migrate(), { applied: ALL_VERSIONS });
  } finally {
    other.close();
    await store.close();
  }
});

test('migrate proceeds as soon as the other writer commits', async () => {
  const path = freshPath();
  const other = new DatabaseSync(path);
  const logger = new MemoryLogger();
  const store = await openStore({ url: `sqlite:${path}`, logger, lockTimeoutMs: 30_000 });
  try {
    other.exec('BEGIN IMMEDIATE');
    const migrating = store.migrate();
    await until(() => logger.lines.some((l) => l.level === 'warn'));
    other.exec('COMMIT');
    assert.deepEqual(await migrating, { applied: ALL_VERSIONS });
  } finally {
    other.close();
    await store.close();
  }
});

test('a file that cannot be opened gives store_unavailable naming the path and what to check', async () => {
  // A directory that does not exist is created (0700); one that cannot be (a file is in the way) is the error.
  await rejectsWith(
    openStore({ url: 'sqlite:/dev/null/gh.db', logger: new MemoryLogger() }),
    'store_unavailable',
    '/dev/null is not a directory: check database.url and dataDir',
  );
  assert.equal(statSync('/dev/null').mode & 0o777, 0o666, 'the mode of what the path named is never changed');
});

test('a closed store: ping gives store_unavailable', async () => {
  const path = freshPath();
  const store = await openStore({ url: `sqlite:${path}`, logger: new MemoryLogger() });
  await store.close();
  await rejectsWith(
    store.ping(),
    'store_unavailable',
    `cannot use the SQLite database at ${path} (database is not open): check database.url and that the file is readable and writable`,
  );
});

test('sqlite::memory: works for throwaway stores', async () => {
  const store = await openStore({ url: 'sqlite::memory:', logger: new MemoryLogger() });
  try {
    assert.equal(store.kind, 'sqlite');
    assert.deepEqual(await store.migrate(), { applied: ALL_VERSIONS });
    assert.equal(await store.users.count(), 0);
  } finally {
    await store.close();
  }
});

test('an injected migration list must count up from 1', async () => {
  await rejectsWith(
    openStore({ url: 'sqlite::memory:', logger: new MemoryLogger(), migrations: [{ version: 2, name: 'x', sqlite: '', postgres: '' }] }),
    'internal',
    'migration list is invalid: entry 0 has version 2, expected 1',
  );
  await rejectsWith(
    openStore({ url: 'sqlite::memory:', logger: new MemoryLogger(), migrations: [{ version: 1, name: ' ', sqlite: '', postgres: '' }] }),
    'internal',
    'migration list is invalid: version 1 has no name',
  );
});
