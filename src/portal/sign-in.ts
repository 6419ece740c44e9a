// POST /oauth2/sign_in: the password form. The form guard first (another site's post gets 403
// and no fresh form; an expired form a fresh one), then the throttled password check, then a
// session and the destination (303).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../http/index.ts';
import { clearLoginCookie, newSessionCookie, portalPath, readPostedForm, redirectTo, sendPage } from '../web/index.ts';
import type { PortalContext } from './context.ts';
import type { AfterFirstFactor } from './factors/sign-in.ts';
import { NO_FACTORS } from '../policy/index.ts';
import { failurePage } from './pages.ts';

const GENERIC_FAILURE = 'Incorrect username or password.';

export function signInFlow(ctx: PortalContext, after?: AfterFirstFactor) {
  const { deps, safeRd, audit } = ctx;
  const { accounts, sessions, clock, logger, metrics } = deps;

  return async function signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    if (!ctx.options().localAccounts) {
      // signIn.localAccounts: false: no password is ever checked, whatever is posted.
      sendPage(
        res,
        s,
        403,
        failurePage({
          title: 'Password sign-in is off',
          message: 'This site signs people in with an upstream provider only.',
          at: s,
          links: [{ href: portalPath(s, '/oauth2/sign_in'), text: 'Sign in' }],
        }),
      );
      return;
    }
    const { form, check } = await readPostedForm(req, s, clock.now());
    const rd = safeRd(s, form.get('rd'));
    if (!check.ok) {
      logger.info({ reason: check.reason, form: 'sign_in' }, 'form refused');
      if (check.rule === 'origin') {
        // Posted from another site (login CSRF): no fresh form and no new token cookie.
        sendPage(
          res,
          s,
          403,
          failurePage({
            title: 'Refused',
            message: 'This form was posted from another site.',
            at: s,
            links: [{ href: portalPath(s, '/oauth2/sign_in'), text: 'Sign in' }],
          }),
        );
        return;
      }
      // An expired form: show a fresh one, nothing else.
      return ctx.renderSignIn(req, res, s, rd, 400, { error: 'Your sign-in form expired. Please try again.' });
    }
    const username = (form.get('username') ?? '').trim();
    const password = form.get('password') ?? '';
    const ip = readOriginal(req, s.trusted).clientIp;
    const result = await accounts.authenticate(username, password, ip);
    if (!result.ok) {
      audit({ actor: username.slice(0, 64) || '-', action: 'sign_in', outcome: 'denied', detail: { reason: result.reason, ip } });
      if (result.reason === 'throttled') {
        metrics.signIn('throttled');
        return ctx.renderSignIn(req, res, s, rd, 429, {
          error: `Too many failed attempts. Try again in ${result.retryAfterSeconds} seconds.`,
          username,
          retryAfter: result.retryAfterSeconds,
        });
      }
      metrics.signIn('failure');
      return ctx.renderSignIn(req, res, s, rd, 401, { error: GENERIC_FAILURE, username });
    }
    // Second factors: the factor screen next for someone with one (factors/sign-in.ts).
    if (after) return after(req, res, s, result.user, rd, NO_FACTORS);
    metrics.signIn('success');
    const started = await sessions.begin(result.user, { ip, userAgent: req.headers['user-agent'] ?? null });
    ctx.signedIn(result.user, started.sid, ip, req.headers['user-agent']);
    logger.info({ event: 'sign_in', user: result.user.username, session: started.sid.slice(0, 6), ip }, 'signed in');
    audit({ actor: result.user.username, action: 'sign_in', outcome: 'ok', detail: { ip, method: 'password' } });
    redirectTo(res, 303, await ctx.destination(s, rd, started.cookie), [
      newSessionCookie(s, s.portalHost, started.cookie),
      clearLoginCookie(s),
    ]);
  };
}
