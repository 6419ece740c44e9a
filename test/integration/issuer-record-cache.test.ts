// The issuer keeps the client and agent records a client_credentials token reads for at most
// 1 s (src/issuer/record-cache.ts). Two `gatehouse serve` processes on one SQLite
// file: an agent deleted by the CLI is refused at /token by the other replica within that bound
// (test/postgres/issuer-record-cache.test.ts: the same on PostgreSQL).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { deleteWhileServing, replicaYaml, startReplicas } from '../kit/agent-replicas.ts';
import { removeDir, tempDir } from '../kit/temp.ts';

/** docs/issuer.md: a deleted agent gets no new token from any replica 1 s after `gatehouse agent delete`. */
const BOUND_MS = 1000;

test('SQLite, two processes on one file: a deleted agent gets no token from the other replica 1 s after the deletion', async () => {
  const dir = await tempDir('record-cache');
  const [a, b] = await startReplicas(replicaYaml(`dataDir: ${JSON.stringify(join(dir, 'data'))}`));
  try {
    const { lastOkMs, refusedMs } = await deleteWhileServing(a, b, BOUND_MS);
    process.stdout.write(`# sqlite: last token ${lastOkMs.toFixed(0)} ms after the deletion, first refusal ${refusedMs.toFixed(0)} ms\n`);
    assert.ok(lastOkMs < BOUND_MS, `a token was asked for ${lastOkMs} ms after the deletion`);
  } finally {
    await b.stop();
    await a.stop();
    await removeDir(dir);
  }
});
