// DPoP proofs at the gate (RFC 9449 §4.3 and §7.1): a token bound to a key (`cnf.jkt`) is used
// with `Authorization: DPoP <token>` and a `DPoP` header holding a proof signed by that key for
// this very request. Checked in this order, each failure a DpopRejected naming the reason (for
// the log; the wire says invalid_dpop_proof):
//   1. exactly one proof, a compact JWS
//   2. header: typ "dpop+jwt", alg one of issuer.dpop.algorithms (never none, never a MAC), jwk a
//      public key (no private members) — then the signature by that jwk
//   3. claims: jti a string, htm the request's method, htu the request's URL (both normalized,
//      query and fragment dropped: §4.3 point 9), iat within issuer.dpop.proofLifetime of now
//   4. ath: base64url(SHA-256(the access token)) (§4.3 point 11)
//   5. the jwk's RFC 7638 thumbprint is the token's cnf.jkt (§6.1)
//   6. the jti was never seen with this key while a proof could still pass step 3 (§11.1): a
//      small in-memory front, then the store (shared by every replica), so a replay fails
//      wherever it lands
// The request URL is the ORIGINAL one, as the proxy reports it (X-Original-URL, X-Forwarded-*),
// never the gate's own /oauth2/auth.
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import type { Clock } from '../core/index.ts';

export class DpopRejected extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = 'DpopRejected';
    this.reason = reason;
  }
}

export interface DpopSettings {
  enabled: boolean;
  algorithms: readonly string[];
  /** How far iat may be from now, either way, in milliseconds. */
  proofLifetimeMs: number;
}

export interface DpopCheckerOptions {
  settings: () => DpopSettings;
  clock: Clock;
  /** The shared replay record (store.replays.once): true the first time a key is seen. */
  once: (key: string, expiresAt: number, now: number) => Promise<boolean>;
  /** Deletes expired records from the store; called at most once a minute, never awaited. */
  sweep?: (before: number) => Promise<unknown>;
  /** jtis kept in memory at most (default 10,000): the oldest go first; the store still has them. */
  maxRemembered?: number;
}

export interface DpopRequest {
  method: string;
  /** The original request URL: scheme, host (with a non-default port) and path. */
  url: string;
}

export interface DpopChecker {
  settings(): DpopSettings;
  /** Resolves when the proof is good for this request, token and key; else rejects with DpopRejected. */
  check(proof: string | string[] | undefined, req: DpopRequest, accessToken: string, jkt: string): Promise<void>;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_PROOF = 8192;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** RFC 9449 §4.3 point 9: the URL with query and fragment removed, normalized (RFC 3986 §6.2.2, §6.2.3). */
export function normalizeHtu(value: string): string | null {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return null;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
  if (u.username !== '' || u.password !== '') return null;
  // WHATWG parsing already lower-cases scheme and host, drops a default port, resolves dot
  // segments and makes an empty path "/". Percent-encoding: upper-case hex, unreserved decoded.
  const path = u.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${hex.toUpperCase()}`;
  });
  return `${u.protocol}//${u.host}${path}`;
}

export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

export function createDpopChecker(opts: DpopCheckerOptions): DpopChecker {
  const max = opts.maxRemembered ?? 10_000;
  // jti key -> when it may be forgotten; insertion order is expiry order closely enough to drop
  // the oldest first when full (a dropped entry is still in the store).
  const seen = new Map<string, number>();
  let sweptAt = 0;

  function remember(key: string, until: number): void {
    if (seen.size >= max) {
      const oldest = seen.keys().next();
      if (!oldest.done) seen.delete(oldest.value);
    }
    seen.set(key, until);
  }

  return {
    settings: opts.settings,
    async check(proof, req, accessToken, jkt) {
      const s = opts.settings();
      // 1. RFC 9449 §4.3 point 1: one DPoP header. Node joins repeated headers with ", ".
      if (proof === undefined || proof === '') throw new DpopRejected('no DPoP proof (a DPoP-bound token needs the DPoP header)');
      if (Array.isArray(proof) || proof.includes(',')) throw new DpopRejected('more than one DPoP header');
      if (proof.length > MAX_PROOF || !COMPACT_JWS.test(proof)) throw new DpopRejected('the DPoP proof is not a compact JWS');
      // 2. The header, before any key is imported.
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(proof);
      } catch {
        throw new DpopRejected('the DPoP proof header is not JSON');
      }
      if (header.typ !== 'dpop+jwt') throw new DpopRejected('the DPoP proof typ is not dpop+jwt');
      if (typeof header.alg !== 'string' || !s.algorithms.includes(header.alg))
        throw new DpopRejected(`the DPoP proof alg is not one of ${s.algorithms.join(', ')}`);
      const jwk = header.jwk as JWK | undefined;
      if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) throw new DpopRejected('the DPoP proof has no jwk header');
      if (jwk.kty === 'oct' || PRIVATE_MEMBERS.some((m) => (jwk as Record<string, unknown>)[m] !== undefined)) {
        throw new DpopRejected('the DPoP proof jwk is not a public key');
      }
      let payload: Record<string, unknown>;
      try {
        ({ payload } = (await jwtVerify(proof, EmbeddedJWK, { algorithms: [...s.algorithms], typ: 'dpop+jwt' })) as {
          payload: Record<string, unknown>;
        });
      } catch {
        throw new DpopRejected('the DPoP proof signature does not verify with its jwk');
      }
      // 3. The claims.
      const { jti, htm, htu, iat, ath } = payload;
      if (typeof jti !== 'string' || jti === '' || jti.length > 256)
        throw new DpopRejected('the DPoP proof jti is missing or not a string');
      if (htm !== req.method) throw new DpopRejected('the DPoP proof htm is not the request method');
      const expected = normalizeHtu(req.url);
      if (typeof htu !== 'string' || expected === null || normalizeHtu(htu) !== expected)
        throw new DpopRejected('the DPoP proof htu is not the request URL');
      const now = opts.clock.now();
      if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new DpopRejected('the DPoP proof iat is missing');
      if (Math.abs(now - iat * 1000) > s.proofLifetimeMs) throw new DpopRejected('the DPoP proof iat is outside issuer.dpop.proofLifetime');
      // 4. ath binds the proof to this access token.
      if (typeof ath !== 'string' || ath !== accessTokenHash(accessToken))
        throw new DpopRejected('the DPoP proof ath is not the hash of the access token');
      // 5. The proof's key is the token's key.
      let thumbprint: string;
      try {
        thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
      } catch {
        throw new DpopRejected('the DPoP proof jwk has no thumbprint');
      }
      if (thumbprint !== jkt) throw new DpopRejected('the DPoP proof key is not the key the token is bound to (cnf.jkt)');
      // 6. Replay: jti per key, kept until iat + the window (after that step 3 refuses it anyway).
      const key = createHash('sha256').update(`${jkt}\0${jti}`).digest('base64url');
      const until = iat * 1000 + s.proofLifetimeMs + 1000;
      const known = seen.get(key);
      if (known !== undefined && known > now) throw new DpopRejected('the DPoP proof jti was used before (replay)');
      if (!(await opts.once(key, until, now))) {
        remember(key, until);
        throw new DpopRejected('the DPoP proof jti was used before (replay)');
      }
      remember(key, until);
      if (opts.sweep && now - sweptAt >= 60_000) {
        sweptAt = now;
        opts.sweep(now).catch(() => {
          /* the next sweep tries again; a failed sweep only delays cleanup */
        });
      }
    },
  };
}
