// Throttling of failed sign-ins per account and per source address. Never global: one noisy
// address cannot lock everyone out, and an attacker spraying one account from many addresses
// is held by the per-account limit. Counters live in this process; with several replicas each
// keeps its own, so the effective limit is per replica (documented in docs/security.md).
import type { Clock } from '../core/index.ts';

export interface ThrottleLimits { perAccount: number; perAddress: number; windowMs: number }

interface Bucket { count: number; resetAt: number }

export class SignInThrottle {
  readonly #clock: Clock;
  #limits: ThrottleLimits;
  readonly #accounts = new Map<string, Bucket>();
  readonly #addresses = new Map<string, Bucket>();
  static readonly MAX_KEYS = 100_000;

  constructor(limits: ThrottleLimits, clock: Clock) { this.#limits = limits; this.#clock = clock; }

  setLimits(limits: ThrottleLimits): void { this.#limits = limits; }

  /** Seconds until the caller may try again, or 0 when not throttled. */
  retryAfter(account: string, address: string): number {
    const now = this.#clock.now();
    const a = this.#live(this.#accounts, account.toLowerCase(), now);
    const b = this.#live(this.#addresses, address, now);
    let until = 0;
    if (a && a.count >= this.#limits.perAccount) until = Math.max(until, a.resetAt);
    if (b && b.count >= this.#limits.perAddress) until = Math.max(until, b.resetAt);
    return until === 0 ? 0 : Math.max(1, Math.ceil((until - now) / 1000));
  }

  recordFailure(account: string, address: string): void {
    const now = this.#clock.now();
    this.#bump(this.#accounts, account.toLowerCase(), now);
    this.#bump(this.#addresses, address, now);
  }

  /** A success clears the account's counter (not the address's: a sprayer with one good password stays slowed). */
  recordSuccess(account: string): void { this.#accounts.delete(account.toLowerCase()); }

  #live(map: Map<string, Bucket>, key: string, now: number): Bucket | undefined {
    const b = map.get(key);
    if (b && b.resetAt <= now) { map.delete(key); return undefined; }
    return b;
  }

  #bump(map: Map<string, Bucket>, key: string, now: number): void {
    const b = this.#live(map, key, now);
    if (b) { b.count++; return; }
    if (map.size >= SignInThrottle.MAX_KEYS) this.#sweep(map, now);
    map.set(key, { count: 1, resetAt: now + this.#limits.windowMs });
  }

  #sweep(map: Map<string, Bucket>, now: number): void {
    for (const [k, b] of map) if (b.resetAt <= now) map.delete(k);
    // Still full: drop the oldest entries (Map keeps insertion order).
    for (const k of map.keys()) { if (map.size < SignInThrottle.MAX_KEYS) break; map.delete(k); }
  }
}
