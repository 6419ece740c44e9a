// The oidc-provider configuration: its options (documented API, with `ctx.oidc` read inside the
// callbacks it documents: client, session, params) and the interaction policy's login prompt (an
// extra check). Every patch of oidc-provider INTERNALS is a file of its own in patches/, labelled
// with what it touches, why, and the test that fails without it:
//   registered-auth-method.ts       Client.prototype.compareClientSecret (the registered method only)
//   keep-code-on-invalid-target.ts  the AuthorizationCode of a /token refused with invalid_target
//   dpop-proof-window.ts            the DPoP proof's iat window at /token
//   registered-clients.ts           registration audit, unused-client expiry, no nulls in answers
//   auto-submit-csp.ts              the CSP of oidc-provider's auto-submitting pages
//   gate-session-links.ts           OpenID session <-> gate session, both ways of signing out
//   gate-sign-out.ts                back-channel logout when the gate session ends
// Also internal, and here: the outgoing `fetch` options of client-supplied URLs (oidc-provider's
// own dispatcher, which checks addresses only after connecting, is replaced by outbound.ts, which
// checks before), and the `.issued` events of agents' tokens (audit). When oidc-provider changes,
// look in patches/ first.
import type { IncomingMessage } from 'node:http';
import { IMPLIED_CONSENT_PARAM, INTERACTION_PATH, ROUTES, mayUse, requestedAcrs } from './routes.ts';
import Provider, { interactionPolicy, type ClientMetadata, type KoaContextWithOIDC } from 'oidc-provider';
import type { Clock, Logger } from '../core/index.ts';
import type { ClientConfig, Config } from '../config/index.ts';
import type { KeyRing } from '../crypto/index.ts';
import type { Store } from '../store/index.ts';
import type { Accounts } from '../accounts/index.ts';
import { ACR_VALUES, acrSatisfies, type AcrValue } from '../policy/index.ts';
import { adapterFor } from './adapter.ts';
import { tokenOptions } from './provider-tokens.ts';
import { featureOptions } from './provider-features.ts';
import { patchRegisteredAuthMethod } from './patches/registered-auth-method.ts';
import { patchKeepCodeOnInvalidTarget } from './patches/keep-code-on-invalid-target.ts';
import { patchDpopProofWindow } from './patches/dpop-proof-window.ts';
import { patchRegisteredClients } from './patches/registered-clients.ts';
import { patchAutoSubmitCsp } from './patches/auto-submit-csp.ts';
import { patchGateSessionLinks } from './patches/gate-session-links.ts';
import { agentName, type Agents } from './agents.ts';
import { createGuardedFetch } from './outbound.ts';
import type { PrivateJwk } from './keys.ts';
import type { RecordCache } from './record-cache.ts';

export interface ProviderDeps {
  issuer: string;
  /** The path prefix of every provider route ("" or publicUrl's path). */
  base: string;
  config: Config;
  jwks: PrivateJwk[];
  keyring: KeyRing;
  store: Store;
  clock: Clock;
  logger: Logger;
  accounts: Pick<Accounts, 'get' | 'identityOf'>;
  /** The user id of the gate session this request carries, or null. */
  gateUserId: (req: IncomingMessage) => Promise<string | null>;
  /** Ends the gate session of this request; returns the Set-Cookie that clears its cookie. */
  endGateSession: (req: IncomingMessage) => Promise<string | null>;
  renderError: (title: string, message: string) => string;
  logoutPage: (formHtml: string, clientName: string | null) => string;
  signedOutPage: () => string;
  agents: Agents;
  /** Clients read through the issuer's record cache (record-cache.ts): each token need not read the store. */
  recordCache?: RecordCache;
  /**
   * Remembers that the OpenID session `uid` was signed in with the gate session this request
   * carries (so a sign-out at the gate can end it, with back-channel logout).
   */
  linkSession?: (req: IncomingMessage, uid: string) => Promise<void>;
  /** A client registered itself (RFC 7591): audit and log it, start its unused-expiry. */
  registered?: (
    req: IncomingMessage,
    client: { clientId: string; clientName?: string; redirectUris: string[]; applicationType?: string; authMethod?: string },
  ) => Promise<void>;
  /** A dynamically registered client was used: its unused-expiry starts again. */
  clientUsed?: (clientId: string) => Promise<void>;
  /** Writes one audit event (agents' tokens). */
  audit: (e: { actor: string; action: string; outcome: 'ok' | 'denied'; target: string | null; detail: Record<string, unknown> }) => void;
}

export { IMPLIED_CONSENT_PARAM, INTERACTION_PATH, ROUTES, mayUse };

