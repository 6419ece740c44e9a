// The PostgreSQL implementations of the data ports: single statements wherever atomicity
// matters (a ticket's DELETE … RETURNING, a revoke's conditional UPDATE), so concurrent
// replicas need no locks of their own.

import { GatehouseError, type Clock } from '../../core/index.ts';
import type {
  AuditEvent,
  AuditQuery,
  AuditStore,
  IdentityRecord,
  IdentityStore,
  ReplayStore,
  SessionRecord,
  SessionStore,
  TicketStore,
  UserRecord,
  UserStore,
} from '../ports.ts';
import {
  auditWhere,
  identityPatchColumns,
  latestTouches,
  sameEmail,
  toAudit,
  toIdentity,
  toSession,
  toUser,
  userPatchColumns,
  usernameKey,
} from '../rows.ts';
import type { Db } from './db.ts';
import { isUniqueViolation } from './errors.ts';

export class PgUsers implements UserStore {
  readonly #db: Db;
  readonly #clock: Clock;
  constructor(db: Db, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async create(u: Omit<UserRecord, 'createdAt' | 'updatedAt'>): Promise<UserRecord> {
    const now = this.#clock.now();
    try {
      const rows = await this.#db.query(
        `INSERT INTO users (id, username, username_key, email, email_verified, name, groups, password_hash, disabled, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $10) RETURNING *`,
        [
          u.id,
          u.username,
          usernameKey(u.username),
          u.email,
          u.emailVerified,
          u.name,
          JSON.stringify(u.groups),
          u.passwordHash,
          u.disabled,
          now,
        ],
      );
      return toUser(rows[0]!);
    } catch (err) {
      if (isUniqueViolation(err, 'users_username_unique'))
        throw new GatehouseError('conflict', `a user named "${u.username}" already exists (usernames are case-insensitive)`, {
          cause: err,
        });
      if (isUniqueViolation(err, 'users_pkey'))
        throw new GatehouseError('conflict', `a user with id "${u.id}" already exists`, { cause: err });
      throw err;
    }
  }

  async get(id: string): Promise<UserRecord | undefined> {
    const rows = await this.#db.query('SELECT * FROM users WHERE id = $1', [id]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async findByUsername(username: string): Promise<UserRecord | undefined> {
    const rows = await this.#db.query('SELECT * FROM users WHERE username_key = $1', [usernameKey(username)]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async list(): Promise<UserRecord[]> {
    // COLLATE "C": byte order, the same as SQLite's BINARY, whatever the database locale.
    const rows = await this.#db.query('SELECT * FROM users ORDER BY username_key COLLATE "C", username COLLATE "C"');
    return rows.map(toUser);
  }

  async update(id: string, patch: Parameters<UserStore['update']>[1]): Promise<UserRecord | undefined> {
    const cols = userPatchColumns(patch);
    if (cols.length === 0) return this.get(id);
    const set = cols.map(([c], i) => `${c} = $${i + 1}${c === 'groups' ? '::jsonb' : ''}`).join(', ');
    const n = cols.length;
    const rows = await this.#db.query(`UPDATE users SET ${set}, updated_at = $${n + 1} WHERE id = $${n + 2} RETURNING *`, [
      ...cols.map(([, v]) => v),
      this.#clock.now(),
      id,
    ]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async count(): Promise<number> {
    const rows = await this.#db.query('SELECT count(*) AS n FROM users');
    return Number(rows[0]?.n);
  }

  async findByVerifiedEmail(email: string): Promise<UserRecord[]> {
    // Rare (a first upstream sign-in with linkByEmail): a scan of verified addresses, compared in JS.
    const rows = await this.#db.query(
      'SELECT * FROM users WHERE email_verified AND email IS NOT NULL ORDER BY username_key COLLATE "C", username COLLATE "C"',
    );
    return rows.map(toUser).filter((u) => sameEmail(u.email, email));
  }

  async delete(id: string): Promise<boolean> {
    // One statement: the identities go with the user, atomically.
    const rows = await this.#db.query(
      `WITH gone AS (DELETE FROM identities WHERE user_id = $1)
      DELETE FROM users WHERE id = $1 RETURNING id`,
      [id],
    );
    return rows.length === 1;
  }
}

