// The shared store: PostgreSQL through a pg Pool, for several replicas. Revocations travel by
// LISTEN/NOTIFY; migrations serialise on a transaction-scoped advisory lock (migrate.ts).

import type { Clock, Logger } from '../../core/index.ts';
import type { Migration } from '../migrations.ts';
import type { SchemaStatus, Store } from '../ports.ts';
import { assertCurrent } from '../schema.ts';
import { Db } from './db.ts';
import { PgRevocationFeed } from './feed.ts';
import { migratePostgres, readStatus } from './migrate.ts';
import { PgAudit, PgIdentities, PgSessions, PgReplays, PgTickets, PgUsers } from './ports.ts';
import { PgFactors } from './factors.ts';
import { PgConsents, PgOidc, PgSigningKeys } from './oidc.ts';
import { PgAccountTokens, PgInvitations } from './people.ts';

export interface PostgresStoreOptions {
  url: string;
  /** host:port, for messages. */
  endpoint: string;
  logger: Logger;
  clock: Clock;
  lockTimeoutMs: number;
  migrations: readonly Migration[];
}

/** Opens the pool and the revocation listener; a server that cannot be reached fails here. */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  const db = new Db(opts.url, opts.endpoint, opts.logger);
  const feed = new PgRevocationFeed(db, opts.url, opts.logger);
  try {
    await feed.start();
  } catch (err) {
    await db.pool.end().catch(() => {});
    throw err;
  }
  return new PostgresStore(db, feed, opts);
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly users: PgUsers;
  readonly sessions: PgSessions;
  readonly tickets: PgTickets;
  readonly audit: PgAudit;
  readonly identities: PgIdentities;
  readonly revocations: PgRevocationFeed;
  readonly oidc: PgOidc;
  readonly consents: PgConsents;
  readonly signingKeys: PgSigningKeys;
  readonly replays: PgReplays;
  readonly factors: PgFactors;
  readonly invitations: PgInvitations;
  readonly accountTokens: PgAccountTokens;
  readonly #db: Db;
  readonly #opts: PostgresStoreOptions;
  #closed = false;

  constructor(db: Db, feed: PgRevocationFeed, opts: PostgresStoreOptions) {
    this.#db = db;
    this.#opts = opts;
    this.users = new PgUsers(db, opts.clock);
    this.sessions = new PgSessions(db);
    this.tickets = new PgTickets(db);
    this.audit = new PgAudit(db);
    this.identities = new PgIdentities(db);
    this.revocations = feed;
    this.oidc = new PgOidc(db);
    this.consents = new PgConsents(db);
    this.signingKeys = new PgSigningKeys(db);
    this.replays = new PgReplays(db);
    this.factors = new PgFactors(db);
    this.invitations = new PgInvitations(db);
    this.accountTokens = new PgAccountTokens(db);
  }

  migrate(): Promise<{ applied: number[] }> {
    return migratePostgres({ db: this.#db, ...this.#opts });
  }

  async schemaStatus(): Promise<SchemaStatus> {
    const client = await this.#db.connect();
    try {
      return await readStatus(client, this.#opts.migrations);
    } finally {
      client.release();
    }
  }

  async assertSchemaCurrent(): Promise<void> {
    assertCurrent(await this.schemaStatus());
  }

  async ping(): Promise<void> {
    await this.#db.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.revocations.close();
    await this.#db.pool.end();
  }
}
