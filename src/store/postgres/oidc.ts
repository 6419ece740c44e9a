// The PostgreSQL implementations of the issuer's ports: oidc-provider records and signing keys.
// Single statements keep each call atomic across replicas (consume's conditional UPDATE).
import { GatehouseError } from '../../core/index.ts';
import type { ConsentRecord, ConsentStore, OidcFound, OidcRecord, OidcStore, SigningKeyRecord, SigningKeyStore } from '../ports.ts';
import { toConsent, toOidcFound, toSigningKey } from '../oidc-rows.ts';
import type { Db } from './db.ts';
import { isUniqueViolation, mapError } from './errors.ts';

/** The advisory lock key ("GKey") that serialises making the first signing key of an alg; the migration lock is "Gate". */
const SIGNING_KEY_LOCK = 0x474b6579;

export class PgOidc implements OidcStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async upsert(model: string, id: string, r: OidcRecord): Promise<void> {
    // ON CONFLICT keeps consumed_at: re-saving a consumed token must not make it usable again.
    await this.#db.query(
      `INSERT INTO oidc_records (model, id, payload, grant_id, uid, user_code, expires_at, consumed_at, account_id, client_id)
      VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9)
      ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, uid = EXCLUDED.uid,
        user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at, account_id = EXCLUDED.account_id, client_id = EXCLUDED.client_id`,
      [model, id, r.payload, r.grantId, r.uid, r.userCode, r.expiresAt, r.accountId ?? null, r.clientId ?? null],
    );
  }

  async find(model: string, id: string, now: number): Promise<OidcFound | undefined> {
    const rows = await this.#db.query(
      'SELECT payload, consumed_at FROM oidc_records WHERE model = $1 AND id = $2 AND (expires_at IS NULL OR expires_at > $3)',
      [model, id, now],
    );
    return rows[0] ? toOidcFound(rows[0]) : undefined;
  }

  async findByUid(model: string, uid: string, now: number): Promise<(OidcFound & { id: string }) | undefined> {
    const rows = await this.#db.query(
      'SELECT id, payload, consumed_at FROM oidc_records WHERE model = $1 AND uid = $2 AND (expires_at IS NULL OR expires_at > $3)',
      [model, uid, now],
    );
    return rows[0] ? { id: String(rows[0].id), ...toOidcFound(rows[0]) } : undefined;
  }

  async findByUserCode(model: string, userCode: string, now: number): Promise<(OidcFound & { id: string }) | undefined> {
    const rows = await this.#db.query(
      'SELECT id, payload, consumed_at FROM oidc_records WHERE model = $1 AND user_code = $2 AND (expires_at IS NULL OR expires_at > $3)',
      [model, userCode, now],
    );
    return rows[0] ? { id: String(rows[0].id), ...toOidcFound(rows[0]) } : undefined;
  }

  async consume(model: string, id: string, at: number): Promise<boolean> {
    const n = await this.#db.rowCount(
      'UPDATE oidc_records SET consumed_at = $3 WHERE model = $1 AND id = $2 AND consumed_at IS NULL AND (expires_at IS NULL OR expires_at > $3)',
      [model, id, at],
    );
    return n === 1;
  }

  async destroy(model: string, id: string): Promise<void> {
    await this.#db.query('DELETE FROM oidc_records WHERE model = $1 AND id = $2', [model, id]);
  }

  async revokeByGrantId(model: string, grantId: string): Promise<number> {
    return this.#db.rowCount('DELETE FROM oidc_records WHERE model = $1 AND grant_id = $2', [model, grantId]);
  }

  async deleteExpired(before: number): Promise<number> {
    return this.#db.rowCount('DELETE FROM oidc_records WHERE expires_at <= $1', [before]);
  }

  async list(model: string, now: number): Promise<(OidcFound & { id: string })[]> {
    const rows = await this.#db.query(
      'SELECT id, payload, consumed_at FROM oidc_records WHERE model = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY id COLLATE "C"',
      [model, now],
    );
    return rows.map((r) => ({ id: String(r.id), ...toOidcFound(r) }));
  }

  async revokeForAccount(accountId: string, clientId?: string): Promise<number> {
    if (clientId === undefined) return this.#db.rowCount('DELETE FROM oidc_records WHERE account_id = $1', [accountId]);
    return this.#db.rowCount('DELETE FROM oidc_records WHERE account_id = $1 AND client_id = $2', [accountId, clientId]);
  }
}

/** The union of two JSON text arrays, sorted bytewise like JS's sort of ASCII scope values. */
const UNION = (col: string) => `(SELECT COALESCE(json_agg(v ORDER BY v COLLATE "C"), '[]'::json)::text FROM (
  SELECT jsonb_array_elements_text(consents.${col}::jsonb) AS v UNION SELECT jsonb_array_elements_text(EXCLUDED.${col}::jsonb)) AS u)`;

