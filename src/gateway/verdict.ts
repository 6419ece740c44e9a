// The gate's decision for one original request, shared by forward auth and reverse-proxy mode:
//   0. a URL under a protected resource (`resources[]`) is bearer-only, decided by bearer.ts
//      and resources.ts before any app rule; a cookie never opens it; `resources[].factors` is
//      judged on the token's acr and auth_time (RFC 9470's challenge when short)
//   1. the first matching rule, anonymously; deny-everyone answers at once
//   1b. a bearer token for an app that opted in (`apps[].audience`): only when the request has
//      an Authorization header (the cookie path never reads it) and the rule's app names an
//      audience. The token is verified like a resource's (the issuer's JWT, RS256/ES256,
//      typ at+jwt, iss exact, aud = the app's audience, exp, the agent still existing), or by
//      a trusted issuer's JWKS when its iss is one of tokens.trustedIssuers (bearer.ts); the
//      identity comes from the token (preferred_username or sub, groups, email only when
//      verified) and the SAME rule decides (step 3 with that identity), so a token opens
//      exactly what the same user's cookie would. A bad token is 401 invalid_token, never a
//      redirect to the portal: a CLI or an agent cannot follow one. The cookie is ignored then:
//      a request says who it is one way.
//   0/1b. DPoP (RFC 9449): a token bound to a key (cnf.jkt) counts only as `Authorization: DPoP`
//      with a good proof of that key for this original request (dpop.ts); presented as Bearer
//      it is refused (§7.2), and the DPoP scheme with an unbound token is refused too
//   2. the session (a map lookup for sessions this process has seen)
//   3. the rule again with the identity
//   4. oauth2-proxy's allowed_groups / allowed_emails / allowed_email_domains, ANDed on top
import type { Identity } from '../core/index.ts';
import type { Metrics, OriginalRequest } from '../http/index.ts';
import { sessionFromCookies } from './session-cookie.ts';
import type { Sessions, SessionView } from '../sessions/index.ts';
import type { GateSettings, HeaderNames } from '../web/index.ts';
import { accessTokenCredentials, TokenRejected, type TokenVerifier, type VerifiedToken } from './bearer.ts';
import { dpopAlgs, insufficientUserAuthentication, type ProtectedResource, type ProtectedResources } from './resources.ts';
import { DpopRejected, type DpopChecker } from './dpop.ts';
import { mustUseFactor, type DenyWhy } from '../web/index.ts';
import { AMBIGUOUS_PATH_REASON, MALFORMED_PATH_REASON, NO_FACTORS, describeRequirement, factorShortfall } from '../policy/index.ts';

export type Verdict =
  | { kind: 'pass'; names: HeaderNames; identity: Identity | null; upstream: string | null; app: string | null; resource?: string }
  /** Sign in; with `stepUp`, the session falls short of the rule's apps[].factors (the portal asks for only that step). */
  | { kind: 'authenticate'; stepUp?: string }
  | { kind: 'deny'; reason: string; why: DenyWhy }
  /** A protected resource's RFC 6750 §3 answer: 401 (no or a bad token) or 403 (insufficient_scope). */
  | {
      kind: 'challenge';
      status: 401 | 403;
      error: 'invalid_token' | 'invalid_dpop_proof' | 'insufficient_scope' | 'insufficient_user_authentication' | null;
      wwwAuthenticate: string;
      reason: string;
    };

/** What the gate needs for protected resources: the compiled list and the token verifier. */
export interface BearerGate {
  resources: () => ProtectedResources;
  verifier: TokenVerifier;
  /** For apps with an audience: also takes tokens.trustedIssuers (default: `verifier`). Never used for resources[]. */
  appVerifier?: TokenVerifier;
  /** DPoP proofs (RFC 9449); none: a DPoP-bound token is always refused. */
  dpop?: DpopChecker;
}

type Decision = ReturnType<GateSettings['policy']['decide']>;
interface Facts {
  host: string;
  path: string;
  method: string;
  ip: string;
}
/** What a DPoP proof is checked against: the DPoP header and the original request's URL (RFC 9449 §4.3). */
interface ProofFacts {
  proof: string | string[] | undefined;
  url: string;
}

