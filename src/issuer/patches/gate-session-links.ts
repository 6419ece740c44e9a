// PATCH of oidc-provider internals: `ctx.oidc.route` and `ctx.oidc.entities.Session` after the
// resume step, the `end_session.success` event with Koa's `ctx.state` and `ctx.append`.
// Why: one sign-out ends both. A completed sign-in (the resume step after the portal's login)
// links the OpenID session to the gate session, so signing out at the gate ends it too
// (gate-sign-out.ts); RP-initiated logout (/oidc/session/end) ends the gate session too, and its
// answer clears the gate's cookie.
// Proved by: test/unit/issuer-backchannel.test.ts (a gate sign-out sends back-channel logout)
// and test/unit/issuer-flow.test.ts (RP-initiated logout ends the gate session).
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

export function patchGateSessionLinks(
  provider: Provider,
  hooks: {
    linkSession?: (req: IncomingMessage, uid: string) => Promise<void>;
    endGateSession: (req: IncomingMessage) => Promise<string | null>;
  },
): void {
  provider.use(async (ctx, next) => {
    await next();
    if (!hooks.linkSession || ctx.oidc?.route !== 'resume') return;
    const session = ctx.oidc.entities.Session as { uid?: string; accountId?: string } | undefined;
    if (session?.uid && session.accountId) await hooks.linkSession(ctx.req, session.uid);
  });

  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    ctx.state.gatehouseEndGate = true;
  });
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.state.gatehouseEndGate !== true) return;
    const clear = await hooks.endGateSession(ctx.req);
    if (clear) ctx.append('Set-Cookie', clear);
  });
}
