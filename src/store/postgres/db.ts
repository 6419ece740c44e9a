// The pg Pool, with every connection-level failure turned into store_unavailable.

import pg from 'pg';
import type { Logger } from '../../core/index.ts';
import { mapError } from './errors.ts';

export type Params = unknown[];
export type Row = Record<string, unknown>;

/** The connection settings every gatehouse connection uses (pool and listener). */
export function connectionConfig(url: string): pg.ClientConfig {
  return {
    connectionString: url,
    // Shown in pg_stat_activity, so an operator (and our own lock-holder report) can tell
    // gatehouse's connections apart. A url's own application_name parameter wins.
    application_name: 'gatehouse',
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

export class Db {
  readonly pool: pg.Pool;
  readonly endpoint: string;
  constructor(url: string, endpoint: string, logger: Logger) {
    this.endpoint = endpoint;
    this.pool = new pg.Pool({ ...connectionConfig(url), max: 10, idleTimeoutMillis: 30_000 });
    // An idle client whose connection drops emits 'error' on the pool; unhandled, it would
    // crash the process. The pool discards that client and the next query reconnects.
    this.pool.on('error', (err) => {
      logger.warn({ endpoint, err: err.message }, `an idle PostgreSQL connection to ${endpoint} failed; it will be replaced`);
    });
  }

  async query(sql: string, params: Params = []): Promise<Row[]> {
    try {
      return (await this.pool.query(sql, params)).rows as Row[];
    } catch (err) {
      throw mapError(this.endpoint, err);
    }
  }

  async rowCount(sql: string, params: Params = []): Promise<number> {
    try {
      return (await this.pool.query(sql, params)).rowCount ?? 0;
    } catch (err) {
      throw mapError(this.endpoint, err);
    }
  }

  async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw mapError(this.endpoint, err);
    }
  }
}
