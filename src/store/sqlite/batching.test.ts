// SQLite-only: audit rows written in batches (one transaction per window) and compiled
// statements kept by their text. What a caller can observe must not change: an append settles
// once its row is committed, a bad row fails alone, nothing waiting is lost on close.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import { MemoryLogger, systemClock } from '../../core/index.ts';
import type { AuditEvent } from '../index.ts';
import { openStore } from '../index.ts';
import { AUDIT_BATCH } from './ports.ts';
import { CachingDatabase, STATEMENT_CACHE_SIZE } from './statements.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-batch-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function fresh() {
  const path = join(dir, `b-${++n}.db`);
  const store = await openStore({ url: `sqlite:${path}`, logger: new MemoryLogger(), clock: systemClock });
  await store.migrate();
  return { store, path };
}

const event = (i: number, outcome: AuditEvent['outcome'] = 'ok'): AuditEvent => ({
  at: 1_000 + i,
  actor: `actor-${i}`,
  action: 'token_issued',
  target: null,
  outcome,
  detail: { i },
});

/** The audit rows another connection sees (what `gatehouse audit` in another process reads). */
function seenElsewhere(path: string): string[] {
  const other = new DatabaseSync(path, { readOnly: true });
  try {
    return other
      .prepare('SELECT actor FROM audit ORDER BY id')
      .all()
      .map((r) => String((r as { actor: unknown }).actor));
  } finally {
    other.close();
  }
}

test('an append settles once its row is committed: another connection sees it then', async () => {
  const { store, path } = await fresh();
  try {
    const appended = store.audit.append(event(0));
    await appended;
    assert.deepEqual(seenElsewhere(path), ['actor-0']);
  } finally {
    await store.close();
  }
});

test('appends started together are all written, in order, also past one batch', async () => {
  const { store, path } = await fresh();
  try {
    const count = AUDIT_BATCH * 2 + 5;
    await Promise.all(Array.from({ length: count }, (_, i) => store.audit.append(event(i))));
    assert.deepEqual(
      seenElsewhere(path),
      Array.from({ length: count }, (_, i) => `actor-${i}`),
    );
  } finally {
    await store.close();
  }
});

test('a row the table refuses fails its own append only; the others of its batch are written', async () => {
  const { store, path } = await fresh();
  try {
    const results = await Promise.allSettled([
      store.audit.append(event(1)),
      store.audit.append(event(2, 'bogus' as AuditEvent['outcome'])),
      store.audit.append(event(3)),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.deepEqual(seenElsewhere(path), ['actor-1', 'actor-3']);
  } finally {
    await store.close();
  }
});

test('list() reads the rows still waiting; close() writes them', async () => {
  const { store, path } = await fresh();
  const first = store.audit.append(event(1));
  assert.deepEqual(
    (await store.audit.list()).map((e) => e.actor),
    ['actor-1'],
  );
  await first;
  const second = store.audit.append(event(2));
  await store.close();
  await second;
  assert.deepEqual(seenElsewhere(path), ['actor-1', 'actor-2']);
});

test('compiled statements are kept by their text, at most STATEMENT_CACHE_SIZE', () => {
  const db = new CachingDatabase(':memory:');
  try {
    db.exec('CREATE TABLE t (a INTEGER)');
    const insert = db.prepare('INSERT INTO t (a) VALUES (?)');
    assert.equal(db.prepare('INSERT INTO t (a) VALUES (?)'), insert);
    insert.run(1);
    db.prepare('INSERT INTO t (a) VALUES (?)').run(2);
    assert.deepEqual(
      db
        .prepare('SELECT a FROM t ORDER BY a')
        .all()
        .map((r) => (r as { a: number }).a),
      [1, 2],
    );
    for (let i = 0; i < STATEMENT_CACHE_SIZE + 50; i++) db.prepare(`SELECT a + ${i} AS b FROM t`);
    assert.equal(db.cachedStatements, STATEMENT_CACHE_SIZE);
    // The oldest went first: the insert is compiled again, and still works.
    assert.notEqual(db.prepare('INSERT INTO t (a) VALUES (?)'), insert);
  } finally {
    db.close();
  }
});
