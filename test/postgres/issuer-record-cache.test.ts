// The issuer's record cache across two `gatehouse serve` processes on one PostgreSQL database:
// an agent deleted by the CLI is refused at /token by the other replica within 1 s, the bound docs/issuer.md gives
// (test/integration/issuer-record-cache.test.ts: the same on SQLite).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { deleteWhileServing, replicaYaml, startReplicas } from '../kit/agent-replicas.ts';
import { createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';

await requirePostgres();

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

/** docs/issuer.md: a deleted agent gets no new token from any replica 1 s after `gatehouse agent delete`. */
const BOUND_MS = 1000;

test('PostgreSQL, two processes: a deleted agent gets no token from the other replica 1 s after the deletion', async () => {
  const [a, b] = await startReplicas(replicaYaml(`database: { url: '${db.url}' }`));
  try {
    const { lastOkMs, refusedMs } = await deleteWhileServing(a, b, BOUND_MS);
    process.stdout.write(`# postgres: last token ${lastOkMs.toFixed(0)} ms after the deletion, first refusal ${refusedMs.toFixed(0)} ms\n`);
    assert.ok(lastOkMs < BOUND_MS, `a token was asked for ${lastOkMs} ms after the deletion`);
  } finally {
    await b.stop();
    await a.stop();
  }
});
