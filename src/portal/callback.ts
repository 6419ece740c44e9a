// GET /oauth2/callback: where every upstream provider returns, on the portal host. Steps: the
// live login state of this browser; its state equals the answer's (RFC 6749 §10.12); the
// provider's answer checked and turned into an admitted, linked account (nonce, iss, aud and PKCE
// inside the connector); a session; the same destination as a password sign-in.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseCookie, readOriginal } from '../http/index.ts';
import { ConnectorError } from '../connectors/index.ts';
import { timingSafeEqualString } from '../crypto/index.ts';
import { clearLoginCookie, loginCookieName, portalPath, redirectTo } from '../web/index.ts';
import type { PortalContext } from './context.ts';
import type { SignInIntent } from '../accounts/index.ts';
import type { AfterFirstFactor } from './session-start.ts';
import { upstreamFactors } from '../accounts/index.ts';
import { openUpstreamState } from './login-state.ts';
import { callbackUrl } from './start.ts';

export function callbackFlow(ctx: PortalContext, after: AfterFirstFactor) {
  const { deps, audit } = ctx;
  const { clock, logger, metrics } = deps;

  return async function callback(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const s = deps.settings();
    const up = openUpstreamState(s.keyring, parseCookie(req.headers.cookie, loginCookieName(s)), clock.now());
    if (!up) {
      logger.info({ event: 'sign_in_failed', failure: 'no_login_state' }, 'upstream callback without a live login state');
      metrics.signIn('failure');
      ctx.signInExpired(res, s);
      return;
    }
    const rd = ctx.safeRd(s, up.rd);
    const connector = deps.federation?.get(up.provider);
    const label = connector?.label ?? up.provider;
    const fail = (err: ConnectorError, user?: string): void => {
      // Never the code, tokens or the state itself: what failed and why.
      logger.warn(
        {
          event: 'sign_in_failed',
          connector: up.provider,
          failure: err.failure,
          upstreamCode: err.upstreamCode ?? null,
          detail: err.detail,
          user: user ?? null,
        },
        'upstream sign-in failed',
      );
      audit({
        actor: user?.slice(0, 64) ?? '-',
        action: 'sign_in',
        outcome: 'denied',
        detail: { connector: up.provider, failure: err.failure },
      });
      metrics.signIn('failure');
      ctx.failure(res, s, err.failure, label, up.provider, rd);
    };
    const given = query.get('state');
    if (given === null || !timingSafeEqualString(given, up.state)) {
      return fail(
        new ConnectorError(
          'bad_state',
          given === null ? 'the callback has no state parameter' : "the callback state is not this browser's",
        ),
      );
    }
    if (!deps.federation || !connector) {
      return fail(new ConnectorError('upstream_error', `no connector "${up.provider}" is configured any more`));
    }
    const currentUrl = new URL(callbackUrl(s));
    currentUrl.search = query.toString();
    const ip = readOriginal(req, s.trusted).clientIp;
    // What the sign-in was for: an invitation to take up, or another identity for the account
    // signed in in this browser (the account page). Linking needs that session still here.
    let intent: SignInIntent | undefined;
    if (up.link !== undefined) {
      const current = (await ctx.currentSession(req, s))?.view;
      if (!current || current.userId !== up.link)
        return fail(new ConnectorError('bad_state', 'the account to link to is no longer signed in in this browser'));
      intent = { kind: 'link', userId: current.userId };
    } else if (up.invite !== undefined && deps.people) {
      const token = up.invite;
      const invitations = deps.people.invitations;
      intent = {
        kind: 'invitation',
        enrol: async (username, create) => {
          const r = await invitations.enrolUpstream(token, username, ip, up.provider, (inv) =>
            create({ groups: inv.groups, email: inv.email }),
          );
          return r.ok ? { ok: true, user: r.user } : { ok: false, reason: r.reason };
        },
      };
    }
    const result = await deps.federation.signIn(
      up.provider,
      {
        redirectUri: callbackUrl(s),
        currentUrl,
        state: up.state,
        nonce: up.nonce,
        codeVerifier: up.verifier,
      },
      intent,
    );
    if (!result.ok) return fail(result.error, result.identity?.username);
    if (result.how === 'added') {
      // Linked to the signed-in account: back to its page, the session as it was.
      audit({
        actor: result.user.username,
        action: 'identity_link',
        target: result.user.username,
        outcome: 'ok',
        detail: { connector: up.provider, ip },
      });
      redirectTo(res, 303, portalPath(s, '/oauth2/account', { done: 'linked', provider: label }), clearLoginCookie(s));
      return;
    }
    // The provider's amr is recorded; it counts as a second factor only with connectors[].mfa: trust.
    const mfa = (connector.config as { mfa?: 'trust' | 'ignore' }).mfa;
    return after(req, res, s, result.user, rd, upstreamFactors(result.identity.amr, mfa, clock.now()), {
      via: up.provider,
      groups: result.groups,
      linked: result.how,
    });
  };
}
