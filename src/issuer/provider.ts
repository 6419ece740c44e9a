// The oidc-provider configuration. THIS IS THE ONE FILE THAT REACHES INTO oidc-provider INTERNALS:
// `ctx.oidc` (client, session, entities, route) inside its callbacks, the interaction policy's
// login prompt (an extra check), Koa's `ctx.state` and `ctx.append` in a middleware, and the
// `end_session.success` event. Everything else in src/issuer uses the documented Provider API
// (callback, interactionDetails, interactionResult, Grant). When oidc-provider changes, look here.
// Also here: the `.issued` events of access tokens (agent audit), `ctx.oidc.route` and `ctx.body`
// of registration answers (nulls and empty lists dropped), and the outgoing `fetch` options of
// client-supplied URLs (oidc-provider's own dispatcher, which checks addresses only after
// connecting, is replaced by outbound.ts, which checks before), the DPoP header and `ctx.path`
// of a /token request before routing (the iat window), `ctx.oidc.client` after any request (a
// registered client's use), `Client.prototype.compareClientSecret` (the registered method only), the AuthorizationCode entity of a refused /token request (restored), and for the
// gate's sign-out `provider.Session.findByUid`, `session.sidFor`/`destroy` and
// `client.backchannelLogout` (gateSignOut, at the end of this file).
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Provider, { errors, interactionPolicy, type Account, type Client, type ClientMetadata, type KoaContextWithOIDC } from 'oidc-provider';
import type { Clock, Identity, Logger } from '../core/index.ts';
import type { ClientConfig, Config } from '../config/index.ts';
import type { KeyRing } from '../crypto/index.ts';
import type { Store } from '../store/index.ts';
import type { Accounts } from '../accounts/index.ts';
import { contentSecurityPolicy } from '../http/index.ts';
import { adapterFor, h } from './adapter.ts';
import { SCOPE_CLAIMS, userClaims } from './claims.ts';
import { findResource, resourceServerInfo } from './resources.ts';
import { agentName, agentSubject, type Agents } from './agents.ts';
import { createGuardedFetch } from './outbound.ts';
import type { PrivateJwk } from './keys.ts';

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
  /**
   * Remembers that the OpenID session `uid` was signed in with the gate session this request
   * carries (so a sign-out at the gate can end it, with back-channel logout).
   */
  linkSession?: (req: IncomingMessage, uid: string) => Promise<void>;
  /** A client registered itself (RFC 7591): audit and log it, start its unused-expiry. */
  registered?: (req: IncomingMessage, client: { clientId: string; clientName?: string; redirectUris: string[]; applicationType?: string; authMethod?: string }) => Promise<void>;
  /** A dynamically registered client was used: its unused-expiry starts again. */
  clientUsed?: (clientId: string) => Promise<void>;
  /** Writes one audit event (agents' tokens). */
  audit: (e: { actor: string; action: string; outcome: 'ok' | 'denied'; target: string | null; detail: Record<string, unknown> }) => void;
}

export const ROUTES = {
  authorization: '/oidc/auth',
  token: '/oidc/token',
  jwks: '/oidc/jwks',
  userinfo: '/oidc/me',
  end_session: '/oidc/session/end',
  registration: '/oidc/reg',
  introspection: '/oidc/token/introspection',
  revocation: '/oidc/token/revocation',
  pushed_authorization_request: '/oidc/request',
  device_authorization: '/oidc/device/auth',
  code_verification: '/oidc/device',
  backchannel_authentication: '/oidc/backchannel',
  challenge: '/oidc/challenge',
  credential: '/oidc/credential',
} as const;

export const INTERACTION_PATH = '/oidc/interaction/';

