// Who owns a request's host: data computed from the config whenever it changes (start-up,
// reload), read by the router for every path not in the route table.
//   - the portal host: the portal's home at publicUrl; `/` redirects there when publicUrl has a
//     path; anything else is 404, unless an app in reverse-proxy mode shares the portal's host
//   - a host served in reverse-proxy mode (apps[].upstream, resources[].upstream): all its paths
//     but /oauth2/*, the health routes included
//   - any other host: reverse-proxy mode answers (404 "no upstream" when none is configured)
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { isGatehouseError, toWire, type Logger } from '../core/index.ts';
import type { Config } from '../config/index.ts';
import { readOriginal, type RouteLabel } from '../http/index.ts';
import { hostMatches } from '../policy/index.ts';
import { answer, answerSocket, isPortalHost, notFound, portalBase, portalPath, redirectTo, type GateSettings } from '../web/index.ts';
import type { Route, Site } from './router.ts';

export interface HostOwnership {
  /** An app in reverse-proxy mode shares the portal's host. */
  portalProxied: boolean;
  /** Host patterns served in reverse-proxy mode. */
  proxiedHosts: readonly string[];
}

export function hostOwnership(config: Config, s: GateSettings): HostOwnership {
  const proxiedHosts = [
    ...config.apps.filter((a) => a.upstream).flatMap((a) => a.hosts),
    ...config.resources.filter((r) => r.upstream).map((r) => new URL(r.resource).hostname),
  ];
  return {
    portalProxied: config.apps.some((a) => a.upstream && a.hosts.some((h) => hostMatches(h, s.portalHost))),
    proxiedHosts,
  };
}

/** Whether a request is for a host served in reverse-proxy mode (other than the portal's). */
export function isProxiedHost(s: GateSettings, hosts: HostOwnership, req: IncomingMessage): boolean {
  let host: string;
  try {
    host = readOriginal(req, s.trusted).host;
  } catch {
    return false;
  }
  return !isPortalHost(s, host) && hosts.proxiedHosts.some((h) => hostMatches(h, host));
}

type Fallback = ReturnType<Site['fallback']>;

/** While the process starts: the health routes, and 503 for everything else. */
export function startingSite(routes: ReadonlyMap<string, Route>): Site {
  const starting: Fallback = { label: 'other', run: (res) => answer(res, 503, STARTING, 'starting\n') };
  return { routes, fallback: () => starting, isProxiedApp: () => false };
}
const STARTING = Object.freeze({ 'content-type': 'text/plain', 'retry-after': '1' });

/** The running site: the route table, and the owners of every other path. */
export function runningSite(deps: {
  routes: ReadonlyMap<string, Route>;
  settings: () => GateSettings;
  hosts: () => HostOwnership;
  home: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  proxy: {
    web: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;
    upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;
  };
  logger: Logger;
}): Site {
  const { proxy, logger } = deps;
  const notFoundFallback: Fallback = { label: 'not_found', run: notFound };
  return {
    routes: deps.routes,
    isProxiedApp: (req) => isProxiedHost(deps.settings(), deps.hosts(), req),
    // readOriginal throws invalid_request for a host that does not parse: the router answers 400.
    fallback(req, path): { label: RouteLabel; run: (res: ServerResponse) => void | Promise<void> } {
      const s = deps.settings();
      const hosts = deps.hosts();
      const base = portalBase(s);
      const onPortal = isPortalHost(s, readOriginal(req, s.trusted).host);
      // The portal home is publicUrl, with or without its final slash; under a path it is the
      // portal's even on a host shared with an app in reverse-proxy mode.
      if (onPortal && (path === `${base}/` || (base !== '' && path === base)) && (!hosts.portalProxied || base !== '')) {
        return { label: 'portal', run: (res) => deps.home(req, res) };
      }
      if (!hosts.portalProxied && onPortal) {
        if (path === '/') return { label: 'portal', run: (res) => redirectTo(res, 302, portalPath(s, '/')) };
        return notFoundFallback;
      }
      return { label: 'proxy', run: (res) => proxy.web(req, res) };
    },
    upgrade(req, socket, head) {
      proxy.upgrade(req, socket, head).catch((err: unknown) => {
        const wire = toWire(err);
        (wire.status >= 500 ? logger.error : logger.info).call(
          logger,
          { err: isGatehouseError(err) ? err.detail : err, status: wire.status, path: req.url?.split('?')[0] },
          'upgrade refused',
        );
        answerSocket(socket, wire.status, STATUS_CODES[wire.status] ?? 'Error');
      });
    },
  };
}
