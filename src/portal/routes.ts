// The portal's routes under /oauth2/: start, sign_in, sign_out, ticket, userinfo, callback and
// the stylesheet. Each handler is a short list of steps; HTML is in pages.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, Logger } from '../core/index.ts';
import {
  checkForm, contentSecurityPolicy, issueFormToken, readForm, readOriginal, parseCookie, securityHeaders, serializeCookie, validateRedirect, type Metrics,
} from '../http/index.ts';
import type { Accounts, Federation } from '../accounts/index.ts';
import type { Sessions } from '../sessions/index.ts';
import { ConnectorError } from '../connectors/index.ts';
import { timingSafeEqualString } from '../crypto/index.ts';
import type { AuditStore, TicketStore } from '../store/index.ts';
import {
  cookieDomainFor, formGuard, isPortalHost, issueTicket, messagePage, sessionFromCookies, type FoundSession, portalBase, portalPath, portalUrl, sharesPortalCookie,
  STYLESHEET, STYLESHEET_PATH, underPortalBase,
  type GateSettings, type TicketRedeemer,
} from '../gateway/index.ts';
import { failurePage, homePage, signInPage, type ProviderButton } from './pages.ts';
import { newUpstreamState, openUpstreamState } from './login-state.ts';

export interface PortalDeps {
  settings: () => GateSettings;
  accounts: Accounts;
  sessions: Sessions;
  tickets: TicketStore;
  audit: AuditStore;
  redeem: TicketRedeemer;
  metrics: Metrics;
  clock: Clock;
  logger: Logger;
  /** Buttons for upstream providers (filled by the connectors); the portal adds `rd` to each href. */
  providers: () => ProviderButton[];
  /** The upstream providers; without it there are none. */
  federation?: Federation;
  /** signIn.localAccounts and signIn.autoRedirect (default: the form, no auto-redirect). */
  signInOptions?: () => { localAccounts: boolean; autoRedirect: boolean };
  /**
   * A gate session ended by sign-out (the issuer ends the OpenID sessions signed in with it and
   * sends back-channel logout). Not awaited: a slow client never holds up the user's sign-out.
   */
  onSignOut?: (sid: string) => Promise<void>;
  /** More origins the sign-in form may end at after redirects (the issuer's client, for an interaction). */
  formTargets?: (rd: string) => Promise<string[]>;
}

/** What the user reads for each upstream failure; the log gets the detail. */
const FAILURES: Record<ConnectorError['failure'], { status: number; title: string; message: (label: string) => string }> = {
  access_denied: { status: 403, title: 'Sign-in cancelled', message: (p) => `${p} did not sign you in (access_denied). You can try again, or use another account or another way to sign in.` },
  bad_state: { status: 400, title: 'Sign-in could not be verified', message: (p) => `The answer from ${p} does not belong to the sign-in this browser started (state mismatch). Please start again.` },
  bad_issuer: { status: 502, title: 'Sign-in could not be verified', message: (p) => `The answer did not come from the issuer configured for ${p} (wrong iss). Please tell your administrator.` },
  bad_audience: { status: 502, title: 'Sign-in could not be verified', message: (p) => `${p} issued the ID token to another application (wrong aud). Please tell your administrator.` },
  bad_nonce: { status: 400, title: 'Sign-in could not be verified', message: (p) => `The ID token from ${p} belongs to another sign-in (nonce mismatch); it may have been replayed. Please start again.` },
  refused: { status: 403, title: 'Not allowed', message: (p) => `Your ${p} account is not allowed to sign in here. Ask an administrator for access, or try another account.` },
  no_account: { status: 403, title: 'No account', message: (p) => `There is no account here for your ${p} identity. Ask an administrator for an invitation, or try another account.` },
  upstream_error: { status: 502, title: 'Sign-in failed', message: (p) => `${p} could not complete the sign-in. Please try again in a moment.` },
};

const GENERIC_FAILURE = 'Incorrect username or password.';