export function clientMetadata(c: ClientConfig): ClientMetadata {
  const loopbackOrCustom = c.redirectUris.some((u) => {
    const url = new URL(u);
    return (url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
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

/** Whether a user may use a client at all (clients[].allowedGroups). */
export function mayUse(c: ClientConfig | undefined, identity: Identity): boolean {
  if (!c?.allowedGroups) return true;
  return identity.groups.some((g) => c.allowedGroups?.includes(g));
}

/** The marker the issuer adds when it asks for consent on a client's behalf (offline_access, see issuer.ts). */
export const IMPLIED_CONSENT_PARAM = 'gatehouse_implied_consent';

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
  const sec = (ms: number) => Math.max(1, Math.floor(ms / 1000));
  /**
   * Who gets a refresh token with an authorization code: a client allowed the refresh_token grant
   * that asked for offline_access (OpenID Connect Core §11), or a registered or metadata-document
   * client (OAuth 2.1 and MCP clients: they register the refresh_token grant to ask for one, and
   * most never send the OpenID-only offline_access). Such a token outlives the browser session.
   */
  const refreshable = (client: Client, scopes: Set<string>): boolean =>
    client.grantTypeAllowed('refresh_token') && (scopes.has('offline_access') || !clients.has(client.clientId));

  // The gate session is the sign-in: an OIDC session whose user is no longer signed in at the
  // gate (signed out, revoked, expired, or someone else signed in) must sign in again.
  const policy = interactionPolicy.base();
  policy.get('login')?.checks.push(new interactionPolicy.Check('gate_session', 'the gate session ended or belongs to another user', 'login_required',
    async (ctx: KoaContextWithOIDC) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId) return interactionPolicy.Check.REQUEST_PROMPT;
      return (await d.gateUserId(ctx.req)) === accountId ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
    }));

  const cimd = t.clientMetadata;
  const guardedFetch = createGuardedFetch({ logger });
  const logoutUris = new Set(config.clients.flatMap((c) => (c.backchannelLogoutUri ? [new URL(c.backchannelLogoutUri).href] : [])));
  const resourceTTL = t.accessTokenLifetime;
  const self: { provider?: Provider } = {};
  const isPublic = async (clientId: string): Promise<boolean> => {
    const c = await self.provider?.Client.find(clientId).catch(() => undefined);
    return c?.clientAuthMethod === 'none';
  };

  const provider = new Provider(d.issuer, {
    adapter: adapterFor(store.oidc, clock, { keyring: d.keyring, refreshGraceMs: async (id) => (await isPublic(id) ? t.refreshTokenGrace : 0) }),
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
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    // Access tokens for a resource (or an app's audience) carry who the user is, so the gate can
    // set identity headers.
    extraTokenClaims: async (ctx: KoaContextWithOIDC, token: { accountId?: string; clientId?: string; kind?: string }) => {
      if (token.kind !== 'AccessToken' && token.kind !== 'ClientCredentials') return undefined;
      if (token.accountId) {
        const user = await d.accounts.get(token.accountId);
        if (!user) return undefined;
        const identity = d.accounts.identityOf(user);
        const allowed = clients.get(token.clientId ?? ctx.oidc.client?.clientId ?? '')?.claims;
        const out: Record<string, unknown> = {};
        if (!allowed || allowed.includes('preferred_username')) out.preferred_username = identity.username;
        if (!allowed || allowed.includes('groups')) out.groups = [...identity.groups].map(String);
        // Only a verified address: the gate's identity headers (an app behind apps[].audience)
        // take an email from a token only when it is verified.
        if (identity.email && identity.emailVerified && (!allowed || allowed.includes('email'))) {
          out.email = identity.email;
          out.email_verified = true;
        }
        return out;
      }
      const agent = agentName(token.clientId ?? '');
      if (agent === undefined) return undefined;
      const rec = await d.agents.get(agent);
      return rec ? { groups: rec.groups } : undefined;
    },
    // An agent's tokens say sub: agent:<name> whichever spelling of its client id asked
    // (agent-ids.ts); oidc-provider would put the client id there.
    formats: {
      customizers: {
        jwt: (_ctx: KoaContextWithOIDC, token: { kind?: string; clientId?: string }, jwt: { payload: Record<string, unknown> }) => {
          const agent = token.kind === 'ClientCredentials' ? agentName(token.clientId ?? '') : undefined;
          if (agent !== undefined) jwt.payload.sub = agentSubject(agent);
        },
      },
    },
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
    claims: { openid: ['sub'], ...SCOPE_CLAIMS },
    // Claims asked for by scope go in the ID token too (not only userinfo): the Kubernetes API
    // server and many apps read email and groups from the ID token alone.
    conformIdTokenClaims: false,
    pkce: {
      // RFC 9700 §2.1.1: PKCE for public clients; S256 is the only method oidc-provider 9 knows.
      required: (_ctx: KoaContextWithOIDC, client: Client) => client.clientAuthMethod === 'none',
    },
    ttl: {
      AccessToken: sec(t.accessTokenLifetime),
      AuthorizationCode: 60,
      IdToken: sec(t.idTokenLifetime),
      // A refresh token lives issuer.refreshTokenLifetime from the first one of its chain (iiat),
      // and a rotating one stops after issuer.refreshTokenIdle unused: each rotation starts a new
      // idle period, never past the chain's lifetime. A client that does not rotate keeps one
      // token for the whole lifetime (its idle time cannot be seen without writing on every use).
      RefreshToken: (_ctx: KoaContextWithOIDC, token: { totalLifetime?: () => number }, client: Client) => {
        const left = sec(t.refreshTokenLifetime) - (token.totalLifetime?.() ?? 0);
        const rotates = clients.get(client.clientId)?.rotateRefreshTokens ?? true;
        return Math.max(1, rotates ? Math.min(sec(t.refreshTokenIdle), left) : left);
      },
      Interaction: sec(config.session.loginStateLifetime),
      Session: sec(config.session.lifetime),
      // The grant outlives every refresh token issued under it (they count from after the consent).
      Grant: sec(t.refreshTokenLifetime + config.session.loginStateLifetime),
    },
    issueRefreshToken: async (_ctx: KoaContextWithOIDC, client: Client, code: { scopes: Set<string> }) => refreshable(client, code.scopes),
    expiresWithSession: async (ctx: KoaContextWithOIDC, code: { scopes: Set<string> }) => {
      const client = ctx.oidc.client;
      return !(client && refreshable(client, code.scopes));
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
    // Registered and metadata-document clients always rotate (RFC 9700 §4.14.2 for public clients).
    rotateRefreshToken: (ctx: KoaContextWithOIDC) => clients.get(ctx.oidc.client?.clientId ?? '')?.rotateRefreshTokens ?? true,
    findAccount: async (ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> => {
      const user = await d.accounts.get(sub);
      if (!user || user.disabled) return undefined;
      const identity = d.accounts.identityOf(user);
      const client = clients.get(ctx.oidc.client?.clientId ?? '');
      // A user removed from allowedGroups gets no more tokens, refresh included.
      if (!mayUse(client, identity)) return undefined;
      return { accountId: sub, claims: () => userClaims(sub, identity, user.name, client?.claims) };
    },
    interactions: {
      policy,
      url: (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `${d.base}${INTERACTION_PATH}${interaction.uid}`,
    },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx: KoaContextWithOIDC, form: string) => {
          // The confirm form's POST ends in a redirect to post_logout_redirect_uri (already checked
          // against the client's list by oidc-provider); CSP form-action must allow that origin.
          const back = ctx.oidc.params?.post_logout_redirect_uri;
          let origin: string | undefined;
          try { origin = typeof back === 'string' ? new URL(back).origin : undefined; } catch { origin = undefined; }
          ctx.set('content-security-policy', contentSecurityPolicy({ formAction: origin && /^https?:/.test(origin) ? [origin] : [] }));
          ctx.type = 'html';
          ctx.body = d.logoutPage(form, (ctx.oidc.client?.clientName as string | undefined) ?? null);
        },
        postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => {
          ctx.type = 'html';
          ctx.body = d.signedOutPage();
        },
      },
      backchannelLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // RFC 8707 §2: an unknown resource is invalid_target. oidc-provider asks before the grant
        // handler runs, so a refused /token request leaves the code unconsumed. Known: resources[]
        // and apps[].audience (resources.ts).
        getResourceServerInfo: (_ctx: KoaContextWithOIDC, indicator: string) => {
          const r = findResource(config, indicator);
          if (!r) throw new errors.InvalidTarget();
          return resourceServerInfo(r, resourceTTL);
        },
        // No resource named: the configured default (else an opaque token for userinfo only).
        defaultResource: (_ctx: KoaContextWithOIDC, _client: Client, oneOf?: string[]) => oneOf ?? t.defaultResource,
        // A refresh without `resource` keeps the audience the grant was for.
        useGrantedResource: () => true,
      },
      clientCredentials: { enabled: true },
      // RFC 9449: a proof at /token binds the tokens to its key (cnf.jkt). oidc-provider checks
      // typ, alg (enabledJWA below), the embedded public jwk, the signature, htm, htu, ath and
      // the jti (ReplayDetection, through the adapter: shared by every replica). No nonceSecret:
      // nonces are not offered (§8 is optional), so iat decides freshness; the window is
      // narrowed to issuer.dpop.proofLifetime below (oidc-provider's own is five minutes).
      dPoP: { enabled: t.dpop.enabled },
      registration: {
        enabled: t.registration !== 'off',
        initialAccessToken: t.registration === 'token' ? t.registrationToken : false,
        issueRegistrationAccessToken: true,
      },
      // RFC 7592: registration_client_uri answers GET/PUT/DELETE with the registration access token.
      registrationManagement: { enabled: t.registration !== 'off', rotateRegistrationAccessToken: false },
      clientIdMetadataDocument: {
        enabled: cimd.enabled,
        ack: 'draft-02',
        // The client_id is an https URL with a path (not just an origin).
        allowFetch: (_ctx: KoaContextWithOIDC, id: string) => new URL(id).pathname !== '/',
        cacheDuration: { min: 0, max: 86_400 },
      },
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
      introspectionSigningAlgValues: ['RS256', 'ES256'],
      authorizationSigningAlgValues: ['RS256', 'ES256'],
      dPoPSigningAlgValues: [...t.dpop.algorithms],
    },
    renderError: (ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }) => {
      // RFC 6749 §4.1.2.1: an unknown client or an unregistered redirect_uri is shown to the
      // user, never redirected to. The wire words are oidc-provider's; no more detail.
      ctx.type = 'html';
      ctx.body = d.renderError('Sign-in error', `${out.error}${out.error_description ? `: ${out.error_description}` : ''}`);
    },
  });
  provider.proxy = true;
  self.provider = provider;

  // MCP.md: "only the registered method is accepted" for registered clients.
  // oidc-provider treats client_secret_basic and client_secret_post as one; the secret comparison
  // is where a mismatch can still fail the authentication with its own invalid_client. Clients
  // from config keep oidc-provider's leniency (apps such as Grafana auto-detect the method).
  const proto = provider.Client.prototype as { compareClientSecret: (this: Client, secret: string) => Promise<boolean> };
  const compare = proto.compareClientSecret;
  proto.compareClientSecret = async function compareRegisteredMethod(this: Client, secret: string): Promise<boolean> {
    // Agents take either method: the secret is theirs alone, and client_secret_post with the
    // first id form (`agent:<name>`) is how tools that cannot form-encode Basic got tokens.
    if (clients.has(this.clientId) || agentName(this.clientId) !== undefined) return compare.call(this, secret);
    const usedBasic = /^basic /i.test(Provider.ctx?.req.headers.authorization ?? '');
    if ((this.clientAuthMethod === 'client_secret_basic') !== usedBasic) return false;
    return compare.call(this, secret);
  };

  // RFC 8707 §2 / MCP.md: a /token request refused with invalid_target must not burn the code.
  // oidc-provider consumes the code before it resolves the resource; put it back unconsumed.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route !== 'token' || ctx.status !== 400 || (ctx.body as { error?: string } | undefined)?.error !== 'invalid_target') return;
    const code = ctx.oidc.entities.AuthorizationCode as { jti: string; exp: number; save(ttl: number): Promise<unknown> } | undefined;
    if (!code) return;
    const left = code.exp - Math.floor(clock.now() / 1000);
    if (left <= 0) return;
    await store.oidc.destroy('AuthorizationCode', h('id', code.jti));
    await code.save(left);
  });

  // RFC 9449 §11.1: a proof at /token older or newer than issuer.dpop.proofLifetime is refused
  // before oidc-provider (whose window is a fixed five minutes) sees it. Only iat is read here;
  // everything else, the signature included, is oidc-provider's check that follows.
  provider.use(async (ctx, next) => {
    const proof = ctx.req.headers.dpop;
    if (!t.dpop.enabled || typeof proof !== 'string' || proof === '' || ctx.method !== 'POST' || ctx.path !== ROUTES.token) return next();
    let iat: unknown;
    try { iat = (JSON.parse(Buffer.from(proof.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat?: unknown }).iat; } catch { iat = undefined; }
    if (typeof iat === 'number' && Math.abs(clock.now() - iat * 1000) > t.dpop.proofLifetime) {
      ctx.status = 400;
      ctx.set('cache-control', 'no-store');
      ctx.body = { error: 'invalid_dpop_proof', error_description: 'DPoP proof iat is not recent enough' };
      logger.info({ event: 'dpop.error', detail: 'the DPoP proof iat is outside issuer.dpop.proofLifetime' }, 'issuer refused a request');
      return undefined;
    }
    return next();
  });

  // Registered clients: each registration audited and logged; each use of one (authorization,
  // token, registration management) extends its life by issuer.registrationLimits.unusedClientLifetime.
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (route === 'registration' && ctx.status === 201 && typeof ctx.body === 'object' && ctx.body !== null) {
      const b = ctx.body as Record<string, unknown>;
      await d.registered?.(ctx.req, {
        clientId: String(b.client_id),
        ...(typeof b.client_name === 'string' ? { clientName: b.client_name } : {}),
        redirectUris: Array.isArray(b.redirect_uris) ? b.redirect_uris.map(String) : [],
        ...(typeof b.application_type === 'string' ? { applicationType: b.application_type } : {}),
        ...(typeof b.token_endpoint_auth_method === 'string' ? { authMethod: b.token_endpoint_auth_method } : {}),
      });
      return;
    }
    const id = ctx.oidc?.client?.clientId;
    // Awaited (a store read and write at most once an hour per client), so the answer means it is done.
    if (id && ctx.status < 400 && !clients.has(id) && agentName(id) === undefined && !/^https:\/\//.test(id)) await d.clientUsed?.(id);
  });

  // RFC 7591 §3.2.1 answers: optional members absent, never null or empty (claude.ai rejects nulls).
  provider.use(async (ctx, next) => {
    await next();
    const route = (ctx as { oidc?: { route?: string } }).oidc?.route;
    if ((route !== 'registration' && route !== 'client' && route !== 'client_update') || typeof ctx.body !== 'object' || ctx.body === null) return;
    const body = ctx.body as Record<string, unknown>;
    for (const [k, v] of Object.entries(body)) {
      if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) delete body[k];
    }
  });

  // oidc-provider's auto-submitting pages (response_mode=form_post, and the logout step when the
  // browser has no OpenID session) carry an inline script and post to the client. It adds the
  // script's hash only to a script-src directive, which our CSP (default-src 'none') has not: the
  // browser blocked the script and the user was left on a blank "Submitting Callback" page; and
  // form-action 'self' blocked a form_post to the client. Allow exactly that script (CSP3
  // hash-source) and the form's own origin.
  provider.use(async (ctx, next) => {
    await next();
    if (typeof ctx.body !== 'string' || !ctx.body.includes('<title>Submitting Callback</title>')) return;
    const script = /<script>([\s\S]*?)<\/script>/.exec(ctx.body)?.[1];
    const action = /<form method="post" action="(https?:\/\/[^/"?#]+)/i.exec(ctx.body)?.[1];
    if (script === undefined || action === undefined) return;
    let origin: string;
    try { origin = new URL(action).origin; } catch { return; }
    const own = new URL(d.issuer).origin;
    const digest = createHash('sha256').update(script, 'utf8').digest('base64');
    ctx.set('content-security-policy', `${contentSecurityPolicy({ formAction: origin === own ? [] : [origin] })}; script-src 'sha256-${digest}'`);
  });

  // Every token an agent gets is in the audit log under its name (never the token itself).
  const onIssued = (token: { clientId?: string; jti?: string; aud?: unknown; scope?: string; exp?: number }) => {
    const agent = agentName(token.clientId ?? '');
    if (agent === undefined) return;
    d.audit({
      actor: `agent:${agent}`, action: 'agent_token', outcome: 'ok', target: typeof token.aud === 'string' ? token.aud : null,
      detail: { scope: token.scope ?? '', ...(token.exp ? { expiresAt: new Date(token.exp * 1000).toISOString() } : {}) },
    });
  };
  provider.on('client_credentials.issued', onIssued as never);
  provider.on('client_credentials.saved', onIssued as never);

  // A completed sign-in (the resume step after the portal's login): link the OpenID session to
  // the gate session, so signing out at the gate ends it too (gateSignOut below).
  provider.use(async (ctx, next) => {
    await next();
    if (!d.linkSession || ctx.oidc?.route !== 'resume') return;
    const session = ctx.oidc.entities.Session as { uid?: string; accountId?: string } | undefined;
    if (session?.uid && session.accountId) await d.linkSession(ctx.req, session.uid);
  });

  // RP-initiated logout ends the gate session too (one sign-out ends both).
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => { ctx.state.gatehouseEndGate = true; });
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.state.gatehouseEndGate !== true) return;
    const clear = await d.endGateSession(ctx.req);
    if (clear) ctx.append('Set-Cookie', clear);
  });
  for (const ev of ['server_error', 'grant.error', 'end_session.error', 'backchannel.error'] as const) {
    provider.on(ev, (...args: never[]) => {
      const err = args.find((a) => (a as unknown) instanceof Error) as Error | undefined;
      const fields = { event: ev, error: (err as { error?: string } | undefined)?.error, detail: (err as { error_detail?: string } | undefined)?.error_detail ?? err?.message };
      if (ev === 'server_error') logger.error(fields, 'issuer error');
      else logger.info(fields, 'issuer refused a request');
    });
  }
  return provider;
}

