// What the user's browser really asked for, as told by a proxy we trust. Forward-auth requests
// arrive as a subrequest whose own request line is `GET /oauth2/auth`; the original method,
// scheme, host and URI come in headers:
//   - nginx / ingress-nginx: X-Original-URL (absolute URL) and X-Original-Method
//   - Traefik, Caddy: X-Forwarded-Method, -Proto, -Host, -Uri
// Those headers are believed only from a trusted socket peer, and only the family that peer's
// kind of proxy sets itself (trustedProxies[].kind; see readOriginal): from anyone else every
// X-Forwarded-* / X-Original-* header is ignored and the request line and Host header are used.
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { GatehouseError } from '../core/index.ts';
import { unmapIPv4, type TrustedProxies } from './trusted.ts';
import { parseHost } from './host.ts';

export interface OriginalRequest {
  /** Upper-case method token. */
  method: string;
  proto: 'http' | 'https';
  /** Lower-case host, with the port only when it is not the default for `proto`. */
  host: string;
  /** Path and query exactly as sent (never a fragment). */
  uri: string;
  clientIp: string;
  via: 'nginx' | 'forwarded' | 'direct';
  /** Whether the socket peer is a trusted proxy. */
  trustedPeer: boolean;
}

// RFC 9110 §5.6.2 tchar, for the method token.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

function invalid(detail: string): GatehouseError {
  return new GatehouseError('invalid_request', detail);
}

/** The first element of a comma-separated list, trimmed (spaces and tabs only). */
function firstOf(value: string): string {
  const comma = value.indexOf(',');
  const v = comma < 0 ? value : value.slice(0, comma);
  return v.trim();
}

/** One header value; a repeated header (an array, or joined with ", " by Node) counts by its first element. */
function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Validate and normalize a host: lower-case, default port removed. One grammar for every host
 * Gatehouse reads (host.ts: RFC 9110 §7.2, ASCII only).
 */
export function normalizeHost(raw: string, proto: 'http' | 'https', what: string): string {
  // A proxy names the same few hosts over and over: the last one read is kept (a host that does
  // not parse throws every time and is never kept).
  if (raw === lastHost.raw && proto === lastHost.proto) return lastHost.host;
  const host = parseHost(raw, proto, what);
  lastHost = { raw, proto, host };
  return host;
}
let lastHost: { raw: string; proto: string; host: string } = { raw: '', proto: '', host: '' };

function normalizeMethod(raw: string, what: string): string {
  const len = raw.length;
  if (len === 0 || len > 32) throw invalid(`${what}: the method is empty or too long`);
  for (let i = 0; i < len; i++) {
    const c = raw.charCodeAt(i);
    if (c >= 128 || TCHAR[c] !== 1) throw invalid(`${what}: the method is not a token`);
  }
  // Methods are case-sensitive (RFC 9110 §9.1), but many apps upper-case them; matching on the
  // upper-case form means a rule about DELETE also covers "delete".
  return raw.toUpperCase();
}

function normalizeProto(raw: string, what: string): 'http' | 'https' {
  const p = raw.toLowerCase();
  if (p === 'https') return 'https';
  if (p === 'http') return 'http';
  throw invalid(`${what}: expected http or https`);
}

/**
 * A request target in origin form ("/path?query"). The fragment is cut: a browser never sends
 * one, so one in a forwarded URI is crafted, and must not hide a path from the policy.
 * Whitespace and control characters are refused.
 */
function normalizeUri(raw: string, what: string): string {
  const len = raw.length;
  if (len === 0 || raw.charCodeAt(0) !== 47 /* / */) throw invalid(`${what}: the URI must start with "/"`);
  for (let i = 0; i < len; i++) {
    const c = raw.charCodeAt(i);
    if (c === 35 /* # */) return raw.slice(0, i);
    if (c <= 32 || c === 127) throw invalid(`${what}: the URI contains whitespace or a control character`);
  }
  return raw;
}

/** Split an absolute http(s) URL into its parts, keeping the path and query as sent. */
function splitAbsolute(raw: string, what: string): { proto: 'http' | 'https'; host: string; uri: string } {
  let proto: 'http' | 'https';
  let rest: string;
  const lower = raw.slice(0, 8).toLowerCase();
  if (lower === 'https://') {
    proto = 'https';
    rest = raw.slice(8);
  } else if (lower.startsWith('http://')) {
    proto = 'http';
    rest = raw.slice(7);
  } else throw invalid(`${what}: expected an absolute http or https URL`);
  let end = rest.length;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 47 || c === 63 || c === 35) {
      end = i;
      break;
    } // / ? #
  }
  const host = normalizeHost(rest.slice(0, end), proto, what);
  let target = rest.slice(end);
  if (target.length === 0 || target.charCodeAt(0) !== 47) target = '/' + target; // "?q" or "" → "/?q", "/"
  return { proto, host, uri: normalizeUri(target, what) };
}

