// The running process: config, store, keys, features, one HTTP server. Start-up order matters:
//   1. the HTTP server listens first, so /healthz answers while migrations wait on a lock
//      (a liveness probe must never kill a pod that is queued behind another's migration);
//      under `serve --workers` only the first worker does, the others listen once ready (a
//      worker still starting would answer 503 to its share of the requests)
//   2. the store opens and migrates; /readyz stays 503 until it is done
//   3. features start; the bootstrap admin is made on an empty store
//   4. config reloads swap the settings whole; an invalid file changes nothing
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { GatehouseError, isGatehouseError, randomId, systemClock, Topic, type Clock, type Logger } from '../core/index.ts';
import { ConfigWatcher, type Config, type LoadedConfig } from '../config/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { healthHandlers, Metrics, newRequestId } from '../http/index.ts';
import { answer, answerSocket, NO_STORE, portalBase, portalPath, portalUrl, type GateSettings } from '../web/index.ts';
import { createForwardAuth, createProxyMode, createTicketRedeemer } from '../gateway/index.ts';
import { createResourceMetadata, METADATA_PATH, type JSONWebKeySet } from '../gateway/index.ts';
import { createPortal } from '../portal/index.ts';
import { createIssuer } from '../issuer/index.ts';
import { createRouter } from './router.ts';
import { featureRoutes, mountRoutes, opsRoutes } from './routes.ts';
import { hostOwnership, isProxiedHost, runningSite, startingSite, type HostOwnership } from './site.ts';
import { buildSettings } from './settings.ts';
import { resolveSecrets } from './secrets.ts';
import { startDemoApp } from './demo.ts';
import { buildPeople } from './people.ts';
import { VERSION } from './version.ts';
import { cameThroughPublicDoor } from './ops-door.ts';
import { buildServices, throttleLimits } from './services.ts';
import { Factors, SignInThrottle, type FactorSettings } from '../accounts/index.ts';
import { buildBearerGate } from './bearer-gate.ts';
import type { WorkerLink } from './workers.ts';

export interface StartOptions {
  loaded: LoadedConfig;
  /** The config file or directory, watched for changes. */
  configPath?: string;
  logger: Logger;
  clock?: Clock;
  /** Human-readable lines for the operator (the banner, the bootstrap password). */
  announce: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /**
   * The public keys access tokens for `resources[]` are verified with (tests inject their own).
   * Default: the issuer's (see `accessTokenKeys` below).
   */
  accessTokenKeys?: () => JSONWebKeySet;
  /** `serve --workers`: this process is one worker of several (workers.ts). */
  worker?: WorkerLink;
}

export interface Running {
  url: string;
  port: number;
  /** The port of the metrics listener, when metrics.listen is set. */
  metricsPort?: number;
  server: Server;
  store: Store;
  metrics: Metrics;
  reload(trigger: 'sighup' | 'file' | 'manual'): Promise<boolean>;
  settings(): GateSettings;
  close(): Promise<void>;
}

export function databaseUrl(config: Config): string {
  return config.database.url ?? `sqlite:${resolve(join(config.dataDir, 'gatehouse.db'))}`;
}

