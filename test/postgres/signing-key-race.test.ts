// Replicas that start together on an empty PostgreSQL database race to make the issuer's first
// signing keys (issue 17). Three in-process instances, each with its own store and pool (its own
// connections, as three replicas have), load the keys at once, on a fresh database, several
// rounds. In every round exactly one current key per alg is stored, and every instance ends up
// with the same key set (its JWKS is identical on all three). Before addFirst, each instance
// that read an empty table added keys of its own: 4 to 6 per round.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryLogger, systemClock } from '../../src/core/index.ts';
import { KeyRing } from '../../src/crypto/index.ts';
import { loadSigningKeys, SIGNING_ALGS } from '../../src/issuer/index.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { adminQuery, createTestDatabase, requirePostgres } from '../kit/postgres.ts';

await requirePostgres();

const ROUNDS = Number(process.env.KEY_RACE_ROUNDS ?? '8');
const REPLICAS = 3;
const keyring = KeyRing.fromSecrets(['+IgCoVQqg0/lBY/ijpasDEt4ezf5x0YQM8oB0e4TIME=']);

/** The public half of a private JWK, as the JWKS endpoint publishes it. */
function publicOf(jwk: Record<string, unknown>): Record<string, unknown> {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk;
  return pub;
}

for (let round = 1; round <= ROUNDS; round++) {
  test(`round ${round}: ${REPLICAS} instances load the signing keys at once on a fresh database: one key per alg, the same JWKS everywhere`, async () => {
    const db = await createTestDatabase();
    const stores: Store[] = [];
    try {
      const loggers = Array.from({ length: REPLICAS }, () => new MemoryLogger());
      for (const logger of loggers) stores.push(await openStore({ url: db.url, logger, clock: systemClock }));
      await Promise.all(stores.map((s) => s.migrate()));
      const loaded = await Promise.all(
        stores.map((s, i) => loadSigningKeys(s.signingKeys, keyring, systemClock, loggers[i] as MemoryLogger)),
      );

      const { rows } = await adminQuery(
        'SELECT alg, count(*)::int AS n FROM signing_keys WHERE retired_at IS NULL GROUP BY alg ORDER BY alg',
        [],
        db.url,
      );
      assert.deepEqual(
        rows,
        SIGNING_ALGS.map((alg) => ({ alg, n: 1 })).sort((a, b) => a.alg.localeCompare(b.alg)),
      );
      const { rows: all } = await adminQuery('SELECT count(*)::int AS n FROM signing_keys', [], db.url);
      assert.equal((all[0] as { n: number }).n, SIGNING_ALGS.length);

      const jwks = loaded.map((l) => l.jwks.map((k) => publicOf(k as unknown as Record<string, unknown>)));
      assert.equal(jwks[0]?.length, SIGNING_ALGS.length);
      assert.deepEqual(jwks[1], jwks[0]);
      assert.deepEqual(jwks[2], jwks[0]);
      assert.deepEqual(
        loaded.map((l) => l.version),
        loaded.map(() => loaded[0]?.version),
      );
      // Exactly one instance announces each key it made. The others say they use it, unless
      // they listed the keys after it was stored (then they had nothing to make, and say nothing).
      const said = loggers.flatMap((l) => l.lines.map((e) => e.msg)).filter((m) => /signing key/.test(m));
      assert.equal(said.filter((m) => m === 'generated a signing key').length, SIGNING_ALGS.length, said.join('; '));
      const others = said.filter((m) => m !== 'generated a signing key');
      assert.ok(
        others.every((m) => m === 'another replica generated the signing key; using it'),
        said.join('; '),
      );
      assert.ok(others.length <= SIGNING_ALGS.length * (REPLICAS - 1), said.join('; '));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await db.drop();
    }
  });
}
