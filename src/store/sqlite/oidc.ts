// The SQLite implementations of the issuer's ports: oidc-provider records and signing keys.
// Single statements (with RETURNING where the answer matters) keep each call atomic.
import type { DatabaseSync } from 'node:sqlite';
import { GatehouseError } from '../../core/index.ts';
import type { ConsentRecord, ConsentStore, OidcFound, OidcRecord, OidcStore, SigningKeyRecord, SigningKeyStore } from '../ports.ts';
import { toConsent, toOidcFound, toSigningKey, union } from '../oidc-rows.ts';
import type { Row } from '../rows.ts';
import { isUniqueViolation } from './ports.ts';

/** A live record: not expired at `now` (expires_at null never expires). */
const LIVE = '(expires_at IS NULL OR expires_at > ?)';

export class SqliteOidc implements OidcStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async upsert(model: string, id: string, r: OidcRecord): Promise<void> {
    // ON CONFLICT keeps consumed_at: re-saving a consumed token must not make it usable again.
    this.#db
      .prepare(
        `INSERT INTO oidc_records (model, id, payload, grant_id, uid, user_code, expires_at, consumed_at, account_id, client_id)
      VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)
      ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
        user_code = excluded.user_code, expires_at = excluded.expires_at, account_id = excluded.account_id, client_id = excluded.client_id`,
      )
      .run(model, id, r.payload, r.grantId, r.uid, r.userCode, r.expiresAt, r.accountId ?? null, r.clientId ?? null);
  }

  async find(model: string, id: string, now: number): Promise<OidcFound | undefined> {
    const row = this.#db
      .prepare(`SELECT payload, consumed_at FROM oidc_records WHERE model = ? AND id = ? AND ${LIVE}`)
      .get(model, id, now);
    return row ? toOidcFound(row as Row) : undefined;
  }

  async findByUid(model: string, uid: string, now: number): Promise<(OidcFound & { id: string }) | undefined> {
    const row = this.#db
      .prepare(`SELECT id, payload, consumed_at FROM oidc_records WHERE model = ? AND uid = ? AND ${LIVE}`)
      .get(model, uid, now);
    return row ? { id: String((row as Row).id), ...toOidcFound(row as Row) } : undefined;
  }

  async findByUserCode(model: string, userCode: string, now: number): Promise<(OidcFound & { id: string }) | undefined> {
    const row = this.#db
      .prepare(`SELECT id, payload, consumed_at FROM oidc_records WHERE model = ? AND user_code = ? AND ${LIVE}`)
      .get(model, userCode, now);
    return row ? { id: String((row as Row).id), ...toOidcFound(row as Row) } : undefined;
  }

  async consume(model: string, id: string, at: number): Promise<boolean> {
    const r = this.#db
      .prepare(`UPDATE oidc_records SET consumed_at = ? WHERE model = ? AND id = ? AND consumed_at IS NULL AND ${LIVE}`)
      .run(at, model, id, at);
    return Number(r.changes) === 1;
  }

  async destroy(model: string, id: string): Promise<void> {
    this.#db.prepare('DELETE FROM oidc_records WHERE model = ? AND id = ?').run(model, id);
  }

  async revokeByGrantId(model: string, grantId: string): Promise<number> {
    return Number(this.#db.prepare('DELETE FROM oidc_records WHERE model = ? AND grant_id = ?').run(model, grantId).changes);
  }

  async deleteExpired(before: number): Promise<number> {
    return Number(this.#db.prepare('DELETE FROM oidc_records WHERE expires_at <= ?').run(before).changes);
  }

  async list(model: string, now: number): Promise<(OidcFound & { id: string })[]> {
    return this.#db
      .prepare(`SELECT id, payload, consumed_at FROM oidc_records WHERE model = ? AND ${LIVE} ORDER BY id`)
      .all(model, now)
      .map((row) => ({ id: String((row as Row).id), ...toOidcFound(row as Row) }));
  }

  async revokeForAccount(accountId: string, clientId?: string): Promise<number> {
    if (clientId === undefined) return Number(this.#db.prepare('DELETE FROM oidc_records WHERE account_id = ?').run(accountId).changes);
    return Number(this.#db.prepare('DELETE FROM oidc_records WHERE account_id = ? AND client_id = ?').run(accountId, clientId).changes);
  }
}

export class SqliteConsents implements ConsentStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async get(userId: string, clientId: string): Promise<ConsentRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM consents WHERE user_id = ? AND client_id = ?').get(userId, clientId);
    return row ? toConsent(row as Row) : undefined;
  }

  async grant(
    userId: string,
    clientId: string,
    scopes: readonly string[],
    resources: readonly string[],
    at: number,
  ): Promise<ConsentRecord> {
    // Read and write under SQLite's write lock (synchronously: no other call can interleave),
    // so two grants at once, from two processes, both land in the union.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const found = this.#db.prepare('SELECT * FROM consents WHERE user_id = ? AND client_id = ?').get(userId, clientId);
      const prior = found ? toConsent(found as Row) : undefined;
      const row = this.#db
        .prepare(
          `INSERT INTO consents (user_id, client_id, scopes, resources, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, resources = excluded.resources, updated_at = excluded.updated_at
        RETURNING *`,
        )
        .get(
          userId,
          clientId,
          JSON.stringify(union(prior?.scopes ?? [], scopes)),
          JSON.stringify(union(prior?.resources ?? [], resources)),
          at,
          at,
        );
      this.#db.exec('COMMIT');
      return toConsent(row as Row);
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async list(userId: string): Promise<ConsentRecord[]> {
    return this.#db
      .prepare('SELECT * FROM consents WHERE user_id = ? ORDER BY client_id')
      .all(userId)
      .map((r) => toConsent(r as Row));
  }

  async revoke(userId: string, clientId?: string): Promise<number> {
    if (clientId === undefined) return Number(this.#db.prepare('DELETE FROM consents WHERE user_id = ?').run(userId).changes);
    return Number(this.#db.prepare('DELETE FROM consents WHERE user_id = ? AND client_id = ?').run(userId, clientId).changes);
  }
}

export class SqliteSigningKeys implements SigningKeyStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async list(): Promise<SigningKeyRecord[]> {
    return this.#db
      .prepare('SELECT * FROM signing_keys ORDER BY created_at, kid')
      .all()
      .map((r) => toSigningKey(r as Row));
  }

  async add(k: SigningKeyRecord): Promise<void> {
    try {
      this.#db
        .prepare(
          `INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private_jwk, created_at, retired_at, retire_after)
        VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(k.kid, k.alg, k.publicJwk, k.sealedPrivateJwk, k.createdAt, k.retiredAt, k.retireAfter);
    } catch (err) {
      if (isUniqueViolation(err, 'signing_keys.kid'))
        throw new GatehouseError('conflict', `a signing key with kid "${k.kid}" already exists`, { cause: err });
      throw err;
    }
  }

  async addFirst(k: SigningKeyRecord): Promise<boolean> {
    // One statement: SQLite takes the write lock before it reads, so the check and the insert
    // are atomic even against another process on the same file.
    try {
      return (
        Number(
          this.#db
            .prepare(
              `INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private_jwk, created_at, retired_at, retire_after)
        SELECT ?, ?, ?, ?, ?, NULL, NULL WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE alg = ? AND retired_at IS NULL)`,
            )
            .run(k.kid, k.alg, k.publicJwk, k.sealedPrivateJwk, k.createdAt, k.alg).changes,
        ) === 1
      );
    } catch (err) {
      if (isUniqueViolation(err, 'signing_keys.kid'))
        throw new GatehouseError('conflict', `a signing key with kid "${k.kid}" already exists`, { cause: err });
      throw err;
    }
  }

  async retire(kids: readonly string[], at: number, retireAfter: number): Promise<string[]> {
    if (kids.length === 0) return [];
    return this.#db
      .prepare(
        `UPDATE signing_keys SET retired_at = ?, retire_after = ? WHERE retired_at IS NULL AND kid IN (${kids.map(() => '?').join(', ')}) RETURNING kid`,
      )
      .all(at, retireAfter, ...kids)
      .map((r) => String((r as Row).kid))
      .sort();
  }

  async reseal(kid: string, sealedPrivateJwk: string): Promise<void> {
    this.#db.prepare('UPDATE signing_keys SET sealed_private_jwk = ? WHERE kid = ?').run(sealedPrivateJwk, kid);
  }

  async deleteExpired(now: number): Promise<string[]> {
    return this.#db
      .prepare('DELETE FROM signing_keys WHERE retire_after IS NOT NULL AND retire_after <= ? RETURNING kid')
      .all(now)
      .map((r) => String((r as Row).kid))
      .sort();
  }
}
