// The answers each proxy understands. nginx's auth_request can pass only 2xx, 401 and 403, so
// a 401 there carries the portal address in `Location` for an `error_page 401` snippet or the
// ingress-nginx `auth-signin` annotation to use. Traefik and Caddy hand a non-2xx answer to
// the client as it is, so a browser gets a real redirect (302, or 303 after a non-GET so the
// portal is fetched with GET — RFC 9110 §15.4.4) and an API client a 401.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { newRequestId, type OriginalRequest } from '../http/index.ts';
import type { Identity } from '../core/index.ts';
import { portalUrl, type GateSettings, type HeaderNames, answer, NO_STORE } from '../web/index.ts';
import { deniedPage, type DenyWhy } from '../web/index.ts';

/** A browser navigation, as opposed to XHR/fetch or an API client. */
export function isBrowserRequest(req: IncomingMessage): boolean {
  const h = req.headers;
  if (h['x-requested-with'] !== undefined || h.authorization !== undefined) return false;
  const accept = h.accept;
  if (typeof accept !== 'string' || !accept.includes('text/html')) return false;
  const mode = h['sec-fetch-mode'];
  return mode === undefined || mode === 'navigate';
}

export function originalUrl(orig: OriginalRequest): string {
  return `${orig.proto}://${orig.host}${orig.uri}`;
}

export function portalStartUrl(s: GateSettings, orig: OriginalRequest): string {
  return portalUrl(s, '/oauth2/start', { rd: originalUrl(orig) });
}

const WWW_AUTHENTICATE = 'Bearer realm="gatehouse"';

export function sendUnauthenticated(
  req: IncomingMessage,
  res: ServerResponse,
  orig: OriginalRequest,
  location: string,
  browser: boolean,
): void {
  if (browser && orig.via !== 'nginx') {
    const status = orig.method === 'GET' || orig.method === 'HEAD' ? 302 : 303;
    answer(
      res,
      status,
      { location, 'cache-control': NO_STORE, 'content-type': 'text/plain; charset=utf-8' },
      req.method === 'HEAD' ? undefined : 'sign-in required\n',
    );
    return;
  }
  // RFC 6750 §3: no error code when the request carried no credentials. The portal address
  // goes only to browsers: nginx's sign-in snippet redirects whenever there is one.
  const headers: Record<string, string> = { 'www-authenticate': WWW_AUTHENTICATE, 'cache-control': NO_STORE };
  if (browser) headers.location = location;
  if (orig.via === 'nginx') return sendEmpty(res, 401, headers);
  headers['content-type'] = 'application/json';
  answer(res, 401, headers, '{"error":"unauthorized","error_description":"sign-in required"}');
}

const CHALLENGE_BODY: Record<string, string> = {
  none: '{"error":"unauthorized","error_description":"a bearer token is required"}',
  invalid_token: '{"error":"invalid_token","error_description":"the access token is invalid or expired"}',
  insufficient_scope: '{"error":"insufficient_scope","error_description":"the access token lacks a required scope"}',
  invalid_dpop_proof: '{"error":"invalid_dpop_proof","error_description":"the DPoP proof is missing or invalid"}',
};

/**
 * A protected resource's 401/403 (RFC 6750 §3): always `WWW-Authenticate: Bearer …` (or
 * `DPoP …` for a request made with the DPoP scheme, RFC 9449 §7.1) with resource_metadata (RFC 9728 §5.1), never a redirect and never the portal's address — an MCP
 * client reads the header and finds its authorization server from there. nginx gets an empty
 * answer; auth_request hands the 401's WWW-Authenticate on itself (docs/mcp.md covers the 403).
 */
export function sendChallenge(
  req: IncomingMessage,
  res: ServerResponse,
  orig: OriginalRequest | null,
  status: 401 | 403,
  error: string | null,
  wwwAuthenticate: string,
): void {
  const headers: Record<string, string> = { 'www-authenticate': wwwAuthenticate, 'cache-control': NO_STORE };
  if (orig?.via === 'nginx') return sendEmpty(res, status, headers);
  headers['content-type'] = 'application/json';
  answer(res, status, headers, req.method === 'HEAD' ? undefined : CHALLENGE_BODY[error ?? 'none']);
}

