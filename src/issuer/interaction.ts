// /oidc/interaction/:uid: sign-in through the gate session (the portal's sign-in when there is
// none), then consent: implicit for first-party clients, remembered when the user already allowed
// everything asked, else the consent page (a form with the one CSRF guard).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Provider } from 'oidc-provider';
import type { Clock, Logger } from '../core/index.ts';
import type { Config } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import type { Accounts } from '../accounts/index.ts';
import type { Sessions } from '../sessions/index.ts';
import { sessionFromCookies } from '../gateway/index.ts';
import {
  formToken,
  mustUseFactor,
  notFound,
  portalUrl,
  readPostedForm,
  redirectTo,
  type GateSettings,
  type SetCookie,
} from '../web/index.ts';
import { authenticationFor } from '../policy/index.ts';
import { IMPLIED_CONSENT_PARAM, INTERACTION_PATH, mayUse, requestedAcrs } from './routes.ts';
import { consentPage, errorPage } from './pages.ts';
import { SCOPE_CLAIMS } from './claims.ts';
import type { IssuerAudit } from './registered.ts';

export interface InteractionDeps {
  store: Store;
  accounts: Pick<Accounts, 'get'>;
  sessions: Sessions;
  clock: Clock;
  logger: Logger;
  audit: IssuerAudit;
  /** The provider built for the current config and keys. */
  current: () => Promise<{ provider: Provider; config: Config }>;
  /** The request as the provider must see it (issuer.ts). */
  rewrite: (req: IncomingMessage, s: GateSettings, base: string) => void;
  page: (res: ServerResponse, s: GateSettings, status: number, html: string, formTargets?: string[], setCookie?: SetCookie) => void;
  usernameOf: (userId: string) => Promise<string>;
}

