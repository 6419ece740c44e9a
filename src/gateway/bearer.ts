// Bearer access tokens at a protected resource: JWTs this instance's issuer signed (RFC 9068),
// verified locally against the issuer's public keys, never by a network call.
//
//   1. the header: alg RS256 or ES256 only (never "none", never HS* with a guessable key),
//      typ "at+jwt" (RFC 9068 §4: an ID token, typ "JWT", is not an access token)
//   2. the signature, by a key of the current JWKS (rotation: the key source is read per call
//      and the imported key set rebuilt only when the source returns a new object)
//   3. iss exactly the issuer; exp and nbf with a small leeway; the claims RFC 9068 §2.2 requires
//   4. aud includes the resource (RFC 8707 §2; checked per call, so one cached result serves
//      every resource a multi-audience token names)
// A verified token is remembered until it expires (a bounded map), so a client's repeated calls
// cost one map lookup; the map is emptied when the keys or the issuer change.
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose';
import type { Clock } from '../core/index.ts';

export type { JSONWebKeySet };

export interface VerifiedToken {
  /** The subject: a user id (or the client id for a client-credentials token). */
  sub: string;
  /** preferred_username when the token carries it. */
  username?: string;
  email: string | null;
  emailVerified: boolean;
  groups: string[];
  scopes: string[];
  clientId: string;
  /** Expiry, milliseconds since the epoch. */
  exp: number;
  audiences: string[];
}

export interface TokenVerifier {
  /** Resolves to the token's contents, or rejects with a TokenRejected naming the reason (for logs only). */
  verify(token: string, audience: string): Promise<VerifiedToken>;
}

/** Why a token was refused. The reason is for the log; the wire says only invalid_token. */
export class TokenRejected extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = 'TokenRejected';
    this.reason = reason;
  }
}

export const ACCESS_TOKEN_ALGS = ['RS256', 'ES256'] as const;
const EMPTY: JSONWebKeySet = { keys: [] };
// Public members of the key types we accept; anything else (d, p, q, dp, dq, qi, oth, k) is
// dropped, so a source that hands us private JWKs still yields verification-only keys.
const PUBLIC_MEMBERS = ['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y', 'n', 'e'] as const;

/** Only public RSA/EC signing keys for RS256/ES256, with their private members removed. */
export function publicVerificationKeys(set: JSONWebKeySet): JSONWebKeySet {
  const keys: JWK[] = [];
  for (const k of set.keys) {
    if (k.kty !== 'RSA' && k.kty !== 'EC') continue;
    if (k.use !== undefined && k.use !== 'sig') continue;
    if (k.alg !== undefined && !(ACCESS_TOKEN_ALGS as readonly string[]).includes(k.alg)) continue;
    const pub: Record<string, unknown> = {};
    for (const m of PUBLIC_MEMBERS) if (k[m] !== undefined) pub[m] = k[m];
    keys.push(pub as JWK);
  }
  return { keys };
}

export interface TokenVerifierOptions {
  /** The issuer identifier tokens must name exactly (publicUrl without a trailing slash). */
  issuer: () => string;
  /** The issuer's current signing keys (public JWKs; private members are ignored). */
  keys: () => JSONWebKeySet;
  clock: Clock;
  /** Clock skew allowed on exp and nbf, in seconds (default 5). */
  leewaySeconds?: number;
  /** Verified tokens remembered at most (default 10,000); the oldest is dropped first. */
  maxCached?: number;
  /**
   * Whether a token's subject still exists (a deleted or expired agent's tokens must stop
   * working before they expire). Answers are remembered for `subjectCheckMs` (default 2 s), so
   * a deletion reaches the gate within that and the store is asked at most once per interval.
   */
  subjectActive?: (sub: string) => Promise<boolean>;
  subjectCheckMs?: number;
}

interface Cached { token: VerifiedToken; expiresAt: number }