export function decide(
  s: GateSettings,
  sessions: Sessions,
  orig: OriginalRequest,
  cookieHeader: string | undefined,
  restrictions: URLSearchParams | null,
  bearer: BearerGate | null = null,
  authorization?: string,
  dpopProof?: string | string[],
): Verdict | Promise<Verdict> {
  const facts: Facts = { host: orig.host, path: orig.uri, method: orig.method, ip: orig.clientIp };
  if (bearer) {
    // A host without resources costs one Set lookup here (the cookie hot path).
    const r = bearer.resources().match(orig.host, orig.uri);
    if (r) return bearerVerdict(s, bearer, r, facts, authorization, orig, dpopProof, sessions);
  }
  const anon = s.policy.decide(facts, null);
  if (anon.action === 'deny') return denied(anon, false);
  if (authorization !== undefined && bearer && anon.action === 'authenticate') {
    const audience = anon.ruleIndex === null ? undefined : s.policy.rules[anon.ruleIndex]?.app.audience;
    if (audience !== undefined) {
      const cred = accessTokenCredentials(authorization);
      // Another scheme (Basic for the app itself) leaves the cookie path as it is.
      if (cred !== undefined)
        return appBearerVerdict(s, bearer, audience, facts, cred, restrictions, proofFactsOf(orig, dpopProof), sessions);
    }
  }
  const found = sessionFromCookies(sessions, cookieHeader, s.cookieName);
  if (found instanceof Promise) return found.then((f) => withSession(s, facts, anon, f ? f.view : null, restrictions, sessions));
  return withSession(s, facts, anon, found ? found.view : null, restrictions, sessions);
}

/**
 * A verified token's identity, made once per token: the verifier hands back the same object for a
 * token it has seen (bearer.ts), so every later check passes the same identity and the pass
 * answer's headers, cached per identity (answers.ts passHeaders), are made once, not per request.
 */
const resourceIdentities = new WeakMap<VerifiedToken, Identity>();
const appIdentities = new WeakMap<VerifiedToken, Identity>();

/** For a protected resource: the token's claims as they are. */
function resourceIdentityOf(t: VerifiedToken): Identity {
  let id = resourceIdentities.get(t);
  if (id === undefined) {
    id = Object.freeze({ username: t.username ?? t.sub, email: t.email, emailVerified: t.emailVerified, groups: t.groups });
    resourceIdentities.set(t, id);
  }
  return id;
}

/** For an app that takes tokens: an e-mail address only when verified. */
function appIdentityOf(t: VerifiedToken): Identity {
  let id = appIdentities.get(t);
  if (id === undefined) {
    id = Object.freeze({
      username: t.username ?? t.sub,
      email: t.emailVerified ? t.email : null,
      emailVerified: t.emailVerified && t.email !== null,
      groups: t.groups,
    });
    appIdentities.set(t, id);
  }
  return id;
}

/** The verdict as the decisions metric counts it (forward auth and reverse-proxy mode alike). */
export function decisionOf(v: Verdict): Parameters<Metrics['decision']>[0] {
  if (v.kind === 'pass') return v.identity ? 'allow' : 'public';
  if (v.kind === 'challenge') return v.status === 401 ? 'authenticate' : 'deny';
  return v.kind;
}

/** Made only on the bearer paths: the cookie check allocates nothing for them. */
function proofFactsOf(orig: OriginalRequest, proof: string | string[] | undefined): ProofFacts {
  return { proof, url: `${orig.proto}://${orig.host}${orig.uri.split('?', 1)[0] ?? '/'}` };
}

/** A policy refusal, with the wording the visitor gets (pages.ts DenyWhy). */
function denied(d: Decision, signedIn: boolean): Verdict {
  const why: DenyWhy =
    d.reason === MALFORMED_PATH_REASON
      ? 'malformed'
      : d.reason === AMBIGUOUS_PATH_REASON
        ? 'ambiguous'
        : d.app === null
          ? 'no-app'
          : signedIn
            ? 'not-allowed'
            : 'closed';
  return { kind: 'deny', reason: d.reason, why };
}

function pass(s: GateSettings, d: Decision, identity: Identity | null): Verdict {
  return { kind: 'pass', names: d.headers ?? s.defaultHeaders, identity, upstream: d.upstream, app: d.app };
}

