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
import type { Clock, Logger, Topic } from '../core/index.ts';
import type { Accounts } from '../accounts/index.ts';
import type { Config } from '../config/index.ts';
import type { Store, AuditEvent } from '../store/index.ts';
import type { Sessions } from '../sessions/index.ts';
import { readOriginal } from '../http/index.ts';
import {
  checkFormHeaders,
  formGuard,
  isPortalHost,
  notFound,
  portalBase,
  portalPath,
  sendPage,
  type GateSettings,
  type SetCookie,
} from '../web/index.ts';
import { loadSigningKeys, type LoadedKeys } from './keys.ts';
import { IMPLIED_CONSENT_PARAM, INTERACTION_PATH, ROUTES } from './routes.ts';
import type * as ProviderModule from './provider.ts';
import { errorPage, logoutPage, signedOutPage } from './pages.ts';
import { agentsFor, type Agents } from './agents.ts';
import { registeredClients } from './registered.ts';
import { RecordCache } from './record-cache.ts';
import { gateLinks } from './gate-links.ts';
import { interactionFlow } from './interaction.ts';
import { renderThroughProvider, sendStaticDocument, type StaticDocuments } from './static-documents.ts';
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
  /** Gate sessions ended by sign-out: the OpenID sessions signed in with one end too. */
  signOuts?: Topic<string>;
}

export type IssuerHandler = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => Promise<void>;

/** The issuer identifier for a public URL: origin plus path, never a trailing slash. */
export function issuerFor(publicUrl: URL): string {
  const p = publicUrl.pathname.replace(/\/+$/, '');
  return `${publicUrl.origin}${p}`;
}

