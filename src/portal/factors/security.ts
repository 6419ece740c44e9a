// The security page (/oauth2/account/security): a signed-in person lists, names, adds and
// removes passkeys and security keys, sets up or removes an authenticator app, and makes new
// recovery codes. Changing factors needs a factor used in the last 15 minutes when the person
// has one (else the step-up screen first). With ?enrol=1 it is the enrolment a person whose
// group requires a factor is taken through right after the password; setting one up proves it,
// so the session is elevated and goes on to `rd`. A person who must use a factor cannot remove
// their last one.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../../http/index.ts';
import type { Factors } from '../../accounts/index.ts';
import { GatehouseError } from '../../core/index.ts';
import { factorShortfall, withMethod } from '../../policy/index.ts';
import type { UserRecord } from '../../store/index.ts';
import type { FoundSession } from '../../gateway/index.ts';
import {
  formToken,
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
import { failurePage } from '../pages.ts';
import { recoveryCodesPage, securityPage, totpSetupPage } from './pages.ts';
import { MANAGE_MAX_AGE_MS, securityPath } from './sign-in.ts';

export function securityFlows(ctx: PortalContext, factors: Factors) {
  const { deps } = ctx;
  const { accounts, sessions, clock, logger } = deps;

  const ipOf = (req: IncomingMessage, s: GateSettings): string => readOriginal(req, s.trusted).clientIp;

  /** A return address after enrolment: an app URL (validated) or the account pages. */
  function returnTo(s: GateSettings, raw: string | null): string | null {
    if (raw === null || raw === '') return null;
    const safe = ctx.safeRd(s, raw);
    return safe === portalUrl(s, '/') ? null : safe;
  }

  interface Here {
    s: GateSettings;
    found: FoundSession;
    user: UserRecord;
    rd: string | null;
  }

  /**
   * The signed-in person, allowed to change factors now: signed in (else sign in first), and when
   * they have a factor, one used within 15 minutes (else the step-up screen, then back here).
   */
  async function signedIn(req: IncomingMessage, res: ServerResponse, rdRaw: string | null): Promise<Here | null> {
    const s = deps.settings();
    const rd = returnTo(s, rdRaw);
    const here = portalUrl(s, '/oauth2/account/security', rd ? { rd } : undefined);
    const found = await ctx.currentSession(req, s);
    const user = found ? await accounts.get(found.view.userId) : undefined;
    if (!found || !user) {
      redirectTo(res, 302, portalPath(s, '/oauth2/start', { rd: here }));
      return null;
    }
    const st = await factors.status(user.id);
    if (factors.hasAny(st) && factorShortfall(found.view.factors, { factors: 'any', maxAgeMs: MANAGE_MAX_AGE_MS }, clock.now()) !== null) {
      redirectTo(res, 302, portalPath(s, '/oauth2/step_up', { rd: here, need: 'any' }));
      return null;
    }
    return { s, found, user, rd };
  }

  /** The origins a form on these pages may end at: the return address's (context.ts formTargetsFor). */
  const targetsOf = async (h: { rd: string | null }): Promise<string[]> => (h.rd ? await ctx.formTargetsFor(h.rd) : []);

  async function render(
    req: IncomingMessage,
    res: ServerResponse,
    h: Here,
    status: number,
    extra: { enrol?: 'any' | 'passkey'; notice?: string; error?: string } = {},
  ): Promise<void> {
    const { s, user } = h;
    const st = await factors.status(user.id);
    const fs = factors.settings;
    const register = fs.passkeys ? await factors.passkeyRegistrationOptions(user) : null;
    const token = formToken(req, s, clock.now());
    const html = securityPage(s, {
      username: user.username,
      csrf: token.token,
      base: (p) => portalPath(s, p),
      rd: h.rd,
      enrol: extra.enrol ?? false,
      totpEnabled: fs.totp,
      passkeysEnabled: fs.passkeys,
      totp: st.totp,
      passkeys: st.passkeys,
      recoveryLeft: st.recoveryCodesLeft,
      register,
      ...(extra.notice ? { notice: extra.notice } : {}),
      ...(extra.error ? { error: extra.error } : {}),
    });
    // Adding a factor with a return address ends in a redirect there (enrolled): CSP
    // form-action names its origin, or the browser stops the form at that redirect.
    sendPage(res, s, status, html, { scripts: register !== null, setCookie: token.setCookie, formTargets: await targetsOf(h) });
  }

  /** GET /oauth2/account/security[?enrol=1&rd=…] */
  async function page(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    if (!factors.enabled) return notOn(res);
    const h = await signedIn(req, res, query.get('rd'));
    if (!h) return;
    const enrol = query.get('enrol');
    await render(req, res, h, 200, enrol === null ? {} : { enrol: enrol === 'passkey' ? 'passkey' : 'any' });
  }

  function notOn(res: ServerResponse): void {
    const s = deps.settings();
    sendPage(
      res,
      s,
      404,
      failurePage({
        title: text('security.off_title'),
        message: text('security.off'),
        at: s,
        links: [{ href: portalPath(s, '/'), text: text('link.home') }],
      }),
    );
  }

  /** The guard of every POST here: the form, then the signed-in person. */
  async function posted(req: IncomingMessage, res: ServerResponse): Promise<{ h: Here; form: URLSearchParams } | null> {
    if (!factors.enabled) {
      notOn(res);
      return null;
    }
    const s = deps.settings();
    const { form, check } = await readPostedForm(req, s, clock.now());
    if (!check.ok) {
      logger.info({ reason: check.reason, form: 'security' }, 'form refused');
      sendPage(
        res,
        s,
        403,
        failurePage({
          title: text('form.refused_title'),
          message: check.rule === 'origin' ? text('form.refused') : text('form.expired'),
          at: s,
          links: [{ href: securityPath(s), text: text('security.back_to_security') }],
        }),
      );
      return null;
    }
    const h = await signedIn(req, res, form.get('rd'));
    return h ? { h, form } : null;
  }

  /**
   * A factor was just set up: it proves the factor, so the session is elevated. The first
   * factor also brings recovery codes (shown once); then on to `rd`, or back here.
   */
  async function enrolled(res: ServerResponse, h: Here, method: 'otp' | 'hwk', userVerified: boolean, what: string): Promise<void> {
    const { s, found, user } = h;
    const cookie = await sessions.elevate(found.cookie, withMethod(found.view.factors, method, clock.now(), userVerified));
    const setCookie = cookie ? newSessionCookie(s, s.portalHost, cookie) : undefined;
    const next = h.rd ?? securityPath(s);
    const nextHref = h.rd && cookie ? await ctx.destination(s, h.rd, cookie) : next;
    if ((await factors.status(user.id)).recoveryCodesLeft === 0) {
      const codes = await factors.newRecoveryCodes(user);
      sendPage(
        res,
        s,
        200,
        recoveryCodesPage(s, { codes, next: nextHref, nextText: h.rd ? text('recovery.continue') : text('security.back_to_security') }),
        {
          setCookie,
          formTargets: [new URL(nextHref, s.publicUrl).origin],
        },
      );
      return;
    }
    logger.info({ event: 'factor_enrolled', user: user.username, what }, 'factor added');
    redirectTo(res, 303, h.rd ? nextHref : securityPath(s, { added: what }), setCookie);
  }

  /** GET /oauth2/account/security/totp: a new secret to scan. */
  async function totpSetup(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    if (!factors.settings.totp) return notOn(res);
    const h = await signedIn(req, res, query.get('rd'));
    if (!h) return;
    const setup = await factors.beginTotp(h.user);
    const token = formToken(req, h.s, clock.now());
    sendPage(
      res,
      h.s,
      200,
      totpSetupPage(h.s, {
        csrf: token.token,
        action: portalPath(h.s, '/oauth2/account/security/totp'),
        setup,
        rd: h.rd,
        back: securityPath(h.s, h.rd ? { rd: h.rd } : undefined),
      }),
      { setCookie: token.setCookie, formTargets: await targetsOf(h) },
    );
  }

  /** POST /oauth2/account/security/totp: the first code confirms the authenticator. */
  async function totpConfirm(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ok = await posted(req, res);
    if (!ok) return;
    const { h, form } = ok;
    const pending = form.get('pending') ?? '';
    const r = await factors.confirmTotp(h.user, pending, form.get('code') ?? '', ipOf(req, h.s));
    if (!r.ok) {
      // The same secret again, so the app the person just set up keeps working.
      const same = factors.pendingTotp(h.user.id, pending);
      if (!same) return render(req, res, h, 400, { error: text('totp.setup_expired') });
      const token = formToken(req, h.s, clock.now());
      const again = { secret: same.secret, svg: await factors.totpQr(h.user, same.secret), pending };
      sendPage(
        res,
        h.s,
        r.reason === 'throttled' ? 429 : 400,
        totpSetupPage(h.s, {
          csrf: token.token,
          action: portalPath(h.s, '/oauth2/account/security/totp'),
          setup: again,
          rd: h.rd,
          back: securityPath(h.s),
          error: r.reason === 'throttled' ? text('signin.throttled', { seconds: r.retryAfterSeconds }) : text('totp.wrong'),
        }),
        { setCookie: token.setCookie, formTargets: await targetsOf(h) },
      );
      return;
    }
    return enrolled(res, h, 'otp', false, 'totp');
  }

  /** POST /oauth2/account/security/totp/remove */
  async function totpRemove(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ok = await posted(req, res);
    if (!ok) return;
    const { h } = ok;
    const st = await factors.status(h.user.id);
    if (st.passkeys.length === 0 && factors.mustUse(h.found.view.identity)) {
      return render(req, res, h, 409, {
        error: text('security.last_factor_totp'),
      });
    }
    await factors.removeTotp(h.user, h.user.username);
    redirectTo(res, 303, securityPath(h.s, { removed: 'totp' }));
  }

  /** POST /oauth2/account/security/passkey: a registration answer and a name. */
  async function passkeyAdd(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ok = await posted(req, res);
    if (!ok) return;
    const { h, form } = ok;
    if (!factors.settings.passkeys) return notOn(res);
    const credential = form.get('credential') ?? '';
    if (credential === '') return render(req, res, h, 400, { error: text('security.passkey_needs_script') });
    let userVerified: boolean;
    try {
      ({ userVerified } = await factors.registerPasskey(
        h.user,
        form.get('state') ?? '',
        credential,
        form.get('name') ?? '',
        ipOf(req, h.s),
      ));
    } catch (err) {
      const msg =
        err instanceof GatehouseError && /name/.test(err.message)
          ? text('security.passkey_name_invalid')
          : text('security.passkey_add_failed');
      return render(req, res, h, 400, { error: msg });
    }
    // Registering proves the key is here; user verification is the authenticator's to report.
    return enrolled(res, h, 'hwk', userVerified, 'passkey');
  }

  /** POST /oauth2/account/security/passkey/rename */
  async function passkeyRename(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ok = await posted(req, res);
    if (!ok) return;
    const { h, form } = ok;
    try {
      if (!(await factors.renamePasskey(h.user, form.get('id') ?? '', form.get('name') ?? '')))
        return render(req, res, h, 404, { error: text('security.passkey_unknown') });
    } catch {
      return render(req, res, h, 400, { error: text('security.passkey_name_invalid') });
    }
    redirectTo(res, 303, securityPath(h.s, { renamed: '1' }));
  }

  /** POST /oauth2/account/security/passkey/remove */
  async function passkeyRemove(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ok = await posted(req, res);
    if (!ok) return;
    const { h, form } = ok;
    const st = await factors.status(h.user.id);
    const id = form.get('id') ?? '';
    if (!st.totp && st.passkeys.length === 1 && st.passkeys[0]?.id === id && factors.mustUse(h.found.view.identity)) {
      return render(req, res, h, 409, { error: text('security.last_factor') });
    }
    if (!(await factors.removePasskey(h.user, id))) return render(req, res, h, 404, { error: text('security.passkey_unknown') });
    redirectTo(res, 303, securityPath(h.s, { removed: 'passkey' }));
  }

  /** POST /oauth2/account/security/recovery: new codes, shown once. */
  async function recovery(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ok = await posted(req, res);
    if (!ok) return;
    const { h } = ok;
    const st = await factors.status(h.user.id);
    if (!factors.hasAny(st)) return render(req, res, h, 400, { error: text('security.recovery_needs_factor') });
    const codes = await factors.newRecoveryCodes(h.user);
    sendPage(res, h.s, 200, recoveryCodesPage(h.s, { codes, next: securityPath(h.s), nextText: text('security.back_to_security') }));
  }

  return { page, totpSetup, totpConfirm, totpRemove, passkeyAdd, passkeyRename, passkeyRemove, recovery };
}
