// THE route table: every path the public listener answers, in one readable list, and where each
// is mounted. A publicUrl with a path (https://example.org/auth) moves the portal's and the
// issuer's paths under it (`portal`); the gate's proxy-facing paths stay at the root of every host
// (`root`: /oauth2/auth is called by the proxy itself, and /oauth2/* on an app host is that
// host's, nginx's `location /oauth2/`); the sign-in paths answer at both (`root+portal`: at the
// root they send the browser on to the portal); RFC 8414 §3 puts an issuer's path after the
// well-known name (`well-known`). Paths ending in "/*" are prefixes.
//
// A new route is one line here. A new page goes in its feature's folder and answers through the
// web shell (web/index.ts says how).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteLabel } from '../http/index.ts';
import { answer, ASSETS, notFound, serveAsset } from '../web/index.ts';
import type { Handler, Route } from './router.ts';

export type Mount = 'root' | 'portal' | 'root+portal' | 'well-known';

export interface RouteSpec extends Route {
  path: string;
  mount: Mount;
}

const GET: readonly string[] = ['GET', 'HEAD'];
const ANY = null;
const FORM: readonly string[] = ['GET', 'HEAD', 'POST'];

/** Health, readiness and metrics: answered from the first moment the process listens. */
export function opsRoutes(ops: {
  healthz: Handler;
  readyz: Handler;
  metrics: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Whether /metrics is off this listener (metrics.listen, or a request through the public door). */
  metricsHidden: (req: IncomingMessage) => boolean;
}): RouteSpec[] {
  // internal: on an app host in reverse-proxy mode the app's own path of that name wins.
  const op = (path: string, label: RouteLabel, handler: Handler): RouteSpec => ({
    path,
    mount: 'root',
    label,
    methods: GET,
    handler,
    lean: true,
    internal: true,
  });
  return [
    op('/healthz', 'healthz', ops.healthz),
    op('/readyz', 'readyz', ops.readyz),
    op('/ping', 'healthz', (_req, res) => answer(res, 200, PING, 'OK')),
    op('/ready', 'readyz', ops.readyz),
    op('/metrics', 'metrics', async (req, res) => {
      if (ops.metricsHidden(req)) notFound(res);
      else await ops.metrics(req, res);
    }),
  ];
}
const PING = Object.freeze({ 'content-type': 'text/plain' });

export interface Features {
  forwardAuth: Handler;
  resourceMetadata: Handler;
  portal: {
    start: Handler;
    signIn: Handler;
    signOut: Handler;
    userinfo: Handler;
    ticket: Handler;
    callback: Handler;
    invite: Handler;
    reset: Handler;
    signUp: Handler;
    account: Handler;
    /** Second factors (null when the portal has none). */
    factors: null | {
      factorScreen: Handler;
      factorTotp: Handler;
      factorRecovery: Handler;
      factorPasskey: Handler;
      passwordless: Handler;
      stepUp: Handler;
    };
    security: null | {
      page: Handler;
      totpSetup: Handler;
      totpConfirm: Handler;
      totpRemove: Handler;
      passkeyAdd: Handler;
      passkeyRename: Handler;
      passkeyRemove: Handler;
      recovery: Handler;
    };
  };
  issuer: Handler;
  /** RFC 9728 metadata's path (/.well-known/oauth-protected-resource). */
  metadataPath: string;
}

