// Writing responses: bodies with exact headers, redirects, errors (RFC vocabulary on the wire,
// the real reason in the log), security headers, and bounded body reading.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { GatehouseError, isGatehouseError, toWire, type Logger } from '../core/index.ts';
import { REFERRER_POLICY } from './form-guard.ts';

export type ResponseHeaders = Readonly<Record<string, string | number | readonly string[]>>;

/** Responses that carry identity, secrets or redirects must never be stored by a cache (RFC 9111 §5.2.2.5). */
export const NO_STORE = 'no-store';

const JSON_TYPE = 'application/json; charset=utf-8';
const HTML_TYPE = 'text/html; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

function send(res: ServerResponse, status: number, type: string, body: string, headers?: ResponseHeaders): void {
  res.setHeader('content-type', type);
  res.setHeader('content-length', Buffer.byteLength(body));
  if (headers !== undefined) for (const k in headers) res.setHeader(k, headers[k] as string | number | readonly string[]);
  res.statusCode = status;
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: ResponseHeaders): void {
  send(res, status, JSON_TYPE, JSON.stringify(body), headers);
}

/** An HTML page. Adds the HTML security headers unless a Content-Security-Policy is already set. */
export function sendHtml(res: ServerResponse, status: number, html: string, headers?: ResponseHeaders): void {
  if (!res.hasHeader('content-security-policy')) applySecurityHeaders(res);
  send(res, status, HTML_TYPE, html, headers);
}

export function sendText(res: ServerResponse, status: number, text: string, headers?: ResponseHeaders): void {
  send(res, status, TEXT_TYPE, text, headers);
}

/**
 * A redirect with an empty body. `location` must already be validated (validateRedirect): this
 * only refuses what would break the header. 303 after a POST (RFC 9110 §15.4.4); 307 keeps
 * the method.
 */
export function redirect(res: ServerResponse, status: 302 | 303 | 307, location: string): void {
  res.setHeader('location', location);
  res.setHeader('cache-control', NO_STORE);
  res.setHeader('content-length', 0);
  res.statusCode = status;
  res.end();
}

// ---------------------------------------------------------------------------------------------
// Security headers. Precomputed once; applying them is a handful of setHeader calls.

const CSP_BASE = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/**
 * Content-Security-Policy for our HTML. form-action is 'self': our forms post only to us.
 * Beware: Chrome and Safari also check every REDIRECT that follows a form submission against
 * form-action (w3c/webappsec-csp#8), so a page whose form ends in a 303 to an app on another
 * origin (sign-in, consent) must list that origin in `formAction`, or the browser silently
 * stops. `script` adds script-src 'self' (passkeys need a script).
 */
export function contentSecurityPolicy(opts: { formAction?: readonly string[]; script?: boolean; styleFrom?: string } = {}): string {
  let csp = CSP_BASE;
  // A page on an app's host with the portal's stylesheet (the ticket landing): that origin too.
  if (opts.styleFrom !== undefined) csp = csp.replace("style-src 'self'", `style-src 'self' ${checkedOrigin(opts.styleFrom)}`);
  if (opts.script === true) csp += "; script-src 'self'";
  csp += "; form-action 'self'";
  for (const origin of opts.formAction ?? []) csp += ` ${checkedOrigin(origin)}`;
  return csp;
}

/** An origin only: scheme://host[:port], nothing that could end the directive. */
function checkedOrigin(origin: string): string {
  if (!/^https?:\/\/[a-z0-9.\-[\]:]+$/i.test(origin))
    throw new GatehouseError('internal', `form-action origin "${origin}" is not an http(s) origin`);
  return origin;
}