/** A client address from a header: trims, drops [brackets] and an IPv4 ":port"; undefined if not an IP. */
function parseIp(raw: string): string | undefined {
  let v = raw.trim();
  if (v.charCodeAt(0) === 91 /* [ */) {
    const close = v.indexOf(']');
    if (close < 0) return undefined;
    v = v.slice(1, close);
  } else {
    const colon = v.indexOf(':');
    if (colon >= 0 && colon === v.lastIndexOf(':') && v.indexOf('.') >= 0) v = v.slice(0, colon);
  }
  return isIP(v) === 0 ? undefined : unmapIPv4(v);
}

/**
 * The client address, from a trusted peer: walk X-Forwarded-For from the right, skipping our own
 * proxies; the first hop that is not ours is the client (everything left of it was written by the
 * client and is not believed). A hop that is not an IP stops the walk at the last good address.
 * Without X-Forwarded-For, X-Real-IP is accepted.
 */
function clientIpFrom(req: IncomingMessage, peer: string, trusted: TrustedProxies): string {
  const xff = header(req, 'x-forwarded-for'); // repeated headers arrive joined with ", "
  if (xff !== undefined && xff.length > 0) {
    let last = peer;
    let end = xff.length;
    while (end > 0) {
      const comma = xff.lastIndexOf(',', end - 1);
      const text = xff.slice(comma + 1, end).trim();
      end = comma < 0 ? 0 : comma;
      // Fast path: a plain address of one of our proxies (the trust verdict is cached).
      if (trusted.isTrusted(text)) {
        last = unmapIPv4(text);
        continue;
      }
      const hop = parseIp(text);
      if (hop === undefined) return last;
      if (hop === text || !trusted.isTrusted(hop)) return hop;
      last = hop;
    }
    return last;
  }
  const real = header(req, 'x-real-ip');
  if (real !== undefined) {
    const ip = parseIp(real);
    if (ip !== undefined) return ip;
  }
  return peer;
}

function socketProto(req: IncomingMessage): 'http' | 'https' {
  return (req.socket as TLSSocket).encrypted === true ? 'https' : 'http';
}

/** The request as it came in on the socket: request line and Host header only. */
function direct(req: IncomingMessage, trustedPeer: boolean, clientIp: string): OriginalRequest {
  const url = req.url ?? '/';
  const method = normalizeMethod(req.method ?? 'GET', 'request method');
  if (url.charCodeAt(0) !== 47) {
    // Absolute form (RFC 9112 §3.2.2): the target's authority replaces Host.
    if (url === '*') {
      const proto = socketProto(req);
      return { method, proto, host: hostHeader(req, proto), uri: '*', clientIp, via: 'direct', trustedPeer };
    }
    const abs = splitAbsolute(url, 'request target');
    return { method, proto: abs.proto, host: abs.host, uri: abs.uri, clientIp, via: 'direct', trustedPeer };
  }
  const proto = socketProto(req);
  return { method, proto, host: hostHeader(req, proto), uri: normalizeUri(url, 'request target'), clientIp, via: 'direct', trustedPeer };
}

function hostHeader(req: IncomingMessage, proto: 'http' | 'https'): string {
  const host = req.headers.host;
  if (host === undefined) throw invalid('the request has no Host header');
  return normalizeHost(host, proto, 'Host');
}

/** One side's description of the original request; a field is undefined when that side's headers do not say it. */
interface Described {
  method?: string;
  proto?: 'http' | 'https';
  host?: string;
  uri?: string;
}

/**
 * nginx's description: X-Original-URL (absolute) and X-Original-Method; undefined without
 * X-Original-URL. Without X-Original-Method the subrequest's own method stands in (nginx sends
 * GET), and that is the method compared and judged.
 */
function nginxSays(req: IncomingMessage): Described | undefined {
  const originalUrl = header(req, 'x-original-url');
  if (originalUrl === undefined) return undefined;
  const abs = splitAbsolute(originalUrl.trim(), 'X-Original-URL');
  const m = header(req, 'x-original-method');
  const method = m !== undefined ? normalizeMethod(m.trim(), 'X-Original-Method') : normalizeMethod(req.method ?? 'GET', 'request method');
  return { ...abs, method };
}

/** The X-Forwarded-* description (Traefik, Caddy): only the pieces whose header is present. */
function forwardedSays(req: IncomingMessage, protoForHost: 'http' | 'https'): Described {
  const h = req.headers;
  const fMethod = h['x-forwarded-method'];
  const fProto = h['x-forwarded-proto'];
  const fHost = h['x-forwarded-host'];
  const fUri = h['x-forwarded-uri'];
  const out: Described = {};
  if (typeof fProto === 'string') out.proto = normalizeProto(firstOf(fProto), 'X-Forwarded-Proto');
  if (typeof fMethod === 'string') out.method = normalizeMethod(fMethod.trim(), 'X-Forwarded-Method');
  if (typeof fHost === 'string') out.host = normalizeHost(firstOf(fHost), out.proto ?? protoForHost, 'X-Forwarded-Host');
  if (typeof fUri === 'string') out.uri = normalizeUri(fUri, 'X-Forwarded-Uri');
  return out;
}

