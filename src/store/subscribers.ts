// The subscriber list behind every RevocationFeed: delivery to each callback in subscription
// order, where one throwing subscriber is logged and does not keep the id from the others.

import type { Logger } from '../core/index.ts';

export class Subscribers {
  readonly #cbs = new Set<(sessionId: string) => void>();
  readonly #logger: Logger;
  constructor(logger: Logger) {
    this.#logger = logger;
  }

  add(cb: (sessionId: string) => void): () => void {
    // A wrapper, so the same function subscribed twice is two subscriptions.
    const entry = (id: string): void => cb(id);
    this.#cbs.add(entry);
    return () => {
      this.#cbs.delete(entry);
    };
  }

  deliver(sessionId: string): void {
    for (const cb of [...this.#cbs]) {
      try {
        cb(sessionId);
      } catch (err) {
        this.#logger.error(
          { err: err instanceof Error ? err.message : String(err) },
          'a revocation subscriber threw; the others still got the revocation',
        );
      }
    }
  }

  get size(): number {
    return this.#cbs.size;
  }
}