/**
 * An answer nginx's auth_request reads only the head of: an explicit zero length and no body,
 * so the kept-alive upstream connection stays usable.
 */
export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string>): void {
  headers['content-length'] = '0';
  answer(res, status, headers);
}

const DENIED_JSON: Record<DenyWhy, string> = {
  'no-app': '{"error":"access_denied","error_description":"no app is configured for this address"}',
  closed: '{"error":"access_denied","error_description":"this address refuses every visitor"}',
  'not-allowed': '{"error":"access_denied","error_description":"access is denied"}',
  malformed: '{"error":"invalid_request","error_description":"the request path is malformed"}',
  ambiguous: '{"error":"invalid_request","error_description":"the request path is ambiguous: servers would read it differently"}',
};

/**
 * A refusal: 403, or 400 for a malformed or ambiguous path (nginx's auth_request passes only 401 and 403 on,
 * so nginx gets 403 for both). A browser gets the page that says why (pages.ts), with the request
 * id, which the caller logs with the real reason. Returns that id.
 */
export function sendDenied(req: IncomingMessage, res: ServerResponse, orig: OriginalRequest | null, why: DenyWhy, url: string): string {
  const existing = res.getHeader('x-request-id');
  const id = typeof existing === 'string' && existing !== '' ? existing : newRequestId();
  if (orig?.via === 'nginx') {
    sendEmpty(res, 403, { 'cache-control': NO_STORE, 'x-request-id': id });
    return id;
  }
  const status = why === 'malformed' || why === 'ambiguous' ? 400 : 403;
  if (isBrowserRequest(req)) {
    answer(
      res,
      status,
      { 'cache-control': NO_STORE, 'content-type': 'text/html; charset=utf-8', 'x-request-id': id },
      req.method === 'HEAD' ? undefined : deniedPage(why, { requestId: id, url }),
    );
    return id;
  }
  answer(
    res,
    status,
    { 'cache-control': NO_STORE, 'content-type': 'application/json', 'x-request-id': id },
    req.method === 'HEAD' ? undefined : DENIED_JSON[why],
  );
  return id;
}

/**
 * The forward-auth 2xx, in one writeHead: every identity header, empty when unknown (a proxy
 * that copies them overwrites whatever a client sent under the same name), no-store, and an
 * empty body.
 */
export function sendPass(res: ServerResponse, names: HeaderNames, id: Identity | null): void {
  res.writeHead(202, passHeaders(names, id) as string[]);
  res.end();
}

/**
 * The pass answer's headers as the flat list writeHead takes, made once per identity and header
 * names: a session's identity is the same object on every check until it is refreshed (a new
 * object then), so a check allocates no headers of its own. The same names, values and order as
 * identityHeaderValues plus cache-control and content-length.
 */
function passHeaders(names: HeaderNames, id: Identity | null): readonly string[] {
  const key: object = id ?? names;
  const hit = passHeadersOf.get(key);
  if (hit !== undefined && hit.names === names) return hit.headers;
  const o = identityHeaderValues(names, id);
  o['cache-control'] = 'no-store';
  o['content-length'] = '0';
  const headers = Object.freeze(Object.entries(o).flat());
  passHeadersOf.set(key, { names, headers });
  return headers;
}
/** Keyed by the identity, or by the header names for a pass without one. */
const passHeadersOf = new WeakMap<object, { names: HeaderNames; headers: readonly string[] }>();

export function identityHeaderValues(names: HeaderNames, id: Identity | null): Record<string, string> {
  return {
    [names.user]: id ? id.username : '',
    [names.email]: id && id.email ? id.email : '',
    [names.groups]: id ? id.groups.join(',') : '',
    [names.preferredUsername]: id ? id.username : '',
  };
}