/** The request's path (no query), as the router matched it. */
function requestPath(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function headerValue(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  return typeof v === 'string' ? v : null;
}

export function createPortal(deps: PortalDeps) {
  const { accounts, sessions, clock, logger, metrics } = deps;
  const options = () => deps.signInOptions?.() ?? { localAccounts: true, autoRedirect: false };

  const loginCookieName = (s: GateSettings) => `${s.cookieName}_login`;

  /** The audit log never holds up or fails a sign-in; a write that fails is logged. */
  function audit(e: { actor: string; action: string; outcome: 'ok' | 'denied' | 'error'; detail: Record<string, unknown> }): void {
    deps.audit.append({ at: clock.now(), target: null, ...e }).catch((err: unknown) => {
      logger.warn({ err: (err as Error).message, action: e.action }, 'could not write the audit log');
    });
  }

  function pageHeaders(s: GateSettings, formTargets: string[] = []): Record<string, string> {
    // The sign-in form's POST ends in a redirect to the app (or its ticket hop); CSP
    // form-action applies to that redirect too, so the destination's origin is allowed.
    const h: Record<string, string> = {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': contentSecurityPolicy({ formAction: [...new Set(formTargets)].filter((o) => o !== s.publicUrl.origin) }),
    };
    for (const [k, v] of securityHeaders(s.publicUrl.protocol === 'https:')) if (k !== 'content-security-policy') h[k] = v;
    return h;
  }

  function sessionCookie(s: GateSettings, host: string, value: string, maxAgeSeconds: number): string {
    return serializeCookie(s.cookieName, value, {
      domain: cookieDomainFor(s, host), path: '/', maxAgeSeconds, secure: s.secureCookies, httpOnly: true, sameSite: 'Lax',
    });
  }

  /** Where a validated `rd` sends the browser now: straight there, or through a ticket hop on its own host. */
  async function destination(s: GateSettings, rd: string, cookie: string): Promise<string> {
    const target = new URL(rd);
    if (sharesPortalCookie(s, target.host)) return rd;
    const ticket = await issueTicket(deps.tickets, s.keyring, cookie, target.host, clock.now());
    return `${target.origin}/oauth2/ticket?t=${encodeURIComponent(ticket)}&rd=${encodeURIComponent(rd)}`;
  }

  function safeRd(s: GateSettings, raw: string | null, baseHost?: string): string {
    const fallback = portalUrl(s, '/');
    if (raw === null || raw === '') return fallback;
    // A path-only rd on an app host (ingress-nginx's `$escaped_request_uri`) means that host.
    const resolved = baseHost && raw.startsWith('/') && !raw.startsWith('//') && !raw.startsWith('/\\')
      ? `${s.publicUrl.protocol}//${baseHost}${raw}` : raw;
    const v = validateRedirect(resolved, { domains: s.domains, publicUrl: s.publicUrl });
    if (!v.ok) {
      logger.info({ reason: v.reason }, 'redirect target refused; using the portal');
      return fallback;
    }
    // Back to the portal's own sign-in pages would be a loop: go to the portal home instead.
    const target = new URL(v.url);
    if (isPortalHost(s, target.host) && target.pathname.startsWith(portalPath(s, '/oauth2/'))) {
      logger.info({ reason: 'redirect target is a sign-in page' }, 'redirect loop refused; using the portal');
      return fallback;
    }
    return v.url;
  }

  async function renderSignIn(req: IncomingMessage, res: ServerResponse, s: GateSettings, rd: string, status: number, extra: { error?: string; username?: string; retryAfter?: number } = {}): Promise<void> {
    const formTargets = [new URL(rd).origin, ...(deps.formTargets ? await deps.formTargets(rd) : [])];
    // The form's CSRF token: the one guard every form uses (http/form-guard.ts).
    const state = issueFormToken(formGuard(s, clock.now()), req);
    const base = portalBase(s);
    const providers = deps.providers().map((p) => ({ ...p, href: `${p.href}${p.href.includes('?') ? '&' : '?'}rd=${encodeURIComponent(rd)}` }));
    const html = signInPage({
      action: portalPath(s, '/oauth2/sign_in'), rd, csrf: state.token, providers, localAccounts: options().localAccounts, base,
      ...(extra.error ? { error: extra.error } : {}), ...(extra.username ? { username: extra.username } : {}),
    });
    res.writeHead(status, {
      ...pageHeaders(s, formTargets),
      ...(state.setCookie ? { 'set-cookie': state.setCookie } : {}),
      ...(extra.retryAfter ? { 'retry-after': String(extra.retryAfter) } : {}),
    });
    res.end(html);
  }

  async function currentSession(req: IncomingMessage, s: GateSettings): Promise<FoundSession | null> {
    return await sessionFromCookies(sessions, req.headers.cookie, s.cookieName);
  }

  /** GET /oauth2/start and GET /oauth2/sign_in: sign in, or go on at once when already signed in. */
  async function start(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const s = deps.settings();
    const orig = readOriginal(req, s.trusted);
    // oauth2-proxy's other way to name the destination; validated exactly like rd.
    const rdRaw = query.get('rd') ?? headerValue(req, 'x-auth-request-redirect');
    if (!isPortalHost(s, orig.host) || !underPortalBase(s, requestPath(req))) {
      // Reached on an app host (an nginx `location /oauth2/`), or at the root of a portal host
      // whose publicUrl has a path: sign-in happens at the portal, under its path.
      const rd = safeRd(s, rdRaw, orig.host);
      const onward: Record<string, string> = { rd };
      for (const k of ['provider', 'prompt']) { const v = query.get(k); if (v !== null) onward[k] = v; }
      res.writeHead(302, { location: portalUrl(s, '/oauth2/start', onward), 'cache-control': 'no-store' });
      res.end();
      return;
    }
    const rd = safeRd(s, rdRaw);
    const provider = query.get('provider');
    const prompt = query.get('prompt');
    const found = await currentSession(req, s);
    // Signed in already: go on, unless the user asked to sign in again with another account.
    if (found && !(provider && prompt)) {
      res.writeHead(302, { location: await destination(s, rd, found.cookie), 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (provider !== null) return startUpstream(res, s, provider, rd, prompt === 'select_account' || prompt === 'login' ? prompt : undefined);
    // Only one way to sign in: go straight to it (signIn.autoRedirect).
    const only = deps.federation?.list() ?? [];
    const o = options();
    if (!o.localAccounts && o.autoRedirect && only.length === 1 && only[0]) return startUpstream(res, s, only[0].id, rd, undefined);
    await renderSignIn(req, res, s, rd, 200);
  }

  function callbackUrl(s: GateSettings): string {
    // One callback for every domain: the portal's (register exactly this URL upstream).
    return portalUrl(s, '/oauth2/callback');
  }

  function loginCookie(s: GateSettings, value: string, maxAgeSeconds: number): string {
    return serializeCookie(loginCookieName(s), value, {
      path: portalPath(s, '/oauth2/'), maxAgeSeconds, secure: s.secureCookies, httpOnly: true, sameSite: 'Lax',
    });
  }

  /** GET /oauth2/start?provider=<id>: a fresh state, nonce and PKCE verifier sealed in the login cookie, then off to the provider. */
  async function startUpstream(res: ServerResponse, s: GateSettings, providerId: string, rd: string, prompt: string | undefined): Promise<void> {
    const base = portalBase(s);
    const connector = deps.federation?.get(providerId);
    if (!connector) {
      res.writeHead(404, pageHeaders(s));
      res.end(failurePage({ title: 'Unknown provider', message: 'There is no sign-in provider of that name here.', base,
        links: [{ href: portalPath(s, '/oauth2/sign_in', { rd }), text: 'Back to sign-in' }] }));
      return;
    }
    const { up, sealed } = newUpstreamState(s.keyring, clock.now(), s.loginStateMs, providerId, rd);
    let location: string;
    try {
      location = await connector.authorizationUrl({
        redirectUri: callbackUrl(s), state: up.state, nonce: up.nonce, codeVerifier: up.verifier, ...(prompt ? { prompt } : {}),
      });
    } catch (err) {
      const detail = (err as ConnectorError).detail ?? (err as Error).message;
      logger.warn({ event: 'sign_in_failed', connector: providerId, failure: 'upstream_error', detail }, 'could not start an upstream sign-in');
      return failure(res, s, 'upstream_error', connector.label, providerId, rd);
    }
    res.writeHead(302, { location, 'cache-control': 'no-store', 'set-cookie': loginCookie(s, sealed, Math.floor(s.loginStateMs / 1000)) });
    res.end();
  }

  function failure(res: ServerResponse, s: GateSettings, kind: ConnectorError['failure'], label: string, providerId: string | null, rd: string): void {
    const f = FAILURES[kind];
    const base = portalBase(s);
    const links: { href: string; text: string }[] = [];
    if (providerId && kind !== 'upstream_error') {
      links.push({ href: portalPath(s, '/oauth2/start', { provider: providerId, prompt: 'select_account', rd }), text: 'Try another account' });
    } else if (providerId) {
      links.push({ href: portalPath(s, '/oauth2/start', { provider: providerId, rd }), text: 'Try again' });
    }
    // The chooser, when there is one to show (with a single provider and no form it would send the browser straight back).
    const o = options();
    if (o.localAccounts || (deps.federation?.list().length ?? 0) > 1 || !o.autoRedirect) {
      links.push({ href: portalPath(s, '/oauth2/sign_in', { rd }), text: 'Other ways to sign in' });
    }
    res.writeHead(f.status, { ...pageHeaders(s), 'set-cookie': loginCookie(s, '', 0) });
    res.end(failurePage({ title: f.title, message: f.message(label), links, base }));
  }

  /** POST /oauth2/sign_in */
  async function signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    if (!options().localAccounts) {
      // signIn.localAccounts: false: no password is ever checked, whatever is posted.
      res.writeHead(403, pageHeaders(s));
      res.end(failurePage({ title: 'Password sign-in is off', message: 'This site signs people in with an upstream provider only.', base: portalBase(s),
        links: [{ href: portalPath(s, '/oauth2/sign_in'), text: 'Sign in' }] }));
      return;
    }
    const form = await readForm(req);
    const rd = safeRd(s, form.get('rd'));
    const guard = checkForm(formGuard(s, clock.now()), req, form);
    if (!guard.ok) {
      logger.info({ reason: guard.reason, form: 'sign_in' }, 'form refused');
      if (guard.rule === 'origin') {
        // Posted from another site (login CSRF): no fresh form and no new token cookie.
        res.writeHead(403, pageHeaders(s));
        res.end(failurePage({ title: 'Refused', message: 'This form was posted from another site.', base: portalBase(s),
          links: [{ href: `${portalBase(s)}/oauth2/sign_in`, text: 'Sign in' }] }));
        return;
      }
      // An expired form: show a fresh one, nothing else.
      return renderSignIn(req, res, s, rd, 400, { error: 'Your sign-in form expired. Please try again.' });
    }
    const username = (form.get('username') ?? '').trim();
    const password = form.get('password') ?? '';
    const ip = readOriginal(req, s.trusted).clientIp;
    const result = await accounts.authenticate(username, password, ip);
    if (!result.ok) {
      audit({ actor: username.slice(0, 64) || '-', action: 'sign_in', outcome: 'denied', detail: { reason: result.reason, ip } });
      if (result.reason === 'throttled') {
        metrics.signIn('throttled');
        return renderSignIn(req, res, s, rd, 429, {
          error: `Too many failed attempts. Try again in ${result.retryAfterSeconds} seconds.`, username, retryAfter: result.retryAfterSeconds,
        });
      }
      metrics.signIn('failure');
      return renderSignIn(req, res, s, rd, 401, { error: GENERIC_FAILURE, username });
    }
    metrics.signIn('success');
    const started = await sessions.begin(result.user, { ip, userAgent: req.headers['user-agent'] ?? null });
    logger.info({ event: 'sign_in', user: result.user.username, session: started.sid.slice(0, 6), ip }, 'signed in');
    audit({ actor: result.user.username, action: 'sign_in', outcome: 'ok', detail: { ip, method: 'password' } });
    res.writeHead(303, {
      location: await destination(s, rd, started.cookie),
      'cache-control': 'no-store',
      'set-cookie': [
        sessionCookie(s, s.portalHost, started.cookie, Math.floor(s.sessionLifetimeMs / 1000)),
        serializeCookie(loginCookieName(s), '', { path: portalPath(s, '/oauth2/'), maxAgeSeconds: 0, secure: s.secureCookies, httpOnly: true, sameSite: 'Lax' }),
      ],
    });
    res.end();
  }

  /** GET or POST /oauth2/sign_out?rd=… — ends the session on every domain. */
  async function signOut(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const s = deps.settings();
    const orig = readOriginal(req, s.trusted);
    const view = (await currentSession(req, s))?.view;
    if (view) {
      await sessions.revoke(view.sid);
      metrics.sessionsRevoked();
      logger.info({ event: 'sign_out', user: view.identity.username, session: view.sid.slice(0, 6) }, 'signed out');
      audit({ actor: view.identity.username, action: 'sign_out', outcome: 'ok', detail: {} });
      deps.onSignOut?.(view.sid).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'sign-out: could not end the OpenID sessions'));
    }
    const clear = sessionCookie(s, orig.host, '', 0);
    const rdRaw = query.get('rd');
    if (rdRaw) {
      res.writeHead(302, { location: safeRd(s, rdRaw, orig.host), 'set-cookie': clear, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    res.writeHead(200, { ...pageHeaders(s), 'set-cookie': clear });
    res.end(messagePage('Signed out', 'You are signed out of every app.', { href: portalUrl(s, '/oauth2/sign_in'), text: 'Sign in again' }));
  }

  /** GET /oauth2/userinfo — oauth2-proxy's shape. */
  async function userinfo(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    const view = (await currentSession(req, s))?.view;
    if (!view) {
      res.writeHead(401, { 'content-type': 'application/json', 'cache-control': 'no-store', 'www-authenticate': 'Bearer realm="gatehouse"' });
      res.end('{"error":"unauthorized","error_description":"sign-in required"}');
      return;
    }
    const id = view.identity;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ user: id.username, email: id.email ?? '', groups: id.groups, preferredUsername: id.username }));
  }

  /** GET /oauth2/ticket — the cross-domain hop, when it is routed to us (nginx, reverse-proxy mode). */
  async function ticket(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const s = deps.settings();
    await deps.redeem(res, readOriginal(req, s.trusted).host, query, s);
  }

  /**
   * GET /oauth2/callback — where every upstream provider returns, on the portal host. Steps: the
   * live login state of this browser; its state equals the answer's (RFC 6749 §10.12); the
   * provider's answer checked and turned into an admitted, linked account (nonce, iss, aud and PKCE
   * inside the connector); a session; the same destination as a password sign-in.
   */
  async function callback(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const s = deps.settings();
    const base = portalBase(s);
    const up = openUpstreamState(s.keyring, parseCookie(req.headers.cookie, loginCookieName(s)), clock.now());
    if (!up) {
      logger.info({ event: 'sign_in_failed', failure: 'no_login_state' }, 'upstream callback without a live login state');
      metrics.signIn('failure');
      res.writeHead(400, { ...pageHeaders(s), 'set-cookie': loginCookie(s, '', 0) });
      res.end(failurePage({ title: 'Sign-in expired', message: 'This sign-in took too long, or was started in another browser. Please start again.', base,
        links: [{ href: portalPath(s, '/oauth2/sign_in'), text: 'Sign in again' }] }));
      return;
    }
    const rd = safeRd(s, up.rd);
    const connector = deps.federation?.get(up.provider);
    const label = connector?.label ?? up.provider;
    const fail = (err: ConnectorError, user?: string): void => {
      // Never the code, tokens or the state itself: what failed and why.
      logger.warn({ event: 'sign_in_failed', connector: up.provider, failure: err.failure, upstreamCode: err.upstreamCode ?? null, detail: err.detail, user: user ?? null },
        'upstream sign-in failed');
      audit({ actor: user?.slice(0, 64) ?? '-', action: 'sign_in', outcome: 'denied', detail: { connector: up.provider, failure: err.failure } });
      metrics.signIn('failure');
      failure(res, s, err.failure, label, up.provider, rd);
    };
    const given = query.get('state');
    if (given === null || !timingSafeEqualString(given, up.state)) {
      return fail(new ConnectorError('bad_state', given === null ? 'the callback has no state parameter' : 'the callback state is not this browser\'s'));
    }
    if (!deps.federation || !connector) {
      return fail(new ConnectorError('upstream_error', `no connector "${up.provider}" is configured any more`));
    }
    const currentUrl = new URL(callbackUrl(s));
    currentUrl.search = query.toString();
    const result = await deps.federation.signIn(up.provider, {
      redirectUri: callbackUrl(s), currentUrl, state: up.state, nonce: up.nonce, codeVerifier: up.verifier,
    });
    if (!result.ok) return fail(result.error, result.identity?.username);
    const ip = readOriginal(req, s.trusted).clientIp;
    const started = await sessions.begin(result.user, { ip, userAgent: req.headers['user-agent'] ?? null }, { via: up.provider, groups: result.groups });
    metrics.signIn('success');
    logger.info({ event: 'sign_in', user: result.user.username, connector: up.provider, linked: result.how, session: started.sid.slice(0, 6), ip }, 'signed in');
    audit({ actor: result.user.username, action: 'sign_in', outcome: 'ok', detail: { ip, method: up.provider, linked: result.how } });
    res.writeHead(303, {
      location: await destination(s, rd, started.cookie),
      'cache-control': 'no-store',
      'set-cookie': [sessionCookie(s, s.portalHost, started.cookie, Math.floor(s.sessionLifetimeMs / 1000)), loginCookie(s, '', 0)],
    });
    res.end();
  }

  /** GET / on the portal host. */
  async function home(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    const view = (await currentSession(req, s))?.view;
    const base = portalBase(s);
    if (!view) {
      res.writeHead(302, { location: portalPath(s, '/oauth2/sign_in'), 'cache-control': 'no-store' });
      res.end();
      return;
    }
    res.writeHead(200, pageHeaders(s));
    res.end(homePage({ identity: view.identity, name: view.name, signOutAction: portalPath(s, '/oauth2/sign_out'), base }));
  }

  function stylesheet(_req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/css; charset=utf-8',
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
    });
    res.end(STYLESHEET);
  }

  return { start, signIn, signOut, userinfo, ticket, callback, home, stylesheet, stylesheetPath: STYLESHEET_PATH };
}

export type Portal = ReturnType<typeof createPortal>;
