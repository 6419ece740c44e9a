// The second factor of a sign-in, passwordless sign-in with a passkey, and step-up. Steps:
//   after the first factor (password or upstream provider): someone with a factor gets the
//     factor screen (the login cookie holds the pending sign-in); someone without one gets a
//     session (session-start.ts), and when config requires a factor of them, goes to enrolment first
//   GET  /oauth2/factor            the factor screen: passkey, authenticator code, recovery code
//   POST /oauth2/factor/totp|recovery|passkey   checked (throttled); a session, or the same
//                                  session elevated (step-up), then the exact return address
//   POST /oauth2/passkey           passwordless: a discoverable passkey with user verification
//   GET  /oauth2/step_up?rd&need   a signed-in session asked for more (apps[].factors,
//                                  acr_values, factors.require): only the missing step
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseCookie, readOriginal } from '../../http/index.ts';
import type { Factors, CheckResult } from '../../accounts/index.ts';
import { factorShortfall, passkeySignIn, withMethod } from '../../policy/index.ts';
import type { UserRecord } from '../../store/index.ts';
import type { SessionView } from '../../sessions/index.ts';
import {
  clearLoginCookie,
  formToken,
  loginCookie,
  loginCookieName,
  newSessionCookie,
  portalPath,
  portalUrl,
  readPostedForm,
  redirectTo,
  sendPage,
  type GateSettings,
} from '../../web/index.ts';
import { text } from '../../text/index.ts';
import type { PortalContext } from '../context.ts';
import { sessionStart, type AfterFirstFactor } from '../session-start.ts';
import { factorPage } from './pages.ts';
import { openPending, sealPending, type Need, type Pending } from './state.ts';

/** How recently a factor must have been used to change the factors themselves (the security page). */
export const MANAGE_MAX_AGE_MS = 15 * 60_000;

export function securityPath(s: GateSettings, query?: Record<string, string>): string {
  return portalPath(s, '/oauth2/account/security', query);
}

