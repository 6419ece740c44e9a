// POST /oauth2/sign_in: the password form. The form guard first (another site's post gets 403
// and no fresh form; an expired form a fresh one), then the throttled password check, then what
// follows a first factor (the factor screen, or a session and the destination: session-start.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../http/index.ts';
import { portalPath, readPostedForm, sendPage } from '../web/index.ts';
import type { PortalContext } from './context.ts';
import type { AfterFirstFactor } from './session-start.ts';
import { NO_FACTORS } from '../policy/index.ts';
import { failurePage } from './pages.ts';
import { text } from '../text/index.ts';

const GENERIC_FAILURE = text('signin.failed');

export function signInFlow(ctx: PortalContext, after: AfterFirstFactor) {
  const { deps, safeRd, audit } = ctx;
  const { accounts, clock, metrics } = deps;

  return async function signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    if (!ctx.options().localAccounts) {
      // signIn.localAccounts: false: no password is ever checked, whatever is posted.
      sendPage(
        res,
        s,
        403,
        failurePage({
          title: text('signin.password_off_title'),
          message: text('signin.password_off'),
          at: s,
          links: [{ href: portalPath(s, '/oauth2/sign_in'), text: text('link.sign_in') }],
        }),
      );
      return;
    }
    const { form, check } = await readPostedForm(req, s, clock.now());
    const rd = safeRd(s, form.get('rd'));
    if (!check.ok) return ctx.signInFormRefused(req, res, s, rd, check, 'sign_in');
    const username = (form.get('username') ?? '').trim();
    const password = form.get('password') ?? '';
    const ip = readOriginal(req, s.trusted).clientIp;
    const result = await accounts.authenticate(username, password, ip);
    if (!result.ok) {
      audit({ actor: username.slice(0, 64) || '-', action: 'sign_in', outcome: 'denied', detail: { reason: result.reason, ip } });
      if (result.reason === 'throttled') {
        metrics.signIn('throttled');
        return ctx.renderSignIn(req, res, s, rd, 429, {
          error: text('signin.throttled', { seconds: result.retryAfterSeconds }),
          username,
          retryAfter: result.retryAfterSeconds,
        });
      }
      metrics.signIn('failure');
      return ctx.renderSignIn(req, res, s, rd, 401, { error: GENERIC_FAILURE, username });
    }
    // Second factors: the factor screen next for someone with one (factors/sign-in.ts), else a session.
    return after(req, res, s, result.user, rd, NO_FACTORS);
  };
}