interface InternalSession {
  accountId?: string;
  authorizations?: Record<string, unknown>;
  sidFor(clientId: string): string;
  destroy(): Promise<void>;
}
interface InternalClient { clientId: string; backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> }

/**
 * The gate's sign-out for OpenID sessions (OpenID Connect Back-Channel Logout 1.0 §2.7): for each
 * session (by uid) every client it signed in to that registered a backchannel_logout_uri gets a
 * logout token (oidc-provider's own, the same one /oidc/session/end sends: iss, aud, iat, jti,
 * events, sub and sid), then the session is destroyed. Failures are the `backchannel.error`
 * event's business, as for RP-initiated logout. Returns the client ids notified.
 */
export async function gateSignOut(provider: Provider, uids: readonly string[], logger: Logger): Promise<string[]> {
  const sessions = (provider as unknown as { Session: { findByUid(uid: string): Promise<InternalSession | undefined> } }).Session;
  const notified: string[] = [];
  for (const uid of uids) {
    const session = await sessions.findByUid(uid);
    if (!session?.accountId) continue;
    const sub = session.accountId;
    await Promise.all(Object.keys(session.authorizations ?? {}).map(async (clientId) => {
      const client = await provider.Client.find(clientId).catch(() => undefined) as unknown as InternalClient | undefined;
      if (!client?.backchannelLogoutUri) return;
      try {
        await client.backchannelLogout(sub, session.sidFor(clientId));
        notified.push(clientId);
      } catch (err) {
        logger.info({ event: 'backchannel.error', client: clientId, detail: (err as Error).message }, 'back-channel logout failed');
      }
    }));
    await session.destroy();
  }
  return notified;
}
