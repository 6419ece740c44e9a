// Bearer access tokens at a protected resource: JWTs this instance's issuer signed (RFC 9068),
// verified locally against the issuer's public keys, never by a network call.
//
//   1. the header: alg RS256 or ES256 only (never "none", never HS* with a guessable key),
//      typ "at+jwt" (RFC 9068 §4: an ID token, typ "JWT", is not an access token)
//   2. the signature, by a key of the current JWKS (rotation: the key source is read per call
//      and the imported key set rebuilt only when the source returns a new object)
//   3. iss exactly the issuer; exp and nbf with no leeway (the issuer is this process or a replica
//      on the same clock: a token is dead at its exp); the claims RFC 9068 §2.2 requires
//   4. aud includes the resource (RFC 8707 §2; checked per call, so one cached result serves
//      every resource a multi-audience token names)
// A verified token is remembered until it expires (a bounded map), so a client's repeated calls
// cost one map lookup; the map is emptied when the keys or the issuer change.
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose';
import { LongKeyMap, type Clock } from '../core/index.ts';
import { tokenFactorState, type FactorState } from '../policy/index.ts';

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
  /** RFC 9449 §6.1: the thumbprint of the key the token is bound to (cnf.jkt); absent for a plain bearer token. */
  jkt?: string;
  /**
   * How the sign-in behind the token went (our issuer's amr, acr and auth_time, RFC 9068 §2.2.1),
   * for apps[].factors and resources[].factors; absent for a token without amr (client
   * credentials, another issuer).
   */
  factors?: FactorState;
}

/** amr, acr and auth_time as a factor state (policy/factors.ts tokenFactorState); none without amr. */
function tokenFactors(p: JWTPayload): { factors?: FactorState } {
  if (!Array.isArray(p.amr)) return {};
  const amr = p.amr.filter((m): m is string => typeof m === 'string');
  return {
    factors: tokenFactorState(
      amr,
      typeof p.acr === 'string' ? p.acr : undefined,
      typeof p.auth_time === 'number' ? p.auth_time : undefined,
    ),
  };
}

export interface TokenVerifier {
  /** Resolves to the token's contents, or rejects with a TokenRejected naming the reason (for logs only). */
  verify(token: string, audience: string): Promise<VerifiedToken>;
  /**
   * What `verify` would resolve to, when that is known without waiting: a token verified before,
   * not expired, for `audience`, whose subject was found active within the check interval.
   * Anything else (a new token, a refusal, a subject due for its check) is undefined: ask `verify`.
   */
  known?(token: string, audience: string): VerifiedToken | undefined;
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
  /**
   * Clock skew allowed on exp and nbf, in seconds (default 0: our own issuer's tokens share our
   * clock; the leeway is for other issuers, tokens.trustedIssuers).
   */
  leewaySeconds?: number;
  /** Verified tokens remembered at most (default 10,000); the oldest is dropped first. */
  maxCached?: number;
  /**
   * Whether a token's subject may still use it (a deleted or expired agent, a disabled or
   * deleted user: their tokens must stop working before they expire). Answers are remembered for `subjectCheckMs` (default 2 s), so
   * a deletion reaches the gate within that and the store is asked at most once per interval.
   */
  subjectActive?: (sub: string, clientId: string) => Promise<boolean>;
  subjectCheckMs?: number;
}

interface Cached {
  token: VerifiedToken;
  expiresAt: number;
}

export function createTokenVerifier(
  opts: TokenVerifierOptions,
): TokenVerifier & { cacheSize(): number; known: NonNullable<TokenVerifier['known']> } {
  const leeway = opts.leewaySeconds ?? 0;
  const max = opts.maxCached ?? 10_000;
  // Indexed by the token's tail (its signature's end): a JWT is 600+ characters, hashed whole on
  // every request by a plain Map (core/long-key-map.ts).
  const cache = new LongKeyMap<Cached>();
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
      s = { active: await opts.subjectActive(t.sub, t.clientId), checkedAt: now };
      if (subjects.size >= max) subjects.clear();
      subjects.set(t.sub, s);
    }
    if (!s.active) throw new TokenRejected("the token's subject is disabled or no longer exists");
  }

  return {
    cacheSize: () => cache.size,
    known(token, audience) {
      current();
      const hit = cache.get(token);
      if (hit === undefined) return undefined;
      const now = opts.clock.now();
      if (now >= hit.expiresAt || !hit.token.audiences.includes(audience)) return undefined;
      if (opts.subjectActive) {
        const s = subjects.get(hit.token.sub);
        if (s === undefined || !s.active || now - s.checkedAt >= subjectCheckMs) return undefined;
      }
      return hit.token;
    },
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
      if (cache.size >= max) cache.evictOldest(1);
      cache.set(token, entry);
      await checkSubject(verified, now);
      return withAudience(entry, audience);
    },
  };
}

