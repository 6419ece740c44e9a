// The portal's routes under /oauth2/: start, sign_in, sign_out, ticket, userinfo, callback and
// the stylesheet. Each handler is a short list of steps; HTML is in pages.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, Logger } from '../core/index.ts';
import {
  contentSecurityPolicy, readForm, readOriginal, parseCookie, securityHeaders, serializeCookie, validateRedirect, type Metrics,
} from '../http/index.ts';
import type { Accounts } from '../accounts/index.ts';
import type { Sessions } from '../sessions/index.ts';
import type { AuditStore, TicketStore } from '../store/index.ts';
import {
  cookieDomainFor, isPortalHost, issueTicket, messagePage, sessionFromCookies, type FoundSession, portalBase, sharesPortalCookie, STYLESHEET, STYLESHEET_PATH,
  type GateSettings, type TicketRedeemer,
} from '../gateway/index.ts';
import { homePage, signInPage, type ProviderButton } from './pages.ts';
import { csrfMatches, newLoginState, openLoginState } from './login-state.ts';

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
  /** Buttons for upstream providers (filled by the connectors). */
  providers: () => ProviderButton[];
}

const GENERIC_FAILURE = 'Incorrect username or password.';

export function createPortal(deps: PortalDeps) {
  const { accounts, sessions, clock, logger, metrics } = deps;

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
    const fallback = `${s.publicUrl.origin}${portalBase(s)}/`;
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
    if (isPortalHost(s, target.host) && target.pathname.startsWith(`${portalBase(s)}/oauth2/`)) {
      logger.info({ reason: 'redirect target is a sign-in page' }, 'redirect loop refused; using the portal');
      return fallback;
    }
    return v.url;
  }

  function renderSignIn(res: ServerResponse, s: GateSettings, rd: string, status: number, extra: { error?: string; username?: string; retryAfter?: number } = {}): void {
    const now = clock.now();
    const state = newLoginState(s.keyring, now, s.loginStateMs);
    const base = portalBase(s);
    const html = signInPage({
      action: `${base}/oauth2/sign_in`, rd, csrf: state.csrf, providers: deps.providers(), localAccounts: true, base,
      ...(extra.error ? { error: extra.error } : {}), ...(extra.username ? { username: extra.username } : {}),
    });
    res.writeHead(status, {
      ...pageHeaders(s, [new URL(rd).origin]),
      'set-cookie': serializeCookie(loginCookieName(s), state.sealed, {
        path: `${base}/oauth2/`, maxAgeSeconds: Math.floor(s.loginStateMs / 1000), secure: s.secureCookies, httpOnly: true, sameSite: 'Lax',
      }),
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
    if (!isPortalHost(s, orig.host)) {
      // Reached on an app host (an nginx `location /oauth2/`): sign-in happens at the portal.
      const rd = safeRd(s, query.get('rd'), orig.host);
      res.writeHead(302, { location: `${s.publicUrl.origin}${portalBase(s)}/oauth2/start?rd=${encodeURIComponent(rd)}`, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    const rd = safeRd(s, query.get('rd'));
    const found = await currentSession(req, s);
    if (found) {
      res.writeHead(302, { location: await destination(s, rd, found.cookie), 'cache-control': 'no-store' });
      res.end();
      return;
    }
    renderSignIn(res, s, rd, 200);
  }

  /** POST /oauth2/sign_in */
  async function signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    const form = await readForm(req);
    const rd = safeRd(s, form.get('rd'));
    const expected = openLoginState(s.keyring, parseCookie(req.headers.cookie, loginCookieName(s)), clock.now());
    if (!csrfMatches(expected, form.get('csrf'))) {
      // An expired form, or a cross-site post: show a fresh form, nothing else.
      logger.info({ reason: expected ? 'csrf mismatch' : 'no live login state' }, 'sign-in form refused');
      return renderSignIn(res, s, rd, 400, { error: 'Your sign-in form expired. Please try again.' });
    }
    const username = (form.get('username') ?? '').trim();
    const password = form.get('password') ?? '';
    const ip = readOriginal(req, s.trusted).clientIp;
    const result = await accounts.authenticate(username, password, ip);
    if (!result.ok) {
      audit({ actor: username.slice(0, 64) || '-', action: 'sign_in', outcome: 'denied', detail: { reason: result.reason, ip } });
      if (result.reason === 'throttled') {
        metrics.signIn('throttled');
        return renderSignIn(res, s, rd, 429, {
          error: `Too many failed attempts. Try again in ${result.retryAfterSeconds} seconds.`, username, retryAfter: result.retryAfterSeconds,
        });
      }
      metrics.signIn('failure');
      return renderSignIn(res, s, rd, 401, { error: GENERIC_FAILURE, username });
    }
    metrics.signIn('success');
    const started = await sessions.begin(result.user, { ip, userAgent: req.headers['user-agent'] ?? null });
    logger.info({ event: 'sign_in', user: result.user.username, session: started.sid.slice(0, 6), ip }, 'signed in');
    audit({ actor: result.user.username, action: 'sign_in', outcome: 'ok', detail: { ip, method: 'password' } });
    const base = portalBase(s);
    res.writeHead(303, {
      location: await destination(s, rd, started.cookie),
      'cache-control': 'no-store',
      'set-cookie': [
        sessionCookie(s, s.portalHost, started.cookie, Math.floor(s.sessionLifetimeMs / 1000)),
        serializeCookie(loginCookieName(s), '', { path: `${base}/oauth2/`, maxAgeSeconds: 0, secure: s.secureCookies, httpOnly: true, sameSite: 'Lax' }),
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
    }
    const clear = sessionCookie(s, orig.host, '', 0);
    const rdRaw = query.get('rd');
    if (rdRaw) {
      res.writeHead(302, { location: safeRd(s, rdRaw, orig.host), 'set-cookie': clear, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    res.writeHead(200, { ...pageHeaders(s), 'set-cookie': clear });
    res.end(messagePage('Signed out', 'You are signed out of every app.', { href: `${s.publicUrl.origin}${portalBase(s)}/oauth2/sign_in`, text: 'Sign in again' }));
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

  /** GET /oauth2/callback — where upstream providers return; none is configured yet. */
  function callback(_req: IncomingMessage, res: ServerResponse): void {
    const s = deps.settings();
    res.writeHead(400, pageHeaders(s));
    res.end(messagePage('No provider', 'No upstream identity provider is configured, so there is nothing to return to here.',
      { href: `${s.publicUrl.origin}${portalBase(s)}/oauth2/sign_in`, text: 'Sign in' }));
  }

  /** GET / on the portal host. */
  async function home(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    const view = (await currentSession(req, s))?.view;
    const base = portalBase(s);
    if (!view) {
      res.writeHead(302, { location: `${base}/oauth2/sign_in`, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    res.writeHead(200, pageHeaders(s));
    res.end(homePage({ identity: view.identity, name: view.name, signOutAction: `${base}/oauth2/sign_out`, base }));
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
