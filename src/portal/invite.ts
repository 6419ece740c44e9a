// GET and POST /oauth2/invite?t=…: enrolment by invitation. One screen: choose a username and a
// password (or continue with an upstream provider), then a session and straight on to `rd` (the
// app the invitation was for) or the portal. The token travels in the query and the form only:
// it is in no log line (the request log keeps the path alone) and no Referer leaves the portal
// (Referrer-Policy: same-origin).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../http/index.ts';
import { MIN_PASSWORD, type InvitationState } from '../accounts/index.ts';
import { textFor, type TextKey } from '../text/index.ts';
import {
  clearLoginCookie,
  formToken,
  newSessionCookie,
  portalPath,
  readPostedForm,
  redirectTo,
  sendPage,
  type GateSettings,
} from '../web/index.ts';
import { passkeySignIn } from '../policy/index.ts';
import type { PortalContext } from './context.ts';
import type { AfterFirstFactor } from './session-start.ts';
import type { PeopleDeps } from './people-deps.ts';
import { infoPage, invitePage } from './people-pages.ts';
import { upstreamStarter } from './start.ts';

const t = textFor('en');

type StartSession = (...a: Parameters<AfterFirstFactor>) => Promise<void>;

const STATE_PAGE: Record<Exclude<InvitationState, 'usable'>, { status: number; title: TextKey; message: TextKey }> = {
  unknown: { status: 404, title: 'invite.unknown_title', message: 'invite.unknown' },
  expired: { status: 410, title: 'invite.expired_title', message: 'invite.expired' },
  used: { status: 410, title: 'invite.used_title', message: 'invite.used' },
  revoked: { status: 410, title: 'invite.revoked_title', message: 'invite.revoked' },
};

/**
 * `startSession`: the one session start (session-start.ts), given when second factors are on; with
 * passkeys on, the invitee may choose a passkey instead of a password.
 */
