// openStore: database.url picks the adapter. Opening never migrates (the operator decides when,
// with `gatehouse migrate` or at start-up); callers check assertSchemaCurrent().

import { systemClock, type Clock, type Logger } from '../core/index.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';
import type { RevocationRelay, Store } from './ports.ts';
import { openPostgresStore } from './postgres/store.ts';
import { validateMigrations } from './schema.ts';
import { openSqliteStore } from './sqlite/store.ts';
import { parseStoreUrl } from './url.ts';

export interface OpenStoreOptions {
  /** postgres://…, postgresql://…, sqlite:/absolute/path.db or sqlite::memory: */
  url: string;
  logger: Logger;
  clock?: Clock;
  /** How long migrate() waits for another process's migration lock (database.migrationLockTimeout). */
  lockTimeoutMs?: number;
  /** Tests only: a different migration list. */
  migrations?: readonly Migration[];
  /** serve --workers on SQLite: revocations relayed to and from the other workers (unused on PostgreSQL). */
  relay?: RevocationRelay;
}

/** database.migrationLockTimeout's default: 5 minutes. */
export const DEFAULT_LOCK_TIMEOUT_MS = 5 * 60_000;

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const target = parseStoreUrl(opts.url);
  const migrations = opts.migrations ?? MIGRATIONS;
  validateMigrations(migrations);
  const common = {
    logger: opts.logger.child({ component: 'store' }),
    clock: opts.clock ?? systemClock,
    lockTimeoutMs: opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    migrations,
  };
  if (target.kind === 'sqlite') {
    const store = openSqliteStore({ path: target.path, ...common, ...(opts.relay ? { relay: opts.relay } : {}) });
    common.logger.info({ url: opts.url }, `opened the SQLite store at ${target.path}`);
    return store;
  }
  const store = await openPostgresStore({ url: target.url, endpoint: target.endpoint, ...common });
  common.logger.info({ url: target.redacted }, `opened the PostgreSQL store at ${target.endpoint}`);
  return store;
}
