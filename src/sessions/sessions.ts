// Browser sessions. The cookie is small and sealed: it names a session and a user and carries
// its absolute expiry, nothing else, so it never nears the 4 KB cookie limit however many groups
// a user has. Who the user is (groups, email) comes from the store the first time this process
// sees the session and is then kept in memory; revocations arrive through the store's feed.
//
// The forward-auth hot path is `authenticate()`: for a session seen before it is a map lookup
// for the unsealed cookie, a revocation check, and an idle check; no store access.
import { randomBytes } from 'node:crypto';
import { LongKeyMap, type Clock, type Identity, type Logger } from '../core/index.ts';
import type { KeyRing } from '../crypto/index.ts';
import type { Store, UserRecord } from '../store/index.ts';
import { NO_FACTORS, type FactorState } from '../policy/index.ts';

import type { Accounts } from '../accounts/index.ts';

const PURPOSE = 'session-cookie';
/** How long a loaded identity is trusted before it is refreshed from the store (in the background). */
const IDENTITY_TTL_MS = 60_000;
/**
 * Sessions (and their unsealed cookies) kept in memory at most (limits.sessionCache). Only a
 * cookie that unseals (one we sealed) or a session in the store can enter, so junk cookies add
 * nothing; past the bound the oldest tenth goes and is read again from the store when next seen.
 */
export const DEFAULT_SESSION_CACHE = 50_000;
const TOUCH_FLUSH_MS = 30_000;
/**
 * The feed is the fast path for revocations; this poll is the safety net: a revocation made
 * by another process on the same SQLite file (the CLI), or published while a PostgreSQL
 * listener was reconnecting, still arrives within this interval.
 */
const REVOCATION_POLL_MS = 500;

/**
 * `via`: the connector the session was signed in with (absent for a password sign-in).
 * `amr`, `mfa`, `pk`: how the session signed in (policy/factors.ts FactorState: its methods, when
 * a second factor and when a passkey were last used), so the gate judges a rule's `factors`
 * without the store. Absent: a password only.
 */
interface CookiePayload {
  v: 1;
  sid: string;
  uid: string;
  iat: number;
  exp: number;
  via?: string;
  amr?: string[];
  mfa?: number;
  pk?: number;
}

function factorsOf(p: CookiePayload): FactorState {
  if (p.amr === undefined) return NO_FACTORS;
  return { amr: p.amr, mfaAt: p.mfa ?? null, passkeyAt: p.pk ?? null };
}

/**
 * What sessions need of the people behind them (accounts own people). Never called on the hot
 * path: when a process first sees a session, and in the background at renewal. A session made
 * with an upstream provider (connector) adds that identity's mapped groups to the user's own,
 * and at renewal the provider is asked again (`refreshUpstream`: 'revoked' ends the session).
 */
export type SessionAccounts = Pick<Accounts, 'get' | 'identityOf' | 'endSession' | 'upstreamGroups' | 'refreshUpstream'>;

export interface SessionView {
  sid: string;
  userId: string;
  identity: Identity;
  name: string | null;
  expiresAt: number;
  createdAt: number;
  /** The connector this session was signed in with, or null (password). */
  via: string | null;
  /** How the session signed in, and when its second factor was last proved. */
  factors: FactorState;
}

/** What this process keeps of a session it has seen. */
interface Loaded extends SessionView {
  lastSeen: number;
  loadedAt: number;
  refreshing: boolean;
  upstreamGroups: readonly string[];
}

export interface SessionOptions {
  keyring: KeyRing;
  store: Store;
  clock: Clock;
  logger: Logger;
  lifetimeMs: number;
  idleTimeoutMs: number;
  accounts: SessionAccounts;
  /** See DEFAULT_SESSION_CACHE. */
  cacheSize?: number;
}

export class Sessions {
  #keyring: KeyRing;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #lifetimeMs: number;
  #idleTimeoutMs: number;
  readonly #accounts: SessionAccounts;
  readonly #cacheSize: number;

  /**
   * sealed cookie value -> its payload, to skip AES-GCM for cookies seen before (indexed by the
   * cookie's tail: hashing the whole fresh string of every request was a tenth of the check).
   */
  readonly #cookies = new LongKeyMap<CookiePayload>();
  readonly #loaded = new Map<string, Loaded>();
  readonly #pending = new Map<string, Promise<Loaded | null>>();
  /** session id -> its expiry; revoked sessions are refused until they would have expired anyway. */
  readonly #revoked = new Map<string, number>();
  readonly #touched = new Set<string>();
  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #polledAt = 0;
  #polling = false;

