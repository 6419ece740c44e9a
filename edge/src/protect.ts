// protect(request, env, next): Gatehouse sign-in in front of a Worker's app or static assets.
//
// The pipeline for one request, in order:
//   1. plain http is sent to https (unless GATEHOUSE_ALLOW_HTTP, for local development);
//   2. the callback and sign-out paths are the edge's own;
//   3. the rules decide anonymously: public -> next() without identity, deny -> 403;
//   4. the session cookie is opened (AES-GCM); a navigation past half the session's lifetime is
//      sent to Gatehouse with prompt=none first (silent renewal: a revoked or ended Gatehouse
//      session answers login_required, OpenID Connect Core §3.1.2.6, and the visitor signs in
//      again); past the lifetime the cookie opens no more;
//   5. signed in: the rules decide with the identity -> next() with identity headers, or 403;
//   6. not signed in: a navigation starts the authorization code flow with PKCE (RFC 7636), an
//      API request gets 401.
// Nothing is kept in the Worker's memory between requests but the settings and the issuer's
// metadata: state, nonce, PKCE verifier and the return path travel in a short sealed cookie.
import * as oauth from 'oauth4webapi';
import { compilePolicy, type Identity, type Policy } from './rules.ts';
import { createSealer, type Sealer } from './seal.ts';
import { readSettings, type EdgeEnv, type Settings } from './settings.ts';

export type Next = (request: Request, identity: Identity | null) => Response | Promise<Response>;

/** Gatehouse's default identity header names (identityHeaders in its config). */
export const IDENTITY_HEADERS = {
  user: 'X-Auth-Request-User',
  email: 'X-Auth-Request-Email',
  groups: 'X-Auth-Request-Groups',
  preferredUsername: 'X-Auth-Request-Preferred-Username',
} as const;
const IDENTITY_NAMES = new Set(Object.values(IDENTITY_HEADERS).map((h) => h.toLowerCase()));

/** Whether the Cookie header's size budget still has room: browsers drop cookies over 4096 bytes. */
const MAX_COOKIE_BYTES = 3800;
const LOGIN_TTL = 600;

interface Gate {
  settings: Settings;
  policy: Policy;
  sessions: Sealer;
  logins: Sealer;
  client: oauth.Client;
  auth: oauth.ClientAuth;
  /** The issuer's metadata, fetched on the first sign-in of an isolate (cached, retried on failure). */
  metadata(): Promise<oauth.AuthorizationServer>;
}

const gates = new WeakMap<object, Promise<Gate>>();

/**
 * Reads and checks the settings (every problem at once, as EdgeConfigError) and derives the
 * keys. Called once per isolate by protect(); call it yourself at start-up to fail early.
 */
export async function createGate(env: EdgeEnv): Promise<Gate> {
  const settings = readSettings(env);
  const policy = compilePolicy(settings.rules);
  const [sessions, logins] = await Promise.all([
    createSealer(settings.sessionSecrets, 'session'),
    createSealer(settings.sessionSecrets, 'login'),
  ]);
  let cached: Promise<oauth.AuthorizationServer> | undefined;
  const opts = { [oauth.allowInsecureRequests]: settings.allowHttp };
  return {
    settings,
    policy,
    sessions,
    logins,
    client: { client_id: settings.clientId },
    auth: oauth.ClientSecretBasic(settings.clientSecret),
    metadata() {
      cached ??= oauth
        .discoveryRequest(settings.issuer, { ...opts, algorithm: 'oidc' })
        .then((r) => oauth.processDiscoveryResponse(settings.issuer, r));
      cached.catch(() => {
        cached = undefined;
      });
      return cached;
    },
  };
}

function gateFor(env: EdgeEnv): Promise<Gate> {
  let g = gates.get(env);
  if (g === undefined) {
    g = createGate(env);
    gates.set(env, g);
  }
  return g;
}

/** The middleware. `next` gets the request (identity headers set, the edge's cookies removed). */
export async function protect(request: Request, env: EdgeEnv, next: Next): Promise<Response> {
  let gate: Gate;
  try {
    gate = await gateFor(env);
  } catch (e) {
    // Fail closed, and say why in the Worker's log only.
    console.error(String((e as Error).message));
    return text(500, "the sign-in gate is misconfigured; see the Worker's log\n");
  }
  try {
    return await handle(gate, request, next);
  } catch (e) {
    console.error(`gatehouse edge: ${(e as Error).name}: ${(e as Error).message}`);
    return text(502, 'sign-in is unavailable right now; try again shortly\n');
  }
}

