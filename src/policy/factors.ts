// How someone signed in, and what a rule asks of it. Pure: the session carries a FactorState
// (in its sealed cookie, so the gate reads it without the store), a rule may carry a
// FactorRequirement, and `factorShortfall` says what is missing, if anything.
//
// Methods are RFC 8176 Authentication Method Reference values:
//   pwd  a password            otp  a one-time code (TOTP, RFC 6238)
//   hwk  a passkey or security key (proof of possession of a hardware-bound key)
//   user the authenticator verified the person (WebAuthn UV: PIN or biometric)
//   kba  a recovery code       fed  an upstream provider (federated sign-in)
//   mfa  more than one factor was used
export interface FactorState {
  /** RFC 8176 values, in the order they were used; `mfa` when there was more than one factor. */
  readonly amr: readonly string[];
  /** When the session last proved a second factor (or a user-verified passkey), epoch ms; null: never. */
  readonly mfaAt: number | null;
  /** When a passkey or security key was last used, epoch ms; null: never. */
  readonly passkeyAt: number | null;
}

export const NO_FACTORS: FactorState = Object.freeze({ amr: Object.freeze(['pwd']), mfaAt: null, passkeyAt: null });

export type FactorKind = 'any' | 'passkey';

export interface FactorRequirement {
  /** any: a second factor of any kind (or a user-verified passkey); passkey: a passkey or security key. */
  readonly factors: FactorKind;
  /** How long ago that factor may have been used, ms; null: any time in this session. */
  readonly maxAgeMs: number | null;
}

export type Shortfall = null | { readonly need: FactorKind; readonly why: 'missing' | 'too-old' };

/** null when the state meets the requirement; otherwise the one step that is missing. */
export function factorShortfall(state: FactorState, req: FactorRequirement, now: number): Shortfall {
  const at = req.factors === 'passkey' ? state.passkeyAt : state.mfaAt;
  if (at === null) return { need: req.factors, why: 'missing' };
  if (req.maxAgeMs !== null && now - at > req.maxAgeMs) return { need: req.factors, why: 'too-old' };
  return null;
}

/**
 * The Authentication Context Class Reference the issuer puts in ID tokens (OpenID Connect Core
 * §2), from weakest to strongest: a single factor, several factors, a phishing-resistant
 * factor (a passkey or security key, bound to this origin).
 */
export const ACR_VALUES = ['urn:gatehouse:acr:1fa', 'urn:gatehouse:acr:mfa', 'urn:gatehouse:acr:phr'] as const;
export type AcrValue = (typeof ACR_VALUES)[number];

/** The acr a session reached: phr with a passkey, mfa with a second factor, else 1fa. */
export function acrOf(state: FactorState): AcrValue {
  if (state.passkeyAt !== null && state.mfaAt !== null) return 'urn:gatehouse:acr:phr';
  if (state.mfaAt !== null) return 'urn:gatehouse:acr:mfa';
  return 'urn:gatehouse:acr:1fa';
}

/** Whether `reached` is at least `wanted` on the ladder above (an unknown value is never met). */
export function acrSatisfies(reached: AcrValue, wanted: string): boolean {
  const w = (ACR_VALUES as readonly string[]).indexOf(wanted);
  return w !== -1 && ACR_VALUES.indexOf(reached) >= w;
}

/**
 * When the session last authenticated at the class `acr` names (epoch ms), or null when it never
 * reached it: 1fa, its latest authentication of any kind (the sign-in or a step-up); mfa, when a
 * second factor was last used; phr, when a passkey was. The issuer gives this as auth_time with
 * that acr, so a token's acr and auth_time describe one authentication (OpenID Connect Core §2),
 * and `max_age` with `acr_values` asks how long ago the factor that acr needs was used.
 */
export function acrTime(state: FactorState, createdAt: number, acr: AcrValue): number | null {
  if (acr === 'urn:gatehouse:acr:phr') return state.passkeyAt;
  if (acr === 'urn:gatehouse:acr:mfa') return state.mfaAt;
  return Math.max(createdAt, state.mfaAt ?? 0, state.passkeyAt ?? 0);
}

/**
 * What the issuer answers an authorization request with (OpenID Connect Core §3.1.2.1), given
 * the session's state, its `acr_values` (already narrowed to ours, weakest first or in any order)
 * and `max_age` (ms; null: none):
 *   - the strongest class asked for (any of ours when none is asked) that the session reached
 *     and, with max_age, used recently enough: that acr, and auth_time when it was last used
 *   - none reached: the step-up screen for the weakest class asked for
 *   - reached but too long ago: the step-up screen for a second factor or a passkey (an active
 *     authentication, RFC 9470 §3), or a fresh sign-in when the weakest class is 1fa
 */
export type Authentication =
  | { readonly ok: true; readonly acr: AcrValue; readonly at: number }
  | { readonly ok: false; readonly stepUp: FactorKind }
  | { readonly ok: false; readonly signIn: true };

export function authenticationFor(
  state: FactorState,
  createdAt: number,
  wanted: readonly string[],
  maxAgeMs: number | null,
  now: number,
): Authentication {
  const asked = wanted.length > 0 ? ACR_VALUES.filter((a) => wanted.includes(a)) : [...ACR_VALUES];
  const reached = acrOf(state);
  const usable = asked.filter((a) => acrSatisfies(reached, a));
  const weakest = usable[0] ?? asked[0] ?? 'urn:gatehouse:acr:mfa';
  const kind = (a: AcrValue): FactorKind => (a === 'urn:gatehouse:acr:phr' ? 'passkey' : 'any');
  if (usable.length === 0) return { ok: false, stepUp: kind(weakest) };
  for (const acr of [...usable].reverse()) {
    const at = acrTime(state, createdAt, acr);
    if (at !== null && (maxAgeMs === null || now - at <= maxAgeMs)) return { ok: true, acr, at };
  }
  return weakest === 'urn:gatehouse:acr:1fa' ? { ok: false, signIn: true } : { ok: false, stepUp: kind(weakest) };
}