export function interactionFlow(d: InteractionDeps) {
  const { store, accounts, sessions, clock, logger, audit, current, rewrite, page, usernameOf } = d;

  async function interaction(req: IncomingMessage, res: ServerResponse, s: GateSettings, base: string, uid: string): Promise<void> {
    const b = await current();
    rewrite(req, s, base);
    const stale = () =>
      page(
        res,
        s,
        400,
        errorPage(
          s,
          'Sign-in expired',
          'This sign-in has expired or was started in another browser. Go back to the app and sign in again.',
        ),
      );
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') {
      res.setHeader('allow', 'GET, HEAD, POST');
      return notFound(res);
    }
    let details;
    try {
      details = await b.provider.interactionDetails(req, res);
    } catch {
      return stale();
    }
    if (details.uid !== uid) return stale();
    const clientId = String(details.params.client_id ?? '');
    const client = b.config.clients.find((c) => c.id === clientId);
    const here = portalUrl(s, `${INTERACTION_PATH}${uid}`);

    const finish = async (result: Parameters<Provider['interactionResult']>[2]) => {
      const to = await b.provider.interactionResult(req, res, result, { mergeWithLastSubmission: !('error' in result) });
      redirectTo(res, 303, to);
    };

    if (details.prompt.name === 'login') {
      const found = await sessionFromCookies(sessions, req.headers.cookie, s.cookieName);
      if (!found) {
        // Sign in at the portal, then come back here (the portal refuses rd only under /oauth2/).
        redirectTo(res, 302, portalUrl(s, '/oauth2/start', { rd: here }));
        return;
      }
      if (!mayUse(client, found.view.identity)) {
        audit({
          actor: found.view.identity.username,
          action: 'oidc_sign_in',
          outcome: 'denied',
          target: clientId,
          detail: { reason: 'not in clients[].allowedGroups' },
        });
        return finish({ error: 'access_denied', error_description: 'the user may not sign in to this client' });
      }
      // How the person signed in must reach what the client asked (OpenID Connect Core §3.1.2.1):
      // factors.require not met, acr_values not reached, or the factor it needs used longer ago
      // than max_age: the step-up screen, only the missing step; max_age past for a plain
      // sign-in: a fresh one (policy/factors.ts authenticationFor).
      const view = found.view;
      const maxAge = Number(details.params.max_age);
      const maxAgeMs = details.params.max_age !== undefined && Number.isFinite(maxAge) ? maxAge * 1000 : null;
      const mustUse = view.factors.mfaAt === null && mustUseFactor(s, view.identity.groups);
      const auth = mustUse
        ? ({ ok: false, stepUp: 'any' } as const)
        : authenticationFor(view.factors, view.createdAt, requestedAcrs(details.params.acr_values), maxAgeMs, clock.now());
      if (!auth.ok) {
        return 'signIn' in auth
          ? redirectTo(res, 302, portalUrl(s, '/oauth2/start', { rd: here, prompt: 'login' }))
          : redirectTo(res, 302, portalUrl(s, '/oauth2/step_up', { rd: here, need: auth.stepUp }));
      }
      // acr and auth_time describe one authentication: the class reached, and when it was last used.
      const { acr } = auth;
      audit({ actor: view.identity.username, action: 'oidc_sign_in', outcome: 'ok', target: clientId, detail: { acr } });
      return finish({ login: { accountId: view.userId, amr: [...view.factors.amr], acr, ts: Math.floor(auth.at / 1000) } });
    }

    if (details.prompt.name === 'consent') {
      const accountId = details.session?.accountId;
      if (!accountId) return stale();
      const d = details.prompt.details as {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      const scopes = String(details.params.scope ?? 'openid')
        .split(' ')
        .filter(Boolean);
      const resources = [...new Set([...strings(details.params.resource), ...Object.keys(d.missingResourceScopes ?? {})])];
      const grant = async () => {
        const g = details.grantId ? await b.provider.Grant.find(details.grantId) : undefined;
        const grant = g ?? new b.provider.Grant({ accountId, clientId });
        if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
        if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {}))
          grant.addResourceScope(indicator, scopes.join(' '));
        return grant.save();
      };
      // First-party clients: consent is implicit.
      if (client?.firstParty) return finish({ consent: { grantId: await grant() } });
      // Remembered consent: the user allowed this client every scope and resource asked for now,
      // in any browser. Not when the client itself asked to be shown (prompt=consent, OpenID
      // Connect Core §3.1.2.1), not for a native client (RFC 8252 §8.6: its identity cannot be
      // assured, any app can claim it), and not for individually requested claims.
      const reasons = details.prompt.reasons;
      const clientPrompted = reasons.includes('consent_prompt') && details.params[IMPLIED_CONSENT_PARAM] !== '1';
      if (!clientPrompted && !reasons.includes('native_client_prompt') && !d.missingOIDCClaims?.length) {
        const remembered = await store.consents.get(accountId, clientId);
        const items = consentItems(scopes, resources);
        if (remembered && items.every((x) => remembered.scopes.includes(x)) && resources.every((r) => remembered.resources.includes(r))) {
          audit({
            actor: await usernameOf(accountId),
            action: 'oidc_consent',
            outcome: 'ok',
            target: clientId,
            detail: { remembered: true, scope: scopes.join(' ') },
          });
          return finish({ consent: { grantId: await grant() } });
        }
      }
      let status = 200;
      if (req.method === 'POST') {
        // The one form guard (web/form-guard.ts): Sec-Fetch-Site, Origin and the csrf token.
        const { form, check } = await readPostedForm(req, s, clock.now());
        if (check.ok) {
          const actor = await usernameOf(accountId);
          if (form.get('decision') === 'allow') {
            await store.consents.grant(accountId, clientId, consentItems(scopes, resources), resources, clock.now());
            audit({ actor, action: 'oidc_consent', outcome: 'ok', target: clientId, detail: { scope: scopes.join(' ') } });
            return finish({ consent: { grantId: await grant() } });
          }
          audit({ actor, action: 'oidc_consent', outcome: 'denied', target: clientId, detail: { scope: scopes.join(' ') } });
          return finish({ error: 'access_denied', error_description: 'the user denied the request' });
        }
        logger.info({ reason: check.reason, form: 'consent', client: clientId }, 'form refused');
        // Posted from elsewhere: refused, and no new token. An expired token: the page again.
        if (check.rule === 'origin') return page(res, s, 403, errorPage(s, 'Refused', 'This form was posted from another site.'));
        status = 400;
      }
      const user = await accounts.get(accountId);
      // Registered and metadata-document clients are known to oidc-provider only.
      const known = await b.provider.Client.find(clientId).catch(() => undefined);
      const redirectUris = client?.redirectUris ?? (known?.redirectUris as string[] | undefined) ?? [];
      const redirectOrigins = redirectUris.map((u) => new URL(u).origin).filter((o) => /^https?:/.test(o));
      const redirectTo = String(details.params.redirect_uri ?? redirectUris[0] ?? '');
      const token = formToken(req, s, clock.now());
      // Registered and metadata-document clients with the refresh_token grant get refresh tokens
      // without offline_access (provider.ts `refreshable`): say so like offline_access does.
      const grantTypes = (known?.grantTypes as string[] | undefined) ?? [];
      const staysConnected = !client && grantTypes.includes('refresh_token') && !scopes.includes('offline_access');
      return page(
        res,
        s,
        status,
        consentPage({
          staysConnected,
          clientName: client?.name ?? (typeof known?.clientName === 'string' ? known.clientName : clientId),
          scopes,
          action: here,
          at: s,
          username: user?.username ?? accountId,
          redirectHost: redirectHostOf(redirectTo),
          onlyLocal: redirectUris.length > 0 && redirectUris.every(isLoopbackUri),
          csrf: token.token,
        }),
        redirectOrigins,
        token.setCookie,
      );
    }
    return stale();
  }

  return interaction;
}

/** OpenID scopes: they are about the user, not about a resource. */
const OIDC_SCOPES = new Set(['openid', 'offline_access', ...Object.keys(SCOPE_CLAIMS)]);

/**
 * What a consent covers, as remembered: OpenID scopes as they are, and every other scope once per
 * resource asked for (`scope@resource`), so allowing "read" at one resource and "write" at
 * another never reads as "write" allowed at the first. Without a resource, a scope as it is.
 */
export function consentItems(scopes: readonly string[], resources: readonly string[]): string[] {
  const out = new Set<string>();
  for (const sc of scopes) {
    if (OIDC_SCOPES.has(sc) || resources.length === 0) out.add(sc);
    else for (const r of resources) out.add(`${sc}@${r}`);
  }
  return [...out].sort();
}

function strings(v: unknown): string[] {
  if (typeof v === 'string') return v === '' ? [] : [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '') : [];
}

function redirectHostOf(uri: string): string {
  try {
    const u = new URL(uri);
    return u.host || `${u.protocol}`;
  } catch {
    return uri;
  }
}

/** RFC 8252 §7.3: loopback redirects (any app on this machine can listen there). */
function isLoopbackUri(uri: string): boolean {
  try {
    const h = new URL(uri).hostname;
    return h === 'localhost' || h === '127.0.0.1' || h === '[::1]';
  } catch {
    return false;
  }
}