  constructor(opts: SessionOptions) {
    this.#keyring = opts.keyring;
    this.#store = opts.store;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#lifetimeMs = opts.lifetimeMs;
    this.#idleTimeoutMs = opts.idleTimeoutMs;
    this.#accounts = opts.accounts;
    this.#cacheSize = Math.max(1, opts.cacheSize ?? DEFAULT_SESSION_CACHE);
  }

  /** Swap settings on config reload. A new key ring drops the cookie cache so removed keys stop working at once. */
  configure(opts: { keyring: KeyRing; lifetimeMs: number; idleTimeoutMs: number }): void {
    if (opts.keyring !== this.#keyring) this.#cookies.clear();
    this.#keyring = opts.keyring;
    this.#lifetimeMs = opts.lifetimeMs;
    this.#idleTimeoutMs = opts.idleTimeoutMs;
  }

  get lifetimeMs(): number {
    return this.#lifetimeMs;
  }

  /** The sessions' clock (factor ages are measured on it). */
  now(): number {
    return this.#clock.now();
  }

  /** The user's identity with the groups of the upstream identity the session came from. */
  #compose(user: UserRecord, upstreamGroups: readonly string[]): Identity {
    const own = this.#accounts.identityOf(user);
    if (upstreamGroups.length === 0) return own;
    return { ...own, groups: [...new Set([...own.groups, ...upstreamGroups])] };
  }