interface Built {
  provider: Provider;
  callback: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  config: Config;
  settings: GateSettings;
  keys: string;
  /** Discovery and the JWKS as this provider answers them (static-documents.ts), once rendered. */
  documents?: StaticDocuments;
  rendering?: Promise<StaticDocuments | undefined>;
}

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
  let providerModule: Promise<typeof ProviderModule> | undefined;
  // The clients and agents every client_credentials token reads, kept for at most 1 s (record-cache.ts).
  const recordCache = new RecordCache(clock);
  let agents: { keyring: GateSettings['keyring']; agents: Agents } | undefined;
  const agentsNow = (): Agents => {
    const keyring = deps.settings().keyring;
    if (agents?.keyring !== keyring) agents = { keyring, agents: agentsFor(store.oidc, keyring, clock, recordCache) };
    return agents.agents;
  };
  let published: { version: string; set: JSONWebKeySet } | undefined;
  const { registrations, registrationIp, clientUsed, registered } = registeredClients({
    store,
    clock,
    logger,
    config: deps.config,
    settings: deps.settings,
    audit,
    recordCache,
  });
  const { gateUserId, endGateSession, linkSession } = gateLinks({
    store,
    sessions,
    clock,
    logger,
    settings: deps.settings,
    config: deps.config,
    audit,
    provider: async () => (await current()).provider,
    signOuts: deps.signOuts,
  });
  /** A person in the audit log is their username (docs/audit.md), never the internal user id. */
  async function usernameOf(userId: string): Promise<string> {
    return deps.accounts.nameOf(userId);
  }

  function audit(e: Omit<AuditEvent, 'at' | 'target'> & { target?: string | null }): void {
    store.audit.append({ at: clock.now(), target: null, ...e }).catch((err: unknown) => {
      logger.warn({ err: (err as Error).message, action: e.action }, 'could not write the audit log');
    });
  }

  async function refreshKeys(): Promise<void> {
    keys = await loadSigningKeys(store.signingKeys, deps.settings().keyring, clock, logger);
  }

  /** Whether a built provider is the one for this config, key ring, publicUrl and signing keys. */
  function upToDate(b: Built, config: Config, settings: GateSettings, keysVersion: string | undefined): boolean {
    return (
      b.config === config &&
      b.settings.keyring === settings.keyring &&
      b.settings.publicUrl.href === settings.publicUrl.href &&
      b.keys === keysVersion
    );
  }

  /** The static documents of the current provider when they are rendered already (no await on the way). */
  function documentsNow(s: GateSettings): StaticDocuments | undefined {
    const b = built;
    return b?.documents && upToDate(b, deps.config(), s, keys?.version) ? b.documents : undefined;
  }

  /** Renders discovery and the JWKS through the provider once per build (racing requests share it). */
  function documentsOf(b: Built, s: GateSettings, base: string): Promise<StaticDocuments | undefined> {
    if (b.documents) return Promise.resolve(b.documents);
    b.rendering ??= (async () => {
      const host = s.publicUrl.host;
      const proto = s.publicUrl.protocol.slice(0, -1);
      const at = (p: string) => ({ url: p, originalUrl: `${base}${p}`, host, proto });
      const [discovery, jwks] = await Promise.all([
        renderThroughProvider(b.callback, at('/.well-known/openid-configuration')),
        renderThroughProvider(b.callback, at(ROUTES.jwks)),
      ]);
      b.documents = { discovery, jwks };
      return b.documents;
    })().catch((err: unknown) => {
      // The provider answers these requests itself until a render succeeds.
      logger.warn({ err: (err as Error).message }, 'could not render the discovery document');
      b.rendering = undefined;
      return undefined;
    });
    return b.rendering;
  }

  /**
   * oidc-provider (with koa) is loaded on first need: at start when the config has clients or
   * resources, else with the first request for the issuer's paths (an agent's token, discovery)
   * or the first gate sign-out that ends OpenID sessions. A gate without them never loads it
   * (about 30 MiB of resident memory, docs/benchmarks.md).
   */
  async function current(): Promise<Built> {
    const { buildProvider } = await (providerModule ??= import('./provider.ts'));
    const config = deps.config();
    const settings = deps.settings();
    // A config reload (SIGHUP) also re-reads the keys, so a rotation takes effect at once.
    if (!keys || (built && built.config !== config)) await refreshKeys();
    const k = keys as LoadedKeys;
    if (built && upToDate(built, config, settings, k.version)) return built;
    // Built synchronously: two requests racing here cannot make two providers.
    const base = portalBase(settings);
    const provider = buildProvider({
      issuer: issuerFor(settings.publicUrl),
      base,
      config,
      jwks: k.jwks,
      keyring: settings.keyring,
      store,
      clock,
      logger,
      accounts: deps.accounts,
      gateUserId,
      endGateSession,
      renderError: (title, message) => errorPage(settings, title, message),
      logoutPage: (form, clientName) => logoutPage(settings, form, clientName),
      signedOutPage: () => signedOutPage(settings),
      agents: agentsNow(),
      recordCache,
      linkSession,
      registered,
      clientUsed: (id) =>
        clientUsed(id, false).catch((err: unknown) =>
          logger.warn({ err: (err as Error).message, client: id }, "could not extend the registered client's life"),
        ),
      audit: (e) => audit(e),
    });
    if (!built) logger.info({ event: 'issuer_loaded' }, 'OpenID provider loaded');
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

  function page(
    res: ServerResponse,
    s: GateSettings,
    status: number,
    html: string,
    formTargets: string[] = [],
    setCookie?: SetCookie,
  ): void {
    sendPage(res, s, status, html, { formTargets, setCookie });
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

  const interaction = interactionFlow({
    store,
    accounts: deps.accounts,
    sessions,
    clock,
    logger,
    audit,
    current,
    rewrite,
    page,
    usernameOf,
  });

  /** Every request for the provider's paths. */
  const handle: IssuerHandler = async (req, res) => {
    const s = deps.settings();
    if (!isPortalHost(s, readOriginal(req, s.trusted).host)) return notFound(res);
    const base = portalBase(s);
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0] ?? '/';
    if (path.startsWith(`${base}${INTERACTION_PATH}`))
      return interaction(req, res, s, base, path.slice(base.length + INTERACTION_PATH.length));
    // RFC 8414 §3: the authorization server metadata of an issuer with a path sits at
    // /.well-known/oauth-authorization-server/<path>; it is the OpenID document (same issuer).
    // MCP clients also try /.well-known/openid-configuration/<path> (the same document again).
    const wellKnownAs =
      path.startsWith('/.well-known/oauth-authorization-server') || (base !== '' && path === `/.well-known/openid-configuration${base}`)
        ? `${base}/.well-known/openid-configuration`
        : undefined;
    // Discovery and the JWKS: the provider's own bytes, rendered once per build.
    if (req.method === 'GET' || req.method === 'HEAD') {
      const which =
        wellKnownAs !== undefined || path === `${base}/.well-known/openid-configuration`
          ? 'discovery'
          : path === `${base}${ROUTES.jwks}`
            ? 'jwks'
            : undefined;
      if (which !== undefined) {
        const docs = documentsNow(s) ?? (await documentsOf(await current(), s, base));
        if (docs) return sendStaticDocument(req, res, docs[which]);
      }
    }
    const b = await current();
    // RFC 7591/7592 requests are screened first (rate, size, fields, redirect URIs).
    const reg = `${base}/oidc/reg`;
    const kind =
      req.method === 'POST' && path === reg ? 'register' : req.method === 'PUT' && path.startsWith(`${reg}/`) ? 'update' : undefined;
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
        return page(res, s, 403, errorPage(s, 'Refused', 'This form was posted from another site.'));
      }
    }
    keepOfflineAccess(req, base, path);
    rewrite(req, s, base, wellKnownAs);
    await b.callback(req, res);
  };

  return {
    async start(): Promise<void> {
      await refreshKeys();
      const config = deps.config();
      if (config.clients.length > 0 || config.resources.length > 0) await current();
      timer = setInterval(() => {
        refreshKeys().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not re-read the signing keys'));
      }, deps.keyPollMs ?? 60_000);
      timer.unref();
      // Expired issuer records (registered clients unused for issuer.registrationLimits.
      // unusedClientLifetime among them) are deleted hourly; until then they are already unknown.
      sweeper = setInterval(() => {
        sweepExpired().catch(() => {
          /* the next sweep tries again */
        });
      }, 3_600_000);
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
        published = {
          version: keys.version,
          set: { keys: keys.jwks.map(({ kty, kid, alg, use, crv, x, y, n, e }) => ({ kty, kid, alg, use, crv, x, y, n, e })) },
        };
      }
      return published.set;
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
      try {
        u = new URL(rd);
      } catch {
        return [];
      }
      const prefix = portalPath(s, INTERACTION_PATH);
      if (!isPortalHost(s, u.host) || !u.pathname.startsWith(prefix)) return [];
      const b = await current();
      const details = await b.provider.Interaction.find(u.pathname.slice(prefix.length)).catch(() => undefined);
      const redirect = details?.params.redirect_uri;
      if (typeof redirect !== 'string') return [];
      try {
        const target = new URL(redirect);
        return target.protocol === 'https:' || target.protocol === 'http:' ? [target.origin] : [];
      } catch {
        return [];
      }
    },
    /**
     * Every request for the provider's paths (the route table mounts them: /oidc/* and the
     * discovery documents, under publicUrl's path).
     */
    handle,
    /** Deletes expired issuer records now (the hourly sweep); returns how many. */
    sweepExpired,
    close(): void {
      if (timer) clearInterval(timer);
      if (sweeper) clearInterval(sweeper);
    },
  };
}

export type Issuer = ReturnType<typeof createIssuer>;

export { consentItems } from './interaction.ts';