function reasonOf(err: unknown, algs = 'RS256 or ES256'): string {
  const code = (err as { code?: string }).code;
  const claim = (err as { claim?: string }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'the token has expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'the signature does not verify';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no current signing key matches the token (kid/alg)';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return `the token's algorithm is not ${algs}`;
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return `the token's ${claim ?? 'claims'} claim is not acceptable`;
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'the token is not a well-formed JWT';
    case 'ERR_JWKS_TIMEOUT':
      return "the issuer's JWKS did not answer in time";
    case 'ERR_JWKS_INVALID':
      return "the issuer's JWKS is not a valid key set";
    default:
      return 'the token could not be verified';
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
    ...boundKey(p),
    ...tokenFactors(p),
  };
}

/** cnf.jkt (RFC 9449 §6.1). A cnf the gate cannot honour (another confirmation method) fails closed. */
function boundKey(p: JWTPayload): { jkt?: string } {
  if (p.cnf === undefined) return {};
  const cnf = p.cnf as Record<string, unknown> | null;
  if (typeof cnf !== 'object' || cnf === null || typeof cnf.jkt !== 'string' || cnf.jkt === '') {
    throw new TokenRejected('the token is bound to a key by a confirmation method other than cnf.jkt');
  }
  return { jkt: cnf.jkt };
}

// Tokens from other issuers (`tokens.trustedIssuers`), at apps with an audience only (issue 5).
// The token's iss is read WITHOUT verifying it, only to pick the verifier; that verifier then
// checks everything again against the chosen issuer's own keys, so a forged iss gains nothing:
//   1. iss our own issuer (or no trusted issuers configured): the verifier above, unchanged
//   2. iss exactly a trusted issuer: that issuer's JWKS (fetched with a timeout, cached by jose,
//      refetched for an unknown kid at most every 30 s), RS256/ES256/EdDSA only, iss exact,
//      aud includes the app's audience (and the audience is one the issuer may serve), exp/nbf
//   3. any other iss (or none): refused
// The identity comes only from the claims configured for that issuer.

/** One entry of tokens.trustedIssuers (the config's shape, kept local so the gate does not import config types). */
export interface TrustedIssuer {
  issuer: string;
  jwksUri: string;
  audiences?: string[] | undefined;
  usernameClaim: 'preferred_username' | 'sub' | 'email';
  groupsClaim?: 'groups' | undefined;
}

export const EXTERNAL_TOKEN_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;

export interface AppTokenVerifierOptions {
  /** This instance's own issuer identifier: its tokens go to `own`. */
  ownIssuer: () => string;
  /** The trusted issuers now (the same array until the config reloads). */
  trusted: () => readonly TrustedIssuer[];
  clock: Clock;
  /** Clock skew allowed on exp and nbf, in seconds (default 5). */
  leewaySeconds?: number;
  /** How long a JWKS fetch may take, in milliseconds (default 5,000). */
  jwksTimeoutMs?: number;
}

/** The iss a token claims, read without verifying anything; undefined when there is none. */
export function unverifiedIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

type RemoteKeys = ReturnType<typeof createRemoteJWKSet>;