export async function startGatehouse(opts: StartOptions): Promise<Running> {
  const { logger, announce } = opts;
  const clock = opts.clock ?? systemClock;
  let config = opts.loaded.config;
  const metrics = new Metrics({ version: VERSION });
  const worker = opts.worker;

  // 1. Listen first; /healthz is live from here on.
  let ready = false;
  let store: Store | undefined;
  const health = healthHandlers({
    ready: async () => {
      const checks: Record<string, string> = { config: 'ok', store: 'ok', migrations: ready ? 'ok' : 'pending' };
      if (!store) checks.store = 'not open';
      else {
        try {
          await store.ping();
        } catch (err) {
          checks.store = (err as GatehouseError).detail ?? 'unreachable';
        }
      }
      return { ok: Object.values(checks).every((c) => c === 'ok'), checks };
    },
    ...(worker ? { about: { worker: worker.slot, pid: process.pid } } : {}),
  });

  let settings: GateSettings | undefined;
  const current = (): GateSettings => {
    if (!settings) throw new GatehouseError('store_unavailable', 'gatehouse is still starting');
    return settings;
  };
  let hosts: HostOwnership | undefined;
  const renderMetrics = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const m = await metrics.render();
    // Under serve --workers: every worker's, each sample labelled with its worker.
    const body = worker ? await worker.gatherMetrics(m.body) : m.body;
    answer(res, 200, { 'content-type': m.contentType, 'cache-control': NO_STORE }, body);
  };
  worker?.serveMetrics(async () => (await metrics.render()).body);
  const ops = opsRoutes({
    healthz: (req, res) => health.healthz(req, res),
    readyz: (req, res) => health.readyz(req, res),
    metrics: renderMetrics,
    // Off the public door (see ops-door.ts); with metrics.listen, only on that listener.
    metricsHidden: (req) => Boolean(config.metrics.listen) || cameThroughPublicDoor(req, config),
  });
  // Until the features exist: the health routes, and 503 for every other path.
  const router = createRouter({
    site: startingSite(mountRoutes(ops, '')),
    metrics,
    logger,
    hsts: () => settings?.publicUrl.protocol === 'https:',
    isTrustedPeer: (ip) => settings?.trusted.isTrusted(ip) ?? false,
  });
  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      headersTimeout: 20_000,
      requestTimeout: 60_000,
      // A request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3): its
      // stream is ended at once, without the Readable's events and ticks (the forward-auth check
      // is such a GET: 12% more checks a second, measured). Whatever reads a body checks
      // readableEnded first (web/respond.ts readBody, the issuer's registration screen).
      optimizeEmptyRequests: true,
      // Only an app's WebSocket (reverse-proxy mode) is taken over as an upgrade; every other
      // request with an Upgrade header is routed like any request and gets an ordinary answer.
      shouldUpgradeCallback: (req) => router.wantsUpgrade(req),
    },
    router.handle,
  );
  server.on('upgrade', router.upgrade);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => onClientError(err, socket, logger));
  server.on('connect', (req: IncomingMessage, socket: Duplex) => refuseConnect(req, socket, logger));
  let port = 0;
  let listenUrl = '';
  let opsServer: Server | undefined;
  const listen = async (): Promise<void> => {
    await new Promise<void>((res, rej) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        rej(
          new GatehouseError(
            'internal',
            err.code === 'EADDRINUSE'
              ? `cannot listen on ${config.listen.host}:${config.listen.port}: the address is in use (set listen.port)`
              : `cannot listen: ${err.message}`,
          ),
        ),
      );
      server.listen(config.listen.port, config.listen.host, () => res());
    });
    port = (server.address() as AddressInfo).port;
    listenUrl = `http://${config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host}:${port}`;
    logger.info({ url: listenUrl, version: VERSION }, 'listening');
    // metrics.listen: a second listener for the scraper and the probes only (read at start-up).
    if (config.metrics.listen) {
      opsServer = await listenOps(
        config.metrics.listen,
        { metrics: renderMetrics, healthz: health.healthz, readyz: health.readyz },
        logger,
      );
    }
  };
  const listenFirst = worker?.listenFirst ?? true;

  // The metrics' event-loop monitor and collection observer stop last.
  const closers: (() => Promise<void> | void)[] = [() => metrics.close()];
  try {
    if (listenFirst) await listen();
    // 2. Secrets, store, migrations.
    const { secrets, generated } = await resolveSecrets(config.secrets.session, config.dataDir, (file, from) =>
      logger.warn({ file, from, to: '0600' }, 'the generated root secret was readable by other users: its mode is now 0600'),
    );
    if (generated) logger.info({ file: join(config.dataDir, 'secret') }, 'using the generated root secret in the data directory');
    store = await openStore({
      url: databaseUrl(config),
      logger,
      clock,
      lockTimeoutMs: config.database.migrationLockTimeout,
      ...(worker ? { relay: worker.relay } : {}),
    });
    const openedStore = store;
    closers.push(() => openedStore.close());
    const { applied } = await store.migrate().catch((err: unknown) => {
      // Name the release too, so an operator knows which image is too old.
      if (err instanceof GatehouseError && err.kind === 'schema_too_new') {
        throw new GatehouseError('schema_too_new', `${err.detail} (this is gatehouse ${VERSION})`, { cause: err });
      }
      throw err;
    });
    if (applied.length) logger.info({ applied }, 'migrations applied');

    // 3. Features.
    let demoUrl: string | undefined;
    if (config.demo) {
      const demo = await startDemoApp();
      demoUrl = demo.url;
      closers.push(() => demo.close());
    }
    const withDemo = (c: Config): Config =>
      demoUrl && c.demo
        ? {
            ...c,
            apps: c.apps.map((a) => (a.name === 'demo' && a.upstream?.startsWith('http://127.0.0.1:0') ? { ...a, upstream: demoUrl } : a)),
          }
        : c;
    settings = buildSettings(withDemo(config), secrets);
    // Accounts (with upstream linking), the throttle, sessions: the same wiring as the CLI's.
    const services = buildServices({ store, clock, logger, config: () => config, keyring: () => current().keyring });
    // Second factors: throttled like passwords, on counters of their own; factors.* read per request.
    const factorThrottle = new SignInThrottle(throttleLimits(config), clock, config.limits.throttleEntries);
    let factorSettingsFor: { config: Config; settings: GateSettings; value: FactorSettings } | undefined;
    const factors = new Factors({
      store,
      clock,
      logger,
      throttle: factorThrottle,
      keyring: () => current().keyring,
      settings: () => {
        const s = current();
        if (factorSettingsFor?.config !== config || factorSettingsFor.settings !== s)
          factorSettingsFor = { config, settings: s, value: factorSettingsOf(config, s) };
        return factorSettingsFor.value;
      },
    });
    const { accounts, federation, sessions } = services;
    await sessions.start();
    closers.push(() => sessions.stop());
    hosts = hostOwnership(config, settings);

    // The issuer (OpenID Connect provider) before the gate and the portal: the gate verifies its
    // access tokens, the portal asks it where an interaction's form ends, and it hears of every
    // gate sign-out (the Topic the portal announces them on).
    const signOuts = new Topic<string>();
    const issuer = createIssuer({ settings: current, config: () => config, store, sessions, accounts, signOuts, clock, logger });
    await issuer.start();
    closers.push(() => issuer.close());

    // Bearer tokens at the gate (resources[], apps with an audience): the issuer's keys and agents.
    const bearer = buildBearerGate({
      config: () => config,
      settings: current,
      store: openedStore,
      clock,
      accounts,
      issuer,
      ...(opts.accessTokenKeys ? { keys: opts.accessTokenKeys } : {}),
    });
    const redeem = createTicketRedeemer({ tickets: store.tickets, clock, logger });
    const forwardAuth = createForwardAuth({ settings: current, sessions, metrics, logger, redeem, bearer });
    // Invitations, sign-up, password reset, mail and the account page.
    const people = buildPeople({ config: () => config, settings: current, store, accounts, clock, logger });
    closers.push(() => people.close());
    const portal = createPortal({
      settings: current,
      accounts,
      sessions,
      tickets: store.tickets,
      audit: store.audit,
      redeem,
      metrics,
      clock,
      logger,
      federation,
      providers: () =>
        federation.list().map((p) => ({ id: p.id, label: p.label, href: portalPath(current(), '/oauth2/start', { provider: p.id }) })),
      signInOptions: () => config.signIn,
      signOuts,
      formTargets: (rd) => issuer.formTargetsFor(rd),
      people: people.deps,
      // Always there: every factor route checks factors.* at the time of the request (reloads).
      factors,
    });
    const proxyMode = createProxyMode({ settings: current, sessions, metrics, logger, bearer });
    closers.push(() => proxyMode.close());
    const proxiedHost = (req: IncomingMessage): boolean => isProxiedHost(current(), hosts as HostOwnership, req);
    // RFC 9728 metadata on resource hosts; on any other host the path is the app's (or 404).
    const resourceMetadata = createResourceMetadata({
      settings: current,
      resources: bearer.resources,
      app: { owns: proxiedHost, handle: (req, res) => proxyMode.web(req, res) },
    });

    // The route table (routes.ts), mounted under publicUrl's path, fixed for the life of the
    // process (a reload that changes the path is refused below).
    const mountedBase = portalBase(settings);
    router.serve(
      runningSite({
        routes: mountRoutes(
          [...ops, ...featureRoutes({ forwardAuth, resourceMetadata, portal, issuer: issuer.handle, metadataPath: METADATA_PATH })],
          mountedBase,
        ),
        settings: current,
        hosts: () => hosts as HostOwnership,
        home: portal.home,
        proxy: proxyMode,
        logger,
      }),
    );

    // The bootstrap admin: only on an empty store, its one-time password printed once.
    // Replicas starting together on a fresh database all see the store empty; the username is
    // unique in the store, so exactly one insert wins and the others are told "conflict": for
    // them the admin exists, which is all this step is for (issue 17).
    if ((await accounts.count()) === 0) {
      const password = randomId(15);
      try {
        await accounts.create({ username: 'admin', email: null, name: 'Administrator', groups: ['admins'], password });
        announce(`created the bootstrap admin: username "admin", one-time password ${password}`);
        announce('  (change it with `gatehouse user passwd admin`; it is not shown again)');
      } catch (err) {
        if (!(isGatehouseError(err) && err.kind === 'conflict')) throw err;
        logger.info({}, 'another replica created the bootstrap admin');
      }
    }

    if (!listenFirst) await listen();
    ready = true;
    worker?.ready();
    // Only URLs a person can open: the bind address is no URL to visit (no app is configured
    // for a bare IP host, so it answers "no app here"); proxies are pointed at it by address.
    announce(`gatehouse ${VERSION} is ready, listening on ${listenUrl.slice('http://'.length)}`);
    announce(
      `  sign in at ${portalUrl(settings, '/oauth2/sign_in')}${config.demo ? `, or open ${settings.publicUrl.origin}/ to see the demo app` : ''}`,
    );

    // 4. Reloads.
    const applyConfig = async (next: LoadedConfig): Promise<void> => {
      const c = next.config;
      const { secrets: nextSecrets } = await resolveSecrets(c.secrets.session, c.dataDir);
      const nextSettings = buildSettings(withDemo(c), nextSecrets, settings);
      // The portal's and the issuer's routes were mounted under publicUrl's path at start-up.
      if (portalBase(nextSettings) !== mountedBase) {
        throw new GatehouseError(
          'config_invalid',
          `publicUrl's path changed from "${mountedBase || '/'}" to "${portalBase(nextSettings) || '/'}": restart gatehouse to apply it`,
        );
      }
      // Swap: every request from here on sees the new settings whole.
      settings = nextSettings;
      config = c;
      hosts = hostOwnership(c, nextSettings);
      services.configure(c);
      people.configure(c);
      factorThrottle.setLimits(throttleLimits(c));
      for (const l of next.lints) logger.warn({ path: l.path, code: l.code }, l.message);
    };
    let watcher: ConfigWatcher | undefined;
    if (opts.configPath) {
      watcher = new ConfigWatcher({
        path: opts.configPath,
        env: opts.env ?? process.env,
        logger,
        current: opts.loaded,
        onReload: applyConfig,
        onResult: (ok) => metrics.configReload(ok ? 'success' : 'failure'),
      });
      watcher.start();
      closers.push(() => watcher?.stop());
    }

    return {
      url: listenUrl,
      port,
      server,
      store,
      metrics,
      ...(opsServer ? { metricsPort: (opsServer.address() as AddressInfo).port } : {}),
      settings: current,
      reload: async (trigger) => (watcher ? watcher.reload(trigger) : false),
      close: async () => {
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeIdleConnections();
        });
        const ops = opsServer;
        if (ops)
          await new Promise<void>((r) => {
            ops.close(() => r());
            ops.closeIdleConnections();
          });
        for (const c of closers.reverse()) await c();
      },
    };
  } catch (err) {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    const ops = opsServer;
    if (ops) {
      ops.closeAllConnections();
      await new Promise<void>((r) => ops.close(() => r()));
    }
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch {
        /* already failing */
      }
    }
    throw err;
  }
}

