// GET / on the portal host (publicUrl): who is signed in, and a sign-out button.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { portalPath, redirectTo, sendPage } from '../web/index.ts';
import type { PortalContext } from './context.ts';
import { homePage } from './pages.ts';

export function homeFlow(ctx: PortalContext) {
  return async function home(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = ctx.deps.settings();
    const view = (await ctx.currentSession(req, s))?.view;
    if (!view) {
      redirectTo(res, 302, portalPath(s, '/oauth2/sign_in'));
      return;
    }
    sendPage(
      res,
      s,
      200,
      homePage({
        identity: view.identity,
        name: view.name,
        signOutAction: portalPath(s, '/oauth2/sign_out'),
        at: s,
        ...(ctx.deps.people ? { account: portalPath(s, '/oauth2/account') } : {}),
      }),
    );
  };
}
