// The issuer: oidc-provider mounted in our node:http app so that the issuer identifier is exactly
// publicUrl (no trailing slash), with discovery at /.well-known/openid-configuration and (RFC 8414
// §3) /.well-known/oauth-authorization-server, both answered directly, never redirected. Only the
// provider's own paths reach it: /oidc/* and the two well-known documents.
//
// Sign-in is the portal's: an interaction that needs a user reads the gate session; without one
// the browser goes to the portal's sign-in and comes back. The provider is rebuilt (atomically,
// on the next request) when the config or the signing keys change.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Provider } from 'oidc-provider';
import type { Clock, Logger } from '../core/index.ts';
import type { Accounts } from '../accounts/index.ts';
import type { Config } from '../config/index.ts';
import type { Store, AuditEvent } from '../store/index.ts';
import type { Sessions } from '../sessions/index.ts';
import { checkForm, checkFormHeaders, contentSecurityPolicy, issueFormToken, readForm, readOriginal, serializeCookie } from '../http/index.ts';
import { cookieDomainFor, formGuard, isPortalHost, portalBase, portalUrl, sessionFromCookies, type GateSettings } from '../gateway/index.ts';
import { loadSigningKeys, type LoadedKeys } from './keys.ts';
import { buildProvider, gateSignOut, IMPLIED_CONSENT_PARAM, INTERACTION_PATH, mayUse, ROUTES } from './provider.ts';
import { adapterFor } from './adapter.ts';
import { consentPage, errorPage, logoutPage, signedOutPage } from './pages.ts';
import { agentsFor, type Agents } from './agents.ts';
import { createRegistrationGuard } from './registration.ts';
import { SCOPE_CLAIMS } from './claims.ts';
import type { JSONWebKeySet } from 'jose';

export interface IssuerDeps {
  settings: () => GateSettings;
  config: () => Config;
  store: Store;
  sessions: Sessions;
  /** People: who a user id is, and the identity their tokens and claims carry. */
  accounts: Pick<Accounts, 'get' | 'identityOf' | 'nameOf'>;
  clock: Clock;
  logger: Logger;
  /** How often the signing keys are re-read (a rotation by the CLI or another replica). */
  keyPollMs?: number;
}

/** The store model of gate session -> OpenID session links. */
const LINK_MODEL = 'GatehouseGateLink';

export type IssuerHandler = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => Promise<void>;

/** The issuer identifier for a public URL: origin plus path, never a trailing slash. */
export function issuerFor(publicUrl: URL): string {
  const p = publicUrl.pathname.replace(/\/+$/, '');
  return `${publicUrl.origin}${p}`;
}

interface Built { provider: Provider; callback: (req: IncomingMessage, res: ServerResponse) => Promise<void>; config: Config; settings: GateSettings; keys: string }

