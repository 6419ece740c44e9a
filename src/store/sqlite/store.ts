// The embedded store: one SQLite file through node:sqlite. Single node, so the revocation feed is
// in-process. Migrations take SQLite's write lock with BEGIN IMMEDIATE: a file lock the OS drops
// when the process dies, so a killed migration never leaves a holder behind.

import type { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { GatehouseError, type Clock, type Logger } from '../../core/index.ts';
import type { Migration } from '../migrations.ts';
import type { RevocationFeed, RevocationRelay, SchemaStatus, Store } from '../ports.ts';
import { assertCurrent, computeStatus, latestOf, migrationError, schemaTooNew } from '../schema.ts';
import { Subscribers } from '../subscribers.ts';
import { secureSqliteFiles } from './files.ts';
import { CachingDatabase } from './statements.ts';
import { SqliteAudit, SqliteIdentities, SqliteSessions, SqliteReplays, SqliteTickets, SqliteUsers } from './ports.ts';
import { SqliteFactors } from './factors.ts';
import { SqliteConsents, SqliteOidc, SqliteSigningKeys } from './oidc.ts';
import { SqliteAccountTokens, SqliteInvitations } from './people.ts';

export interface SqliteStoreOptions {
  path: string;
  logger: Logger;
  clock: Clock;
  lockTimeoutMs: number;
  migrations: readonly Migration[];
  /** serve --workers: revocations to and from the other workers (ports.ts RevocationRelay). */
  relay?: RevocationRelay;
}

/** Ordinary writes wait this long for another process's write lock (sync: keep it short). */
const BUSY_TIMEOUT_MS = 5000;
const LOCK_POLL_MS = 250;
const SQLITE_BUSY = 5;

const SCHEMA_MIGRATIONS_DDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
)`;

export function openSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  let db: DatabaseSync;
  try {
    if (opts.path !== ':memory:') secureSqliteFiles(opts.path, opts.logger);
    db = new CachingDatabase(opts.path);
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (opts.path !== ':memory:') {
      db.exec('PRAGMA journal_mode = WAL');
      // With WAL, NORMAL syncs at checkpoints instead of on every commit: a crash of the process
      // loses nothing and the file never corrupts; a power cut can lose the last commits. Every
      // token issued writes an audit row, and FULL made that fsync the token endpoint's cost.
      db.exec('PRAGMA synchronous = NORMAL');
    }
  } catch (err) {
    if (err instanceof GatehouseError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new GatehouseError(
      'store_unavailable',
      `cannot open the SQLite database at ${opts.path} (${reason}): check database.url and that the directory exists and is writable`,
      { cause: err },
    );
  }
  return new SqliteStore(db, opts);
}

/** In this process; with a relay (serve --workers), also to and from the other workers. */
class MemoryFeed implements RevocationFeed {
  readonly #subs: Subscribers;
  readonly #relay: RevocationRelay | undefined;
  constructor(logger: Logger, relay: RevocationRelay | undefined) {
    this.#subs = new Subscribers(logger);
    this.#relay = relay;
    relay?.onReceive((id) => this.#subs.deliver(id));
  }
  async publish(sessionId: string): Promise<void> {
    this.#subs.deliver(sessionId);
    this.#relay?.send(sessionId);
  }
  subscribe(cb: (sessionId: string) => void): () => void {
    return this.#subs.add(cb);
  }
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly users: SqliteUsers;
  readonly sessions: SqliteSessions;
  readonly tickets: SqliteTickets;
  readonly audit: SqliteAudit;
  readonly identities: SqliteIdentities;
  readonly revocations: RevocationFeed;
  readonly oidc: SqliteOidc;
  readonly consents: SqliteConsents;
  readonly signingKeys: SqliteSigningKeys;
  readonly replays: SqliteReplays;
  readonly factors: SqliteFactors;
  readonly invitations: SqliteInvitations;
  readonly accountTokens: SqliteAccountTokens;
  readonly #db: DatabaseSync;
  readonly #opts: SqliteStoreOptions;

  constructor(db: DatabaseSync, opts: SqliteStoreOptions) {
    this.#db = db;
    this.#opts = opts;
    this.users = new SqliteUsers(db, opts.clock);
    this.sessions = new SqliteSessions(db);
    this.tickets = new SqliteTickets(db);
    this.audit = new SqliteAudit(db);
    this.identities = new SqliteIdentities(db);
    this.revocations = new MemoryFeed(opts.logger, opts.relay);
    this.oidc = new SqliteOidc(db);
    this.consents = new SqliteConsents(db);
    this.signingKeys = new SqliteSigningKeys(db);
    this.replays = new SqliteReplays(db);
    this.factors = new SqliteFactors(db);
    this.invitations = new SqliteInvitations(db);
    this.accountTokens = new SqliteAccountTokens(db);
  }

  async migrate(): Promise<{ applied: number[] }> {
    const { migrations, logger, clock } = this.#opts;
    const latest = latestOf(migrations);
    const deadline = performance.now() + this.#opts.lockTimeoutMs;
    const applied: number[] = [];
    for (;;) {
      await this.#lock(deadline);
      // From here to COMMIT/ROLLBACK everything is synchronous: nothing else in this process
      // can run inside the migration transaction.
      try {
        this.#db.exec(SCHEMA_MIGRATIONS_DDL);
        const status = computeStatus(this.#appliedVersions(), migrations);
        if (status.current > latest) throw schemaTooNew(status.current, latest);
        const next = migrations.find((m) => m.version === status.pending[0]?.version);
        if (next === undefined) {
          this.#db.exec('COMMIT');
          return { applied };
        }
        try {
          this.#db.exec(next.sqlite);
        } catch (err) {
          throw migrationError(next, err);
        }
        this.#db
          .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(next.version, next.name, clock.now());
        this.#db.exec('COMMIT');
        applied.push(next.version);
        logger.info({ version: next.version, name: next.name }, `applied migration ${next.version} (${next.name})`);
      } catch (err) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw err;
      }
    }
  }

  /** BEGIN IMMEDIATE without blocking the event loop: try, and poll while another process writes. */
  async #lock(deadline: number): Promise<void> {
    let warned = false;
    for (;;) {
      try {
        this.#db.exec('PRAGMA busy_timeout = 0');
        try {
          this.#db.exec('BEGIN IMMEDIATE');
          return;
        } finally {
          this.#db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
        }
      } catch (err) {
        if ((err as { errcode?: number }).errcode !== SQLITE_BUSY) throw this.#unavailable(err);
      }
      if (performance.now() >= deadline) {
        throw new GatehouseError(
          'migration_failed',
          `timed out after ${this.#opts.lockTimeoutMs}ms waiting for the migration lock: another process holds the write lock on ${this.#opts.path}; ` +
            'if it is gone the lock is already free, otherwise raise database.migrationLockTimeout',
        );
      }
      if (!warned) {
        warned = true;
        this.#opts.logger.warn(
          { path: this.#opts.path },
          `waiting for the migration lock: another process holds the write lock on ${this.#opts.path}`,
        );
      }
      await sleep(LOCK_POLL_MS);
    }
  }

  #appliedVersions(): number[] {
    const exists = this.#db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    if (!exists) return [];
    return this.#db
      .prepare('SELECT version FROM schema_migrations ORDER BY version')
      .all()
      .map((r) => Number((r as { version: unknown }).version));
  }

  async schemaStatus(): Promise<SchemaStatus> {
    return computeStatus(this.#appliedVersions(), this.#opts.migrations);
  }

  async assertSchemaCurrent(): Promise<void> {
    assertCurrent(await this.schemaStatus());
  }

  async ping(): Promise<void> {
    try {
      this.#db.prepare('SELECT 1').get();
    } catch (err) {
      throw this.#unavailable(err);
    }
  }

  #unavailable(err: unknown): GatehouseError {
    const reason = err instanceof Error ? err.message : String(err);
    return new GatehouseError(
      'store_unavailable',
      `cannot use the SQLite database at ${this.#opts.path} (${reason}): check database.url and that the file is readable and writable`,
      { cause: err },
    );
  }

  async close(): Promise<void> {
    this.audit.flush();
    if (this.#db.isOpen) this.#db.close();
  }
}
