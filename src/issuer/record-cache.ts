// A short-lived in-process copy of the records every client_credentials token reads: the client
// (model Client: the oidc-provider client, its secret unsealed) and the agent's own record (its
// groups, for the token's claims). Without it each token costs two store reads, each with an
// AES-GCM unseal or a JSON parse (docs/benchmarks.md, "Where the time goes").
//
// Bounded in time, so a change made elsewhere (the CLI, another replica) is seen without a feed:
// an entry is used for at most RECORD_CACHE_MS after it was read, so a deleted or changed agent
// or client is refused at /token within 1 s on every replica (docs/issuer.md). Writes through the
// issuer's own adapters (registration, `agent delete` in this process) drop the entry at once.
// Bounded in size: at RECORD_CACHE_MAX entries it starts again empty. Misses are not kept, so
// unknown client ids cannot fill it.
import type { Clock } from '../core/index.ts';

export const RECORD_CACHE_MS = 1_000;
export const RECORD_CACHE_MAX = 10_000;

export class RecordCache {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, { at: number; json: string }>();

  constructor(clock: Clock, ttlMs = RECORD_CACHE_MS, max = RECORD_CACHE_MAX) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  /** A fresh copy of the payload read at most ttlMs ago, or undefined. */
  get(model: string, id: string): Record<string, unknown> | undefined {
    const key = `${model}\0${id}`;
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (this.#clock.now() - e.at >= this.#ttlMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return JSON.parse(e.json) as Record<string, unknown>;
  }

  set(model: string, id: string, payload: Record<string, unknown>): void {
    if (this.#entries.size >= this.#max) this.#entries.clear();
    this.#entries.set(`${model}\0${id}`, { at: this.#clock.now(), json: JSON.stringify(payload) });
  }

  delete(model: string, id: string): void {
    this.#entries.delete(`${model}\0${id}`);
  }
}
