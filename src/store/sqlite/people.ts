// The SQLite implementations of the invitation and account-link ports. Each take/consume is one
// statement with RETURNING, so of any number of concurrent callers only one wins.
import type { DatabaseSync } from 'node:sqlite';
import { GatehouseError } from '../../core/index.ts';
import type { AccountTokenRecord, AccountTokenStore, InvitationRecord, InvitationStore } from '../ports.ts';
import { toAccountToken, toInvitation, type Row } from '../rows.ts';
import { isUniqueViolation } from './ports.ts';

export class SqliteInvitations implements InvitationStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async create(r: Omit<InvitationRecord, 'uses' | 'revokedAt'>): Promise<InvitationRecord> {
    try {
      const row = this.#db
        .prepare(
          `INSERT INTO invitations (id, token_hash, groups, email, max_uses, uses, created_by, created_at, expires_at, revoked_at)
        VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, NULL) RETURNING *`,
        )
        .get(r.id, r.tokenHash, JSON.stringify(r.groups), r.email, r.maxUses, r.createdBy, r.createdAt, r.expiresAt);
      return toInvitation(row as Row);
    } catch (err) {
      if (isUniqueViolation(err, 'invitations.'))
        throw new GatehouseError('conflict', `an invitation with id "${r.id}" or this token already exists`, { cause: err });
      throw err;
    }
  }

  async get(id: string): Promise<InvitationRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM invitations WHERE id = ?').get(id);
    return row ? toInvitation(row as Row) : undefined;
  }

  async findByToken(tokenHash: string): Promise<InvitationRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM invitations WHERE token_hash = ?').get(tokenHash);
    return row ? toInvitation(row as Row) : undefined;
  }

  async list(): Promise<InvitationRecord[]> {
    return this.#db
      .prepare('SELECT * FROM invitations ORDER BY created_at DESC, id')
      .all()
      .map((r) => toInvitation(r as Row));
  }

  async take(tokenHash: string, now: number): Promise<InvitationRecord | undefined> {
    const row = this.#db
      .prepare(
        `UPDATE invitations SET uses = uses + 1
      WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ? AND uses < max_uses RETURNING *`,
      )
      .get(tokenHash, now);
    return row ? toInvitation(row as Row) : undefined;
  }

  async giveBack(id: string): Promise<void> {
    this.#db.prepare('UPDATE invitations SET uses = uses - 1 WHERE id = ? AND uses > 0').run(id);
  }

  async revoke(id: string, at: number): Promise<boolean> {
    return Number(this.#db.prepare('UPDATE invitations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes) === 1;
  }

  async deleteExpired(before: number): Promise<number> {
    return Number(this.#db.prepare('DELETE FROM invitations WHERE expires_at <= ? OR revoked_at <= ?').run(before, before).changes);
  }
}

export class SqliteAccountTokens implements AccountTokenStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async put(r: AccountTokenRecord): Promise<void> {
    try {
      this.#db
        .prepare('INSERT INTO account_tokens (token_hash, purpose, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)')
        .run(r.tokenHash, r.purpose, r.userId, r.createdAt, r.expiresAt);
    } catch (err) {
      if (isUniqueViolation(err, 'account_tokens.token_hash'))
        throw new GatehouseError('conflict', 'an account token with this hash already exists', { cause: err });
      throw err;
    }
  }

  async peek(tokenHash: string, purpose: AccountTokenRecord['purpose'], now: number): Promise<AccountTokenRecord | undefined> {
    const row = this.#db
      .prepare('SELECT * FROM account_tokens WHERE token_hash = ? AND purpose = ? AND expires_at > ?')
      .get(tokenHash, purpose, now);
    return row ? toAccountToken(row as Row) : undefined;
  }

  async consume(tokenHash: string, purpose: AccountTokenRecord['purpose'], now: number): Promise<AccountTokenRecord | undefined> {
    const row = this.#db
      .prepare('DELETE FROM account_tokens WHERE token_hash = ? AND purpose = ? AND expires_at > ? RETURNING *')
      .get(tokenHash, purpose, now);
    return row ? toAccountToken(row as Row) : undefined;
  }

  async deleteForUser(userId: string, purpose: AccountTokenRecord['purpose']): Promise<number> {
    return Number(this.#db.prepare('DELETE FROM account_tokens WHERE user_id = ? AND purpose = ?').run(userId, purpose).changes);
  }

  async deleteExpired(before: number): Promise<number> {
    return Number(this.#db.prepare('DELETE FROM account_tokens WHERE expires_at <= ?').run(before).changes);
  }
}
