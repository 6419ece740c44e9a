// GET /oauth2/start and GET /oauth2/sign_in: sign in, or go on at once when already signed in.
// With ?provider=<id>, off to that upstream provider with a fresh login state.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../http/index.ts';
import type { ConnectorError } from '../connectors/index.ts';
import {
  isPortalHost,
  loginCookie,
  portalPath,
  portalUrl,
  redirectTo,
  sendPage,
  underPortalBase,
  type GateSettings,
} from '../web/index.ts';
import { headerValue, requestPath, type PortalContext } from './context.ts';
import type { SessionView } from '../sessions/index.ts';
import { failurePage } from './pages.ts';
import { text } from '../text/index.ts';
import { newUpstreamState } from './login-state.ts';

/** One callback for every domain: the portal's (register exactly this URL upstream). */
export function callbackUrl(s: GateSettings): string {
  return portalUrl(s, '/oauth2/callback');
}

/**
 * A fresh state, nonce and PKCE verifier sealed in the login cookie (with what the sign-in is for:
 * an invitation to take up, or the account to link to), then off to the provider.
 */
export function upstreamStarter(ctx: PortalContext) {
  const { deps } = ctx;
  const { clock, logger } = deps;
  return async function startUpstream(
    res: ServerResponse,
    s: GateSettings,
    providerId: string,
    rd: string,
    prompt: string | undefined,
    intent: { invite?: string; link?: string } = {},
  ): Promise<void> {
    const connector = deps.federation?.get(providerId);
    if (!connector) {
      sendPage(
        res,
        s,
        404,
        failurePage({
          title: text('signin.unknown_provider_title'),
          message: text('signin.unknown_provider'),
          at: s,
          links: [{ href: portalPath(s, '/oauth2/sign_in', { rd }), text: text('link.back_to_sign_in') }],
        }),
      );
      return;
    }
    const { up, sealed } = newUpstreamState(s.keyring, clock.now(), s.loginStateMs, providerId, rd, intent);
    let location: string;
    try {
      location = await connector.authorizationUrl({
        redirectUri: callbackUrl(s),
        state: up.state,
        nonce: up.nonce,
        codeVerifier: up.verifier,
        ...(prompt ? { prompt } : {}),
      });
    } catch (err) {
      const detail = (err as ConnectorError).detail ?? (err as Error).message;
      logger.warn(
        { event: 'sign_in_failed', connector: providerId, failure: 'upstream_error', detail },
        'could not start an upstream sign-in',
      );
      return ctx.failure(res, s, 'upstream_error', connector.label, providerId, rd);
    }
    redirectTo(res, 302, location, loginCookie(s, sealed));
  };
}

export function startFlow(ctx: PortalContext, stepUpFor?: (s: GateSettings, view: SessionView, rd: string) => string | null) {
  const { deps, safeRd } = ctx;
  const startUpstream = upstreamStarter(ctx);

  return async function start(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const s = deps.settings();
    const orig = readOriginal(req, s.trusted);
    // oauth2-proxy's other way to name the destination; validated exactly like rd.
    const rdRaw = query.get('rd') ?? headerValue(req, 'x-auth-request-redirect');
    if (!isPortalHost(s, orig.host) || !underPortalBase(s, requestPath(req))) {
      // Reached on an app host (an nginx `location /oauth2/`), or at the root of a portal host
      // whose publicUrl has a path: sign-in happens at the portal, under its path.
      const rd = safeRd(s, rdRaw, orig.host);
      const onward: Record<string, string> = { rd };
      for (const k of ['provider', 'prompt']) {
        const v = query.get(k);
        if (v !== null) onward[k] = v;
      }
      redirectTo(res, 302, portalUrl(s, '/oauth2/start', onward));
      return;
    }
    const rd = safeRd(s, rdRaw);
    const provider = query.get('provider');
    const prompt = query.get('prompt');
    const found = await ctx.currentSession(req, s);
    // Signed in already: go on, unless the user asked to sign in again with another account, or
    // (prompt=login without a provider: an OpenID client's max_age) to sign in afresh; a session
    // short of the destination's factors (apps[].factors, factors.require) steps up first.
    if (found && !(provider && prompt) && !(prompt === 'login' && provider === null)) {
      const stepUp = stepUpFor?.(s, found.view, rd);
      redirectTo(res, 302, stepUp ?? (await ctx.destination(s, rd, found.cookie)));
      return;
    }
    if (provider !== null)
      return startUpstream(res, s, provider, rd, prompt === 'select_account' || prompt === 'login' ? prompt : undefined);
    // Only one way to sign in: go straight to it (signIn.autoRedirect).
    const only = deps.federation?.list() ?? [];
    const o = ctx.options();
    if (!o.localAccounts && o.autoRedirect && only.length === 1 && only[0]) return startUpstream(res, s, only[0].id, rd, undefined);
    await ctx.renderSignIn(req, res, s, rd, 200);
  };
}
