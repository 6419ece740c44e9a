// One table from (path, method) to handler, and the per-request plumbing around it: request
// id, security headers on our own pages, metrics by route and outcome, errors to responses.
// The router serves one Site at a time: while the process starts, the health routes only (every
// other path answers 503); once the features exist, the whole route table (routes.ts). `serve`
// swaps the one reference, like a config reload swaps the settings.
// The forward-auth route is kept lean: no security headers (its answer is consumed by a
// proxy) and no URL parsing beyond splitting off the query.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/index.ts';
import { outcomeOf, requestId, type Metrics, type RouteLabel } from '../http/index.ts';
import { answer, answerSocket, applySecurityHeaders, NO_STORE, sendError, sendStatus } from '../web/index.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => void | Promise<void>;

export interface Route {
  label: RouteLabel;
  methods: readonly string[] | null;
  handler: Handler;
  lean?: boolean;
  /** Health and metrics: on an app host in reverse-proxy mode the app's own path of that name wins. */
  internal?: boolean;
}

/** What the router serves: the route table, and who owns the paths that are not in it. */
export interface Site {
  routes: ReadonlyMap<string, Route>;
  /** For paths not in the table (reverse-proxy mode, the portal home). */
  fallback: (req: IncomingMessage, path: string) => { label: RouteLabel; run: (res: ServerResponse) => void | Promise<void> };
  /** Whether a request is for an app Gatehouse proxies (its paths belong to the app, `internal` routes included). */
  isProxiedApp: (req: IncomingMessage) => boolean;
  /** An app's WebSocket (reverse-proxy mode); without it, upgrades are refused with 503. */
  upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

export interface RouterDeps {
  /** The site served first (until `serve`). */
  site: Site;
  metrics: Metrics;
  logger: Logger;
  hsts: () => boolean;
  isTrustedPeer: (ip: string) => boolean;
}

const EMPTY = new URLSearchParams();

export interface Router {
  /** The request listener: never throws, every request gets an answer. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /**
   * Whether a request carrying `Upgrade` goes to reverse-proxy mode (an app's WebSocket). Any
   * other upgrade request — to the portal, to /oauth2/*, with a host that does not parse — is
   * answered as a plain HTTP request (RFC 9110 §7.8: a server may ignore Upgrade), so it gets a
   * normal status instead of a dropped socket.
   */
  wantsUpgrade(req: IncomingMessage): boolean;
  /** The 'upgrade' event: handed to the site's app, or 503 when it has none. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Serve this site from the next request on. */
  serve(site: Site): void;
}

interface Selected {
  label: RouteLabel;
  run: () => void | Promise<void>;
  lean: boolean;
}

export function createRouter(deps: RouterDeps): Router {
  const { metrics, logger } = deps;
  // Keys ending in "/*" are prefixes (the issuer's /oidc/*), tried after the exact lookup missed.
  let site = deps.site;
  let prefixes: [string, Route][] = [];
  const serve = (next: Site): void => {
    prefixes = [...next.routes].filter(([k]) => k.endsWith('/*')).map(([k, r]) => [k.slice(0, -1), r]);
    site = next;
  };
  serve(site);
  const prefixRoute = (path: string): Route | undefined => {
    for (const [p, r] of prefixes) if (path.startsWith(p)) return r;
    return undefined;
  };

  /** Route lookup; may throw (the fallback reads the host, and a malformed one is a 400). */
  function select(req: IncomingMessage, res: ServerResponse | null): Selected {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    let route = site.routes.get(path) ?? prefixRoute(path);
    if (route?.internal && site.isProxiedApp(req)) route = undefined;
    if (!route) {
      const f = site.fallback(req, path);
      return { label: f.label, run: res === null ? noop : () => f.run(res), lean: false };
    }
    const lean = route.lean === true;
    if (res === null) return { label: route.label, run: noop, lean };
    if (route.methods && !route.methods.includes(req.method ?? 'GET')) {
      const methods = route.methods;
      return {
        label: route.label,
        lean,
        run: () => {
          res.setHeader('allow', methods.join(', '));
          sendStatus(req, res, 405, 'invalid_request', 'method not allowed');
        },
      };
    }
    const query = q === -1 ? EMPTY : new URLSearchParams(url.slice(q + 1));
    const handler = route.handler;
    return { label: route.label, lean, run: () => handler(req, res, query) };
  }

  /** A lean route's answer is measured when its handler returns or settles. */
  function observeLean(label: RouteLabel, req: IncomingMessage, res: ServerResponse, start: number): void {
    metrics.observe(label, req.method ?? 'GET', outcomeOf(res.statusCode), start);
  }
  function failLean(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    try {
      sendError(res, req, err, logger, undefined);
    } catch (e) {
      lastResort(res, logger, e);
    }
  }

  /**
   * The forward-auth check's way through (a lean route that is not `internal`, an allowed
   * method): what `select` and `dispatch` do for it, without a closure or an object per request
   * unless the handler answers later.
   */
  function runLean(route: Route, req: IncomingMessage, res: ServerResponse, query: URLSearchParams, start: number): void {
    let r: void | Promise<void>;
    try {
      r = route.handler(req, res, query);
    } catch (err) {
      failLean(req, res, err);
      observeLean(route.label, req, res, start);
      return;
    }
    if (r instanceof Promise) {
      r.then(
        () => observeLean(route.label, req, res, start),
        (err: unknown) => {
          failLean(req, res, err);
          observeLean(route.label, req, res, start);
        },
      );
    } else observeLean(route.label, req, res, start);
  }

  function dispatch(req: IncomingMessage, res: ServerResponse): void {
    const start = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const fast = site.routes.get(q === -1 ? url : url.slice(0, q));
    if (
      fast !== undefined &&
      fast.lean === true &&
      fast.internal !== true &&
      (fast.methods === null || fast.methods.includes(req.method ?? 'GET'))
    ) {
      runLean(fast, req, res, q === -1 ? EMPTY : new URLSearchParams(url.slice(q + 1)), start);
      return;
    }
    let sel: Selected;
    // A route lookup that throws (a Host that does not parse, say) is answered like any error
    // thrown by a handler: through `fail`, with the request id, never out of this function.
    try {
      sel = select(req, res);
    } catch (err) {
      sel = {
        label: 'other',
        lean: false,
        run: () => {
          throw err;
        },
      };
    }
    const { label, run, lean } = sel;
    const id = lean ? '' : requestId(req, deps.isTrustedPeer(req.socket.remoteAddress ?? ''));
    if (!lean) {
      res.setHeader('x-request-id', id);
      // Our CSP and framing rules are for our pages; an app behind reverse-proxy mode sends its own.
      if (label !== 'proxy') applySecurityHeaders(res, { hsts: deps.hsts() });
    }
    const fail = (err: unknown): void => {
      try {
        sendError(res, req, err, logger, lean ? undefined : id);
      } catch (e) {
        lastResort(res, logger, e);
      }
    };
    const observe = () => metrics.observe(label, req.method ?? 'GET', outcomeOf(res.statusCode), start);
    // Lean handlers (forward auth, health) have answered when they return or settle, so they are
    // measured then, without a 'finish' listener per request; the others when the response ends.
    if (!lean) res.once('finish', observe);
    try {
      const r = run();
      if (r instanceof Promise)
        r.then(lean ? observe : undefined, (err: unknown) => {
          fail(err);
          if (lean) observe();
        });
      else if (lean) observe();
    } catch (err) {
      fail(err);
      if (lean) observe();
    }
  }

  return {
    handle(req, res) {
      // The outer net: nothing a request does may escape as an uncaught exception (which would
      // end the process that guards every app). A bug here is a 500 for this request and a log line.
      try {
        dispatch(req, res);
      } catch (err) {
        lastResort(res, logger, err);
      }
    },
    wantsUpgrade(req) {
      if (site.upgrade === undefined) return false;
      try {
        return select(req, null).label === 'proxy';
      } catch {
        return false;
      }
    },
    upgrade(req, socket, head) {
      // Node hands the socket over without its error listener: a reset now would be an uncaught
      // 'error' event, which ends the process.
      socket.on('error', (err: NodeJS.ErrnoException) => {
        logger.debug({ code: err.code }, 'upgrade connection error');
      });
      if (site.upgrade) site.upgrade(req, socket, head);
      else answerSocket(socket, 503, 'Service Unavailable');
    },
    serve,
  };
}

function noop(): void {}

/** When even the error answer failed: log, then a bare 500 or, once headers are out, a cut connection. */
function lastResort(res: ServerResponse, logger: Logger, err: unknown): void {
  try {
    logger.error({ err, requestId: res.getHeader('x-request-id') }, 'request failed while answering an error');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    answer(res, 500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': NO_STORE, connection: 'close' }, 'internal error\n');
  } catch {
    res.destroy();
  }
}