function splitPort(host: string): { name: string; port: string } {
  const at = host.charCodeAt(0) === 91 /* [ */ ? host.indexOf(':', host.indexOf(']')) : host.indexOf(':');
  return at < 0 ? { name: host, port: '' } : { name: host.slice(0, at), port: host.slice(at + 1) };
}

/**
 * Two hosts name the same place: equal, or the same name where one side gives no port (nginx's
 * `$host`, which many ingress-nginx auth snippets put in X-Forwarded-Host, never carries one).
 */
function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  const x = splitPort(a);
  const y = splitPort(b);
  return x.name === y.name && (x.port === '' || y.port === '');
}

/**
 * Refuse a request whose two descriptions of the original request disagree in a piece both give
 * and the rules decide on: method, host, path. Whichever one the peer's kind believes, the other
 * is then either the proxy's own (ingress-nginx with X-Forwarded-Host: $host for the auth
 * request) and must match, or a client's copy that slipped through a proxy config, and guessing
 * between them is how a gate is talked into judging another URL.
 * The scheme is not compared: no rule matches on it, and behind a TLS-terminating load balancer
 * ingress-nginx passes the balancer's X-Forwarded-Proto: https beside an X-Original-URL built
 * from its own $scheme (http). The believed family's scheme is used, never a mix.
 */
function assertAgree(a: Described, b: Described): void {
  const differ: string[] = [];
  if (a.method !== undefined && b.method !== undefined && a.method !== b.method) differ.push('method');
  if (a.host !== undefined && b.host !== undefined && !sameHost(a.host, b.host)) differ.push('host');
  if (a.uri !== undefined && b.uri !== undefined && a.uri !== b.uri) differ.push('path');
  if (differ.length > 0) {
    throw invalid(
      `X-Original-URL/-Method and X-Forwarded-* describe different requests (${differ.join(', ')}); refused rather than guessed`,
    );
  }
}

/**
 * Read the original request (see the top of this file). Throws GatehouseError('invalid_request')
 * when a believed header is malformed, or when the two header families disagree.
 *
 * Which headers describe the URL depends on the kind of the trusted peer (trustedProxies[].kind):
 *   - nginx: X-Original-URL/-Method. Without X-Original-URL the request is a plain proxied one
 *     (the portal, /oauth2/ on an app host): the request line, with X-Forwarded-Host/-Proto.
 *     X-Forwarded-Uri/-Method are never read from an nginx peer: nginx does not set them.
 *   - forwarded: X-Forwarded-Method/-Proto/-Host/-Uri; each missing piece falls back to the
 *     request itself (a plain reverse proxy in front of the portal sends only -Proto/-Host).
 *     X-Original-* are never read from such a peer.
 *   - auto (a plain address): X-Original-URL when present, else as `forwarded`.
 * In every kind, when X-Original-URL and any X-Forwarded-Method/-Host/-Uri are both present
 * they must agree (assertAgree), so a client's copy of the other family that a proxy let through
 * can only get its own request refused, never change the URL judged.
 *
 * X-Forwarded-Host and X-Forwarded-Proto may carry a comma-separated list when several proxies
 * appended to them; the FIRST element is the client-facing one (the outermost proxy wrote it),
 * and it is what the user's browser saw in its address bar.
 */
export function readOriginal(req: IncomingMessage, trusted: TrustedProxies): OriginalRequest {
  const rawPeer = req.socket.remoteAddress ?? '';
  const peer = unmapIPv4(rawPeer);
  const kind = rawPeer === '' ? null : trusted.kindOf(rawPeer);
  if (kind === null) return direct(req, false, peer);

  const clientIp = clientIpFrom(req, peer, trusted);
  const socket = socketProto(req);
  const nginx = nginxSays(req);
  const fwd = forwardedSays(req, nginx?.proto ?? socket);
  if (nginx !== undefined) assertAgree(nginx, fwd);

  if (nginx !== undefined && kind !== 'forwarded') {
    return { method: nginx.method!, proto: nginx.proto!, host: nginx.host!, uri: nginx.uri!, clientIp, via: 'nginx', trustedPeer: true };
  }
  // An nginx peer never sets X-Forwarded-Uri/-Method: a copy of them is a client's.
  const believed: Described = kind === 'nginx' ? { proto: fwd.proto, host: fwd.host } : fwd;
  if (believed.method === undefined && believed.proto === undefined && believed.host === undefined && believed.uri === undefined) {
    return direct(req, true, clientIp);
  }
  const proto = believed.proto ?? socket;
  const method = believed.method ?? normalizeMethod(req.method ?? 'GET', 'request method');
  const host = believed.host ?? hostHeader(req, proto);
  const uri = believed.uri ?? normalizeUri(req.url ?? '/', 'request target');
  return { method, proto, host, uri, clientIp, via: 'forwarded', trustedPeer: true };
}
