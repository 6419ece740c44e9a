// SQLite: second factors (ports.ts FactorStore). Single statements with RETURNING keep the
// single-use checks atomic across processes sharing the file.
import type { DatabaseSync } from 'node:sqlite';
import { GatehouseError } from '../../core/index.ts';
import type { FactorStore, PasskeyRecord, TotpRecord } from '../ports.ts';
import { toPasskey, toTotp } from '../factor-rows.ts';
import type { Row } from '../rows.ts';
import { inTransaction, isUniqueViolation } from './ports.ts';

export class SqliteFactors implements FactorStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async totp(userId: string): Promise<TotpRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM totp_factors WHERE user_id = ?').get(userId);
    return row ? toTotp(row as Row) : undefined;
  }

  async putTotp(r: TotpRecord): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO totp_factors (user_id, sealed_secret, confirmed_at, last_step, created_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, confirmed_at = excluded.confirmed_at,
      last_step = excluded.last_step, created_at = excluded.created_at`,
      )
      .run(r.userId, r.sealedSecret, r.confirmedAt, r.lastStep, r.createdAt);
  }

  async useTotpStep(userId: string, step: number, at: number, confirm: boolean): Promise<boolean> {
    const row = this.#db
      .prepare(
        `UPDATE totp_factors SET last_step = ?, confirmed_at = CASE WHEN ? = 1 AND confirmed_at IS NULL THEN ? ELSE confirmed_at END
      WHERE user_id = ? AND (last_step IS NULL OR last_step < ?) AND (? = 1 OR confirmed_at IS NOT NULL) RETURNING user_id`,
      )
      .get(step, confirm ? 1 : 0, at, userId, step, confirm ? 1 : 0);
    return row !== undefined;
  }

  async deleteTotp(userId: string): Promise<boolean> {
    return this.#db.prepare('DELETE FROM totp_factors WHERE user_id = ?').run(userId).changes > 0;
  }

  async passkeys(userId: string): Promise<PasskeyRecord[]> {
    return (this.#db.prepare('SELECT * FROM passkeys WHERE user_id = ? ORDER BY created_at, id').all(userId) as Row[]).map(toPasskey);
  }

  async passkey(id: string): Promise<PasskeyRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM passkeys WHERE id = ?').get(id);
    return row ? toPasskey(row as Row) : undefined;
  }

  async addPasskey(r: PasskeyRecord): Promise<void> {
    try {
      this.#db
        .prepare(
          `INSERT INTO passkeys (id, user_id, name, public_key, counter, transports, discoverable, backed_up, created_at, last_used_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          r.id,
          r.userId,
          r.name,
          r.publicKey,
          r.counter,
          JSON.stringify(r.transports),
          r.discoverable ? 1 : 0,
          r.backedUp ? 1 : 0,
          r.createdAt,
          r.lastUsedAt,
        );
    } catch (err) {
      if (isUniqueViolation(err, 'passkeys.id'))
        throw new GatehouseError('conflict', 'this credential is registered already', { cause: err });
      throw err;
    }
  }

  async usePasskey(id: string, counter: number, at: number): Promise<boolean> {
    return this.#db.prepare('UPDATE passkeys SET counter = ?, last_used_at = ? WHERE id = ?').run(counter, at, id).changes > 0;
  }

  async renamePasskey(userId: string, id: string, name: string): Promise<boolean> {
    return this.#db.prepare('UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ?').run(name, id, userId).changes > 0;
  }

  async deletePasskey(userId: string, id: string): Promise<boolean> {
    return this.#db.prepare('DELETE FROM passkeys WHERE id = ? AND user_id = ?').run(id, userId).changes > 0;
  }

  async setRecoveryCodes(userId: string, hashes: readonly string[], at: number): Promise<void> {
    inTransaction(this.#db, () => {
      this.#db.prepare('DELETE FROM recovery_codes WHERE user_id = ?').run(userId);
      const insert = this.#db.prepare('INSERT OR IGNORE INTO recovery_codes (user_id, hash, created_at) VALUES (?, ?, ?)');
      for (const h of hashes) insert.run(userId, h, at);
    });
  }

  async useRecoveryCode(userId: string, hash: string, at: number): Promise<boolean> {
    return (
      this.#db.prepare('UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL').run(at, userId, hash)
        .changes > 0
    );
  }

  async recoveryCodesLeft(userId: string): Promise<number> {
    const row = this.#db.prepare('SELECT count(*) AS n FROM recovery_codes WHERE user_id = ? AND used_at IS NULL').get(userId) as Row;
    return Number(row.n);
  }

  async deleteAll(userId: string): Promise<{ totp: boolean; passkeys: number; recoveryCodes: number }> {
    return inTransaction(this.#db, () => {
      const totp = this.#db.prepare('DELETE FROM totp_factors WHERE user_id = ?').run(userId).changes > 0;
      const passkeys = Number(this.#db.prepare('DELETE FROM passkeys WHERE user_id = ?').run(userId).changes);
      // Counted: the codes that could still have been used.
      const unused = this.#db.prepare('SELECT count(*) AS n FROM recovery_codes WHERE user_id = ? AND used_at IS NULL').get(userId) as Row;
      this.#db.prepare('DELETE FROM recovery_codes WHERE user_id = ?').run(userId);
      return { totp, passkeys, recoveryCodes: Number(unused.n) };
    });
  }
}