export function factorFlows(ctx: PortalContext, factors: Factors) {
  const { deps, audit } = ctx;
  const { accounts, sessions, clock, logger, metrics } = deps;
  const startSession = sessionStart(ctx);

  const ipOf = (req: IncomingMessage, s: GateSettings): string => readOriginal(req, s.trusted).clientIp;

  /**
   * After the first factor. Someone with a second factor proves it next (no session until then);
   * anyone else gets a session now, and enrolment first when config requires a factor of them.
   */
  const afterFirstFactor: AfterFirstFactor = async (req, res, s, user, rd, first, upstream) => {
    if (factors.enabled && first.mfaAt === null && factors.hasAny(await factors.status(user.id))) {
      const p: Pending = {
        k: '2fa',
        uid: user.id,
        rd,
        first,
        exp: clock.now() + s.loginStateMs,
        ...(upstream ? { via: upstream.via, groups: upstream.groups } : {}),
      };
      logger.info(
        { event: 'sign_in_first_factor', user: user.username, via: upstream?.via ?? 'password' },
        'first factor accepted; second factor next',
      );
      redirectTo(res, 303, portalPath(s, '/oauth2/factor'), loginCookie(s, sealPending(s.keyring, p)));
      return;
    }
    await startSession(req, res, s, user, rd, first, upstream);
  };

  /** The pending sign-in or step-up of this browser, and for a step-up its live session. */
  async function pendingOf(
    req: IncomingMessage,
    s: GateSettings,
  ): Promise<{ p: Pending; user: UserRecord; session: { view: SessionView; cookie: string } | null } | null> {
    const p = openPending(s.keyring, parseCookie(req.headers.cookie, loginCookieName(s)), clock.now());
    if (!p) return null;
    const user = await accounts.get(p.uid);
    if (!user || user.disabled) return null;
    if (p.k === 'step') {
      const found = await ctx.currentSession(req, s);
      if (!found || found.view.sid !== p.sid) return null;
      return { p, user, session: { view: found.view, cookie: found.cookie } };
    }
    return { p, user, session: null };
  }

  const expired = (res: ServerResponse, s: GateSettings): void => ctx.signInExpired(res, s);

  async function renderFactor(
    req: IncomingMessage,
    res: ServerResponse,
    s: GateSettings,
    p: Pending,
    user: UserRecord,
    status: number,
    error?: string,
    retryAfter?: number,
    pendingCookie?: string,
  ): Promise<void> {
    const st = await factors.status(user.id);
    const need: Need = p.k === 'step' ? p.need : 'any';
    const passkey = st.passkeys.length > 0 ? await factors.passkeyAuthenticationOptions(user) : null;
    const token = formToken(req, s, clock.now());
    const step = p.k === 'step';
    const html = factorPage(s, {
      title: step ? text('factor.step_up_title') : text('factor.title'),
      intro: step
        ? need === 'passkey'
          ? text('factor.step_up_passkey')
          : text('factor.step_up_any')
        : text('factor.lead', { username: user.username }),
      csrf: token.token,
      actions: {
        totp: portalPath(s, '/oauth2/factor/totp'),
        recovery: portalPath(s, '/oauth2/factor/recovery'),
        passkey: portalPath(s, '/oauth2/factor/passkey'),
      },
      cancel: step
        ? { href: p.rd, text: text('factor.cancel') }
        : { href: portalPath(s, '/oauth2/sign_in', { rd: p.rd }), text: text('factor.someone_else') },
      totp: need === 'any' && st.totp,
      recovery: need === 'any' && st.recoveryCodesLeft > 0,
      passkey,
      ...(error ? { error } : {}),
    });
    const cookies = [token.setCookie, pendingCookie].filter((c): c is string => c !== undefined);
    sendPage(res, s, status, html, {
      scripts: passkey !== null,
      formTargets: await ctx.formTargetsFor(p.rd),
      setCookie: cookies,
      ...(retryAfter ? { headers: { 'retry-after': String(retryAfter) } } : {}),
    });
  }

  /** GET /oauth2/factor */
  async function factorScreen(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    const found = await pendingOf(req, s);
    if (!found) return expired(res, s);
    await renderFactor(req, res, s, found.p, found.user, 200);
  }

  /** The step after a good factor: a new session, or the same one elevated. */
  async function succeed(
    req: IncomingMessage,
    res: ServerResponse,
    s: GateSettings,
    found: NonNullable<Awaited<ReturnType<typeof pendingOf>>>,
    method: 'otp' | 'hwk' | 'kba',
    userVerified: boolean,
  ): Promise<void> {
    const { p, user } = found;
    const now = clock.now();
    if (p.k === '2fa') {
      return startSession(
        req,
        res,
        s,
        user,
        p.rd,
        withMethod(p.first, method, now, userVerified),
        p.via ? { via: p.via, groups: p.groups ?? [] } : undefined,
      );
    }
    const session = found.session as { view: SessionView; cookie: string };
    const state = withMethod(session.view.factors, method, now, userVerified);
    const cookie = await sessions.elevate(session.cookie, state);
    if (!cookie) return expired(res, s);
    logger.info({ event: 'step_up', user: user.username, method, session: session.view.sid.slice(0, 6) }, 'stepped up');
    audit({ actor: user.username, action: 'step_up', outcome: 'ok', detail: { method, ip: ipOf(req, s) } });
    redirectTo(res, 303, await ctx.destination(s, p.rd, cookie), [newSessionCookie(s, s.portalHost, cookie), clearLoginCookie(s)]);
  }

  async function failed(
    req: IncomingMessage,
    res: ServerResponse,
    s: GateSettings,
    found: NonNullable<Awaited<ReturnType<typeof pendingOf>>>,
    r: CheckResult & { ok: false },
    wrong: string,
  ): Promise<void> {
    metrics.signIn(r.reason === 'throttled' ? 'throttled' : 'failure');
    if (r.reason === 'throttled')
      return renderFactor(
        req,
        res,
        s,
        found.p,
        found.user,
        429,
        text('signin.throttled', { seconds: r.retryAfterSeconds }),
        r.retryAfterSeconds,
      );
    return renderFactor(req, res, s, found.p, found.user, 401, wrong);
  }

  /** The common start of every factor POST: the form guard, then the pending sign-in. */
  async function posted(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{ s: GateSettings; form: URLSearchParams; found: NonNullable<Awaited<ReturnType<typeof pendingOf>>> } | null> {
    const s = deps.settings();
    const { form, check } = await readPostedForm(req, s, clock.now());
    const found = await pendingOf(req, s);
    if (!check.ok) {
      logger.info({ reason: check.reason, form: 'factor' }, 'form refused');
      if (check.rule === 'origin' || !found) {
        ctx.refused(res, s, text('factor.form_refused'));
        return null;
      }
      await renderFactor(req, res, s, found.p, found.user, 400, text('form.expired'));
      return null;
    }
    if (!found) {
      expired(res, s);
      return null;
    }
    return { s, form, found };
  }

  /** POST /oauth2/factor/totp and /oauth2/factor/recovery: a code, checked (throttled) and used once. */
  function codeFactor(kind: 'totp' | 'recovery') {
    return async function factorCode(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const ok = await posted(req, res);
      if (!ok) return;
      const { s, form, found } = ok;
      if (found.p.k === 'step' && found.p.need === 'passkey')
        return renderFactor(req, res, s, found.p, found.user, 400, text('factor.passkey_required'));
      const code = form.get('code') ?? '';
      const r =
        kind === 'totp'
          ? await factors.checkTotp(found.user, code, ipOf(req, s))
          : await factors.checkRecoveryCode(found.user, code, ipOf(req, s));
      if (!r.ok) return failed(req, res, s, found, r, kind === 'totp' ? text('factor.totp_wrong') : text('factor.recovery_wrong'));
      return succeed(req, res, s, found, kind === 'totp' ? 'otp' : 'kba', false);
    };
  }
  const factorTotp = codeFactor('totp');
  const factorRecovery = codeFactor('recovery');

  /** POST /oauth2/factor/passkey: a passkey as the second factor (or the step-up). */
  async function factorPasskey(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ok = await posted(req, res);
    if (!ok) return;
    const { s, form, found } = ok;
    const credential = form.get('credential') ?? '';
    if (credential === '') return renderFactor(req, res, s, found.p, found.user, 400, text('factor.passkey_needs_script'));
    const r = await factors.checkPasskey(form.get('state') ?? '', credential, ipOf(req, s));
    if (!r.ok) return failed(req, res, s, found, r, text('factor.passkey_failed'));
    if (r.asserted.userId !== found.user.id) {
      audit({
        actor: found.user.username,
        action: 'factor_use',
        outcome: 'denied',
        detail: { factor: 'passkey', reason: "another account's passkey" },
      });
      return failed(req, res, s, found, { ok: false, reason: 'invalid' }, text('factor.passkey_other_account'));
    }
    factors.auditPasskeyUse(found.user.username, r.asserted.passkeyId, ipOf(req, s), false);
    return succeed(req, res, s, found, 'hwk', r.asserted.userVerified);
  }

  /** POST /oauth2/passkey: passwordless sign-in from the sign-in screen (button or autofill). */
  async function passwordless(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    const { form, check } = await readPostedForm(req, s, clock.now());
    const rd = ctx.safeRd(s, form.get('rd'));
    if (!check.ok) return ctx.signInFormRefused(req, res, s, rd, check, 'passkey');
    const credential = form.get('credential') ?? '';
    if (!factors.settings.passkeys || credential === '') {
      return ctx.renderSignIn(req, res, s, rd, 400, {
        error: text('signin.passkey_needs_script'),
      });
    }
    const ip = ipOf(req, s);
    const r = await factors.checkPasskey(form.get('state') ?? '', credential, ip);
    if (!r.ok) {
      metrics.signIn(r.reason === 'throttled' ? 'throttled' : 'failure');
      audit({ actor: '-', action: 'sign_in', outcome: 'denied', detail: { method: 'passkey', reason: r.reason, ip } });
      return ctx.renderSignIn(req, res, s, rd, r.reason === 'throttled' ? 429 : 401, {
        error: r.reason === 'throttled' ? text('signin.throttled', { seconds: r.retryAfterSeconds }) : text('signin.passkey_failed'),
        ...(r.reason === 'throttled' ? { retryAfter: r.retryAfterSeconds } : {}),
      });
    }
    const user = await accounts.get(r.asserted.userId);
    if (!user || user.disabled) {
      metrics.signIn('failure');
      audit({
        actor: user?.username ?? '-',
        action: 'sign_in',
        outcome: 'denied',
        detail: { method: 'passkey', reason: 'account disabled or gone', ip },
      });
      return ctx.renderSignIn(req, res, s, rd, 401, { error: text('signin.passkey_failed') });
    }
    factors.auditPasskeyUse(user.username, r.asserted.passkeyId, ip, true);
    return startSession(req, res, s, user, rd, passkeySignIn(clock.now()));
  }

  /**
   * Whether a signed-in session may go on to `rd` as it is: the rule's apps[].factors for an
   * app URL, and factors.require for the person. Otherwise where it must go first.
   */
  function stepUpFor(s: GateSettings, view: SessionView, rd: string): string | null {
    let need: Need | null = null;
    const target = new URL(rd);
    const d = s.policy.decide(
      { host: target.host, path: `${target.pathname}${target.search}`, method: 'GET', ip: '127.0.0.1' },
      view.identity,
    );
    if (d.action === 'allow' && d.factors !== null && factorShortfall(view.factors, d.factors, clock.now()) !== null)
      need = d.factors.factors;
    else if (view.factors.mfaAt === null && factors.mustUse(view.identity)) need = 'any';
    return need === null ? null : portalUrl(s, '/oauth2/step_up', { rd, need });
  }

  /** GET /oauth2/step_up?rd=…&need=any|passkey */
  async function stepUp(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const s = deps.settings();
    const rdRaw = query.get('rd');
    // Validated like every return address (the account pages are allowed: context.ts safeRd).
    const rd = ctx.safeRd(s, rdRaw);
    const need: Need = query.get('need') === 'passkey' ? 'passkey' : 'any';
    const found = await ctx.currentSession(req, s);
    if (!found) {
      redirectTo(res, 302, portalPath(s, '/oauth2/start', { rd }));
      return;
    }
    const user = await accounts.get(found.view.userId);
    if (!user) {
      redirectTo(res, 302, portalPath(s, '/oauth2/start', { rd }));
      return;
    }
    const st = await factors.status(user.id);
    // Nothing to prove it with: set one up first (the security page, then back here).
    if (need === 'passkey' ? st.passkeys.length === 0 : !factors.hasAny(st)) {
      redirectTo(res, 302, securityPath(s, { enrol: need === 'passkey' ? 'passkey' : '1', rd }));
      return;
    }
    const p: Pending = { k: 'step', uid: user.id, sid: found.view.sid, rd, need, exp: clock.now() + s.loginStateMs };
    logger.info({ event: 'step_up_needed', user: user.username, need }, 'step-up asked');
    await renderFactor(req, res, s, p, user, 200, undefined, undefined, loginCookie(s, sealPending(s.keyring, p)));
  }

  return { afterFirstFactor, startSession, factorScreen, factorTotp, factorRecovery, factorPasskey, passwordless, stepUp, stepUpFor };
}