export function clientMetadata(c: ClientConfig): ClientMetadata {
  const loopbackOrCustom = c.redirectUris.some((u) => {
    const url = new URL(u);
    return (
      (url.protocol !== 'https:' && url.protocol !== 'http:') ||
      url.hostname === 'localhost' ||
      url.hostname === '127.0.0.1' ||
      url.hostname === '[::1]'
    );
  });
  return {
    client_id: c.id,
    client_name: c.name ?? c.id,
    ...(c.public
      ? { token_endpoint_auth_method: 'none' }
      : { client_secret: c.secret, token_endpoint_auth_method: c.tokenEndpointAuthMethod }),
    // Loopback and private-scheme redirects are native apps (RFC 8252 §7).
    application_type: c.public && loopbackOrCustom ? 'native' : 'web',
    redirect_uris: c.redirectUris,
    post_logout_redirect_uris: c.postLogoutRedirectUris,
    grant_types: c.grantTypes,
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
    ...(c.backchannelLogoutUri ? { backchannel_logout_uri: c.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
  };
}

/**
 * A registered client's `scope` (RFC 7591 §2) is the list it may ask for. MCP clients register
 * with the scopes of the resource's challenge and then ask for offline_access as well; a client
 * that registered the refresh_token grant may always ask for it (RFC 7591 §3.2.1 lets the
 * server change registered values, and the registration answer says so).
 */
export function allowOfflineAccess(metadata: { scope?: unknown; grant_types?: unknown }): void {
  if (typeof metadata.scope !== 'string' || metadata.scope === '') return;
  if (!Array.isArray(metadata.grant_types) || !metadata.grant_types.includes('refresh_token')) return;
  if (metadata.scope.split(' ').includes('offline_access')) return;
  metadata.scope = `${metadata.scope} offline_access`;
}

export function buildProvider(d: ProviderDeps): Provider {
  const { config, store, clock, logger } = d;
  const clients = new Map(config.clients.map((c) => [c.id, c]));
  const t = config.issuer;
  // The gate session is the sign-in: an OIDC session whose user is no longer signed in at the
  // gate (signed out, revoked, expired, or someone else signed in) must sign in again.
  const policy = interactionPolicy.base();
  policy.get('login')?.checks.push(
    new interactionPolicy.Check(
      'gate_session',
      'the gate session ended or belongs to another user',
      'login_required',
      async (ctx: KoaContextWithOIDC) => {
        const accountId = ctx.oidc.session?.accountId;
        if (!accountId) return interactionPolicy.Check.REQUEST_PROMPT;
        return (await d.gateUserId(ctx.req)) === accountId
          ? interactionPolicy.Check.NO_NEED_TO_PROMPT
          : interactionPolicy.Check.REQUEST_PROMPT;
      },
    ),
  );
  // acr_values (OpenID Connect Core §3.1.2.1): oidc-provider prompts only for an essential acr
  // claim; a voluntary acr_values of ours that the session does not reach asks again too, and the
  // interaction sends the person to the step-up screen (interaction.ts). Values we do not know
  // are voluntary and ignored.
  policy.get('login')?.checks.push(
    new interactionPolicy.Check(
      'acr_values',
      'the sign-in does not reach the requested acr_values',
      'login_required',
      (ctx: KoaContextWithOIDC) => {
        const wanted = requestedAcrs(ctx.oidc.params?.acr_values);
        if (wanted.length === 0) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        const reached = ctx.oidc.session?.acr;
        return typeof reached === 'string' &&
          (ACR_VALUES as readonly string[]).includes(reached) &&
          wanted.some((w) => acrSatisfies(reached as AcrValue, w))
          ? interactionPolicy.Check.NO_NEED_TO_PROMPT
          : interactionPolicy.Check.REQUEST_PROMPT;
      },
    ),
  );

  const cimd = t.clientMetadata;
  const guardedFetch = createGuardedFetch({ logger });
  const logoutUris = new Set(config.clients.flatMap((c) => (c.backchannelLogoutUri ? [new URL(c.backchannelLogoutUri).href] : [])));
  const self: { provider?: Provider } = {};
  const isPublic = async (clientId: string): Promise<boolean> => {
    const c = await self.provider?.Client.find(clientId).catch(() => undefined);
    return c?.clientAuthMethod === 'none';
  };

  const provider = new Provider(d.issuer, {
    adapter: adapterFor(store.oidc, clock, {
      keyring: d.keyring,
      ...(d.recordCache ? { cache: d.recordCache, cachedReads: true } : {}),
      refreshGraceMs: async (id) => ((await isPublic(id)) ? t.refreshTokenGrace : 0),
    }),
    clients: config.clients.map(clientMetadata),
    jwks: { keys: d.jwks },
    cookies: {
      keys: [d.keyring.derive('oidc-provider-cookies').toString('base64url')],
      long: { httpOnly: true, sameSite: 'lax', path: `${d.base}/oidc/` },
      short: { httpOnly: true, sameSite: 'lax' },
      names: { session: '_gh_oidc_session', interaction: '_gh_oidc_interaction', resume: '_gh_oidc_resume' },
    },
    routes: Object.fromEntries(Object.entries(ROUTES).map(([k, v]) => [k, v])),
    // The resources' scopes are known too, so a client may register with them (RFC 7591 `scope`:
    // MCP clients send the scope of the 401 challenge); they are granted per resource (RFC 8707).
    scopes: [...new Set(['openid', 'offline_access', 'profile', 'email', 'groups', ...config.resources.flatMap((r) => r.scopes)])],
    // OAuth 2.1 / MCP: the authorization code flow only (RFC 8414 response_types_supported).
    responseTypes: ['code'],
    // How the person signed in (policy/factors.ts): 1fa < mfa < phr, in ID tokens as acr.
    acrValues: [...ACR_VALUES],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    ...tokenOptions(d, clients),
    // Every URL oidc-provider fetches came from a client (a metadata document's client_id, a
    // registered back-channel logout URI, jwks_uri, sector_identifier_uri): outbound.ts resolves
    // the name and refuses special-use addresses BEFORE connecting, then connects to the checked
    // address only, follows no redirect, and bounds time and size. Back-channel logout URIs from
    // config are the operator's own (an in-cluster service is a private address by nature), and
    // issuer.clientMetadata.allowPrivate (tests) lifts the guard.
    fetch: (url: string | URL, options: RequestInit & { dispatcher?: unknown }) => {
      delete options.dispatcher;
      if (cimd.allowPrivate || logoutUris.has(String(url))) return globalThis.fetch(url, options);
      return guardedFetch(url, options);
    },
    extraClientMetadata: {
      // No property of our own: the validator runs for every client built (registration, a stored
      // registered client, a metadata document) and is where its scope list is widened.
      properties: ['gatehouse_scope_policy'],
      validator: (_ctx: KoaContextWithOIDC, key: string, _value: unknown, metadata: Record<string, unknown>) => {
        if (key === 'gatehouse_scope_policy') allowOfflineAccess(metadata);
      },
    },
    extraParams: [IMPLIED_CONSENT_PARAM],
    interactions: {
      policy,
      url: (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `${d.base}${INTERACTION_PATH}${interaction.uid}`,
    },
    ...featureOptions(d),
    renderError: (ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }) => {
      // RFC 6749 §4.1.2.1: an unknown client or an unregistered redirect_uri is shown to the
      // user, never redirected to. The wire words are oidc-provider's; no more detail.
      ctx.type = 'html';
      ctx.body = d.renderError('Sign-in error', `${out.error}${out.error_description ? `: ${out.error_description}` : ''}`);
    },
  });
  provider.proxy = true;
  self.provider = provider;

  // Patches of oidc-provider internals, one file each (patches/), in this order: Koa runs the
  // work after `await next()` in reverse.
  patchRegisteredAuthMethod(provider, (id) => clients.has(id));
  patchKeepCodeOnInvalidTarget(provider, store.oidc, clock);
  if (t.dpop.enabled) patchDpopProofWindow(provider, { tokenPath: ROUTES.token, proofLifetimeMs: t.dpop.proofLifetime, clock, logger });
  patchRegisteredClients(provider, {
    fromConfig: (id) => clients.has(id),
    ...(d.registered ? { registered: d.registered } : {}),
    ...(d.clientUsed ? { clientUsed: d.clientUsed } : {}),
  });
  patchAutoSubmitCsp(provider, d.issuer);

  // Every token an agent gets is in the audit log under its name (never the token itself).
  const onIssued = (token: { clientId?: string; jti?: string; aud?: unknown; scope?: string; exp?: number }) => {
    const agent = agentName(token.clientId ?? '');
    if (agent === undefined) return;
    d.audit({
      actor: `agent:${agent}`,
      action: 'agent_token',
      outcome: 'ok',
      target: typeof token.aud === 'string' ? token.aud : null,
      detail: { scope: token.scope ?? '', ...(token.exp ? { expiresAt: new Date(token.exp * 1000).toISOString() } : {}) },
    });
  };
  provider.on('client_credentials.issued', onIssued as never);
  provider.on('client_credentials.saved', onIssued as never);

  patchGateSessionLinks(provider, { ...(d.linkSession ? { linkSession: d.linkSession } : {}), endGateSession: d.endGateSession });
  for (const ev of ['server_error', 'grant.error', 'end_session.error', 'backchannel.error'] as const) {
    provider.on(ev, (...args: never[]) => {
      const err = args.find((a) => (a as unknown) instanceof Error) as Error | undefined;
      const fields = {
        event: ev,
        error: (err as { error?: string } | undefined)?.error,
        detail: (err as { error_detail?: string } | undefined)?.error_detail ?? err?.message,
      };
      if (ev === 'server_error') logger.error(fields, 'issuer error');
      else logger.info(fields, 'issuer refused a request');
    });
  }
  return provider;
}