export class PgIdentities implements IdentityStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async get(connectorId: string, subject: string): Promise<IdentityRecord | undefined> {
    const rows = await this.#db.query('SELECT * FROM identities WHERE connector_id = $1 AND subject = $2', [connectorId, subject]);
    return rows[0] ? toIdentity(rows[0]) : undefined;
  }

  async forUser(userId: string, connectorId?: string): Promise<IdentityRecord[]> {
    const rows =
      connectorId === undefined
        ? await this.#db.query(
            'SELECT * FROM identities WHERE user_id = $1 ORDER BY signed_in_at DESC, connector_id COLLATE "C", subject COLLATE "C"',
            [userId],
          )
        : await this.#db.query(
            'SELECT * FROM identities WHERE user_id = $1 AND connector_id = $2 ORDER BY signed_in_at DESC, subject COLLATE "C"',
            [userId, connectorId],
          );
    return rows.map(toIdentity);
  }

  async link(r: Omit<IdentityRecord, 'createdAt'>, at: number): Promise<IdentityRecord> {
    try {
      const rows = await this.#db.query(
        `INSERT INTO identities (connector_id, subject, user_id, username, email, groups, tokens, created_at, signed_in_at, refreshed_at)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10) RETURNING *`,
        [r.connectorId, r.subject, r.userId, r.username, r.email, JSON.stringify(r.groups), r.tokens, at, r.signedInAt, r.refreshedAt],
      );
      return toIdentity(rows[0]!);
    } catch (err) {
      if (isUniqueViolation(err, 'identities_pkey')) {
        throw new GatehouseError('conflict', `the upstream identity "${r.subject}" of connector "${r.connectorId}" is already linked`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  async update(connectorId: string, subject: string, patch: Parameters<IdentityStore['update']>[2]): Promise<IdentityRecord | undefined> {
    const cols = identityPatchColumns(patch);
    if (cols.length === 0) return this.get(connectorId, subject);
    const set = cols.map(([c], i) => `${c} = $${i + 1}${c === 'groups' ? '::jsonb' : ''}`).join(', ');
    const n = cols.length;
    const rows = await this.#db.query(`UPDATE identities SET ${set} WHERE connector_id = $${n + 1} AND subject = $${n + 2} RETURNING *`, [
      ...cols.map(([, v]) => v),
      connectorId,
      subject,
    ]);
    return rows[0] ? toIdentity(rows[0]) : undefined;
  }

  async unlink(connectorId: string, subject: string): Promise<boolean> {
    return (await this.#db.rowCount('DELETE FROM identities WHERE connector_id = $1 AND subject = $2', [connectorId, subject])) === 1;
  }
}

export class PgSessions implements SessionStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async setFactors(id: string, factors: string): Promise<boolean> {
    return (await this.#db.query('UPDATE sessions SET factors = $1 WHERE id = $2 RETURNING id', [factors, id])).length > 0;
  }

  async create(s: Omit<SessionRecord, 'revokedAt' | 'factors'> & { factors?: string | null }): Promise<void> {
    try {
      await this.#db.query(
        `INSERT INTO sessions (id, user_id, created_at, expires_at, last_seen_at, revoked_at, ip, user_agent, factors)
        VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8)`,
        [s.id, s.userId, s.createdAt, s.expiresAt, s.lastSeenAt, s.ip, s.userAgent, s.factors ?? null],
      );
    } catch (err) {
      // The id may be a bearer value: never put it in a message.
      if (isUniqueViolation(err, 'sessions_pkey'))
        throw new GatehouseError('conflict', 'a session with this id already exists', { cause: err });
      throw err;
    }
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const rows = await this.#db.query('SELECT * FROM sessions WHERE id = $1', [id]);
    return rows[0] ? toSession(rows[0]) : undefined;
  }

  async touch(updates: { id: string; lastSeenAt: number }[]): Promise<void> {
    const latest = latestTouches(updates);
    if (latest.size === 0) return;
    // One statement for the whole batch; GREATEST keeps a late, older write from moving
    // last_seen_at backwards (another replica may have flushed a newer one).
    await this.#db.query(
      `UPDATE sessions s SET last_seen_at = GREATEST(s.last_seen_at, u.t)
      FROM unnest($1::text[], $2::bigint[]) AS u(id, t) WHERE s.id = u.id`,
      [[...latest.keys()], [...latest.values()]],
    );
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const n = await this.#db.rowCount('UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2', [
      id,
      at,
    ]);
    return n === 1;
  }

  async revokeForUser(userId: string, at: number): Promise<string[]> {
    const rows = await this.#db.query(
      'UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING id',
      [userId, at],
    );
    return rows.map((r) => String(r.id)).sort();
  }

  async list(filter: { userId?: string; activeAt?: number } = {}): Promise<SessionRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.userId !== undefined) {
      args.push(filter.userId);
      where.push(`user_id = $${args.length}`);
    }
    if (filter.activeAt !== undefined) {
      args.push(filter.activeAt);
      where.push(`revoked_at IS NULL AND expires_at > $${args.length}`);
    }
    const rows = await this.#db.query(
      `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id COLLATE "C" DESC`,
      args,
    );
    return rows.map(toSession);
  }

  async revokedSince(since: number, now: number): Promise<{ id: string; revokedAt: number; expiresAt: number }[]> {
    const rows = await this.#db.query(
      'SELECT id, revoked_at, expires_at FROM sessions WHERE revoked_at >= $1 AND expires_at > $2 ORDER BY revoked_at, id COLLATE "C"',
      [since, now],
    );
    return rows.map((r) => ({ id: String(r.id), revokedAt: Number(r.revoked_at), expiresAt: Number(r.expires_at) }));
  }

  async deleteExpired(before: number): Promise<number> {
    return this.#db.rowCount('DELETE FROM sessions WHERE expires_at <= $1', [before]);
  }
}

