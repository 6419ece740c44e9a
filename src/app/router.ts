// One table from (path, method) to handler, and the per-request plumbing around it: request
// id, security headers on our own pages, metrics by route and outcome, errors to responses.
// The forward-auth route is kept lean: no security headers (its answer is consumed by a
// proxy) and no URL parsing beyond splitting off the query.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../core/index.ts';
import { applySecurityHeaders, outcomeOf, requestId, sendError, sendStatus, type Metrics, type RouteLabel } from '../http/index.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => void | Promise<void>;

export interface Route {
  label: RouteLabel;
  methods: readonly string[] | null;
  handler: Handler;
  lean?: boolean;
  /** Health and metrics: on an app host in reverse-proxy mode the app's own path of that name wins. */
  internal?: boolean;
}

export interface RouterDeps {
  routes: Map<string, Route>;
  /** For paths not in the table (reverse-proxy mode, the portal home). */
  fallback: (req: IncomingMessage, res: ServerResponse, path: string) => { label: RouteLabel; run: () => void | Promise<void> };
  metrics: Metrics;
  logger: Logger;
  hsts: () => boolean;
  isTrustedPeer: (ip: string) => boolean;
  /** Whether a request is for an app Gatehouse proxies (its paths belong to the app). */
  isProxiedApp: (req: IncomingMessage) => boolean;
}

const EMPTY = new URLSearchParams();

export function createRouter(deps: RouterDeps) {
  const { metrics, logger } = deps;
  // Keys ending in "/*" are prefixes (the issuer's /oidc/*), tried after the exact lookup missed;
  // the list is rebuilt only when the table changes size.
  let prefixes: [string, Route][] = [];
  let seenSize = -1;
  const prefixRoute = (path: string): Route | undefined => {
    if (deps.routes.size !== seenSize) {
      seenSize = deps.routes.size;
      prefixes = [...deps.routes].filter(([k]) => k.endsWith('/*')).map(([k, r]) => [k.slice(0, -1), r]);
    }
    for (const [p, r] of prefixes) if (path.startsWith(p)) return r;
    return undefined;
  };
  return function handle(req: IncomingMessage, res: ServerResponse): void {
    const start = process.hrtime.bigint();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    let route = deps.routes.get(path) ?? prefixRoute(path);
    if (route?.internal && deps.isProxiedApp(req)) route = undefined;
    let label: RouteLabel;
    let run: () => void | Promise<void>;
    if (route) {
      label = route.label;
      if (route.methods && !route.methods.includes(req.method ?? 'GET')) {
        res.setHeader('allow', route.methods.join(', '));
        run = () => sendStatus(req, res, 405, 'invalid_request', 'method not allowed');
      } else {
        const query = q === -1 ? EMPTY : new URLSearchParams(url.slice(q + 1));
        run = () => route.handler(req, res, query);
      }
    } else {
      ({ label, run } = deps.fallback(req, res, path));
    }
    const lean = route?.lean === true;
    const id = lean ? '' : requestId(req, deps.isTrustedPeer(req.socket.remoteAddress ?? ''));
    if (!lean) {
      res.setHeader('x-request-id', id);
      // Our CSP and framing rules are for our pages; an app behind reverse-proxy mode sends its own.
      if (label !== 'proxy') applySecurityHeaders(res, { hsts: deps.hsts() });
    }
    const fail = (err: unknown) => sendError(res, req, err, logger, id);
    const observe = () => metrics.observe(label, req.method ?? 'GET', outcomeOf(res.statusCode), start);
    // Lean handlers (forward auth, health) have answered when they return or settle, so they are
    // measured then, without a 'finish' listener per request; the others when the response ends.
    if (!lean) res.once('finish', observe);
    try {
      const r = run();
      if (r instanceof Promise) r.then(lean ? observe : undefined, (err: unknown) => { fail(err); if (lean) observe(); });
      else if (lean) observe();
    } catch (err) { fail(err); if (lean) observe(); }
  };
}
