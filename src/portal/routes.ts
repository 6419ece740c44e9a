// The portal: its flows under /oauth2/ (one file each) and the portal home. Each flow is a short
// list of steps; HTML is in pages.ts, every answer goes through the web shell (web/).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../http/index.ts';
import { portalContext, type PortalDeps } from './context.ts';
import { startFlow } from './start.ts';
import { signInFlow } from './sign-in.ts';
import { signOutFlow } from './sign-out.ts';
import { userinfoFlow } from './userinfo.ts';
import { callbackFlow } from './callback.ts';
import { homeFlow } from './home.ts';
import { factorFlows } from './factors/sign-in.ts';
import { sessionStart } from './session-start.ts';
import { securityFlows } from './factors/security.ts';
import { inviteFlow } from './invite.ts';
import { resetFlow } from './reset.ts';
import { signUpFlow } from './sign-up.ts';
import { accountFlow } from './account.ts';
import { notFound } from '../web/index.ts';

export type { PortalDeps } from './context.ts';

export function createPortal(deps: PortalDeps) {
  const ctx = portalContext(deps);
  const factors = deps.factors ? factorFlows(ctx, deps.factors) : null;
  // After a password or an upstream provider: the factor step, or (without factors) a session.
  const afterFirstFactor = factors?.afterFirstFactor ?? sessionStart(ctx);
  const security = deps.factors ? securityFlows(ctx, deps.factors) : null;
  const people = deps.people;
  const none = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    notFound(res);
  };
  const invite = people ? inviteFlow(ctx, people, factors?.startSession) : { show: none, submit: none };
  const reset = people ? resetFlow(ctx, people) : { show: none, submit: none };
  const signUp = people ? signUpFlow(ctx, people) : { show: none, submit: none };
  const account = people ? accountFlow(ctx, people) : { show: none, submit: none };
  const byMethod =
    (f: {
      show: (req: IncomingMessage, res: ServerResponse, q: URLSearchParams) => Promise<void>;
      submit: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    }) =>
    (req: IncomingMessage, res: ServerResponse, q: URLSearchParams): Promise<void> =>
      req.method === 'POST' ? f.submit(req, res) : f.show(req, res, q);
  return {
    /** GET and POST /oauth2/invite: enrolment by invitation */
    invite: byMethod(invite),
    /** GET and POST /oauth2/reset: forgot password, and the page a reset link opens */
    reset: byMethod(reset),
    /** GET and POST /oauth2/sign_up (signUp.enabled) */
    signUp: byMethod(signUp),
    /** GET and POST /oauth2/account: the person's own account */
    account: byMethod(account),
    /** GET /oauth2/start, GET /oauth2/sign_in */
    start: startFlow(ctx, factors?.stepUpFor),
    /** POST /oauth2/sign_in */
    signIn: signInFlow(ctx, afterFirstFactor),
    /** Second factors, passkeys and step-up (null when the portal has no factors). */
    factors,
    /** The security page (/oauth2/account/security). */
    security,
    /** GET or POST /oauth2/sign_out */
    signOut: signOutFlow(ctx),
    /** GET /oauth2/userinfo */
    userinfo: userinfoFlow(ctx),
    /** GET /oauth2/ticket: the cross-domain hop, when it is routed to us (nginx, reverse-proxy mode). */
    ticket: async (req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> => {
      const s = deps.settings();
      await deps.redeem(res, readOriginal(req, s.trusted).host, query, s);
    },
    /** GET /oauth2/callback */
    callback: callbackFlow(ctx, afterFirstFactor),
    /** GET / on the portal host */
    home: homeFlow(ctx),
  };
}

export type Portal = ReturnType<typeof createPortal>;