export class PgTickets implements TicketStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async put(id: string, payload: string, expiresAt: number): Promise<void> {
    try {
      await this.#db.query('INSERT INTO tickets (id, payload, expires_at) VALUES ($1, $2, $3)', [id, payload, expiresAt]);
    } catch (err) {
      if (isUniqueViolation(err, 'tickets_pkey'))
        throw new GatehouseError('conflict', 'a ticket with this id already exists', { cause: err });
      throw err;
    }
  }

  async consume(id: string, now: number): Promise<string | undefined> {
    // The DELETE's row lock makes concurrent consumers queue; after the first commits, the
    // others re-check the row, find it gone and get nothing. The CTE sweeps expired tickets
    // (indexed by expires_at) in the same statement so none pile up.
    const rows = await this.#db.query(
      `WITH swept AS (DELETE FROM tickets WHERE expires_at <= $2)
      DELETE FROM tickets WHERE id = $1 AND expires_at > $2 RETURNING payload`,
      [id, now],
    );
    return rows[0] ? String(rows[0].payload) : undefined;
  }
}

export class PgReplays implements ReplayStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async once(key: string, expiresAt: number, now: number): Promise<boolean> {
    // INSERT … ON CONFLICT takes the row lock: of concurrent callers (any replica) exactly one
    // inserts or takes over an expired record; the others see a live row and get none back.
    const rows = await this.#db.query(
      `INSERT INTO dpop_proofs (key, expires_at) VALUES ($1, $2)
      ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE dpop_proofs.expires_at <= $3 RETURNING key`,
      [key, expiresAt, now],
    );
    return rows.length === 1;
  }

  async deleteExpired(before: number): Promise<number> {
    const rows = await this.#db.query('DELETE FROM dpop_proofs WHERE expires_at <= $1 RETURNING key', [before]);
    return rows.length;
  }
}

export class PgAudit implements AuditStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async append(e: AuditEvent): Promise<void> {
    await this.#db.query('INSERT INTO audit (at, actor, action, target, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6::jsonb)', [
      e.at,
      e.actor,
      e.action,
      e.target,
      e.outcome,
      JSON.stringify(e.detail),
    ]);
  }

  async list(query: AuditQuery = {}): Promise<(AuditEvent & { id: number })[]> {
    const { where, params, limit } = auditWhere(query, (n) => `$${n}`);
    const rows = await this.#db.query(`SELECT * FROM audit ${where} ORDER BY at DESC, id DESC LIMIT $${params.length + 1}`, [
      ...params,
      limit,
    ]);
    return rows.map(toAudit);
  }
}