export function createIssuer(deps: IssuerDeps) {
  const { store, sessions, clock, logger } = deps;
  let keys: LoadedKeys | undefined;
  let built: Built | undefined;
  let timer: NodeJS.Timeout | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  async function sweepExpired(): Promise<number> {
    const n = await store.oidc.deleteExpired(clock.now());
    if (n > 0) logger.info({ event: 'issuer_sweep', deleted: n }, 'expired issuer records deleted');
    return n;
  }
  let agents: { keyring: GateSettings['keyring']; agents: Agents } | undefined;
  const agentsNow = (): Agents => {
    const keyring = deps.settings().keyring;
    if (agents?.keyring !== keyring) agents = { keyring, agents: agentsFor(store.oidc, keyring, clock) };
    return agents.agents;
  };
  let published: { version: string; set: JSONWebKeySet } | undefined;
  // Registration (RFC 7591) limits, and the client address of each registration request for its
  // audit event (the provider sees the request after the proxy headers are rewritten).
  const registrations = createRegistrationGuard({ limits: () => deps.config().issuer.registrationLimits, clock, logger });
  const registrationIp = new WeakMap<IncomingMessage, string>();
  const clientAdapter = () => new (adapterFor(store.oidc, clock, { keyring: deps.settings().keyring }))('Client');
  const touchedAt = new Map<string, number>();
  /**
   * A registered client was used (or just made): it lives issuer.registrationLimits.unusedClientLifetime
   * from now. Written at most once an hour per client (and the map of those times is bounded).
   */
  async function clientUsed(clientId: string, fresh: boolean): Promise<void> {
    const now = clock.now();
    const last = touchedAt.get(clientId);
    if (!fresh && last !== undefined && now - last < 3_600_000) return;
    if (touchedAt.size >= 10_000) touchedAt.clear();
    touchedAt.set(clientId, now);
    const a = clientAdapter();
    const payload = await a.find(clientId);
    if (!payload) return;
    await a.upsert(clientId, payload, Math.max(1, Math.floor(deps.config().issuer.registrationLimits.unusedClientLifetime / 1000)));
  }
  function registered(req: IncomingMessage, c: { clientId: string; clientName?: string; redirectUris: string[]; applicationType?: string; authMethod?: string }): Promise<void> {
    const ip = registrationIp.get(req) ?? null;
    // Never the secret or the registration access token: who, what for, from where.
    logger.info({ event: 'client_registered', client: c.clientId, name: c.clientName, redirectUris: c.redirectUris, applicationType: c.applicationType, authMethod: c.authMethod, ip }, 'client registered');
    audit({ actor: ip ? `anonymous@${ip}` : 'anonymous', action: 'client_registered', outcome: 'ok', target: c.clientId, detail: { name: c.clientName ?? null, redirectUris: c.redirectUris, applicationType: c.applicationType ?? 'web', ip } });
    return clientUsed(c.clientId, true).catch((err: unknown) => logger.warn({ err: (err as Error).message, client: c.clientId }, 'could not set the registered client\'s expiry'));
  }

  /** A person in the audit log is their username (docs/audit.md), never the internal user id. */
  async function usernameOf(userId: string): Promise<string> {
    return deps.accounts.nameOf(userId);
  }

  function audit(e: Omit<AuditEvent, 'at' | 'target'> & { target?: string | null }): void {
    store.audit.append({ at: clock.now(), target: null, ...e }).catch((err: unknown) => {
      logger.warn({ err: (err as Error).message, action: e.action }, 'could not write the audit log');
    });
  }

  async function gateUserId(req: IncomingMessage): Promise<string | null> {
    const found = await sessionFromCookies(sessions, req.headers.cookie, deps.settings().cookieName);
    return found ? found.view.userId : null;
  }

  async function endGateSession(req: IncomingMessage): Promise<string | null> {
    const s = deps.settings();
    const found = await sessionFromCookies(sessions, req.headers.cookie, s.cookieName);
    if (!found) return null;
    await sessions.revoke(found.view.sid);
    logger.info({ event: 'sign_out', user: found.view.identity.username, session: found.view.sid.slice(0, 6), via: 'oidc' }, 'signed out');
    audit({ actor: found.view.identity.username, action: 'sign_out', outcome: 'ok', detail: { via: 'oidc_end_session' } });
    return serializeCookie(s.cookieName, '', {
      domain: cookieDomainFor(s, s.portalHost), path: '/', maxAgeSeconds: 0, secure: s.secureCookies, httpOnly: true, sameSite: 'Lax',
    });
  }

  // Gate session (sid) -> the OpenID sessions (uids) signed in with it: a sign-out at the gate
  // ends them with back-channel logout. Kept as long as a gate session can live.
  let links: { keyring: GateSettings['keyring']; adapter: InstanceType<ReturnType<typeof adapterFor>> } | undefined;
  const linkStore = () => {
    const keyring = deps.settings().keyring;
    if (links?.keyring !== keyring) links = { keyring, adapter: new (adapterFor(store.oidc, clock, { keyring }))(LINK_MODEL) };
    return links.adapter;
  };
  async function linkSession(req: IncomingMessage, uid: string): Promise<void> {
    const found = await sessionFromCookies(sessions, req.headers.cookie, deps.settings().cookieName);
    if (!found) return;
    const a = linkStore();
    const prior = ((await a.find(found.view.sid))?.uids as string[] | undefined) ?? [];
    if (prior.includes(uid)) return;
    const ttl = Math.max(1, Math.ceil(deps.config().session.lifetime / 1000));
    await a.upsert(found.view.sid, { uids: [...prior, uid] }, ttl);
  }

  async function refreshKeys(): Promise<void> {
    keys = await loadSigningKeys(store.signingKeys, deps.settings().keyring, clock, logger);
  }

  async function current(): Promise<Built> {
    const config = deps.config();
    const settings = deps.settings();
    // A config reload (SIGHUP) also re-reads the keys, so a rotation takes effect at once.
    if (!keys || (built && built.config !== config)) await refreshKeys();
    const k = keys as LoadedKeys;
    if (built && built.config === config && built.settings.keyring === settings.keyring && built.settings.publicUrl.href === settings.publicUrl.href && built.keys === k.version) return built;
    // Built synchronously: two requests racing here cannot make two providers.
    const base = portalBase(settings);
    const provider = buildProvider({
      issuer: issuerFor(settings.publicUrl), base, config, jwks: k.jwks, keyring: settings.keyring, store, clock, logger,
      accounts: deps.accounts, gateUserId, endGateSession,
      renderError: errorPage,
      logoutPage: (form, clientName) => logoutPage(form, clientName, base),
      signedOutPage,
      agents: agentsNow(),
      linkSession,
      registered,
      clientUsed: (id) => clientUsed(id, false).catch((err: unknown) => logger.warn({ err: (err as Error).message, client: id }, 'could not extend the registered client\'s life')),
      audit: (e) => audit(e),
    });
    built = { provider, callback: provider.callback(), config, settings, keys: k.version };
    return built;
  }

  /** The request as the provider must see it: the public host and scheme, the path without publicUrl's path. */
  function rewrite(req: IncomingMessage, s: GateSettings, base: string, path?: string): void {
    const original = req.url ?? '/';
    if (path !== undefined) req.url = path + (original.includes('?') ? original.slice(original.indexOf('?')) : '');
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
    if (base && req.url?.startsWith(base)) req.url = req.url.slice(base.length) || '/';
    req.headers.host = s.publicUrl.host;
    req.headers['x-forwarded-proto'] = s.publicUrl.protocol.slice(0, -1);
    delete req.headers['x-forwarded-host'];
    delete req.headers['x-forwarded-port'];
    delete req.headers.forwarded;
  }

  function notFound(res: ServerResponse): void {
    res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
    res.end('not found\n');
  }

  function page(res: ServerResponse, status: number, html: string, formTargets: string[] = [], setCookie?: string): void {
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store',
      'content-security-policy': contentSecurityPolicy({ formAction: [...new Set(formTargets)] }),
      ...(setCookie ? { 'set-cookie': setCookie } : {}),
    });
    res.end(html);
  }

  /**
   * OpenID Connect Core §11: offline_access is kept only with prompt=consent, else oidc-provider
   * drops it without a word. Asked without a prompt, the issuer asks for consent itself, marked
   * so that a consent the user already gave (remembered) answers it; a client's own
   * prompt=consent is always shown. Only the query of a GET authorization request is rewritten.
   */
  function keepOfflineAccess(req: IncomingMessage, base: string, path: string): void {
    if (req.method !== 'GET' || path !== `${base}${ROUTES.authorization}`) return;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if (q < 0) return;
    const params = new URLSearchParams(url.slice(q + 1));
    params.delete(IMPLIED_CONSENT_PARAM);
    if (params.has('prompt') || !(params.get('scope') ?? '').split(' ').includes('offline_access')) {
      req.url = `${url.slice(0, q)}?${params.toString()}`;
      return;
    }
    params.set('prompt', 'consent');
    params.set(IMPLIED_CONSENT_PARAM, '1');
    req.url = `${url.slice(0, q)}?${params.toString()}`;
  }

  /** Every request for the provider's paths. */
  const handle: IssuerHandler = async (req, res) => {
    const s = deps.settings();
    if (!isPortalHost(s, readOriginal(req, s.trusted).host)) return notFound(res);
    const base = portalBase(s);
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0] ?? '/';
    if (path.startsWith(`${base}${INTERACTION_PATH}`)) return interaction(req, res, s, base, path.slice(base.length + INTERACTION_PATH.length));
    const b = await current();
    // RFC 8414 §3: the authorization server metadata of an issuer with a path sits at
    // /.well-known/oauth-authorization-server/<path>; it is the OpenID document (same issuer).
    // MCP clients also try /.well-known/openid-configuration/<path> (the same document again).
    const wellKnownAs = path.startsWith('/.well-known/oauth-authorization-server') || (base !== '' && path === `/.well-known/openid-configuration${base}`)
      ? `${base}/.well-known/openid-configuration` : undefined;
    // RFC 7591/7592 requests are screened first (rate, size, fields, redirect URIs).
    const reg = `${base}/oidc/reg`;
    const kind = req.method === 'POST' && path === reg ? 'register' : req.method === 'PUT' && path.startsWith(`${reg}/`) ? 'update' : undefined;
    if (kind && b.config.issuer.registration !== 'off') {
      const ip = readOriginal(req, s.trusted).clientIp;
      if (await registrations.screen(req, res, ip, kind)) return;
      registrationIp.set(req, ip);
    }
    // The logout confirmation is oidc-provider's form: its own xsrf field is the token; the
    // browser's headers are checked here by the same rules as every other form.
    if (req.method === 'POST' && path === `${base}${ROUTES.end_session}/confirm`) {
      const check = checkFormHeaders(formGuard(s, clock.now()), req);
      if (!check.ok) {
        logger.info({ reason: check.reason, form: 'logout' }, 'form refused');
        return page(res, 403, errorPage('Refused', 'This form was posted from another site.'));
      }
    }
    keepOfflineAccess(req, base, path);
    rewrite(req, s, base, wellKnownAs);
    await b.callback(req, res);
  };

  /** /oidc/interaction/:uid — login through the gate session, then consent. */
  async function interaction(req: IncomingMessage, res: ServerResponse, s: GateSettings, base: string, uid: string): Promise<void> {
    const b = await current();
    rewrite(req, s, base);
    const stale = () => page(res, 400, errorPage('Sign-in expired', 'This sign-in has expired or was started in another browser. Go back to the app and sign in again.'));
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') { res.setHeader('allow', 'GET, HEAD, POST'); return notFound(res); }
    let details;
    try { details = await b.provider.interactionDetails(req, res); } catch { return stale(); }
    if (details.uid !== uid) return stale();
    const clientId = String(details.params.client_id ?? '');
    const client = b.config.clients.find((c) => c.id === clientId);
    const here = portalUrl(s, `${INTERACTION_PATH}${uid}`);

    const finish = async (result: Parameters<Provider['interactionResult']>[2]) => {
      const to = await b.provider.interactionResult(req, res, result, { mergeWithLastSubmission: !('error' in result) });
      res.writeHead(303, { location: to, 'cache-control': 'no-store' });
      res.end();
    };

    if (details.prompt.name === 'login') {
      const found = await sessionFromCookies(sessions, req.headers.cookie, s.cookieName);
      if (!found) {
        // Sign in at the portal, then come back here (the portal refuses rd only under /oauth2/).
        res.writeHead(302, { location: portalUrl(s, '/oauth2/start', { rd: here }), 'cache-control': 'no-store' });
        res.end();
        return;
      }
      if (!mayUse(client, found.view.identity)) {
        audit({ actor: found.view.identity.username, action: 'oidc_sign_in', outcome: 'denied', target: clientId, detail: { reason: 'not in clients[].allowedGroups' } });
        return finish({ error: 'access_denied', error_description: 'the user may not sign in to this client' });
      }
      audit({ actor: found.view.identity.username, action: 'oidc_sign_in', outcome: 'ok', target: clientId, detail: {} });
      return finish({ login: { accountId: found.view.userId, amr: ['pwd'] } });
    }

    if (details.prompt.name === 'consent') {
      const accountId = details.session?.accountId;
      if (!accountId) return stale();
      const d = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      const scopes = String(details.params.scope ?? 'openid').split(' ').filter(Boolean);
      const resources = [...new Set([...strings(details.params.resource), ...Object.keys(d.missingResourceScopes ?? {})])];
      const grant = async () => {
        const g = details.grantId ? await b.provider.Grant.find(details.grantId) : undefined;
        const grant = g ?? new b.provider.Grant({ accountId, clientId });
        if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
        if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
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
          audit({ actor: await usernameOf(accountId), action: 'oidc_consent', outcome: 'ok', target: clientId, detail: { remembered: true, scope: scopes.join(' ') } });
          return finish({ consent: { grantId: await grant() } });
        }
      }
      const guard = formGuard(s, clock.now());
      let status = 200;
      if (req.method === 'POST') {
        // The one form guard (http/form-guard.ts): Sec-Fetch-Site, Origin and the csrf token.
        const form = await readForm(req);
        const check = checkForm(guard, req, form);
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
        if (check.rule === 'origin') return page(res, 403, errorPage('Refused', 'This form was posted from another site.'));
        status = 400;
      }
      const user = await deps.accounts.get(accountId);
      // Registered and metadata-document clients are known to oidc-provider only.
      const known = await b.provider.Client.find(clientId).catch(() => undefined);
      const redirectUris = client?.redirectUris ?? ((known?.redirectUris as string[] | undefined) ?? []);
      const redirectOrigins = redirectUris.map((u) => new URL(u).origin).filter((o) => /^https?:/.test(o));
      const redirectTo = String(details.params.redirect_uri ?? redirectUris[0] ?? '');
      const token = issueFormToken(guard, req);
      // Registered and metadata-document clients with the refresh_token grant get refresh tokens
      // without offline_access (provider.ts `refreshable`): say so like offline_access does.
      const grantTypes = (known?.grantTypes as string[] | undefined) ?? [];
      const staysConnected = !client && grantTypes.includes('refresh_token') && !scopes.includes('offline_access');
      return page(res, status, consentPage({
        staysConnected,
        clientName: client?.name ?? (typeof known?.clientName === 'string' ? known.clientName : clientId), scopes, action: here, base, username: user?.username ?? accountId,
        redirectHost: redirectHostOf(redirectTo), onlyLocal: redirectUris.length > 0 && redirectUris.every(isLoopbackUri), csrf: token.token,
      }), redirectOrigins, token.setCookie);
    }
    return stale();
  }

  return {
    async start(): Promise<void> {
      await refreshKeys();
      await current();
      timer = setInterval(() => { refreshKeys().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not re-read the signing keys')); }, deps.keyPollMs ?? 60_000);
      timer.unref();
      // Expired issuer records (registered clients unused for issuer.registrationLimits.
      // unusedClientLifetime among them) are deleted hourly; until then they are already unknown.
      sweeper = setInterval(() => { sweepExpired().catch(() => { /* the next sweep tries again */ }); }, 3_600_000);
      sweeper.unref();
    },
    /** Re-read the signing keys now (after a rotation in this process). */
    refreshKeys,
    /**
     * The public signing keys, for the gate's access-token verifier: the same object until the
     * keys change (a new object tells the verifier to forget what it cached).
     */
    publicJwks(): JSONWebKeySet {
      if (!keys) return { keys: [] };
      if (published?.version !== keys.version) {
        published = { version: keys.version, set: { keys: keys.jwks.map(({ kty, kid, alg, use, crv, x, y, n, e }) => ({ kty, kid, alg, use, crv, x, y, n, e })) } };
      }
      return published.set;
    },
    /**
     * The gate session `sid` ended (sign-out at /oauth2/sign_out): every OpenID session signed in
     * with it ends too, and the clients with a backchannel_logout_uri get a logout token.
     */
    async gateSignedOut(sid: string): Promise<void> {
      const a = linkStore();
      const uids = ((await a.find(sid))?.uids as string[] | undefined) ?? [];
      if (uids.length === 0) return;
      await a.destroy(sid);
      const notified = await gateSignOut((await current()).provider, uids, logger);
      if (notified.length) logger.info({ event: 'backchannel_logout', clients: notified }, 'back-channel logout sent');
    },
    /** Agents (machine identities): created by the CLI, refused at /token once deleted or expired. */
    agents: agentsNow,
    /** Whether tokens of `agent:<name>` should still be honoured (the gate's revocation hook). */
    isAgentActive: (name: string): Promise<boolean> => agentsNow().isActive(name),
    /**
     * Origins a sign-in form for `rd` may end up at: when rd is an interaction, the client's
     * redirect_uri, reached through redirects only (a first-party client skips consent). CSP
     * form-action applies to every redirect after a form POST, so the portal must list it.
     */
    async formTargetsFor(rd: string): Promise<string[]> {
      const s = deps.settings();
      let u: URL;
      try { u = new URL(rd); } catch { return []; }
      const prefix = `${portalBase(s)}${INTERACTION_PATH}`;
      if (!isPortalHost(s, u.host) || !u.pathname.startsWith(prefix)) return [];
      const b = await current();
      const details = await b.provider.Interaction.find(u.pathname.slice(prefix.length)).catch(() => undefined);
      const redirect = details?.params.redirect_uri;
      if (typeof redirect !== 'string') return [];
      try {
        const target = new URL(redirect);
        return target.protocol === 'https:' || target.protocol === 'http:' ? [target.origin] : [];
      } catch { return []; }
    },
    /** Path → handler; paths ending in "/*" are prefixes. */
    routes(): [string, IssuerHandler][] {
      const base = portalBase(deps.settings());
      const out: [string, IssuerHandler][] = [
        [`${base}/oidc/*`, handle],
        [`${base}/.well-known/openid-configuration`, handle],
        [`/.well-known/oauth-authorization-server${base}`, handle],
      ];
      if (base !== '') out.push([`/.well-known/openid-configuration${base}`, handle]);
      return out;
    },
    /** Deletes expired issuer records now (the hourly sweep); returns how many. */
    sweepExpired,
    close(): void { if (timer) clearInterval(timer); if (sweeper) clearInterval(sweeper); },
  };
}

export type Issuer = ReturnType<typeof createIssuer>;

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
  try { const u = new URL(uri); return u.host || `${u.protocol}`; } catch { return uri; }
}

/** RFC 8252 §7.3: loopback redirects (any app on this machine can listen there). */
function isLoopbackUri(uri: string): boolean {
  try { const h = new URL(uri).hostname; return h === 'localhost' || h === '127.0.0.1' || h === '[::1]'; } catch { return false; }
}