const COMMON: readonly (readonly [string, string])[] = [
  ['x-content-type-options', 'nosniff'],
  // same-origin, not no-referrer: a form POST under no-referrer carries Origin: null (form-guard.ts).
  ['referrer-policy', REFERRER_POLICY],
  ['x-frame-options', 'DENY'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['content-security-policy', contentSecurityPolicy()],
];
const HSTS: readonly [string, string] = ['strict-transport-security', 'max-age=31536000'];
const WITH_HSTS = Object.freeze([...COMMON, HSTS]);
const WITHOUT_HSTS = Object.freeze([...COMMON]);

/**
 * The header set for responses Gatehouse makes itself. HSTS (RFC 6797) only when the public URL
 * is https: on plain http it would be meaningless, and on a dev instance it would pin a host.
 */
export function securityHeaders(publicUrlIsHttps: boolean): readonly (readonly [string, string])[] {
  return publicUrlIsHttps ? WITH_HSTS : WITHOUT_HSTS;
}

export function applySecurityHeaders(res: ServerResponse, opts: { hsts?: boolean } = {}): void {
  const set = opts.hsts === true ? WITH_HSTS : WITHOUT_HSTS;
  for (let i = 0; i < set.length; i++) {
    const h = set[i] as readonly [string, string];
    res.setHeader(h[0], h[1]);
  }
}

// ---------------------------------------------------------------------------------------------
// Errors.

/** A browser navigation asks for text/html; fetch(), curl and API clients do not. */
export function prefersHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  return accept !== undefined && accept.includes('text/html');
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** A short page for a browser: status, a one-line reason, and the request id to quote. */
export function statusPage(status: number, description: string, requestId?: string): string {
  const title = `${status} ${STATUS_CODES[status] ?? 'Error'}`;
  const id = requestId === undefined ? '' : `<p>Request id: <code>${escapeHtml(requestId)}</code></p>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(description)}</p>${id}</body></html>`;
}

/**
 * Answer an error without internals: `{ error, error_description }` JSON for API clients, a short
 * HTML page for browsers, always no-store. Status and code come from the error's kind (toWire);
 * anything that is not a GatehouseError is a 500 "internal error". The real reason (detail,
 * cause, stack) goes to the log with the request id, never to the client.
 */
export function sendStatus(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  error: string,
  description: string,
  requestId?: string,
): void {
  res.setHeader('cache-control', NO_STORE);
  // 413: the rest of the body was not read; closing is cheaper than draining it.
  if (status === 413) res.setHeader('connection', 'close');
  if (prefersHtml(req)) sendHtml(res, status, statusPage(status, description, requestId));
  else {
    res.setHeader('x-content-type-options', 'nosniff');
    sendJson(res, status, { error, error_description: description });
  }
}

export function sendError(res: ServerResponse, req: IncomingMessage, err: unknown, logger: Logger, requestId?: string): void {
  const wire = toWire(err);
  const id = requestId ?? headerString(res.getHeader('x-request-id'));
  const fields: Record<string, unknown> = {
    requestId: id,
    status: wire.status,
    error: wire.error,
    method: req.method,
    // The path without its query: a query may carry a code or a token.
    path: pathOnly(req.url),
  };
  if (isGatehouseError(err)) {
    fields.kind = err.kind;
    fields.detail = err.detail;
    if (err.cause !== undefined) fields.err = err.cause;
  } else {
    fields.err = err;
  }
  if (wire.status >= 500) logger.error(fields, 'request failed');
  else logger.info(fields, 'request refused');

  if (res.headersSent) {
    // Too late for a status: cut the response so the client sees it is incomplete.
    res.destroy();
    return;
  }
  sendStatus(req, res, wire.status, wire.error, wire.error_description, id);
}

function headerString(v: string | number | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function pathOnly(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * An answer written straight to a socket the HTTP server no longer owns (an upgrade request, a
 * request its parser refused): status line, no body, connection closed. Nothing from the request
 * is echoed.
 */
export function answerSocket(socket: Duplex, status: number, reason: string, requestId?: string): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const id = requestId === undefined ? '' : `x-request-id: ${requestId}\r\n`;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\ncache-control: no-store\r\n${id}connection: close\r\n\r\n`);
}

// ---------------------------------------------------------------------------------------------
// Bodies.

function mediaType(req: IncomingMessage): string {
  const ct = req.headers['content-type'];
  if (ct === undefined) return '';
  const semi = ct.indexOf(';');
  return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
}

/** The raw body, refused with payload_too_large as soon as it passes `limitBytes`. */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) {
    return Promise.reject(
      new GatehouseError('payload_too_large', `the request body declares ${declared} bytes, over the limit of ${limitBytes}`),
    );
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    return Promise.reject(new GatehouseError('invalid_request', 'content-encoding is not supported for request bodies'));
  }
  // A request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3), and the
  // server (optimizeEmptyRequests) ends its stream at once without an 'end' event: nothing to wait for.
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        req.pause();
        reject(new GatehouseError('payload_too_large', `the request body is over the limit of ${limitBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new GatehouseError('invalid_request', 'the request body could not be read', { cause: e }));
    };
    const onAborted = (): void => {
      cleanup();
      reject(new GatehouseError('invalid_request', 'the client aborted the request body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/** An application/x-www-form-urlencoded body (what an HTML form posts). */
export async function readForm(req: IncomingMessage, limitBytes = 16 * 1024): Promise<URLSearchParams> {
  const type = mediaType(req);
  if (type !== 'application/x-www-form-urlencoded') {
    throw new GatehouseError(
      'invalid_request',
      `expected content-type application/x-www-form-urlencoded, got ${type === '' ? 'none' : JSON.stringify(type.slice(0, 100))}`,
    );
  }
  const body = await readBody(req, limitBytes);
  return new URLSearchParams(body.toString('utf8'));
}

/** An application/json (or +json) body, parsed. */
export async function readJson(req: IncomingMessage, limitBytes = 64 * 1024): Promise<unknown> {
  const type = mediaType(req);
  if (type !== 'application/json' && !(type.startsWith('application/') && type.endsWith('+json'))) {
    throw new GatehouseError(
      'invalid_request',
      `expected content-type application/json, got ${type === '' ? 'none' : JSON.stringify(type.slice(0, 100))}`,
    );
  }
  const body = await readBody(req, limitBytes);
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (e) {
    throw new GatehouseError('invalid_request', 'the request body is not valid JSON', { cause: e });
  }
}

// ---------------------------------------------------------------------------------------------
// Answers with exact headers: the one place a status line and its headers are written.

/**
 * A complete answer: status, exactly these headers, the body (none when omitted). For answers
 * whose headers are fixed by a contract (forward auth, RFC 9728, the gate's refusals); a page, a
 * redirect or an error goes through sendPage, redirectTo or sendError instead. Adds nothing and
 * allocates nothing of its own: the forward-auth hot path answers through it.
 */
export function answer(
  res: ServerResponse,
  status: number,
  headers: Readonly<Record<string, string | number | readonly string[]>>,
  body?: string,
): void {
  res.writeHead(status, headers as Record<string, string | number | string[]>);
  if (body === undefined) res.end();
  else res.end(body);
}

/** 404 "not found" in plain text, never stored. */
export function notFound(res: ServerResponse): void {
  answer(res, 404, NOT_FOUND_HEADERS, 'not found\n');
}
const NOT_FOUND_HEADERS = Object.freeze({ 'content-type': 'text/plain', 'cache-control': NO_STORE });

export type SetCookie = string | readonly string[] | undefined;

/**
 * A redirect that must not be stored (every redirect the product makes carries state: a sign-in,
 * a ticket, a return address). `location` must already be validated (validateRedirect) or built
 * by portalUrl/portalPath. 302 after a GET, 303 after a POST (RFC 9110 §15.4.4).
 */
export function redirectTo(res: ServerResponse, status: 302 | 303, location: string, setCookie?: SetCookie): void {
  const headers: Record<string, string | readonly string[]> = { location, 'cache-control': NO_STORE };
  if (setCookie !== undefined && setCookie.length > 0) headers['set-cookie'] = setCookie;
  answer(res, status, headers);
}

export interface PageOptions {
  /**
   * Origins a form on this page may end at after redirects (CSP form-action: Chrome and Safari
   * check every redirect after a submission). The page's own origin is always allowed.
   */
  formTargets?: readonly string[];
  /** The page loads script assets (layout's `scripts`): CSP script-src 'self'. Never inline script. */
  scripts?: boolean;
  setCookie?: SetCookie;
  /** More headers (Retry-After, …). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * An HTML page of ours: text/html, no-store, the security headers (HSTS when publicUrl is https)
 * and a CSP that names the form targets (and script-src 'self' when the page loads scripts).
 */
export function sendPage(res: ServerResponse, at: { publicUrl: URL }, status: number, html: string, opts: PageOptions = {}): void {
  const own = at.publicUrl.origin;
  const targets = opts.formTargets === undefined ? [] : [...new Set(opts.formTargets)].filter((o) => o !== own);
  const headers: Record<string, string | readonly string[]> = {
    'content-type': HTML_TYPE,
    'cache-control': NO_STORE,
    'content-security-policy': contentSecurityPolicy({ formAction: targets, script: opts.scripts === true }),
  };
  for (const [k, v] of securityHeaders(at.publicUrl.protocol === 'https:')) if (k !== 'content-security-policy') headers[k] = v;
  if (opts.setCookie !== undefined && opts.setCookie.length > 0) headers['set-cookie'] = opts.setCookie;
  if (opts.headers) for (const k in opts.headers) headers[k] = opts.headers[k] as string;
  answer(res, status, headers, html);
}