export function inviteFlow(ctx: PortalContext, people: PeopleDeps, startSession?: StartSession) {
  const { deps } = ctx;
  const factors = deps.factors;
  const { clock, logger, sessions, metrics } = deps;
  const startUpstream = upstreamStarter(ctx);

  function refused(res: ServerResponse, s: GateSettings, state: Exclude<InvitationState, 'usable'>): void {
    const p = STATE_PAGE[state];
    sendPage(
      res,
      s,
      p.status,
      infoPage(s, {
        title: t(p.title),
        message: t(p.message),
        error: true,
        links: [{ href: portalPath(s, '/oauth2/sign_in'), text: t('link.sign_in') }],
      }),
    );
  }

  async function form(
    req: IncomingMessage,
    res: ServerResponse,
    s: GateSettings,
    status: number,
    o: { token: string; rd: string; groups: string[]; username?: string; error?: string; errorField?: 'username' | 'password' },
  ): Promise<void> {
    const csrf = formToken(req, s, clock.now());
    const passkey = factors?.settings.passkeys && startSession ? await factors.newAccountPasskeyOptions() : undefined;
    const html = invitePage(s, t, {
      action: portalPath(s, '/oauth2/invite'),
      csrf: csrf.token,
      token: o.token,
      rd: o.rd,
      site: s.publicUrl.host,
      groups: o.groups,
      providers: (deps.federation?.list() ?? []).map((p) => ({
        label: p.label,
        href: portalPath(s, '/oauth2/invite', { t: o.token, rd: o.rd, provider: p.id }),
      })),
      minPassword: MIN_PASSWORD,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.error !== undefined ? { error: o.error } : {}),
      ...(o.errorField ? { errorField: o.errorField } : {}),
      ...(passkey ? { passkey } : {}),
    });
    // The POST ends in a redirect to the app (or its ticket hop): CSP form-action names its origin.
    sendPage(res, s, status, html, {
      setCookie: csrf.setCookie,
      formTargets: await ctx.formTargetsFor(o.rd),
      scripts: passkey !== undefined,
    });
  }

  async function show(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const s = deps.settings();
    const token = query.get('t') ?? '';
    const seen = await people.invitations.inspect(token);
    if (seen.state !== 'usable' || !seen.invitation) return refused(res, s, seen.state === 'usable' ? 'unknown' : seen.state);
    const rd = ctx.safeRd(s, query.get('rd'));
    const provider = query.get('provider');
    // "Continue with <provider>" (a link, like the sign-in page's): the invitation goes along
    // sealed in the login cookie and is taken, atomically, when the provider's answer comes back
    // (callback.ts). A link, not a form: CSP form-action would stop a form's redirect to the provider.
    if (provider !== null) return startUpstream(res, s, provider, rd, undefined, { invite: token });
    await form(req, res, s, 200, { token, rd, groups: seen.invitation.groups });
  }

  async function submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    const { form: posted, check } = await readPostedForm(req, s, clock.now());
    const token = posted.get('t') ?? '';
    const rd = ctx.safeRd(s, posted.get('rd'));
    const seen = await people.invitations.inspect(token);
    if (!check.ok) {
      logger.info({ reason: check.reason, form: 'invite' }, 'form refused');
      if (check.rule === 'origin') {
        sendPage(res, s, 403, infoPage(s, { title: t('form.refused_title'), message: t('form.refused'), error: true }));
        return;
      }
      if (seen.state !== 'usable' || !seen.invitation) return refused(res, s, seen.state === 'usable' ? 'unknown' : seen.state);
      return form(req, res, s, 400, { token, rd, groups: seen.invitation.groups, error: t('form.expired') });
    }
    const username = (posted.get('username') ?? '').trim();
    const password = posted.get('password') ?? '';
    const ip = readOriginal(req, s.trusted).clientIp;
    const credential = posted.get('credential') ?? '';
    if (credential !== '' || posted.get('with') === 'passkey')
      return withPasskey(req, res, s, {
        token,
        rd,
        groups: seen.invitation?.groups ?? [],
        username,
        credential,
        state: posted.get('state') ?? '',
        ip,
      });
    const r = await people.invitations.enrolWithPassword(token, { username, password }, ip);
    if (!r.ok) {
      if (r.reason === 'unknown' || r.reason === 'expired' || r.reason === 'used' || r.reason === 'revoked')
        return refused(res, s, r.reason);
      const about = r.reason === 'username_invalid' || r.reason === 'username_taken' ? 'username' : 'password';
      return form(req, res, s, r.reason === 'username_taken' ? 409 : 400, {
        token,
        rd,
        groups: seen.invitation?.groups ?? [],
        username,
        errorField: about,
        error: t(`problem.${r.reason}`, { min: MIN_PASSWORD, max: 256 }),
      });
    }
    metrics.signIn('success');
    const started = await sessions.begin(r.user, { ip, userAgent: req.headers['user-agent'] ?? null });
    ctx.signedIn(r.user, started.sid, ip, req.headers['user-agent']);
    logger.info({ event: 'sign_in', user: r.user.username, session: started.sid.slice(0, 6), ip, enrolled: true }, 'signed in');
    ctx.audit({ actor: r.user.username, action: 'sign_in', outcome: 'ok', detail: { ip, method: 'password', enrolled: true } });
    redirectTo(res, 303, await ctx.destination(s, rd, started.cookie), [
      newSessionCookie(s, s.portalHost, started.cookie),
      clearLoginCookie(s),
    ]);
  }

  /** The invitee chose a passkey: the answer verified, then the account made with its id, then a session. */
  async function withPasskey(
    req: IncomingMessage,
    res: ServerResponse,
    s: GateSettings,
    o: { token: string; rd: string; groups: string[]; username: string; credential: string; state: string; ip: string },
  ): Promise<void> {
    const again = (status: number, error: string, errorField?: 'username') =>
      form(req, res, s, status, {
        token: o.token,
        rd: o.rd,
        groups: o.groups,
        username: o.username,
        error,
        ...(errorField ? { errorField } : {}),
      });
    if (!factors?.settings.passkeys || !startSession || o.credential === '') return again(400, t('invite.passkey_needs_js'));
    // The username first: a refused one does not spend the passkey's answer.
    const problem = await people.invitations.usernameProblem(o.username);
    if (problem)
      return again(problem === 'username_taken' ? 409 : 400, t(`problem.${problem}`, { min: MIN_PASSWORD, max: 256 }), 'username');
    const verified = await factors.verifyNewAccountPasskey(o.state, o.credential, o.ip);
    if (!verified) return again(400, t('invite.passkey_failed'));
    const r = await people.invitations.enrolWithPasskey(o.token, { username: o.username, id: verified.accountId }, o.ip);
    if (!r.ok) {
      if (r.reason === 'unknown' || r.reason === 'expired' || r.reason === 'used' || r.reason === 'revoked')
        return refused(res, s, r.reason);
      return again(r.reason === 'username_taken' ? 409 : 400, t(`problem.${r.reason}`, { min: MIN_PASSWORD, max: 256 }), 'username');
    }
    await factors.storeNewAccountPasskey(r.user, verified.registered, t('invite.passkey_name'), o.ip);
    // Signed in by the passkey it just made: possession and the person's verification.
    await startSession(req, res, s, r.user, o.rd, passkeySignIn(clock.now()));
  }

  return { show, submit };
}