function withSession(
  s: GateSettings,
  facts: Facts,
  anon: Decision,
  view: SessionView | null,
  restrictions: URLSearchParams | null,
  sessions: Sessions,
): Verdict {
  // A public rule passes whoever it is; the identity is passed along when there is one.
  if (anon.action === 'public') return pass(s, anon, view ? view.identity : null);
  if (!view) return { kind: 'authenticate' };
  const d = s.policy.decide(facts, view.identity);
  if (d.action !== 'allow' && d.action !== 'public') return denied(d, true);
  if (restrictions && !passesQueryRestrictions(restrictions, view.identity)) {
    return { kind: 'deny', reason: 'an allowed_* restriction on the auth URL did not match', why: 'not-allowed' };
  }
  // factors.require: someone who must use a second factor and whose session has none goes to
  // the portal first (enrolment or step-up), whatever the app.
  if (view.factors.mfaAt === null && s.factorsRequired !== null && mustUseFactor(s, view.identity.groups)) {
    return { kind: 'authenticate', stepUp: 'factors.require: this person must use a second factor' };
  }
  // apps[].factors: the session's factor state travels in its cookie, so this is arithmetic.
  if (d.factors !== null) {
    const short = factorShortfall(view.factors, d.factors, sessions.now());
    if (short !== null)
      return { kind: 'authenticate', stepUp: `app ${d.app ?? '-'} requires ${describeRequirement(d.factors)} (${short.why})` };
  }
  return pass(s, d, view.identity);
}

/**
 * A request for a protected resource (RFC 6750, RFC 9728 §5.1, MCP authorization):
 *   no bearer token                  -> 401 with resource_metadata and scope, no error code
 *   malformed, expired, bad signature,
 *   another issuer or another aud    -> 401 invalid_token
 *   a required scope missing         -> 403 insufficient_scope naming every required scope
 *   `allow` does not admit the user  -> 403 (plain: more scope would not help)
 *   its sign-in short of `factors`   -> 401 insufficient_user_authentication (RFC 9470 §3)
 *   otherwise                        -> pass, identity from the token
 */
function bearerVerdict(
  s: GateSettings,
  bearer: BearerGate,
  r: ProtectedResource,
  facts: Facts,
  authorization: string | undefined,
  orig: OriginalRequest,
  dpopProof: string | string[] | undefined,
  sessions: Sessions,
): Verdict | Promise<Verdict> {
  let known: VerifiedToken | undefined;
  const cred = accessTokenCredentials(authorization, (token) => (known = bearer.verifier.known?.(token, r.resource)) !== undefined);
  if (cred === undefined)
    return { kind: 'challenge', status: 401, error: null, wwwAuthenticate: r.challenge.missing, reason: 'no bearer token' };
  if (cred === null)
    return {
      kind: 'challenge',
      status: 401,
      error: 'invalid_token',
      wwwAuthenticate: r.challenge.invalid,
      reason: 'malformed Authorization header',
    };
  // A bearer token verified before whose subject was checked lately is judged at once, without
  // a promise (the steady state of an agent calling a resource); DPoP proofs are always checked.
  if (known !== undefined && cred.scheme === 'bearer')
    return judgeResourceToken(s, bearer, r, facts, cred, known, bearerBinding(known), sessions);
  return verifyResourceToken(s, bearer, r, facts, cred, proofFactsOf(orig, dpopProof), sessions);
}

async function verifyResourceToken(
  s: GateSettings,
  bearer: BearerGate,
  r: ProtectedResource,
  facts: Facts,
  cred: { scheme: 'bearer' | 'dpop'; token: string },
  pf: ProofFacts,
  sessions: Sessions,
): Promise<Verdict> {
  let t: VerifiedToken;
  try {
    t = await bearer.verifier.verify(cred.token, r.resource);
  } catch (err) {
    const reason = err instanceof TokenRejected ? err.reason : 'the token could not be verified';
    return {
      kind: 'challenge',
      status: 401,
      error: 'invalid_token',
      wwwAuthenticate: cred.scheme === 'dpop' ? r.challenge.dpopInvalidToken : r.challenge.invalid,
      reason,
    };
  }
  return judgeResourceToken(s, bearer, r, facts, cred, t, await checkBinding(bearer, cred, t, facts, pf), sessions);
}

