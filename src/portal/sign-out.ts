// GET or POST /oauth2/sign_out?rd=…: ends the session (revoked on every replica), clears the
// cookie on the host asked, and announces the sign-out (the issuer ends the OpenID sessions).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../http/index.ts';
import { clearSessionCookie, messagePage, portalUrl, redirectTo, sendPage } from '../web/index.ts';
import type { PortalContext } from './context.ts';
import { text } from '../text/index.ts';

export function signOutFlow(ctx: PortalContext) {
  const { deps, audit } = ctx;
  const { sessions, logger, metrics } = deps;

  return async function signOut(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const s = deps.settings();
    const orig = readOriginal(req, s.trusted);
    const view = (await ctx.currentSession(req, s))?.view;
    if (view) {
      await sessions.revoke(view.sid);
      metrics.sessionsRevoked();
      logger.info({ event: 'sign_out', user: view.identity.username, session: view.sid.slice(0, 6) }, 'signed out');
      audit({ actor: view.identity.username, action: 'sign_out', outcome: 'ok', detail: {} });
      deps.signOuts?.publish(view.sid);
    }
    const clear = clearSessionCookie(s, orig.host);
    const rdRaw = query.get('rd');
    if (rdRaw) {
      redirectTo(res, 302, ctx.safeRd(s, rdRaw, orig.host), clear);
      return;
    }
    sendPage(
      res,
      s,
      200,
      messagePage(s, text('signout.title'), text('signout.done'), { href: portalUrl(s, '/oauth2/sign_in'), text: text('signin.again') }),
      { setCookie: clear },
    );
  };
}
