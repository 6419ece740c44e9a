// The SQLite implementations of the data ports. node:sqlite is synchronous, so each method body
// runs without interleaving with any other in this process; across processes, SQLite's own
// locking (WAL, busy timeout) and single statements with RETURNING keep them atomic.

import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
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
  type Row,
} from '../rows.ts';

/** SQLite binds no booleans: 1/0. */
const bind = (v: unknown): SQLInputValue => (typeof v === 'boolean' ? (v ? 1 : 0) : (v as SQLInputValue));

/** A SQLite unique/primary-key violation naming `column` (e.g. "users.username_key"). */
export function isUniqueViolation(err: unknown, column: string): boolean {
  const e = err as { code?: string; errcode?: number; message?: string };
  return e.code === 'ERR_SQLITE_ERROR' && (e.errcode === 2067 || e.errcode === 1555) && (e.message ?? '').includes(column);
}

/** Runs `fn` in a write transaction; synchronous, so nothing else in the process interleaves. */
export function inTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const out = fn();
    db.exec('COMMIT');
    return out;
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

export class SqliteUsers implements UserStore {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  constructor(db: DatabaseSync, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async create(u: Omit<UserRecord, 'createdAt' | 'updatedAt'>): Promise<UserRecord> {
    const now = this.#clock.now();
    try {
      const row = this.#db
        .prepare(
          `INSERT INTO users (id, username, username_key, email, email_verified, name, groups, password_hash, disabled, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        )
        .get(
          u.id,
          u.username,
          usernameKey(u.username),
          u.email,
          bind(u.emailVerified),
          u.name,
          JSON.stringify(u.groups),
          u.passwordHash,
          bind(u.disabled),
          now,
          now,
        );
      return toUser(row as Row);
    } catch (err) {
      if (isUniqueViolation(err, 'users.username_key'))
        throw new GatehouseError('conflict', `a user named "${u.username}" already exists (usernames are case-insensitive)`, {
          cause: err,
        });
      if (isUniqueViolation(err, 'users.id'))
        throw new GatehouseError('conflict', `a user with id "${u.id}" already exists`, { cause: err });
      throw err;
    }
  }

  async get(id: string): Promise<UserRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM users WHERE id = ?').get(id);
    return row ? toUser(row as Row) : undefined;
  }

  async findByUsername(username: string): Promise<UserRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM users WHERE username_key = ?').get(usernameKey(username));
    return row ? toUser(row as Row) : undefined;
  }

  async list(): Promise<UserRecord[]> {
    // BINARY collation compares UTF-8 bytes, like COLLATE "C" on PostgreSQL.
    return this.#db
      .prepare('SELECT * FROM users ORDER BY username_key, username')
      .all()
      .map((r) => toUser(r as Row));
  }

  async update(id: string, patch: Parameters<UserStore['update']>[1]): Promise<UserRecord | undefined> {
    const cols = userPatchColumns(patch);
    if (cols.length === 0) return this.get(id);
    const set = cols.map(([c]) => `${c} = ?`).join(', ');
    const row = this.#db
      .prepare(`UPDATE users SET ${set}, updated_at = ? WHERE id = ? RETURNING *`)
      .get(...cols.map(([, v]) => bind(v)), this.#clock.now(), id);
    return row ? toUser(row as Row) : undefined;
  }

  async count(): Promise<number> {
    return Number((this.#db.prepare('SELECT count(*) AS n FROM users').get() as Row).n);
  }

  async findByVerifiedEmail(email: string): Promise<UserRecord[]> {
    // Rare (a first upstream sign-in with linkByEmail): a scan of verified addresses, compared in JS.
    return this.#db
      .prepare('SELECT * FROM users WHERE email_verified = 1 AND email IS NOT NULL ORDER BY username_key, username')
      .all()
      .map((r) => toUser(r as Row))
      .filter((u) => sameEmail(u.email, email));
  }

  async delete(id: string): Promise<boolean> {
    // One statement per table; the identities go with the user (a CTE cannot delete in SQLite).
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      this.#db.prepare('DELETE FROM identities WHERE user_id = ?').run(id);
      const n = Number(this.#db.prepare('DELETE FROM users WHERE id = ?').run(id).changes);
      this.#db.exec('COMMIT');
      return n === 1;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }
}

export class SqliteIdentities implements IdentityStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async get(connectorId: string, subject: string): Promise<IdentityRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM identities WHERE connector_id = ? AND subject = ?').get(connectorId, subject);
    return row ? toIdentity(row as Row) : undefined;
  }

  async forUser(userId: string, connectorId?: string): Promise<IdentityRecord[]> {
    const rows =
      connectorId === undefined
        ? this.#db.prepare('SELECT * FROM identities WHERE user_id = ? ORDER BY signed_in_at DESC, connector_id, subject').all(userId)
        : this.#db
            .prepare('SELECT * FROM identities WHERE user_id = ? AND connector_id = ? ORDER BY signed_in_at DESC, subject')
            .all(userId, connectorId);
    return rows.map((r) => toIdentity(r as Row));
  }

  async link(r: Omit<IdentityRecord, 'createdAt'>, at: number): Promise<IdentityRecord> {
    try {
      const row = this.#db
        .prepare(
          `INSERT INTO identities (connector_id, subject, user_id, username, email, groups, tokens, created_at, signed_in_at, refreshed_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        )
        .get(r.connectorId, r.subject, r.userId, r.username, r.email, JSON.stringify(r.groups), r.tokens, at, r.signedInAt, r.refreshedAt);
      return toIdentity(row as Row);
    } catch (err) {
      if (isUniqueViolation(err, 'identities.connector_id')) {
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
    const set = cols.map(([c]) => `${c} = ?`).join(', ');
    const row = this.#db
      .prepare(`UPDATE identities SET ${set} WHERE connector_id = ? AND subject = ? RETURNING *`)
      .get(...cols.map(([, v]) => bind(v)), connectorId, subject);
    return row ? toIdentity(row as Row) : undefined;
  }

  async unlink(connectorId: string, subject: string): Promise<boolean> {
    return (
      Number(this.#db.prepare('DELETE FROM identities WHERE connector_id = ? AND subject = ?').run(connectorId, subject).changes) === 1
    );
  }
}

export class SqliteSessions implements SessionStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async setFactors(id: string, factors: string): Promise<boolean> {
    return this.#db.prepare('UPDATE sessions SET factors = ? WHERE id = ?').run(factors, id).changes > 0;
  }

  async create(s: Omit<SessionRecord, 'revokedAt' | 'factors'> & { factors?: string | null }): Promise<void> {
    try {
      this.#db
        .prepare(
          `INSERT INTO sessions (id, user_id, created_at, expires_at, last_seen_at, revoked_at, ip, user_agent, factors)
        VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
        )
        .run(s.id, s.userId, s.createdAt, s.expiresAt, s.lastSeenAt, s.ip, s.userAgent, s.factors ?? null);
    } catch (err) {
      // The id may be a bearer value: never put it in a message.
      if (isUniqueViolation(err, 'sessions.id'))
        throw new GatehouseError('conflict', 'a session with this id already exists', { cause: err });
      throw err;
    }
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM sessions WHERE id = ?').get(id);
    return row ? toSession(row as Row) : undefined;
  }

  async touch(updates: { id: string; lastSeenAt: number }[]): Promise<void> {
    const latest = latestTouches(updates);
    if (latest.size === 0) return;
    const stmt = this.#db.prepare('UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ?');
    inTransaction(this.#db, () => {
      for (const [id, t] of latest) stmt.run(t, id);
    });
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const r = this.#db.prepare('UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND expires_at > ?').run(at, id, at);
    return Number(r.changes) === 1;
  }

  async revokeForUser(userId: string, at: number): Promise<string[]> {
    return this.#db
      .prepare('UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? RETURNING id')
      .all(at, userId, at)
      .map((r) => String((r as Row).id))
      .sort();
  }

  async list(filter: { userId?: string; activeAt?: number } = {}): Promise<SessionRecord[]> {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    if (filter.userId !== undefined) {
      where.push('user_id = ?');
      args.push(filter.userId);
    }
    if (filter.activeAt !== undefined) {
      where.push('revoked_at IS NULL AND expires_at > ?');
      args.push(filter.activeAt);
    }
    const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC`;
    return this.#db
      .prepare(sql)
      .all(...args)
      .map((r) => toSession(r as Row));
  }

  async revokedSince(since: number, now: number): Promise<{ id: string; revokedAt: number; expiresAt: number }[]> {
    return this.#db
      .prepare('SELECT id, revoked_at, expires_at FROM sessions WHERE revoked_at >= ? AND expires_at > ? ORDER BY revoked_at, id')
      .all(since, now)
      .map((r) => {
        const row = r as Row;
        return { id: String(row.id), revokedAt: Number(row.revoked_at), expiresAt: Number(row.expires_at) };
      });
  }

  async deleteExpired(before: number): Promise<number> {
    return Number(this.#db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(before).changes);
  }
}

export class SqliteTickets implements TicketStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async put(id: string, payload: string, expiresAt: number): Promise<void> {
    try {
      this.#db.prepare('INSERT INTO tickets (id, payload, expires_at) VALUES (?, ?, ?)').run(id, payload, expiresAt);
    } catch (err) {
      if (isUniqueViolation(err, 'tickets.id'))
        throw new GatehouseError('conflict', 'a ticket with this id already exists', { cause: err });
      throw err;
    }
  }

  async consume(id: string, now: number): Promise<string | undefined> {
    // One statement: of any number of concurrent consumers only one gets the row back.
    const row = this.#db.prepare('DELETE FROM tickets WHERE id = ? AND expires_at > ? RETURNING payload').get(id, now);
    // Expired tickets are useless; sweep them here (indexed by expires_at) so none pile up.
    this.#db.prepare('DELETE FROM tickets WHERE expires_at <= ?').run(now);
    return row ? String((row as Row).payload) : undefined;
  }
}

export class SqliteReplays implements ReplayStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async once(key: string, expiresAt: number, now: number): Promise<boolean> {
    // One statement: a new key is inserted; an expired one is taken over; a live one is left
    // alone and returns no row.
    const row = this.#db
      .prepare(
        `INSERT INTO dpop_proofs (key, expires_at) VALUES (?, ?)
      ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_proofs.expires_at <= ? RETURNING key`,
      )
      .get(key, expiresAt, now);
    return row !== undefined;
  }

  async deleteExpired(before: number): Promise<number> {
    return Number(this.#db.prepare('DELETE FROM dpop_proofs WHERE expires_at <= ?').run(before).changes);
  }
}

/** An audit event waits at most this long to be written with the others of its window. */
export const AUDIT_WINDOW_MS = 20;
/** ...or until this many are waiting. */
export const AUDIT_BATCH = 128;
const AUDIT_INSERT = 'INSERT INTO audit (at, actor, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)';

interface WaitingEvent {
  e: AuditEvent;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Audit rows are written in batches, one transaction per window: a commit costs about 100 µs
 * on the serving thread (node:sqlite is synchronous), ten rows in one cost about what two cost
 * alone, and the token endpoint writes a row per token. An event is written within
 * AUDIT_WINDOW_MS (or as soon as AUDIT_BATCH are waiting), and its append() settles only once
 * its row is committed, so a caller that waits for it still knows it is on disk. A process killed
 * outright (SIGKILL, out of memory) loses at most the events of the last window; a stop, a fatal
 * error's exit and store.close() write them first, and list() writes them before it reads.
 */
export class SqliteAudit implements AuditStore {
  readonly #db: DatabaseSync;
  #waiting: WaitingEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  append(e: AuditEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ e, resolve, reject });
      if (this.#waiting.length >= AUDIT_BATCH) this.flush();
      // Not unref'd: a short-lived process (the CLI) must not exit with a row unwritten.
      else this.#timer ??= setTimeout(() => this.flush(), AUDIT_WINDOW_MS);
    });
  }

  /** Writes every waiting event now. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#waiting.length === 0 || !this.#db.isOpen) return;
    // A migration holds its transaction across awaits; write after it.
    if (this.#db.isTransaction) {
      this.#timer = setTimeout(() => this.flush(), AUDIT_WINDOW_MS);
      return;
    }
    const batch = this.#waiting;
    this.#waiting = [];
    const insert = this.#db.prepare(AUDIT_INSERT);
    const run = (w: WaitingEvent) => insert.run(w.e.at, w.e.actor, w.e.action, w.e.target, w.e.outcome, JSON.stringify(w.e.detail));
    // The write lock (another process may hold it for up to busy_timeout): failing to get it
    // fails every waiting append, as it would have failed each of them alone.
    try {
      this.#db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    try {
      for (const w of batch) run(w);
      this.#db.exec('COMMIT');
    } catch {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      // One bad row fails only its own append, as it would alone.
      for (const w of batch) {
        try {
          run(w);
          w.resolve();
        } catch (err) {
          w.reject(err);
        }
      }
      return;
    }
    for (const w of batch) w.resolve();
  }

  async list(query: AuditQuery = {}): Promise<(AuditEvent & { id: number })[]> {
    this.flush();
    const { where, params, limit } = auditWhere(query, () => '?');
    const rows = this.#db.prepare(`SELECT * FROM audit ${where} ORDER BY at DESC, id DESC LIMIT ?`).all(...params, limit);
    return rows.map((r) => toAudit(r as Row));
  }
}