/** A verified token at a protected resource, and how its binding was checked: the rest of the table above. */
function judgeResourceToken(
  s: GateSettings,
  bearer: BearerGate,
  r: ProtectedResource,
  facts: Facts,
  cred: { scheme: 'bearer' | 'dpop'; token: string },
  t: VerifiedToken,
  binding: Binding,
  sessions: Sessions,
): Verdict {
  const dpop = cred.scheme === 'dpop';
  if (binding) {
    const wwwAuthenticate =
      binding.error === 'invalid_dpop_proof' ? r.challenge.dpopInvalidProof : dpop ? r.challenge.dpopInvalidToken : r.challenge.invalid;
    return { kind: 'challenge', status: 401, error: binding.error, wwwAuthenticate, reason: binding.reason };
  }
  for (const needed of r.requiredScopes) {
    if (!t.scopes.includes(needed)) {
      return {
        kind: 'challenge',
        status: 403,
        error: 'insufficient_scope',
        wwwAuthenticate: dpop ? r.challenge.dpopInsufficientScope : r.challenge.insufficientScope,
        reason: `the token lacks scope ${needed}`,
      };
    }
  }
  const identity = resourceIdentityOf(t);
  if (!bearer.resources().allows(r, identity, facts.method, facts.ip)) {
    return { kind: 'deny', reason: `resource ${r.name} does not allow this user`, why: 'not-allowed' };
  }
  // resources[].factors: what the token's sign-in had (acr, auth_time, amr). Short of it: RFC
  // 9470's challenge in the scheme the token came with, naming the acr_values and max_age the
  // client asks the issuer for.
  if (r.factors !== null) {
    const short = factorShortfall(t.factors ?? NO_FACTORS, r.factors, sessions.now());
    if (short !== null)
      return {
        kind: 'challenge',
        status: 401,
        error: 'insufficient_user_authentication',
        wwwAuthenticate: dpop ? r.challenge.dpopInsufficientUserAuthentication : r.challenge.insufficientUserAuthentication,
        reason: `the token's sign-in falls short of resource ${r.name}'s factors (${short.why})`,
      };
  }
  // Reverse-proxy mode: the resource's own upstream, else the one of the app rule for this URL.
  const upstream = r.upstream ?? s.policy.decide(facts, null).upstream;
  return { kind: 'pass', names: r.headers, identity, upstream, app: r.name, resource: r.resource };
}

/** RFC 6750 §3.1: the answer for a bad token at an app; no resource metadata (an app is not an RFC 9728 resource). */
export const APP_INVALID_TOKEN = 'Bearer error="invalid_token"';

/**
 * RFC 9449 §7.1/§7.2: how the token is bound must match how it was presented.
 *   Bearer, token bound (cnf.jkt)      -> invalid_token (a stolen bound token is no bearer token)
 *   DPoP, token not bound              -> invalid_token
 *   DPoP, token bound                  -> the proof (dpop.ts), else invalid_dpop_proof
 *   Bearer, token not bound            -> fine
 */
async function checkBinding(
  bearer: BearerGate,
  cred: { scheme: 'bearer' | 'dpop'; token: string },
  t: VerifiedToken,
  facts: Facts,
  pf: ProofFacts,
): Promise<Binding> {
  if (cred.scheme === 'bearer') return bearerBinding(t);
  if (t.jkt === undefined) return { error: 'invalid_token', reason: 'the DPoP scheme was used with a token that is not DPoP-bound' };
  if (!bearer.dpop) return { error: 'invalid_token', reason: 'DPoP-bound tokens are not accepted here' };
  try {
    await bearer.dpop.check(pf.proof, { method: facts.method, url: pf.url }, cred.token, t.jkt);
    return null;
  } catch (err) {
    return { error: 'invalid_dpop_proof', reason: err instanceof DpopRejected ? err.reason : 'the DPoP proof could not be checked' };
  }
}

type Binding = { error: 'invalid_token' | 'invalid_dpop_proof'; reason: string } | null;

/** A token presented in the Bearer scheme must not be DPoP-bound. */
function bearerBinding(t: VerifiedToken): Binding {
  return t.jkt === undefined
    ? null
    : { error: 'invalid_token', reason: 'a DPoP-bound token was presented as a bearer token (RFC 9449 §7.2)' };
}

/** The DPoP challenge's `algs="…", ` (RFC 9449 §7.1) when DPoP is on, else "". */
function dpopAlgsOf(bearer: BearerGate): string {
  const algs = bearer.dpop?.settings().enabled ? dpopAlgs(bearer.dpop.settings().algorithms) : '';
  return algs ? `${algs}, ` : '';
}

/** An app's answer for a refused token, in the scheme it was presented with (RFC 9449 §7.1). */
function appChallenge(bearer: BearerGate, scheme: 'bearer' | 'dpop', error: 'invalid_token' | 'invalid_dpop_proof'): string {
  const algs = dpopAlgsOf(bearer);
  if (scheme === 'dpop' || error === 'invalid_dpop_proof') return `DPoP ${algs}error="${error}"`;
  return algs ? `${APP_INVALID_TOKEN}, DPoP ${algs.slice(0, -2)}` : APP_INVALID_TOKEN;
}