async function handle(gate: Gate, request: Request, next: Next): Promise<Response> {
  const { settings: s, policy } = gate;
  const url = new URL(request.url);
  if (url.protocol !== 'https:' && !s.allowHttp) {
    url.protocol = 'https:';
    return new Response(null, { status: 308, headers: { location: url.href } });
  }
  if (url.pathname === s.callbackPath) return callback(gate, request, url);
  if (url.pathname === s.signOutPath) return signOut(gate, url);

  const method = request.method;
  const anonymous = policy.decide(method, url.pathname, null);
  if (anonymous.action === 'public') return next(forApp(request, null, url), null);
  if (anonymous.action === 'deny') return denied(null);

  const now = Math.floor(Date.now() / 1000);
  const cookies = parseCookies(request.headers.get('cookie'));
  const names = cookieNames(url);
  const sealed = cookies.get(names.session);
  const session = sealed === undefined ? null : await gate.sessions.unseal(names.session, sealed, now);
  const navigation = isNavigation(request);
  if (session !== null) {
    const identity = identityOf(session);
    const iat = typeof session.iat === 'number' ? session.iat : 0;
    // Silent renewal on navigations past half the lifetime: only a top-level navigation can go
    // to Gatehouse and back; fetch()/XHR keep the session until its end.
    if (navigation && identity !== null && now - iat >= s.lifetime / 2) return startSignIn(gate, url, true);
    if (identity !== null) {
      const d = policy.decide(method, url.pathname, identity);
      if (d.action === 'allow') return next(forApp(request, identity, url), identity);
      return denied(identity);
    }
  }
  // A visitor whose cookie ran out most likely still has a Gatehouse session: try silently first.
  if (navigation) return startSignIn(gate, url, sealed !== undefined);
  return new Response('{"error":"unauthorized","error_description":"sign-in required"}', {
    status: 401,
    headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="gatehouse"', 'cache-control': 'no-store' },
  });
}

/** A browser navigation (Gatehouse's rule): HTML accepted, not fetch/XHR, no Authorization. */
function isNavigation(request: Request): boolean {
  const h = request.headers;
  if (h.has('x-requested-with') || h.has('authorization')) return false;
  if (!(h.get('accept') ?? '').includes('text/html')) return false;
  const mode = h.get('sec-fetch-mode');
  return mode === null || mode === 'navigate';
}

function identityOf(p: Record<string, unknown>): Identity | null {
  if (typeof p.sub !== 'string' || typeof p.u !== 'string' || !Array.isArray(p.g)) return null;
  return {
    sub: p.sub,
    username: p.u,
    email: typeof p.e === 'string' ? p.e : null,
    groups: p.g.filter((x): x is string => typeof x === 'string'),
  };
}

// ---------------------------------------------------------------------------------------------
// Cookies. On https the __Host- prefix (RFC 6265bis §4.1.3.2): Secure, Path=/, no Domain, so no
// sibling host can plant or read one. Plain http (local development only) uses bare names.

function cookieNames(url: URL): { session: string; loginPrefix: string; secure: boolean } {
  const secure = url.protocol === 'https:';
  const p = secure ? '__Host-' : '';
  return { session: `${p}gatehouse_edge`, loginPrefix: `${p}gatehouse_edge_login_`, secure };
}

