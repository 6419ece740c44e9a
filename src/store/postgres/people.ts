// The PostgreSQL implementations of the invitation and account-link ports. take/consume are one
// statement each: the row lock makes concurrent callers queue, and after the first commits the
// others re-check the row and find it used up (or gone).
import { GatehouseError } from '../../core/index.ts';
import type { AccountTokenRecord, AccountTokenStore, InvitationRecord, InvitationStore } from '../ports.ts';
import { toAccountToken, toInvitation } from '../rows.ts';
import type { Db } from './db.ts';
import { isUniqueViolation } from './errors.ts';

export class PgInvitations implements InvitationStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async create(r: Omit<InvitationRecord, 'uses' | 'revokedAt'>): Promise<InvitationRecord> {
    try {
      const rows = await this.#db.query(
        `INSERT INTO invitations (id, token_hash, groups, email, max_uses, uses, created_by, created_at, expires_at, revoked_at)
        VALUES ($1, $2, $3::jsonb, $4, $5, 0, $6, $7, $8, NULL) RETURNING *`,
        [r.id, r.tokenHash, JSON.stringify(r.groups), r.email, r.maxUses, r.createdBy, r.createdAt, r.expiresAt],
      );
      return toInvitation(rows[0] ?? {});
    } catch (err) {
      if (isUniqueViolation(err, 'invitations_pkey') || isUniqueViolation(err, 'invitations_token_hash_unique')) {
        throw new GatehouseError('conflict', `an invitation with id "${r.id}" or this token already exists`, { cause: err });
      }
      throw err;
    }
  }

  async get(id: string): Promise<InvitationRecord | undefined> {
    const rows = await this.#db.query('SELECT * FROM invitations WHERE id = $1', [id]);
    return rows[0] ? toInvitation(rows[0]) : undefined;
  }

  async findByToken(tokenHash: string): Promise<InvitationRecord | undefined> {
    const rows = await this.#db.query('SELECT * FROM invitations WHERE token_hash = $1', [tokenHash]);
    return rows[0] ? toInvitation(rows[0]) : undefined;
  }

  async list(): Promise<InvitationRecord[]> {
    return (await this.#db.query('SELECT * FROM invitations ORDER BY created_at DESC, id')).map(toInvitation);
  }

  async take(tokenHash: string, now: number): Promise<InvitationRecord | undefined> {
    const rows = await this.#db.query(
      `UPDATE invitations SET uses = uses + 1
      WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND uses < max_uses RETURNING *`,
      [tokenHash, now],
    );
    return rows[0] ? toInvitation(rows[0]) : undefined;
  }

  async giveBack(id: string): Promise<void> {
    await this.#db.query('UPDATE invitations SET uses = uses - 1 WHERE id = $1 AND uses > 0', [id]);
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const rows = await this.#db.query('UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING id', [at, id]);
    return rows.length === 1;
  }

  async deleteExpired(before: number): Promise<number> {
    return (await this.#db.query('DELETE FROM invitations WHERE expires_at <= $1 OR revoked_at <= $1 RETURNING id', [before])).length;
  }
}

export class PgAccountTokens implements AccountTokenStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async put(r: AccountTokenRecord): Promise<void> {
    try {
      await this.#db.query(
        'INSERT INTO account_tokens (token_hash, purpose, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)',
        [r.tokenHash, r.purpose, r.userId, r.createdAt, r.expiresAt],
      );
    } catch (err) {
      if (isUniqueViolation(err, 'account_tokens_pkey'))
        throw new GatehouseError('conflict', 'an account token with this hash already exists', { cause: err });
      throw err;
    }
  }

  async peek(tokenHash: string, purpose: AccountTokenRecord['purpose'], now: number): Promise<AccountTokenRecord | undefined> {
    const rows = await this.#db.query('SELECT * FROM account_tokens WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3', [
      tokenHash,
      purpose,
      now,
    ]);
    return rows[0] ? toAccountToken(rows[0]) : undefined;
  }

  async consume(tokenHash: string, purpose: AccountTokenRecord['purpose'], now: number): Promise<AccountTokenRecord | undefined> {
    const rows = await this.#db.query('DELETE FROM account_tokens WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3 RETURNING *', [
      tokenHash,
      purpose,
      now,
    ]);
    return rows[0] ? toAccountToken(rows[0]) : undefined;
  }

  async deleteForUser(userId: string, purpose: AccountTokenRecord['purpose']): Promise<number> {
    return (await this.#db.query('DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2 RETURNING token_hash', [userId, purpose]))
      .length;
  }

  async deleteExpired(before: number): Promise<number> {
    return (await this.#db.query('DELETE FROM account_tokens WHERE expires_at <= $1 RETURNING token_hash', [before])).length;
  }
}