/**
 * A bearer token at an app with `audience` (see 1b above):
 *   malformed, expired, bad signature, another issuer,
 *   another aud, a deleted agent       -> 401 invalid_token
 *   the rule does not admit the token's
 *   identity (or a later rule would
 *   decide, for another audience)      -> 403
 *   otherwise                          -> pass, identity from the token
 */
async function appBearerVerdict(
  s: GateSettings,
  bearer: BearerGate,
  audience: string,
  facts: Facts,
  cred: { scheme: 'bearer' | 'dpop'; token: string } | null,
  restrictions: URLSearchParams | null,
  pf: ProofFacts,
  sessions: Sessions,
): Promise<Verdict> {
  const invalid = (
    reason: string,
    scheme: 'bearer' | 'dpop' = 'bearer',
    error: 'invalid_token' | 'invalid_dpop_proof' = 'invalid_token',
  ): Verdict => ({ kind: 'challenge', status: 401, error, wwwAuthenticate: appChallenge(bearer, scheme, error), reason });
  if (cred === null) return invalid('malformed Authorization header');
  let t: VerifiedToken;
  try {
    t = await (bearer.appVerifier ?? bearer.verifier).verify(cred.token, audience);
  } catch (err) {
    return invalid(err instanceof TokenRejected ? err.reason : 'the token could not be verified', cred.scheme);
  }
  const binding = await checkBinding(bearer, cred, t, facts, pf);
  if (binding) return invalid(binding.reason, cred.scheme, binding.error);
  const identity = appIdentityOf(t);
  const d = s.policy.decide(facts, identity);
  if (d.action !== 'allow' && d.action !== 'public') return denied(d, true);
  // The rule that admits the identity must take tokens for this same audience: a token for one
  // app never opens a later rule on the same host that did not opt in (or names another).
  const decidedBy = d.ruleIndex === null ? undefined : s.policy.rules[d.ruleIndex]?.app.audience;
  if (decidedBy !== audience)
    return {
      kind: 'deny',
      reason: `the rule that admits this token (${d.app ?? 'none'}) does not take tokens for ${audience}`,
      why: 'not-allowed',
    };
  if (restrictions && !passesQueryRestrictions(restrictions, identity)) {
    return { kind: 'deny', reason: 'an allowed_* restriction on the auth URL did not match', why: 'not-allowed' };
  }
  // apps[].factors for a token: what its sign-in had (acr, auth_time, amr). Short of it: RFC 9470's
  // challenge, naming the acr and max_age a client asks the issuer for to get a better token.
  if (d.factors !== null) {
    const short = factorShortfall(t.factors ?? NO_FACTORS, d.factors, sessions.now());
    if (short !== null) {
      const stepUp = insufficientUserAuthentication(d.factors);
      return {
        kind: 'challenge',
        status: 401,
        error: 'insufficient_user_authentication',
        wwwAuthenticate: cred.scheme === 'dpop' ? `DPoP ${dpopAlgsOf(bearer)}${stepUp}` : `Bearer ${stepUp}`,
        reason: `the token's sign-in falls short of app ${d.app ?? '-'}'s factors (${short.why})`,
      };
    }
  }
  return pass(s, d, identity);
}

/**
 * `allowed_groups`, `allowed_emails`, `allowed_email_domains` on the auth URL (oauth2-proxy's
 * per-ingress restrictions): comma-separated; each parameter present must match. Emails count
 * only when verified and with exactly one "@".
 */
export function passesQueryRestrictions(q: URLSearchParams, id: Identity): boolean {
  const groups = q.get('allowed_groups');
  if (groups !== null) {
    const want = groups
      .split(',')
      .map((g) => g.trim())
      .filter(Boolean);
    if (!want.some((g) => id.groups.includes(g))) return false;
  }
  const emails = q.get('allowed_emails');
  const domains = q.get('allowed_email_domains');
  if (emails !== null || domains !== null) {
    const email = id.emailVerified && id.email ? id.email.toLowerCase() : null;
    const at = email ? email.indexOf('@') : -1;
    if (!email || at <= 0 || at !== email.lastIndexOf('@')) return false;
    if (emails !== null && !emails.split(',').some((e) => e.trim().toLowerCase() === email)) return false;
    if (domains !== null) {
      const domain = email.slice(at + 1);
      if (!domains.split(',').some((d) => d.trim().toLowerCase().replace(/^@/, '') === domain)) return false;
    }
  }
  return true;
}

export type { SessionView };
