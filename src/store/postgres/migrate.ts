// Migrations on PostgreSQL. Each migration runs in its own transaction that first takes a
// transaction-scoped advisory lock (pg_try_advisory_xact_lock): the lock lives exactly as long
// as the transaction, so a killed migrator's connection closes and the lock goes with it; no
// lock row or lock table is ever left behind (story 004).

import type pg from 'pg';
import { GatehouseError, type Clock, type Logger } from '../../core/index.ts';
import type { Migration } from '../migrations.ts';
import type { SchemaStatus } from '../ports.ts';
import { computeStatus, latestOf, migrationError, schemaTooNew } from '../schema.ts';
import type { Db, Row } from './db.ts';
import { isUnavailable, unavailable } from './errors.ts';

/** The advisory lock key ("Gate"): below 2^32, so pg_locks shows it as classid 0, objid key, objsubid 1. */
export const MIGRATION_LOCK_KEY = 0x47617465;
/** SQLSTATE lock_not_available: lock_timeout passed. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * How often the server checks, while running a migration statement, that our client is still
 * there (PostgreSQL 14+). Without it a migrator killed mid-statement (say, a long CREATE INDEX)
 * keeps its backend, and so the lock, until the statement ends on its own.
 */
const CLIENT_CHECK_INTERVAL = '1s';

const SCHEMA_MIGRATIONS_DDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at bigint NOT NULL
)`;

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface LockHolder {
  pid: number;
  applicationName: string | null;
  clientAddr: string | null;
  state: string | null;
  heldForMs: number | null;
}

export async function readStatus(q: Queryable, migrations: readonly Migration[]): Promise<SchemaStatus> {
  const exists = (await q.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS ok")).rows[0] as Row;
  const versions = exists.ok
    ? (await q.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r: Row) => Number(r.version))
    : [];
  return computeStatus(versions, migrations);
}

/** Who holds the migration lock in this database, as pg_locks and pg_stat_activity see it. */
export async function findLockHolder(q: Queryable): Promise<LockHolder | undefined> {
  const { rows } = await q.query(
    `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.state,
      floor(extract(epoch FROM clock_timestamp() - a.xact_start) * 1000) AS held_ms
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = 0 AND l.objid = $1::bigint::oid AND l.objsubid = 1`,
    [MIGRATION_LOCK_KEY],
  );
  const r = rows[0] as Row | undefined;
  if (!r) return undefined;
  return {
    pid: Number(r.pid),
    applicationName: r.application_name == null ? null : String(r.application_name),
    clientAddr: r.client_addr == null ? null : String(r.client_addr),
    state: r.state == null ? null : String(r.state),
    heldForMs: r.held_ms == null ? null : Number(r.held_ms),
  };
}

export function describeHolder(h: LockHolder | undefined): string {
  if (!h) return 'another session (it released the lock before it could be identified)';
  const held = h.heldForMs == null ? 'unknown' : `${Math.round(h.heldForMs / 1000)}s`;
  return `pid ${h.pid} (application_name ${h.applicationName || 'unknown'}, client ${h.clientAddr ?? 'local socket'}, state ${h.state ?? 'unknown'}, held for ${held})`;
}

export interface MigrateOptions {
  db: Db;
  logger: Logger;
  clock: Clock;
  migrations: readonly Migration[];
  lockTimeoutMs: number;
}

export async function migratePostgres(o: MigrateOptions): Promise<{ applied: number[] }> {
  const latest = latestOf(o.migrations);
  // Waiting is measured in real time: an injected (frozen) clock would never time out.
  const deadline = performance.now() + o.lockTimeoutMs;
  const applied: number[] = [];
  const warned = { done: false };
  for (;;) {
    const client = await o.db.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await enableClientCheck(client);
      await takeLock(client, deadline, o, warned);
      await client.query(SCHEMA_MIGRATIONS_DDL);
      const status = await readStatus(client, o.migrations);
      if (status.current > latest) throw schemaTooNew(status.current, latest);
      const next = o.migrations.find((m) => m.version === status.pending[0]?.version);
      if (next === undefined) {
        await client.query('COMMIT');
        return { applied };
      }
      try {
        await client.query(next.postgres);
      } catch (err) {
        throw isUnavailable(err) ? err : migrationError(next, err);
      }
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        next.version,
        next.name,
        o.clock.now(),
      ]);
      await client.query('COMMIT');
      applied.push(next.version);
      o.logger.info({ version: next.version, name: next.name }, `applied migration ${next.version} (${next.name})`);
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr as Error;
      }
      throw isUnavailable(err) ? unavailable(o.db.endpoint, err) : err;
    } finally {
      // A connection that could not roll back is destroyed, not returned to the pool.
      client.release(broken);
    }
  }
}

async function enableClientCheck(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query("SELECT current_setting('client_connection_check_interval', true) IS NOT NULL AS supported");
  if ((rows[0] as Row).supported) await client.query(`SET LOCAL client_connection_check_interval = '${CLIENT_CHECK_INTERVAL}'`);
}

/**
 * Try the lock; when taken, say who holds it (once per migrate call), then wait for it in the
 * server (pg_advisory_xact_lock under lock_timeout) until it is free or the deadline passes. The
 * server wakes a waiter the moment the holder's transaction ends, so a replica queued behind
 * another's migrations goes on at once instead of at its next poll (issue 9: a second replica
 * was still not ready 790 ms after the first).
 */
async function takeLock(client: pg.PoolClient, deadline: number, o: MigrateOptions, warned: { done: boolean }): Promise<void> {
  const ok = Boolean(((await client.query('SELECT pg_try_advisory_xact_lock($1::bigint) AS ok', [MIGRATION_LOCK_KEY])).rows[0] as Row).ok);
  if (ok) return;
  const holder = await findLockHolder(client);
  if (!warned.done) {
    warned.done = true;
    o.logger.warn(
      {
        holderPid: holder?.pid,
        applicationName: holder?.applicationName,
        clientAddr: holder?.clientAddr,
        state: holder?.state,
        heldForMs: holder?.heldForMs,
      },
      `waiting for the migration lock held by ${describeHolder(holder)}`,
    );
  }
  const remaining = Math.floor(deadline - performance.now());
  if (remaining > 0) {
    // A savepoint, so a lock timeout leaves the transaction usable for naming the holder.
    await client.query('SAVEPOINT gatehouse_lock_wait');
    try {
      await client.query(`SET LOCAL lock_timeout = '${remaining}ms'`);
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
      await client.query('SET LOCAL lock_timeout = 0');
      o.logger.info({}, 'took the migration lock');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw err;
      await client.query('ROLLBACK TO SAVEPOINT gatehouse_lock_wait');
    }
  }
  const now = await findLockHolder(client);
  throw new GatehouseError(
    'migration_failed',
    `timed out after ${o.lockTimeoutMs}ms waiting for the migration lock held by ${describeHolder(now ?? holder)}: ` +
      'if that process is gone its lock goes when its connection closes; otherwise raise database.migrationLockTimeout',
  );
}
