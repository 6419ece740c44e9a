// What every portal flow shares: its dependencies, where a validated `rd` sends the browser,
// the current session, the audit log, and the pages every flow may answer with (the sign-in form,
// a failed sign-in). One file per flow next to this one.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, Logger, Topic } from '../core/index.ts';
import { validateRedirect, type Metrics } from '../http/index.ts';
import type { Accounts, Factors, Federation } from '../accounts/index.ts';
import type { Sessions } from '../sessions/index.ts';
import type { ConnectorError } from '../connectors/index.ts';
import type { AuditStore, TicketStore, UserRecord } from '../store/index.ts';
import { deviceOf } from './device.ts';
import { issueTicket, sessionFromCookies, type FoundSession, type TicketRedeemer } from '../gateway/index.ts';
import {
  clearLoginCookie,
  formToken,
  isPortalHost,
  portalPath,
  portalUrl,
  sendPage,
  sharesPortalCookie,
  type GateSettings,
} from '../web/index.ts';
import { failurePage, signInPage, type ProviderButton } from './pages.ts';
import type { PeopleDeps } from './people-deps.ts';
import { text, type TextKey } from '../text/index.ts';

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
   * Gate sessions ended by sign-out (the issuer listens: it ends the OpenID sessions signed in
   * with one and sends back-channel logout, never holding up the user's sign-out).
   */
  signOuts?: Topic<string>;
  /** More origins the sign-in form may end at after redirects (the issuer's client, for an interaction). */
  formTargets?: (rd: string) => Promise<string[]>;
  /** Second factors and passkeys (factors.*); without it, sign-in is one step. */
  factors?: Factors;
  /** Invitations, sign-up, password reset and the account page; without it those pages are 404. */
  people?: PeopleDeps;
}

/** What the user reads for each upstream failure (text keys, {provider} the provider's label); the log gets the detail. */
const FAILURES: Record<ConnectorError['failure'], { status: number; title: TextKey; message: TextKey }> = {
  access_denied: { status: 403, title: 'upstream.access_denied_title', message: 'upstream.access_denied' },
  bad_state: { status: 400, title: 'upstream.unverified_title', message: 'upstream.bad_state' },
  bad_issuer: { status: 502, title: 'upstream.unverified_title', message: 'upstream.bad_issuer' },
  bad_audience: { status: 502, title: 'upstream.unverified_title', message: 'upstream.bad_audience' },
  bad_nonce: { status: 400, title: 'upstream.unverified_title', message: 'upstream.bad_nonce' },
  refused: { status: 403, title: 'upstream.not_allowed_title', message: 'upstream.not_allowed' },
  no_account: { status: 403, title: 'upstream.no_account_title', message: 'upstream.no_account' },
  upstream_error: { status: 502, title: 'upstream.error_title', message: 'upstream.error' },
};