export class PgConsents implements ConsentStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async get(userId: string, clientId: string): Promise<ConsentRecord | undefined> {
    const rows = await this.#db.query('SELECT * FROM consents WHERE user_id = $1 AND client_id = $2', [userId, clientId]);
    return rows[0] ? toConsent(rows[0]) : undefined;
  }

  async grant(
    userId: string,
    clientId: string,
    scopes: readonly string[],
    resources: readonly string[],
    at: number,
  ): Promise<ConsentRecord> {
    // One statement: two replicas granting at once both land in the union.
    const rows = await this.#db.query(
      `INSERT INTO consents (user_id, client_id, scopes, resources, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
      ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = ${UNION('scopes')}, resources = ${UNION('resources')}, updated_at = EXCLUDED.updated_at
      RETURNING *`,
      [userId, clientId, JSON.stringify([...new Set(scopes)].sort()), JSON.stringify([...new Set(resources)].sort()), at],
    );
    return toConsent(rows[0] as Record<string, unknown>);
  }

  async list(userId: string): Promise<ConsentRecord[]> {
    return (await this.#db.query('SELECT * FROM consents WHERE user_id = $1 ORDER BY client_id COLLATE "C"', [userId])).map(toConsent);
  }

  async revoke(userId: string, clientId?: string): Promise<number> {
    if (clientId === undefined) return this.#db.rowCount('DELETE FROM consents WHERE user_id = $1', [userId]);
    return this.#db.rowCount('DELETE FROM consents WHERE user_id = $1 AND client_id = $2', [userId, clientId]);
  }
}

export class PgSigningKeys implements SigningKeyStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async list(): Promise<SigningKeyRecord[]> {
    return (await this.#db.query('SELECT * FROM signing_keys ORDER BY created_at, kid COLLATE "C"')).map(toSigningKey);
  }

  async add(k: SigningKeyRecord): Promise<void> {
    try {
      await this.#db.query(
        `INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private_jwk, created_at, retired_at, retire_after)
        VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [k.kid, k.alg, k.publicJwk, k.sealedPrivateJwk, k.createdAt, k.retiredAt, k.retireAfter],
      );
    } catch (err) {
      if (isUniqueViolation(err, 'signing_keys_pkey'))
        throw new GatehouseError('conflict', `a signing key with kid "${k.kid}" already exists`, { cause: err });
      throw err;
    }
  }

  async addFirst(k: SigningKeyRecord): Promise<boolean> {
    // Under READ COMMITTED two transactions could both see "no current key" and both insert, so
    // the check and the insert run under a transaction-scoped advisory lock: the INSERT's
    // snapshot is taken after the lock is granted, so it sees the winner's committed row. The
    // lock goes with the transaction (or with the connection, if the process dies).
    const client = await this.#db.connect();
    let failed: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [SIGNING_KEY_LOCK]);
      const r = await client.query(
        `INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private_jwk, created_at, retired_at, retire_after)
        SELECT $1, $2, $3, $4, $5, NULL, NULL WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE alg = $2 AND retired_at IS NULL)`,
        [k.kid, k.alg, k.publicJwk, k.sealedPrivateJwk, k.createdAt],
      );
      await client.query('COMMIT');
      return (r.rowCount ?? 0) === 1;
    } catch (err) {
      failed = err as Error;
      await client.query('ROLLBACK').catch(() => {});
      if (isUniqueViolation(err, 'signing_keys_pkey'))
        throw new GatehouseError('conflict', `a signing key with kid "${k.kid}" already exists`, { cause: err });
      throw mapError(this.#db.endpoint, err);
    } finally {
      // A client that failed mid-transaction is discarded rather than returned to the pool.
      client.release(failed);
    }
  }

  async retire(kids: readonly string[], at: number, retireAfter: number): Promise<string[]> {
    if (kids.length === 0) return [];
    const rows = await this.#db.query(
      'UPDATE signing_keys SET retired_at = $1, retire_after = $2 WHERE retired_at IS NULL AND kid = ANY($3::text[]) RETURNING kid',
      [at, retireAfter, [...kids]],
    );
    return rows.map((r) => String(r.kid)).sort();
  }

  async reseal(kid: string, sealedPrivateJwk: string): Promise<void> {
    await this.#db.query('UPDATE signing_keys SET sealed_private_jwk = $2 WHERE kid = $1', [kid, sealedPrivateJwk]);
  }

  async deleteExpired(now: number): Promise<string[]> {
    const rows = await this.#db.query('DELETE FROM signing_keys WHERE retire_after IS NOT NULL AND retire_after <= $1 RETURNING kid', [
      now,
    ]);
    return rows.map((r) => String(r.kid)).sort();
  }
}
