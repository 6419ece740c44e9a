// DPoP proof replay across replicas on PostgreSQL: two gates, each with its own store (its own
// pool), share the dpop_proofs table; a proof accepted by one is refused by the other, and of the
// same proof sent to both at once exactly one passes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ManualClock, MemoryLogger } from '../../src/core/index.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { accessTokenHash, createDpopChecker, DpopRejected, type DpopChecker } from '../../src/gateway/index.ts';
import { createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';

await requirePostgres();

const T0 = Date.UTC(2026, 0, 1);
const URL_ = 'https://mcp.example.test/mcp';
const TOKEN = 'header.payload.signature';

let db: TestDatabase;
let a: Store;
let b: Store;
before(async () => {
  db = await createTestDatabase();
  a = await openStore({ url: db.url, logger: new MemoryLogger() });
  await a.migrate();
  b = await openStore({ url: db.url, logger: new MemoryLogger() });
});
after(async () => {
  await a.close();
  await b.close();
  await db.drop();
});

const gate = (store: Store): DpopChecker =>
  createDpopChecker({
    settings: () => ({ enabled: true, algorithms: ['ES256'], proofLifetimeMs: 60_000 }),
    clock: new ManualClock(T0),
    once: (k, e, n) => store.replays.once(k, e, n),
  });

async function proofAndKey(): Promise<{ proof: string; jkt: string }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  const proof = await new SignJWT({ jti: randomUUID(), htm: 'POST', htu: URL_, iat: Math.floor(T0 / 1000), ath: accessTokenHash(TOKEN) })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
    .sign(privateKey);
  return { proof, jkt: await calculateJwkThumbprint(jwk) };
}

test('a proof accepted by one replica is a replay at the other', async () => {
  const { proof, jkt } = await proofAndKey();
  await gate(a).check(proof, { method: 'POST', url: URL_ }, TOKEN, jkt);
  await assert.rejects(
    gate(b).check(proof, { method: 'POST', url: URL_ }, TOKEN, jkt),
    (e: unknown) => e instanceof DpopRejected && e.reason === 'the DPoP proof jti was used before (replay)',
  );
});

test('the same proof at both replicas at once: exactly one passes', async () => {
  for (let round = 0; round < 10; round++) {
    const { proof, jkt } = await proofAndKey();
    const results = await Promise.allSettled([a, b, a, b].map((s) => gate(s).check(proof, { method: 'POST', url: URL_ }, TOKEN, jkt)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}`);
  }
});