/** The request's path (no query), as the router matched it. */
export function requestPath(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

export function headerValue(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  return typeof v === 'string' ? v : null;
}

export type PortalContext = ReturnType<typeof portalContext>;

export function portalContext(deps: PortalDeps) {
  const { sessions, clock, logger } = deps;
  const options = (): { localAccounts: boolean; autoRedirect: boolean } =>
    deps.signInOptions?.() ?? { localAccounts: true, autoRedirect: false };

  /** The audit log never holds up or fails a sign-in; a write that fails is logged. */
  function audit(e: {
    actor: string;
    action: string;
    target?: string | null;
    outcome: 'ok' | 'denied' | 'error';
    detail: Record<string, unknown>;
  }): void {
    deps.audit.append({ at: clock.now(), target: null, ...e }).catch((err: unknown) => {
      logger.warn({ err: (err as Error).message, action: e.action }, 'could not write the audit log');
    });
  }

  /** Where a validated `rd` sends the browser now: straight there, or through a ticket hop on its own host. */
  async function destination(s: GateSettings, rd: string, cookie: string): Promise<string> {
    const target = new URL(rd);
    if (sharesPortalCookie(s, target.host)) return rd;
    const ticket = await issueTicket(deps.tickets, s.keyring, cookie, target.host, clock.now());
    // The hop is on the app's host, at the root: its /oauth2/ticket is the gate's there.
    return `${target.origin}/oauth2/ticket?t=${encodeURIComponent(ticket)}&rd=${encodeURIComponent(rd)}`;
  }

  /** A validated return address, or the portal home (a refused or looping one is logged). */
  function safeRd(s: GateSettings, raw: string | null, baseHost?: string): string {
    const fallback = portalUrl(s, '/');
    if (raw === null || raw === '') return fallback;
    // A path-only rd on an app host (ingress-nginx's `$escaped_request_uri`) means that host.
    const resolved =
      baseHost && raw.startsWith('/') && !raw.startsWith('//') && !raw.startsWith('/\\')
        ? `${s.publicUrl.protocol}//${baseHost}${raw}`
        : raw;
    const v = validateRedirect(resolved, { domains: s.domains, publicUrl: s.publicUrl });
    if (!v.ok) {
      logger.info({ reason: v.reason }, 'redirect target refused; using the portal');
      return fallback;
    }
    // Back to the portal's own sign-in pages would be a loop: go to the portal home instead. The
    // account pages (/oauth2/account and below) are destinations, not sign-in pages.
    const target = new URL(v.url);
    const account = portalPath(s, '/oauth2/account');
    const isAccount = target.pathname === account || target.pathname.startsWith(`${account}/`);
    if (isPortalHost(s, target.host) && target.pathname.startsWith(portalPath(s, '/oauth2/')) && !isAccount) {
      logger.info({ reason: 'redirect target is a sign-in page' }, 'redirect loop refused; using the portal');
      return fallback;
    }
    return v.url;
  }

  async function currentSession(req: IncomingMessage, s: GateSettings): Promise<FoundSession | null> {
    return await sessionFromCookies(sessions, req.headers.cookie, s.cookieName);
  }

  /**
   * The origins a form whose POST ends in a redirect to `rd` may reach: rd's (the app, or its
   * ticket hop on the app's host) and, for an OIDC interaction, the client's redirect_uri. CSP
   * form-action applies to every redirect after a form POST (Chromium, Safari).
   */
  async function formTargetsFor(rd: string): Promise<string[]> {
    return [new URL(rd).origin, ...(deps.formTargets ? await deps.formTargets(rd) : [])];
  }

  /** The sign-in form (password and provider buttons), with its CSRF token. */
  async function renderSignIn(
    req: IncomingMessage,
    res: ServerResponse,
    s: GateSettings,
    rd: string,
    status: number,
    extra: { error?: string; username?: string; retryAfter?: number } = {},
  ): Promise<void> {
    const formTargets = await formTargetsFor(rd);
    const token = formToken(req, s, clock.now());
    const providers = deps
      .providers()
      .map((p) => ({ ...p, href: `${p.href}${p.href.includes('?') ? '&' : '?'}rd=${encodeURIComponent(rd)}` }));
    // Passkeys: a button, and the browser's autofill on the username field (conditional mediation).
    const passkey = deps.factors?.settings.passkeys
      ? // No autofill on a screen that shows an error: a refused passkey is not offered again by itself.
        { ...(await deps.factors.passkeyAuthenticationOptions(null)), action: portalPath(s, '/oauth2/passkey'), autofill: !extra.error }
      : undefined;
    const html = signInPage({
      action: portalPath(s, '/oauth2/sign_in'),
      rd,
      csrf: token.token,
      providers,
      localAccounts: options().localAccounts,
      at: s,
      ...(deps.people ? { links: deps.people.signInLinks() } : {}),
      ...(extra.error ? { error: extra.error } : {}),
      ...(extra.username ? { username: extra.username } : {}),
      ...(passkey ? { passkey } : {}),
    });
    sendPage(res, s, status, html, {
      formTargets,
      setCookie: token.setCookie,
      scripts: passkey !== undefined,
      ...(extra.retryAfter ? { headers: { 'retry-after': String(extra.retryAfter) } } : {}),
    });
  }

  /** A failed upstream sign-in: what happened, and the ways to go on. Ends the login cookie. */
  function failure(
    res: ServerResponse,
    s: GateSettings,
    kind: ConnectorError['failure'],
    label: string,
    providerId: string | null,
    rd: string,
  ): void {
    const f = FAILURES[kind];
    const links: { href: string; text: string }[] = [];
    if (providerId && kind !== 'upstream_error') {
      links.push({
        href: portalPath(s, '/oauth2/start', { provider: providerId, prompt: 'select_account', rd }),
        text: text('upstream.try_another_account'),
      });
    } else if (providerId) {
      links.push({ href: portalPath(s, '/oauth2/start', { provider: providerId, rd }), text: text('upstream.try_again') });
    }
    // The chooser, when there is one to show (with a single provider and no form it would send the browser straight back).
    const o = options();
    if (o.localAccounts || (deps.federation?.list().length ?? 0) > 1 || !o.autoRedirect) {
      links.push({ href: portalPath(s, '/oauth2/sign_in', { rd }), text: text('upstream.other_ways') });
    }
    sendPage(res, s, f.status, failurePage({ title: text(f.title), message: text(f.message, { provider: label }), links, at: s }), {
      setCookie: clearLoginCookie(s),
    });
  }

  /** A sign-in whose login state is gone (too slow, or another browser): start again. Ends the login cookie. */
  function signInExpired(res: ServerResponse, s: GateSettings): void {
    sendPage(
      res,
      s,
      400,
      failurePage({
        title: text('signin.expired_title'),
        message: text('signin.expired'),
        at: s,
        links: [{ href: portalPath(s, '/oauth2/sign_in'), text: text('signin.again') }],
      }),
      { setCookie: clearLoginCookie(s) },
    );
  }

  /** A form another site posted (or one that cannot be shown again): 403, no fresh form and no new token cookie. */
  function refused(res: ServerResponse, s: GateSettings, message: string): void {
    sendPage(
      res,
      s,
      403,
      failurePage({
        title: text('form.refused_title'),
        message,
        at: s,
        links: [{ href: portalPath(s, '/oauth2/sign_in'), text: text('link.sign_in') }],
      }),
    );
  }

  /**
   * The sign-in screen's forms (password, passkey) refused by the form guard: another site's
   * post gets 403 (login CSRF); an expired form, the sign-in screen again with nothing else.
   */
  async function signInFormRefused(
    req: IncomingMessage,
    res: ServerResponse,
    s: GateSettings,
    rd: string,
    check: { reason: string; rule?: string },
    form: string,
  ): Promise<void> {
    logger.info({ reason: check.reason, form }, 'form refused');
    if (check.rule === 'origin') return refused(res, s, text('form.refused'));
    return renderSignIn(req, res, s, rd, 400, { error: text('signin.form_expired') });
  }

  /** A sign-in happened: the new-address notice (when on), never awaited. */
  function signedIn(user: UserRecord, sid: string, ip: string, userAgent: string | undefined): void {
    deps.people?.afterSignIn(user, sid, ip, deviceOf(userAgent ?? null));
  }

  return {
    deps,
    options,
    audit,
    destination,
    safeRd,
    formTargetsFor,
    currentSession,
    renderSignIn,
    signInFormRefused,
    refused,
    signInExpired,
    failure,
    signedIn,
  };
}