export function createTokenVerifier(opts: TokenVerifierOptions): TokenVerifier & { cacheSize(): number } {
  const leeway = opts.leewaySeconds ?? 5;
  const max = opts.maxCached ?? 10_000;
  const cache = new Map<string, Cached>();
  let source: JSONWebKeySet | undefined;
  let keySet: ReturnType<typeof createLocalJWKSet> = createLocalJWKSet(EMPTY);
  let issuer = '';

  /** The imported key set for the current source; a new source or issuer forgets every cached token. */
  function current(): ReturnType<typeof createLocalJWKSet> {
    const s = opts.keys();
    const iss = opts.issuer();
    if (s !== source || iss !== issuer) {
      source = s;
      issuer = iss;
      keySet = createLocalJWKSet(publicVerificationKeys(s));
      cache.clear();
    }
    return keySet;
  }

  function withAudience(c: Cached, audience: string): VerifiedToken {
    if (!c.token.audiences.includes(audience)) throw new TokenRejected('the token is not for this resource (aud)');
    return c.token;
  }

  const subjects = new Map<string, { active: boolean; checkedAt: number }>();
  const subjectCheckMs = opts.subjectCheckMs ?? 2_000;
  async function checkSubject(t: VerifiedToken, now: number): Promise<void> {
    if (!opts.subjectActive) return;
    let s = subjects.get(t.sub);
    if (!s || now - s.checkedAt >= subjectCheckMs) {
      s = { active: await opts.subjectActive(t.sub), checkedAt: now };
      if (subjects.size >= max) subjects.clear();
      subjects.set(t.sub, s);
    }
    if (!s.active) throw new TokenRejected('the token\'s subject no longer exists');
  }

  return {
    cacheSize: () => cache.size,
    async verify(token, audience) {
      const keys = current();
      const now = opts.clock.now();
      const hit = cache.get(token);
      if (hit) {
        if (now >= hit.expiresAt) {
          cache.delete(token);
          throw new TokenRejected('the token has expired');
        }
        await checkSubject(hit.token, now);
        return withAudience(hit, audience);
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          issuer,
          algorithms: [...ACCESS_TOKEN_ALGS],
          typ: 'at+jwt',
          clockTolerance: leeway,
          currentDate: new Date(now),
          requiredClaims: ['iss', 'exp', 'iat', 'aud', 'sub', 'client_id'],
        }));
      } catch (err) {
        throw new TokenRejected(reasonOf(err));
      }
      const verified = toVerified(payload);
      const entry: Cached = { token: verified, expiresAt: verified.exp + leeway * 1000 };
      if (cache.size >= max) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      cache.set(token, entry);
      await checkSubject(verified, now);
      return withAudience(entry, audience);
    },
  };
}

function reasonOf(err: unknown): string {
  const code = (err as { code?: string }).code;
  const claim = (err as { claim?: string }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED': return 'the token has expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return 'the signature does not verify';
    case 'ERR_JWKS_NO_MATCHING_KEY': return 'no current signing key matches the token (kid/alg)';
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return 'the token\'s algorithm is not RS256 or ES256';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': return `the token's ${claim ?? 'claims'} claim is not acceptable`;
    case 'ERR_JWS_INVALID': case 'ERR_JWT_INVALID': return 'the token is not a well-formed JWT';
    default: return 'the token could not be verified';
  }
}

function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function toVerified(p: JWTPayload): VerifiedToken {
  const sub = p.sub;
  const clientId = p.client_id;
  if (typeof sub !== 'string' || sub === '' || typeof clientId !== 'string' || typeof p.exp !== 'number') {
    throw new TokenRejected('the token lacks sub, client_id or exp');
  }
  const username = typeof p.preferred_username === 'string' && p.preferred_username !== '' ? p.preferred_username : undefined;
  return {
    sub,
    ...(username === undefined ? {} : { username }),
    email: typeof p.email === 'string' ? p.email : null,
    emailVerified: p.email_verified === true,
    groups: strings(p.groups),
    // RFC 9068 §2.2.3: scope is a space-separated string.
    scopes: typeof p.scope === 'string' ? p.scope.split(' ').filter(Boolean) : [],
    clientId,
    exp: p.exp * 1000,
    audiences: strings(p.aud),
  };
}

/**
 * The token in an Authorization header (RFC 6750 §2.1: the "Bearer" scheme, case-insensitive,
 * one space, a b64token). undefined: no bearer credentials at all; null: a Bearer header whose
 * value is malformed.
 */
export function bearerToken(header: string | undefined): string | undefined | null {
  if (header === undefined) return undefined;
  if (header.length < 7 || header.slice(0, 7).toLowerCase() !== 'bearer ') return header.trim().toLowerCase() === 'bearer' ? null : undefined;
  const token = header.slice(7).trim();
  return B64TOKEN.test(token) ? token : null;
}

const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
