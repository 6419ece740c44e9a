// The revocation feed across replicas: NOTIFY on publish, LISTEN on one dedicated connection
// per process (a pooled connection would lose the LISTEN when the pool recycles it). When the
// listener's connection drops it reconnects with backoff; notifications sent meanwhile are
// lost, which is why readers also reconcile with sessions.revokedSince().

import pg from 'pg';
import { GatehouseError, type Logger } from '../../core/index.ts';
import type { RevocationFeed } from '../ports.ts';
import { Subscribers } from '../subscribers.ts';
import { connectionConfig, type Db } from './db.ts';
import { unavailable } from './errors.ts';

export const REVOCATION_CHANNEL = 'gatehouse_revocations';
const BACKOFF_START_MS = 250;
const BACKOFF_MAX_MS = 10_000;

export class PgRevocationFeed implements RevocationFeed {
  readonly #db: Db;
  readonly #url: string;
  readonly #logger: Logger;
  readonly #subs: Subscribers;
  #client: pg.Client | undefined;
  #closed = false;
  #backoff = BACKOFF_START_MS;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(db: Db, url: string, logger: Logger) {
    this.#db = db;
    this.#url = url;
    this.#logger = logger;
    this.#subs = new Subscribers(logger);
  }

  /** The first connection; its failure fails openStore, so a wrong url is reported at once. */
  async start(): Promise<void> {
    await this.#connect();
  }

  async publish(sessionId: string): Promise<void> {
    await this.#db.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, sessionId]);
  }

  subscribe(cb: (sessionId: string) => void): () => void {
    return this.#subs.add(cb);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(connectionConfig(this.#url));
    // Until connect() and LISTEN succeed, failures are reported by the rejected promise;
    // after that, by 'error'/'end', once.
    let lost = true;
    const onLost = (err?: Error): void => {
      if (lost) return;
      lost = true;
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (this.#client === client) this.#client = undefined;
      if (!this.#closed) this.#scheduleReconnect(err);
    };
    client.on('error', (err) => onLost(err));
    client.on('end', () => onLost());
    client.on('notification', (msg) => {
      if (msg.channel === REVOCATION_CHANNEL && typeof msg.payload === 'string') this.#subs.deliver(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
    } catch (err) {
      client.end().catch(() => {});
      throw unavailable(this.#db.endpoint, err);
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    lost = false;
    this.#client = client;
  }

  #scheduleReconnect(err: Error | undefined): void {
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, BACKOFF_MAX_MS);
    const reason =
      err instanceof GatehouseError
        ? err.detail
        : err
          ? unavailable(this.#db.endpoint, err).detail
          : `cannot reach PostgreSQL at ${this.#db.endpoint} (connection closed)`;
    this.#logger.warn(
      { endpoint: this.#db.endpoint, retryInMs: delay },
      `revocation listener lost its connection: ${reason}; reconnecting in ${delay}ms`,
    );
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#connect().then(
        () => {
          if (this.#closed) return;
          this.#backoff = BACKOFF_START_MS;
          this.#logger.info({ endpoint: this.#db.endpoint }, `revocation listener reconnected to PostgreSQL at ${this.#db.endpoint}`);
        },
        (e: unknown) => this.#scheduleReconnect(e instanceof Error ? e : new Error(String(e))),
      );
    }, delay);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    if (client) await client.end().catch(() => {});
  }
}
