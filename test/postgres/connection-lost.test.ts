// A statement whose connection dies under it (pg_terminate_backend, a failover, a proxy that cuts
// connections) is retried once on a fresh connection, so a sign-in in flight does not fail with
// a 503; a server that stays down still fails with store_unavailable.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryLogger } from '../../src/core/index.ts';
import { Db } from '../../src/store/postgres/db.ts';
import { until } from '../kit/poll.ts';
import { adminQuery, createTestDatabase, requirePostgres } from '../kit/postgres.ts';

await requirePostgres();

test('a query whose backend is terminated mid-statement is retried once and answers', async (t) => {
  const database = await createTestDatabase();
  const logger = new MemoryLogger();
  const db = new Db(database.url, 'test', logger);
  t.after(async () => {
    await db.pool.end();
    await database.drop();
  });
  const marker = `gatehouse-retry-${process.pid}`;
  // Long enough to be found and terminated while it runs; the retry sleeps once more and answers.
  const result = db.query(`SELECT 1 AS ok, '${marker}' AS m FROM pg_sleep(1)`);
  const pid = await until(
    async () => {
      const r = await adminQuery(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE $2 AND pid <> pg_backend_pid()`,
        [database.name, `%${marker}' AS m%`],
      );
      return r.rows[0]?.pid as number | undefined;
    },
    { timeoutMs: 10_000, what: 'the statement to be running' },
  );
  await adminQuery('SELECT pg_terminate_backend($1)', [pid]);
  assert.deepEqual(await result, [{ ok: 1, m: marker }]);
  assert.deepEqual(
    logger.lines.filter((l) => l.level === 'warn').map((l) => l.msg),
    ['the PostgreSQL connection to test was lost during a query; retrying once'],
  );
});
