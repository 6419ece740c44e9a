// The pg Pool, with every connection-level failure turned into store_unavailable.

import pg from 'pg';
import type { Logger } from '../../core/index.ts';
import { isConnectionLost, mapError } from './errors.ts';

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
  readonly #logger: Logger;
  constructor(url: string, endpoint: string, logger: Logger) {
    this.endpoint = endpoint;
    this.#logger = logger;
    this.pool = new pg.Pool({ ...connectionConfig(url), max: 10, idleTimeoutMillis: 30_000 });
    // An idle client whose connection drops emits 'error' on the pool; unhandled, it would
    // crash the process. The pool discards that client and the next query reconnects.
    this.pool.on('error', (err) => {
      logger.warn({ endpoint, err: err.message }, `an idle PostgreSQL connection to ${endpoint} failed; it will be replaced`);
    });
  }

  async query(sql: string, params: Params = []): Promise<Row[]> {
    return (await this.#once(sql, params)).rows as Row[];
  }

  async rowCount(sql: string, params: Params = []): Promise<number> {
    return (await this.#once(sql, params)).rowCount ?? 0;
  }

  /**
   * One statement, retried once on a fresh connection when the one it ran on was lost (a server
   * restart, a failover, pg_terminate_backend, a proxy cutting idle connections): the pool
   * drops the dead client, so the retry reconnects. A statement is autocommitted, so a lost
   * connection almost always means it was not applied; in the rare window where the server
   * committed and the reply was lost, the retry runs it again, which every statement of the
   * store tolerates (random keys, conditional updates). A server that stays down fails on the
   * retry with store_unavailable, as before.
   */
  async #once(sql: string, params: Params): Promise<pg.QueryResult> {
    try {
      return await this.pool.query(sql, params);
    } catch (err) {
      if (!isConnectionLost(err)) throw mapError(this.endpoint, err);
      this.#logger.warn(
        { endpoint: this.endpoint, reason: (err as Error).message },
        `the PostgreSQL connection to ${this.endpoint} was lost during a query; retrying once`,
      );
      try {
        return await this.pool.query(sql, params);
      } catch (again) {
        throw mapError(this.endpoint, again);
      }
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