/** The verifier for bearer tokens at apps: our own issuer's tokens, and those of the trusted issuers. */
export function createAppTokenVerifier(own: TokenVerifier, opts: AppTokenVerifierOptions): TokenVerifier {
  const leeway = opts.leewaySeconds ?? 5;
  const timeout = opts.jwksTimeoutMs ?? 5_000;
  // One remote key set per (issuer, jwksUri), kept across config reloads that keep the pair, so
  // jose's cache survives a reload; pairs no longer configured are dropped.
  let seen: readonly TrustedIssuer[] | undefined;
  let remotes = new Map<string, RemoteKeys>();
  function keysFor(t: TrustedIssuer, list: readonly TrustedIssuer[]): RemoteKeys {
    if (list !== seen) {
      const next = new Map<string, RemoteKeys>();
      for (const x of list) {
        const k = `${x.issuer} ${x.jwksUri}`;
        next.set(k, remotes.get(k) ?? createRemoteJWKSet(new URL(x.jwksUri), { timeoutDuration: timeout }));
      }
      remotes = next;
      seen = list;
    }
    const k = `${t.issuer} ${t.jwksUri}`;
    let keys = remotes.get(k);
    if (!keys) {
      keys = createRemoteJWKSet(new URL(t.jwksUri), { timeoutDuration: timeout });
      remotes.set(k, keys);
    }
    return keys;
  }

  return {
    async verify(token, audience) {
      const list = opts.trusted();
      if (list.length === 0) return own.verify(token, audience);
      const iss = unverifiedIssuer(token);
      if (iss === undefined || iss === opts.ownIssuer()) return own.verify(token, audience);
      const t = list.find((x) => x.issuer === iss);
      if (!t) throw new TokenRejected("the token's issuer is not trusted (tokens.trustedIssuers)");
      if (t.audiences !== undefined && !t.audiences.includes(audience)) {
        throw new TokenRejected("the token's issuer may not be used for this audience (tokens.trustedIssuers[].audiences)");
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keysFor(t, list), {
          issuer: t.issuer,
          audience,
          algorithms: [...EXTERNAL_TOKEN_ALGS],
          clockTolerance: leeway,
          currentDate: new Date(opts.clock.now()),
          requiredClaims: ['iss', 'exp', 'aud', 'sub'],
        }));
      } catch (err) {
        throw new TokenRejected(reasonOf(err, 'RS256, ES256 or EdDSA'));
      }
      return externalIdentity(payload, t);
    },
  };
}

function externalIdentity(p: JWTPayload, t: TrustedIssuer): VerifiedToken {
  if (typeof p.sub !== 'string' || p.sub === '' || typeof p.exp !== 'number') throw new TokenRejected('the token lacks sub or exp');
  const emailVerified = p.email_verified === true && typeof p.email === 'string' && p.email !== '';
  const email = emailVerified ? (p.email as string) : null;
  let username: string | undefined;
  switch (t.usernameClaim) {
    case 'sub':
      username = p.sub;
      break;
    case 'preferred_username':
      username = typeof p.preferred_username === 'string' && p.preferred_username !== '' ? p.preferred_username : undefined;
      break;
    case 'email':
      username = email ?? undefined;
      break;
  }
  if (username === undefined) {
    throw new TokenRejected(
      `the token lacks a usable ${t.usernameClaim} claim${t.usernameClaim === 'email' ? ' (with email_verified true)' : ''} (tokens.trustedIssuers[].usernameClaim)`,
    );
  }
  const clientId = typeof p.client_id === 'string' ? p.client_id : typeof p.azp === 'string' ? p.azp : '';
  return {
    sub: p.sub,
    username,
    email,
    emailVerified,
    groups: t.groupsClaim === 'groups' ? strings(p.groups) : [],
    scopes: typeof p.scope === 'string' ? p.scope.split(' ').filter(Boolean) : [],
    clientId,
    exp: p.exp * 1000,
    audiences: strings(p.aud),
    ...boundKey(p),
  };
}

const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The access token in an Authorization header, with its scheme: "Bearer" (RFC 6750 §2.1) or
 * "DPoP" (RFC 9449 §7.1), case-insensitive, one space, a b64token. undefined: no header or
 * another scheme (Basic for the app itself); null: one of the two schemes, malformed.
 */
export function accessTokenCredentials(
  header: string | undefined,
  known?: (token: string) => boolean,
): { scheme: 'bearer' | 'dpop'; token: string } | undefined | null {
  if (header === undefined) return undefined;
  if (header.length >= 7 && header.slice(0, 7).toLowerCase() === 'bearer ') {
    const token = header.slice(7).trim();
    // A token verified before is a compact JWS, whose characters are all b64token ones: the
    // syntax check (a regular expression over 600+ characters) is for tokens not seen yet.
    return (known !== undefined && known(token)) || B64TOKEN.test(token) ? { scheme: 'bearer', token } : null;
  }
  if (header.trim().toLowerCase() === 'bearer') return null;
  if (header.length < 5 || header.slice(0, 5).toLowerCase() !== 'dpop ') return header.trim().toLowerCase() === 'dpop' ? null : undefined;
  const token = header.slice(5).trim();
  return B64TOKEN.test(token) ? { scheme: 'dpop', token } : null;
}