/** The gate, the portal, the issuer and the static assets. */
export function featureRoutes(f: Features): RouteSpec[] {
  const { portal } = f;
  return [
    // The gate (called by proxies; lean: no security headers, no URL parsing beyond the query).
    { path: '/oauth2/auth', mount: 'root', label: 'forward_auth', methods: ANY, handler: f.forwardAuth, lean: true },
    { path: f.metadataPath, mount: 'root', label: 'static', methods: ANY, handler: f.resourceMetadata },
    { path: `${f.metadataPath}/*`, mount: 'root', label: 'static', methods: ANY, handler: f.resourceMetadata },
    { path: '/oauth2/ticket', mount: 'root', label: 'sign_in', methods: GET, handler: portal.ticket },
    // The portal.
    { path: '/oauth2/start', mount: 'root+portal', label: 'start', methods: GET, handler: portal.start },
    {
      path: '/oauth2/sign_in',
      mount: 'root+portal',
      label: 'sign_in',
      methods: ['GET', 'HEAD', 'POST'],
      handler: (req, res, q) => (req.method === 'POST' ? portal.signIn(req, res, q) : portal.start(req, res, q)),
    },
    { path: '/oauth2/sign_out', mount: 'root+portal', label: 'sign_out', methods: ['GET', 'HEAD', 'POST'], handler: portal.signOut },
    { path: '/oauth2/userinfo', mount: 'root+portal', label: 'userinfo', methods: GET, handler: portal.userinfo },
    { path: '/oauth2/callback', mount: 'root+portal', label: 'callback', methods: GET, handler: portal.callback },
    // People's own pages, on the portal host only.
    { path: '/oauth2/invite', mount: 'portal', label: 'portal', methods: FORM, handler: portal.invite },
    { path: '/oauth2/reset', mount: 'portal', label: 'portal', methods: FORM, handler: portal.reset },
    { path: '/oauth2/sign_up', mount: 'portal', label: 'portal', methods: FORM, handler: portal.signUp },
    { path: '/oauth2/account', mount: 'portal', label: 'portal', methods: FORM, handler: portal.account },
    ...ASSETS.map((a): RouteSpec => ({
      path: a.path,
      mount: 'root+portal',
      label: 'static',
      methods: GET,
      handler: serveAsset(a),
      lean: true,
    })),
    // Second factors: the factor step of a sign-in, passwordless passkeys, step-up, and the
    // security page (portal/factors/). Answered only under the portal's path.
    ...factorRoutes(f.portal.factors, f.portal.security),
    // The issuer (OpenID Connect provider and OAuth 2.1 authorization server).
    { path: '/oidc/*', mount: 'portal', label: 'issuer', methods: ANY, handler: f.issuer, internal: true },
    { path: '/.well-known/openid-configuration', mount: 'portal', label: 'issuer', methods: ANY, handler: f.issuer, internal: true },
    {
      path: '/.well-known/oauth-authorization-server',
      mount: 'well-known',
      label: 'issuer',
      methods: ANY,
      handler: f.issuer,
      internal: true,
    },
    // What MCP clients also try for an issuer with a path (the same document).
    { path: '/.well-known/openid-configuration', mount: 'well-known', label: 'issuer', methods: ANY, handler: f.issuer, internal: true },
  ];
}

const POST: readonly string[] = ['POST'];

function factorRoutes(f: Features['portal']['factors'], sec: Features['portal']['security']): RouteSpec[] {
  const routes: RouteSpec[] = [];
  if (f) {
    routes.push(
      { path: '/oauth2/factor', mount: 'portal', label: 'sign_in', methods: GET, handler: f.factorScreen },
      { path: '/oauth2/factor/totp', mount: 'portal', label: 'sign_in', methods: POST, handler: f.factorTotp },
      { path: '/oauth2/factor/recovery', mount: 'portal', label: 'sign_in', methods: POST, handler: f.factorRecovery },
      { path: '/oauth2/factor/passkey', mount: 'portal', label: 'sign_in', methods: POST, handler: f.factorPasskey },
      { path: '/oauth2/passkey', mount: 'portal', label: 'sign_in', methods: POST, handler: f.passwordless },
      { path: '/oauth2/step_up', mount: 'portal', label: 'sign_in', methods: GET, handler: f.stepUp },
    );
  }
  if (sec) {
    routes.push(
      { path: '/oauth2/account/security', mount: 'portal', label: 'portal', methods: GET, handler: sec.page },
      {
        path: '/oauth2/account/security/totp',
        mount: 'portal',
        label: 'portal',
        methods: ['GET', 'HEAD', 'POST'],
        handler: (req, res, q) => (req.method === 'POST' ? sec.totpConfirm(req, res, q) : sec.totpSetup(req, res, q)),
      },
      { path: '/oauth2/account/security/totp/remove', mount: 'portal', label: 'portal', methods: POST, handler: sec.totpRemove },
      { path: '/oauth2/account/security/passkey', mount: 'portal', label: 'portal', methods: POST, handler: sec.passkeyAdd },
      { path: '/oauth2/account/security/passkey/rename', mount: 'portal', label: 'portal', methods: POST, handler: sec.passkeyRename },
      { path: '/oauth2/account/security/passkey/remove', mount: 'portal', label: 'portal', methods: POST, handler: sec.passkeyRemove },
      { path: '/oauth2/account/security/recovery', mount: 'portal', label: 'portal', methods: POST, handler: sec.recovery },
    );
  }
  return routes;
}

/**
 * The table as the router reads it: each spec at its mounted path(s) under `base` (publicUrl's
 * path without its final slash; '' at the root). A path mounted under the base is `internal` (on
 * another host served in reverse-proxy mode, the path is that app's). The first spec of a path wins.
 */
export function mountRoutes(specs: readonly RouteSpec[], base: string): Map<string, Route> {
  const routes = new Map<string, Route>();
  const add = (path: string, r: Route): void => {
    if (!routes.has(path)) routes.set(path, r);
  };
  for (const { path, mount, ...r } of specs) {
    if (mount === 'root') add(path, r);
    else if (mount === 'portal') add(`${base}${path}`, r);
    else if (mount === 'well-known') add(`${path}${base}`, r);
    else {
      add(path, r);
      if (base !== '') add(`${base}${path}`, { ...r, internal: true });
    }
  }
  return routes;
}