/**
 * A request the HTTP parser refused before it reached the router (a malformed request line or
 * header, headers too large, too slow). Node's own default answers too, but says nothing in the
 * log; this answers with the status that fits and logs one line with a request id.
 */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex, logger: Logger): void {
  // The client went away, or a response is already under way on this connection (a second
  // status line would corrupt it): nothing to answer.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT' ? 408 : 400;
  const requestId = newRequestId();
  logger.info({ requestId, status, code: err.code }, 'request refused by the HTTP parser');
  answerSocket(socket, status, STATUS_CODES[status] ?? 'Bad Request', requestId);
}

/**
 * CONNECT (RFC 9110 §9.3.6) asks for a tunnel, which only a forward proxy makes. Without a
 * 'connect' listener Node closes the socket without a word; every request gets an answer, so
 * this one gets 405 with the methods an origin server answers.
 */
function refuseConnect(req: IncomingMessage, socket: Duplex, logger: Logger): void {
  socket.on('error', (err: NodeJS.ErrnoException) => {
    logger.debug({ code: err.code }, 'connect: connection error');
  });
  const requestId = newRequestId();
  logger.info({ requestId, status: 405, method: req.method }, 'CONNECT refused: not a forward proxy');
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 405 Method Not Allowed\r\nallow: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\ncontent-length: 0\r\ncache-control: no-store\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n`,
  );
}

type OpsHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** The metrics listener: /metrics, /healthz and /readyz, nothing else; GET and HEAD only. */
async function listenOps(
  at: { host: string; port: number },
  handlers: { metrics: OpsHandler; healthz: OpsHandler; readyz: OpsHandler },
  logger: Logger,
): Promise<Server> {
  const table: Record<string, OpsHandler> = { '/metrics': handlers.metrics, '/healthz': handlers.healthz, '/readyz': handlers.readyz };
  const ops = createServer({ keepAliveTimeout: 65_000, headersTimeout: 20_000, requestTimeout: 60_000 }, (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const handler = table[q === -1 ? url : url.slice(0, q)];
    const fail = (err: unknown) => {
      logger.error({ err }, 'metrics listener: the handler failed');
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      } else res.destroy();
    };
    if (handler === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(handler === undefined ? 404 : 405, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
      res.end(handler === undefined ? 'not found\n' : 'method not allowed\n');
      return;
    }
    try {
      Promise.resolve(handler(req, res)).catch(fail);
    } catch (err) {
      fail(err);
    }
  });
  ops.on('connect', (req: IncomingMessage, socket: Duplex) => refuseConnect(req, socket, logger));
  ops.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((res, rej) => {
    ops.once('error', (err: NodeJS.ErrnoException) =>
      rej(
        new GatehouseError(
          'internal',
          err.code === 'EADDRINUSE'
            ? `cannot listen on ${at.host}:${at.port}: the address is in use (set metrics.listen.port)`
            : `cannot listen for metrics: ${err.message}`,
        ),
      ),
    );
    ops.listen(at.port, at.host, () => res());
  });
  const port = (ops.address() as AddressInfo).port;
  logger.info({ url: `http://${at.host.includes(':') ? `[${at.host}]` : at.host}:${port}` }, 'metrics listening');
  return ops;
}

/** factors.* as the factor domain reads it: the relying party is publicUrl's host and origin. */
function factorSettingsOf(c: Config, s: GateSettings): FactorSettings {
  return {
    totp: c.factors.totp,
    passkeys: c.factors.passkeys,
    requireEveryone: c.factors.require.everyone,
    requireGroups: c.factors.require.groups,
    totpIssuer: c.factors.name,
    rp: { id: s.publicUrl.hostname, name: c.factors.name, origin: s.publicUrl.origin },
  };
}