function cookie(name: string, value: string, secure: boolean, maxAge?: number): string {
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}${maxAge === undefined ? '' : `; Max-Age=${maxAge}`}`;
}

export function parseCookies(header: string | null): Map<string, string> {
  const out = new Map<string, string>();
  if (header === null) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    // The first of two same-named cookies is the most specific (RFC 6265 §5.4).
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** The request the app sees: identity headers ours alone (client copies, also "_" spellings,
 * removed), and the edge's own cookies taken out of Cookie. */
function forApp(request: Request, id: Identity | null, url: URL): Request {
  const headers = new Headers(request.headers);
  for (const name of [...headers.keys()]) {
    if (IDENTITY_NAMES.has(name.toLowerCase().replaceAll('_', '-'))) headers.delete(name);
  }
  if (id !== null) {
    headers.set(IDENTITY_HEADERS.user, id.username);
    headers.set(IDENTITY_HEADERS.preferredUsername, id.username);
    headers.set(IDENTITY_HEADERS.email, id.email ?? '');
    headers.set(IDENTITY_HEADERS.groups, id.groups.join(','));
  }
  const c = request.headers.get('cookie');
  if (c !== null) {
    const names = cookieNames(url);
    const kept = c
      .split(';')
      .map((x) => x.trim())
      .filter((x) => {
        const n = x.slice(0, Math.max(0, x.indexOf('=')));
        return x !== '' && n !== names.session && !n.startsWith(names.loginPrefix);
      });
    if (kept.length > 0) headers.set('cookie', kept.join('; '));
    else headers.delete('cookie');
  }
  return new Request(request, { headers });
}

// ---------------------------------------------------------------------------------------------
// Sign-in: authorization code + PKCE S256 + nonce + state (OpenID Connect Core §3.1.2.1).

async function startSignIn(gate: Gate, url: URL, silent: boolean, returnTo?: string): Promise<Response> {
  const { settings: s } = gate;
  const as = await gate.metadata();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const verifier = oauth.generateRandomCodeVerifier();
  const names = cookieNames(url);
  const now = Math.floor(Date.now() / 1000);
  const rd = returnTo ?? `${url.pathname}${url.search}`;
  const loginName = `${names.loginPrefix}${state.slice(0, 12)}`;
  const sealed = await gate.logins.seal(loginName, { st: state, n: nonce, v: verifier, rd, p: silent ? 1 : 0, exp: now + LOGIN_TTL });
  const target = new URL(as.authorization_endpoint as string);
  const q = target.searchParams;
  q.set('client_id', s.clientId);
  q.set('response_type', 'code');
  q.set('redirect_uri', `${url.origin}${s.callbackPath}`);
  q.set('scope', s.scope);
  q.set('state', state);
  q.set('nonce', nonce);
  q.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
  q.set('code_challenge_method', 'S256');
  if (silent) q.set('prompt', 'none');
  return new Response(null, {
    status: 303,
    headers: [
      ['location', target.href],
      ['set-cookie', cookie(loginName, sealed, names.secure, LOGIN_TTL)],
      ['cache-control', 'no-store'],
    ],
  });
}

const SILENT_FAILURES = new Set(['login_required', 'interaction_required', 'consent_required', 'account_selection_required']);

async function callback(gate: Gate, request: Request, url: URL): Promise<Response> {
  const { settings: s } = gate;
  const names = cookieNames(url);
  const now = Math.floor(Date.now() / 1000);
  const state = url.searchParams.get('state') ?? '';
  const loginName = `${names.loginPrefix}${state.slice(0, 12)}`;
  const sealed = state.length >= 12 ? parseCookies(request.headers.get('cookie')).get(loginName) : undefined;
  const login = sealed === undefined ? null : await gate.logins.unseal(loginName, sealed, now);
  const clear = cookie(loginName, '', names.secure, 0);
  if (
    login === null ||
    typeof login.st !== 'string' ||
    typeof login.n !== 'string' ||
    typeof login.v !== 'string' ||
    typeof login.rd !== 'string'
  ) {
    return page(
      400,
      'Sign-in expired',
      'This sign-in link has expired or was opened in another browser. Go back and open the page again.',
      [clear],
    );
  }
  const rd = safeReturn(login.rd);
  const as = await gate.metadata();
  const opts = { [oauth.allowInsecureRequests]: s.allowHttp };
  let params: URLSearchParams;
  try {
    // Checks state and, Gatehouse being an RFC 9207 issuer, the iss parameter.
    params = oauth.validateAuthResponse(as, gate.client, url, login.st);
  } catch (e) {
    if (e instanceof oauth.AuthorizationResponseError) {
      if (login.p === 1 && SILENT_FAILURES.has(e.error)) {
        // The Gatehouse session is gone (signed out, revoked, expired): sign in for real.
        const again = await startSignIn(gate, url, false, rd);
        again.headers.append('set-cookie', clear);
        again.headers.append('set-cookie', cookie(names.session, '', names.secure, 0));
        return again;
      }
      if (e.error === 'access_denied') return page(403, 'Not allowed', 'Gatehouse did not let this account sign in to this app.', [clear]);
      return page(400, 'Sign-in failed', `The sign-in could not be completed (${e.error}).`, [clear]);
    }
    return page(400, 'Sign-in failed', 'The answer from the sign-in server was not valid.', [clear]);
  }
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    gate.client,
    gate.auth,
    params,
    `${url.origin}${s.callbackPath}`,
    login.v,
    opts,
  );
  let result: oauth.TokenEndpointResponse;
  try {
    result = await oauth.processAuthorizationCodeResponse(as, gate.client, response, { expectedNonce: login.n, requireIdToken: true });
  } catch (e) {
    if (e instanceof oauth.ResponseBodyError)
      return page(400, 'Sign-in failed', `The sign-in could not be completed (${e.error}).`, [clear]);
    // A token response that fails validation (nonce, iss, aud, expiry): the reason to the log,
    // never to the visitor.
    if (e instanceof oauth.OperationProcessingError) {
      console.error(`gatehouse edge: token response refused: ${e.message}`);
      return page(400, 'Sign-in failed', 'The answer from the sign-in server was not valid.', [clear]);
    }
    throw e;
  }
  // OpenID Connect Core §3.1.3.7: the ID token came straight from the token endpoint over TLS,
  // so its claims are checked (iss, aud, exp, iat, nonce) and TLS stands in for the signature.
  const claims = oauth.getValidatedIdTokenClaims(result) as oauth.IDToken & Record<string, unknown>;
  const identity: Identity = {
    sub: claims.sub,
    username: typeof claims.preferred_username === 'string' && claims.preferred_username !== '' ? claims.preferred_username : claims.sub,
    // Rules on emails count only a verified address (as at the gate).
    email: claims.email_verified === true && typeof claims.email === 'string' ? claims.email : null,
    groups: Array.isArray(claims.groups) ? claims.groups.filter((g): g is string => typeof g === 'string') : [],
  };
  const value = await gate.sessions.seal(names.session, {
    sub: identity.sub,
    u: identity.username,
    e: identity.email,
    g: identity.groups,
    iat: now,
    exp: now + s.lifetime,
  });
  if (value.length + names.session.length > MAX_COOKIE_BYTES) {
    return page(
      500,
      'Session too large',
      'This account has too many groups for a cookie; limit the groups the client receives (clients[].claims or fewer groups).',
      [clear],
    );
  }
  return new Response(null, {
    status: 303,
    headers: [
      ['location', `${url.origin}${rd}`],
      ['set-cookie', cookie(names.session, value, names.secure)],
      ['set-cookie', clear],
      ['cache-control', 'no-store'],
    ],
  });
}

/** A return path on this origin only: "/x", never "//host" or "/\host" (an open redirect). */
function safeReturn(rd: string): string {
  return rd.startsWith('/') && !rd.startsWith('//') && !rd.startsWith('/\\') ? rd : '/';
}

async function signOut(gate: Gate, url: URL): Promise<Response> {
  const names = cookieNames(url);
  const as = await gate.metadata();
  const headers: [string, string][] = [
    ['set-cookie', cookie(names.session, '', names.secure, 0)],
    ['cache-control', 'no-store'],
  ];
  if (typeof as.end_session_endpoint === 'string') {
    // RP-initiated logout ends the Gatehouse session too (and so every app's).
    const end = new URL(as.end_session_endpoint);
    end.searchParams.set('client_id', gate.settings.clientId);
    headers.push(['location', end.href]);
    return new Response(null, { status: 303, headers });
  }
  return new Response('signed out\n', { status: 200, headers: [...headers, ['content-type', 'text/plain; charset=utf-8']] });
}

// ---------------------------------------------------------------------------------------------

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(status: number, title: string, message: string, setCookies: string[] = []): Response {
  const body = `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>\n`;
  const headers: [string, string][] = [
    ['content-type', 'text/html; charset=utf-8'],
    ['cache-control', 'no-store'],
    ['content-security-policy', "default-src 'none'; frame-ancestors 'none'"],
    ['x-content-type-options', 'nosniff'],
    ...setCookies.map((c): [string, string] => ['set-cookie', c]),
  ];
  return new Response(body, { status, headers });
}

function denied(id: Identity | null): Response {
  return page(403, 'Forbidden', id === null ? 'This page is not available.' : `Signed in as ${id.username}, who is not allowed here.`);
}
