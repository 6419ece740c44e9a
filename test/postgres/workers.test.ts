// `gatehouse serve --workers 2` on PostgreSQL: worker 1 migrates the empty database and makes the
// one signing key per alg and the bootstrap admin before worker 2 starts; a sign-out on one
// worker is refused on the other within 1 s through PostgreSQL's feed (LISTEN/NOTIFY reaches each
// worker: the primary relays nothing); SIGTERM stops both and the primary exits 0.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../kit/http.ts';
import { addUser, gateConfig, startGatehouse, type GatehouseProcess } from '../kit/process.ts';
import { adminQuery, createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';
import { until } from '../kit/poll.ts';
import { PASSWORD } from '../kit/sign-in.ts';
import { metricsOf, sample, signOutSeenByOtherWorker } from '../kit/workers.ts';

await requirePostgres();

describe('serve --workers 2 (PostgreSQL)', () => {
  let db: TestDatabase;
  let gh: GatehouseProcess;
  let port: number;
  let portal: string;

  before(async () => {
    db = await createTestDatabase();
    port = await freePort();
    portal = `http://auth.example.test:${port}`;
    gh = await startGatehouse(gateConfig({ publicUrl: portal, listenPort: port, extra: `database: { url: "${db.url}" }` }), {
      env: { GATEHOUSE_WORKERS: '2' },
      timeoutMs: 30_000,
    });
    await until(async () => sample(await metricsOf(port), 'gatehouse_workers{state="ready"}') === 2, {
      timeoutMs: 30_000,
      what: 'both workers ready',
    });
    await addUser(gh, 'alice', PASSWORD, ['admins']);
  });
  after(async () => {
    await gh?.stop();
    await db?.drop();
  });

  test('one migration, one signing key per alg and one bootstrap admin, made before the second worker started', async () => {
    const keys = await adminQuery('SELECT alg, count(*)::int AS n FROM signing_keys GROUP BY alg ORDER BY alg', [], db.url);
    assert.deepEqual(keys.rows, [
      { alg: 'ES256', n: 1 },
      { alg: 'RS256', n: 1 },
    ]);
    assert.equal((gh.logs().match(/created the bootstrap admin/g) ?? []).length, 1);
    assert.equal((gh.logs().match(/"msg":"migrations applied"/g) ?? []).length, 1);
    assert.match(gh.logs(), /"worker":1,[^\n]*"msg":"migrations applied"[\s\S]*"msg":"worker 1 ready"[\s\S]*"worker":2,/);
  });

  test('a sign-out on worker 1 is refused on worker 2 within 1 s, through the store feed', async (t) => {
    const ms = await signOutSeenByOtherWorker(port, portal, 'alice', PASSWORD);
    t.diagnostic(`worker 2 refused the signed-out session after ${ms.toFixed(0)} ms`);
    assert.ok(ms <= 1000, `worker 2 refused the session after ${ms.toFixed(0)} ms`);
    assert.equal(sample(await metricsOf(port), 'gatehouse_revocations_relayed_total'), 0);
  });

  test('SIGTERM: both workers stop, the primary exits 0', async () => {
    process.kill(gh.pid, 'SIGTERM');
    assert.deepEqual(await gh.exited, { code: 0, signal: null });
  });
});
