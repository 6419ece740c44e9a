// PostgreSQL: second factors (ports.ts FactorStore). Single statements (conditional UPDATE …
// RETURNING, CTEs) keep the single-use checks atomic across replicas without locks of our own.
import { GatehouseError } from '../../core/index.ts';
import type { FactorStore, PasskeyRecord, TotpRecord } from '../ports.ts';
import { toPasskey, toTotp } from '../factor-rows.ts';
import type { Db } from './db.ts';
import { isUniqueViolation } from './errors.ts';

export class PgFactors implements FactorStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async totp(userId: string): Promise<TotpRecord | undefined> {
    const rows = await this.#db.query('SELECT * FROM totp_factors WHERE user_id = $1', [userId]);
    return rows[0] ? toTotp(rows[0]) : undefined;
  }

  async putTotp(r: TotpRecord): Promise<void> {
    await this.#db.query(
      `INSERT INTO totp_factors (user_id, sealed_secret, confirmed_at, last_step, created_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (user_id) DO UPDATE SET sealed_secret = EXCLUDED.sealed_secret, confirmed_at = EXCLUDED.confirmed_at,
      last_step = EXCLUDED.last_step, created_at = EXCLUDED.created_at`,
      [r.userId, r.sealedSecret, r.confirmedAt, r.lastStep, r.createdAt],
    );
  }

  async useTotpStep(userId: string, step: number, at: number, confirm: boolean): Promise<boolean> {
    // The row lock of the UPDATE serialises concurrent uses: the second sees last_step = step.
    const rows = await this.#db.query(
      `UPDATE totp_factors SET last_step = $1,
      confirmed_at = CASE WHEN $2::boolean AND confirmed_at IS NULL THEN $3::bigint ELSE confirmed_at END
      WHERE user_id = $4 AND (last_step IS NULL OR last_step < $1) AND ($2::boolean OR confirmed_at IS NOT NULL) RETURNING user_id`,
      [step, confirm, at, userId],
    );
    return rows.length === 1;
  }

  async deleteTotp(userId: string): Promise<boolean> {
    return (await this.#db.query('DELETE FROM totp_factors WHERE user_id = $1 RETURNING user_id', [userId])).length > 0;
  }

  async passkeys(userId: string): Promise<PasskeyRecord[]> {
    return (await this.#db.query('SELECT * FROM passkeys WHERE user_id = $1 ORDER BY created_at, id', [userId])).map(toPasskey);
  }

  async passkey(id: string): Promise<PasskeyRecord | undefined> {
    const rows = await this.#db.query('SELECT * FROM passkeys WHERE id = $1', [id]);
    return rows[0] ? toPasskey(rows[0]) : undefined;
  }

  async addPasskey(r: PasskeyRecord): Promise<void> {
    try {
      await this.#db.query(
        `INSERT INTO passkeys (id, user_id, name, public_key, counter, transports, discoverable, backed_up, created_at, last_used_at)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)`,
        [
          r.id,
          r.userId,
          r.name,
          r.publicKey,
          r.counter,
          JSON.stringify(r.transports),
          r.discoverable,
          r.backedUp,
          r.createdAt,
          r.lastUsedAt,
        ],
      );
    } catch (err) {
      if (isUniqueViolation(err, 'passkeys_pkey'))
        throw new GatehouseError('conflict', 'this credential is registered already', { cause: err });
      throw err;
    }
  }

  async usePasskey(id: string, counter: number, at: number): Promise<boolean> {
    return (
      (await this.#db.query('UPDATE passkeys SET counter = $1, last_used_at = $2 WHERE id = $3 RETURNING id', [counter, at, id])).length > 0
    );
  }

  async renamePasskey(userId: string, id: string, name: string): Promise<boolean> {
    return (
      (await this.#db.query('UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3 RETURNING id', [name, id, userId])).length > 0
    );
  }

  async deletePasskey(userId: string, id: string): Promise<boolean> {
    return (await this.#db.query('DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING id', [id, userId])).length > 0;
  }

  async setRecoveryCodes(userId: string, hashes: readonly string[], at: number): Promise<void> {
    // One statement: the old codes go and the new ones arrive together.
    await this.#db.query(
      `WITH gone AS (DELETE FROM recovery_codes WHERE user_id = $1)
      INSERT INTO recovery_codes (user_id, hash, created_at) SELECT $1, h, $3 FROM unnest($2::text[]) AS h ON CONFLICT DO NOTHING`,
      [userId, [...new Set(hashes)], at],
    );
  }

  async useRecoveryCode(userId: string, hash: string, at: number): Promise<boolean> {
    return (
      (
        await this.#db.query('UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND hash = $3 AND used_at IS NULL RETURNING hash', [
          at,
          userId,
          hash,
        ])
      ).length > 0
    );
  }

  async recoveryCodesLeft(userId: string): Promise<number> {
    const rows = await this.#db.query('SELECT count(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL', [userId]);
    return Number(rows[0]?.n ?? 0);
  }

  async deleteAll(userId: string): Promise<{ totp: boolean; passkeys: number; recoveryCodes: number }> {
    const rows = await this.#db.query(
      `WITH t AS (DELETE FROM totp_factors WHERE user_id = $1 RETURNING 1),
      p AS (DELETE FROM passkeys WHERE user_id = $1 RETURNING 1),
      r AS (DELETE FROM recovery_codes WHERE user_id = $1 RETURNING used_at)
      SELECT (SELECT count(*) FROM t) AS t, (SELECT count(*) FROM p) AS p, (SELECT count(*) FROM r WHERE used_at IS NULL) AS r`,
      [userId],
    );
    const row = rows[0] ?? {};
    return { totp: Number(row.t) > 0, passkeys: Number(row.p), recoveryCodes: Number(row.r) };
  }
}