  /** Load the revocations still in force and follow the feed; flush idle timestamps periodically. */
  async start(): Promise<void> {
    const now = this.#clock.now();
    for (const r of await this.#store.sessions.revokedSince(now - this.#lifetimeMs, now)) this.#revoked.set(r.id, r.expiresAt);
    this.#polledAt = now;
    this.#unsubscribe = this.#store.revocations.subscribe((sid) => this.#markRevoked(sid));
    this.#timer = setInterval(() => {
      void this.flush();
      this.#sweep();
    }, TOUCH_FLUSH_MS);
    this.#timer.unref();
    this.#pollTimer = setInterval(() => {
      void this.pollRevocations();
    }, REVOCATION_POLL_MS);
    this.#pollTimer.unref();
  }

  /** Pick up revocations recorded in the store since the last poll (with overlap for clock skew). */
  async pollRevocations(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    const now = this.#clock.now();
    try {
      for (const r of await this.#store.sessions.revokedSince(this.#polledAt - 5_000, now)) {
        if (!this.#revoked.has(r.id)) this.#markRevoked(r.id, r.expiresAt);
      }
      this.#polledAt = now;
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, 'could not poll session revocations');
    } finally {
      this.#polling = false;
    }
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    if (this.#timer) clearInterval(this.#timer);
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    await this.flush();
  }

  /** Begin a session for a user who has just proved who they are. Returns the cookie value. */
  async begin(
    user: UserRecord,
    meta: { ip: string | null; userAgent: string | null },
    upstream?: { via: string; groups: readonly string[] },
    factors: FactorState = NO_FACTORS,
  ): Promise<{ cookie: string; sid: string; expiresAt: number }> {
    const now = this.#clock.now();
    // Hex, not base64url: an id starting with "-" would read as an option to `session revoke`.
    const sid = randomBytes(18).toString('hex');
    const expiresAt = now + this.#lifetimeMs;
    await this.#store.sessions.create({
      id: sid,
      userId: user.id,
      createdAt: now,
      expiresAt,
      lastSeenAt: now,
      ip: meta.ip,
      userAgent: meta.userAgent ? meta.userAgent.slice(0, 256) : null,
      factors: factors === NO_FACTORS ? null : JSON.stringify(factors),
    });
    const payload: CookiePayload = {
      v: 1,
      sid,
      uid: user.id,
      iat: now,
      exp: expiresAt,
      ...(upstream ? { via: upstream.via } : {}),
      ...factorFields(factors),
    };
    const cookie = this.#keyring.seal(PURPOSE, JSON.stringify(payload));
    if (this.#loaded.size >= this.#cacheSize) this.#evictOldest(this.#loaded, Math.ceil(this.#cacheSize / 10));
    this.#loaded.set(sid, {
      sid,
      userId: user.id,
      identity: this.#compose(user, upstream?.groups ?? []),
      name: user.name,
      expiresAt,
      createdAt: now,
      lastSeen: now,
      loadedAt: now,
      refreshing: false,
      via: upstream?.via ?? null,
      upstreamGroups: upstream?.groups ?? [],
      factors,
    });
    return { cookie, sid, expiresAt };
  }

  /**
   * A new cookie for the same session after it proved more (a step-up): same id, user and
   * expiry, the new factor state. This process sees the new state at once; another replica when
   * the new cookie reaches it (its state is newer, so it wins over the one loaded before).
   */
  async elevate(cookie: string, factors: FactorState): Promise<string | null> {
    const p = this.#decode(cookie);
    if (!p || p.exp <= this.#clock.now() || this.#revoked.has(p.sid)) return null;
    const { amr: _a, mfa: _m, pk: _p, ...rest } = p;
    const next: CookiePayload = { ...rest, ...factorFields(factors) };
    // The record is for explain and the admin view; the gate reads the cookie.
    await this.#store.sessions.setFactors(p.sid, JSON.stringify(factors));
    const l = this.#loaded.get(p.sid);
    if (l) l.factors = factors;
    return this.#keyring.seal(PURPOSE, JSON.stringify(next));
  }

  /**
   * The session a cookie value stands for, or null. A cookie that does not unseal (another
   * product's cookie of the same name, a key rotated away, tampering) is simply no session.
   */
  authenticate(cookie: string | undefined): Promise<SessionView | null> | SessionView | null {
    if (!cookie) return null;
    const payload = this.#decode(cookie);
    if (!payload) return null;
    const now = this.#clock.now();
    if (payload.exp <= now || this.#revoked.has(payload.sid)) return null;
    const loaded = this.#loaded.get(payload.sid);
    if (loaded) {
      // A cookie from a step-up (made here or on another replica) carries newer factors.
      if ((payload.mfa ?? 0) > (loaded.factors.mfaAt ?? 0) || (payload.pk ?? 0) > (loaded.factors.passkeyAt ?? 0))
        loaded.factors = factorsOf(payload);
      return this.#check(loaded, now);
    }
    return this.#load(payload).then((l) => (l ? this.#check(l, this.#clock.now()) : null));
  }

  /** End a session everywhere: the store records it and every replica hears of it (Accounts.endSession). */
  async revoke(sid: string, reason = 'signed out'): Promise<boolean> {
    const was = await this.#accounts.endSession(sid, reason);
    this.#markRevoked(sid);
    return was;
  }

  /** Write idle timestamps collected since the last flush. */
  async flush(): Promise<void> {
    if (this.#touched.size === 0) return;
    const updates: { id: string; lastSeenAt: number }[] = [];
    for (const sid of this.#touched) {
      const l = this.#loaded.get(sid);
      if (l) updates.push({ id: sid, lastSeenAt: l.lastSeen });
    }
    this.#touched.clear();
    try {
      await this.#store.sessions.touch(updates);
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message, count: updates.length }, 'could not record session activity');
    }
  }

  /** Number of sessions this process holds in memory (a metric). */
  get cachedSessions(): number {
    return this.#loaded.size;
  }

  /** Unsealed cookies held in memory (for tests of the bound). */
  get cachedCookies(): number {
    return this.#cookies.size;
  }

  #decode(cookie: string): CookiePayload | undefined {
    const hit = this.#cookies.get(cookie);
    if (hit) return hit;
    if (cookie.length > 4096) return undefined;
    const raw = this.#keyring.unseal(PURPOSE, cookie);
    if (!raw) return undefined;
    let p: CookiePayload;
    try {
      p = JSON.parse(raw.toString('utf8')) as CookiePayload;
    } catch {
      return undefined;
    }
    if (p.v !== 1 || typeof p.sid !== 'string' || typeof p.uid !== 'string' || typeof p.exp !== 'number') return undefined;
    if (p.via !== undefined && typeof p.via !== 'string') return undefined;
    if (p.amr !== undefined && (!Array.isArray(p.amr) || !p.amr.every((m) => typeof m === 'string'))) return undefined;
    if ((p.mfa !== undefined && typeof p.mfa !== 'number') || (p.pk !== undefined && typeof p.pk !== 'number')) return undefined;
    if (this.#cookies.size >= this.#cacheSize) this.#cookies.evictOldest(Math.ceil(this.#cacheSize / 10));
    this.#cookies.set(cookie, p);
    return p;
  }

  #check(l: Loaded, now: number): SessionView | null {
    if (l.expiresAt <= now || this.#revoked.has(l.sid)) return null;
    if (now - l.lastSeen > this.#idleTimeoutMs) return null;
    l.lastSeen = now;
    this.#touched.add(l.sid);
    if (now - l.loadedAt > IDENTITY_TTL_MS && !l.refreshing) this.#refresh(l);
    return l;
  }

  #load(p: CookiePayload): Promise<Loaded | null> {
    const inflight = this.#pending.get(p.sid);
    if (inflight) return inflight;
    const job = (async (): Promise<Loaded | null> => {
      const rec = await this.#store.sessions.get(p.sid);
      if (!rec || rec.userId !== p.uid) return null;
      if (rec.revokedAt !== null) {
        this.#revoked.set(rec.id, rec.expiresAt);
        return null;
      }
      const user = await this.#accounts.get(rec.userId);
      if (!user || user.disabled) return null;
      const via = p.via ?? null;
      let upstreamGroups: readonly string[] = [];
      if (via !== null) {
        const groups = await this.#accounts.upstreamGroups(user.id, via);
        // The upstream identity was unlinked: the session it made is over.
        if (groups === null) return null;
        upstreamGroups = groups;
      }
      const now = this.#clock.now();
      const l: Loaded = {
        sid: rec.id,
        userId: user.id,
        identity: this.#compose(user, upstreamGroups),
        name: user.name,
        expiresAt: rec.expiresAt,
        createdAt: rec.createdAt,
        lastSeen: rec.lastSeenAt,
        loadedAt: now,
        refreshing: false,
        via,
        upstreamGroups,
        factors: factorsOf(p),
      };
      if (this.#loaded.size >= this.#cacheSize) this.#evictOldest(this.#loaded, Math.ceil(this.#cacheSize / 10));
      this.#loaded.set(rec.id, l);
      return l;
    })().finally(() => this.#pending.delete(p.sid));
    this.#pending.set(p.sid, job);
    return job;
  }

  /** Refresh a session's identity from the store without making the request wait for it. */
  #refresh(l: Loaded): void {
    l.refreshing = true;
    this.#accounts
      .get(l.userId)
      .then(async (user) => {
        if (!user || user.disabled) {
          this.#markRevoked(l.sid);
          return;
        }
        if (l.via !== null) {
          // The provider is asked only when its connector's refreshInterval has passed (accounts decide).
          const upstream = await this.#accounts.refreshUpstream(l.userId, l.via);
          if (upstream === 'revoked') {
            await this.revoke(l.sid, 'upstream access ended');
            this.#logger.info(
              { event: 'session_ended', reason: 'upstream access ended', connector: l.via, session: l.sid.slice(0, 6) },
              'session ended by its upstream provider',
            );
            return;
          }
          if (upstream !== null) l.upstreamGroups = upstream;
        }
        l.identity = this.#compose(user, l.upstreamGroups);
        l.name = user.name;
        l.loadedAt = this.#clock.now();
      })
      .catch((err: unknown) => {
        this.#logger.warn({ err: (err as Error).message, sid: l.sid.slice(0, 6) }, 'could not refresh a session identity');
      })
      .finally(() => {
        l.refreshing = false;
      });
  }

  /** Re-read identities after the groups in config changed. */
  reidentify(): void {
    for (const l of this.#loaded.values()) l.loadedAt = 0;
  }

  #markRevoked(sid: string, expiresAt?: number): void {
    const l = this.#loaded.get(sid);
    this.#revoked.set(sid, expiresAt ?? l?.expiresAt ?? this.#clock.now() + this.#lifetimeMs);
    this.#loaded.delete(sid);
  }

  #sweep(): void {
    const now = this.#clock.now();
    for (const [sid, exp] of this.#revoked) if (exp <= now) this.#revoked.delete(sid);
    this.#cookies.deleteWhere((p) => p.exp <= now);
    for (const [sid, l] of this.#loaded) if (l.expiresAt <= now || now - l.lastSeen > this.#idleTimeoutMs) this.#loaded.delete(sid);
  }

  #evictOldest<K, V>(map: Map<K, V>, n: number): void {
    let i = 0;
    for (const k of map.keys()) {
      if (i++ >= n) break;
      map.delete(k);
    }
  }
}

function factorFields(f: FactorState): Pick<CookiePayload, 'amr' | 'mfa' | 'pk'> {
  if (f === NO_FACTORS) return {};
  return { amr: [...f.amr], ...(f.mfaAt !== null ? { mfa: f.mfaAt } : {}), ...(f.passkeyAt !== null ? { pk: f.passkeyAt } : {}) };
}