/**
 * A factor the token says was used, but not when (its acr and auth_time date another class):
 * enough for a requirement without maxAge, never for one with (it counts as used infinitely long ago).
 */
export const UNDATED = Number.NEGATIVE_INFINITY;

/**
 * What an access token of our issuer says of its sign-in (RFC 9068 §2.2.1: acr, amr, auth_time)
 * as a factor state. auth_time dates the class acr names (acrTime above): with acr mfa a second
 * factor was used at auth_time, with phr a passkey was; a factor amr lists beyond that class is
 * UNDATED. No auth_time: nothing is dated, amr alone says what was ever used.
 */
export function tokenFactorState(amr: readonly string[], acr: string | undefined, authTimeSeconds: number | undefined): FactorState {
  const at = authTimeSeconds === undefined ? UNDATED : authTimeSeconds * 1000;
  const datedMfa = acr === 'urn:gatehouse:acr:mfa' || acr === 'urn:gatehouse:acr:phr';
  const datedPasskey = acr === 'urn:gatehouse:acr:phr';
  return {
    amr: [...amr],
    mfaAt: datedMfa ? at : amr.includes('mfa') ? UNDATED : null,
    passkeyAt: datedPasskey ? at : amr.includes('hwk') ? UNDATED : null,
  };
}

/** What a client asks the issuer for to meet `req` (RFC 9470 §3: acr_values, and max_age in seconds when the rule has one). */
export function stepUpParams(req: FactorRequirement): { acr: AcrValue; maxAgeSeconds: number | null } {
  return {
    acr: req.factors === 'passkey' ? 'urn:gatehouse:acr:phr' : 'urn:gatehouse:acr:mfa',
    maxAgeSeconds: req.maxAgeMs === null ? null : Math.floor(req.maxAgeMs / 1000),
  };
}

/** The state after one more method was proved at `now` (its amr joined, its times moved on). */
export function withMethod(state: FactorState, method: 'otp' | 'hwk' | 'kba', now: number, userVerified = false): FactorState {
  const amr = [...state.amr.filter((m) => m !== 'mfa')];
  const add = method === 'hwk' && userVerified ? ['hwk', 'user'] : [method];
  for (const m of add) if (!amr.includes(m)) amr.push(m);
  // Two factors: the first (password, upstream) and this one; or a passkey verifying its user.
  amr.push('mfa');
  return { amr, mfaAt: now, passkeyAt: method === 'hwk' ? now : state.passkeyAt };
}

/** The state of a fresh sign-in with a single method. */
export function firstFactor(method: 'pwd' | 'fed', now: number, upstreamMfa = false, upstreamAmr: readonly string[] = []): FactorState {
  if (method === 'pwd') return { amr: ['pwd'], mfaAt: null, passkeyAt: null };
  const amr = ['fed', ...upstreamAmr.filter((m) => /^[a-z]{2,8}$/.test(m) && m !== 'fed' && m !== 'mfa')];
  return upstreamMfa ? { amr: [...amr, 'mfa'], mfaAt: now, passkeyAt: null } : { amr, mfaAt: null, passkeyAt: null };
}

/** A passwordless sign-in with a user-verified passkey: possession and the person's PIN or biometric. */
export function passkeySignIn(now: number): FactorState {
  return { amr: ['hwk', 'user', 'mfa'], mfaAt: now, passkeyAt: now };
}

/** "a passkey used within 15m" for explain and pages. */
export function describeRequirement(req: FactorRequirement): string {
  const what = req.factors === 'passkey' ? 'a passkey or security key' : 'a second factor';
  return req.maxAgeMs === null ? what : `${what} used within ${formatMs(req.maxAgeMs)}`;
}

function formatMs(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

/** explain's lines for a rule's factors, and whether a session's state meets them (state null: no session named). */
export function explainFactors(
  app: string,
  req: FactorRequirement,
  state: FactorState | null,
  now: number,
  session = 'the session',
  /** What the requirement belongs to ("app vault", "resource tools") and what happens to a session short of it. */
  of: { what: string; short: string } = { what: `app ${app}`, short: 'the gate sends it to the step-up screen' },
): string[] {
  const lines = [`factors: ${of.what} requires ${describeRequirement(req)}`];
  if (state === null) {
    lines.push('factors: name a session with --session ID to see whether it meets this');
    return lines;
  }
  const at = req.factors === 'passkey' ? state.passkeyAt : state.mfaAt;
  const used = at === null ? 'never' : `${new Date(at).toISOString()} (${ago(Math.max(0, now - at))} ago)`;
  const short = factorShortfall(state, req, now);
  lines.push(
    `factors: ${session} signed in with ${state.amr.join(', ') || 'nothing'}; ${req.factors === 'passkey' ? 'a passkey' : 'a second factor'} last used: ${used}`,
  );
  lines.push(
    short === null
      ? `factors: ${session} meets it`
      : `factors: ${session} does not meet it (${short.why === 'missing' ? 'never used' : 'used too long ago'}): ${of.short}`,
  );
  return lines;
}

/** Rounded down to its largest unit: "3h", "1m", "42s". */
function ago(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const)
    if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  return `${Math.floor(ms / 1000)}s`;
}
