// Throttling of failed sign-ins per account and per source address. Never global: one noisy
// address cannot lock everyone out, and an attacker spraying one account from many addresses
// is held by the per-account limit. Counters live in this process; with several replicas each
// keeps its own, so the effective limit is per replica (documented in docs/security.md).
//
// Memory is bounded whatever clients send (issue 9): each map holds at most `maxEntries` keys
// (limits.throttleEntries), and a key is at most 64 characters (a longer account name, which no
// account can have, is kept as its SHA-256). When a map is full, expired entries go first, then
// the oldest entries that are not (yet) slowing anyone down, and only then the oldest slowed
// ones: a flood of junk names cannot push a throttled account out and so lift its throttle.
import { createHash } from 'node:crypto';
import type { Clock } from '../core/index.ts';

export interface ThrottleLimits {
  perAccount: number;
  perAddress: number;
  windowMs: number;
}

interface Bucket {
  count: number;
  resetAt: number;
}

const MAX_KEY_LENGTH = 64;

function keyOf(raw: string): string {
  return raw.length <= MAX_KEY_LENGTH ? raw : `#${createHash('sha256').update(raw).digest('base64url')}`;
}

export class SignInThrottle {
  readonly #clock: Clock;
  #limits: ThrottleLimits;
  readonly #accounts = new Map<string, Bucket>();
  readonly #addresses = new Map<string, Bucket>();
  readonly #maxEntries: number;
  static readonly DEFAULT_MAX_ENTRIES = 50_000;

  constructor(limits: ThrottleLimits, clock: Clock, maxEntries = SignInThrottle.DEFAULT_MAX_ENTRIES) {
    this.#limits = limits;
    this.#clock = clock;
    this.#maxEntries = Math.max(1, maxEntries);
  }

  setLimits(limits: ThrottleLimits): void {
    this.#limits = limits;
  }

  /** Keys held (accounts, addresses), for tests of the bound and a metric. */
  get size(): { accounts: number; addresses: number } {
    return { accounts: this.#accounts.size, addresses: this.#addresses.size };
  }

  /** Seconds until the caller may try again, or 0 when not throttled. */
  retryAfter(account: string, address: string): number {
    const now = this.#clock.now();
    const a = this.#live(this.#accounts, keyOf(account.toLowerCase()), now);
    const b = this.#live(this.#addresses, keyOf(address), now);
    let until = 0;
    if (a && a.count >= this.#limits.perAccount) until = Math.max(until, a.resetAt);
    if (b && b.count >= this.#limits.perAddress) until = Math.max(until, b.resetAt);
    return until === 0 ? 0 : Math.max(1, Math.ceil((until - now) / 1000));
  }

  recordFailure(account: string, address: string): void {
    const now = this.#clock.now();
    this.#bump(this.#accounts, keyOf(account.toLowerCase()), now, this.#limits.perAccount);
    this.#bump(this.#addresses, keyOf(address), now, this.#limits.perAddress);
  }

  /** A success clears the account's counter (not the address's: a sprayer with one good password stays slowed). */
  recordSuccess(account: string): void {
    this.#accounts.delete(keyOf(account.toLowerCase()));
  }

  #live(map: Map<string, Bucket>, key: string, now: number): Bucket | undefined {
    const b = map.get(key);
    if (b && b.resetAt <= now) {
      map.delete(key);
      return undefined;
    }
    return b;
  }

  #bump(map: Map<string, Bucket>, key: string, now: number, limit: number): void {
    const b = this.#live(map, key, now);
    if (b) {
      b.count++;
      return;
    }
    if (map.size >= this.#maxEntries) this.#evict(map, now, limit);
    map.set(key, { count: 1, resetAt: now + this.#limits.windowMs });
  }

  /** Make room for one entry (and a tenth more, so a full map is not swept on every failure). */
  #evict(map: Map<string, Bucket>, now: number, limit: number): void {
    const target = this.#maxEntries - Math.max(1, Math.floor(this.#maxEntries / 10));
    for (const [k, b] of map) if (b.resetAt <= now) map.delete(k);
    // Map keeps insertion order: the oldest first.
    for (const [k, b] of map) {
      if (map.size <= target) return;
      if (b.count < limit) map.delete(k);
    }
    for (const k of map.keys()) {
      if (map.size <= target) return;
      map.delete(k);
    }
  }
}
