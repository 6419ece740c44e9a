// Reverse-proxy mode's transport: forwards an allowed request to the app's upstream with our
// identity headers, streaming both bodies (nothing is buffered), and pipes WebSocket upgrades.
//
// What never reaches the upstream:
//   - hop-by-hop headers (RFC 9110 §7.6.1): Connection and every header it lists, Keep-Alive, TE,
//     Trailer, Transfer-Encoding, Upgrade (except on a WebSocket upgrade), Proxy-*;
//   - any client header that names an identity header — compared case-insensitively with "_"
//     read as "-", because many app servers (CGI, WSGI, PHP, Rack) fold both to HTTP_X_…, so
//     `X-Auth-Request_User` would otherwise arrive as the user;
//   - the client's X-Forwarded-*, Forwarded, X-Real-IP and X-Original-* (we set our own);
//   - Gatehouse's own cookies (the session, the sign-in state): an app must not be able to
//     replay a user's session. Likewise an upstream Set-Cookie for one of those names is dropped,
//     so an app cannot overwrite or plant a Gatehouse session.
// Authorization is kept: apps may use it.
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../core/index.ts';
import { sendStatus } from '../web/index.ts';

/** Identity header names stripped from every proxied request (ours, oauth2-proxy's, Authelia's). */
export const DEFAULT_STRIP_HEADERS: readonly string[] = [
  'X-Auth-Request-User',
  'X-Auth-Request-Email',
  'X-Auth-Request-Groups',
  'X-Auth-Request-Preferred-Username',
  'X-Forwarded-User',
  'X-Forwarded-Email',
  'X-Forwarded-Groups',
  'X-Forwarded-Preferred-Username',
  'Remote-User',
  'Remote-Email',
  'Remote-Groups',
  'Remote-Name',
];

// RFC 9110 §7.6.1 hop-by-hop headers (plus Proxy-*, checked by prefix), and headers we set
// ourselves. `expect` too: our server already answered 100-continue to the client.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection']);
const OURS = new Set(['host', 'forwarded', 'x-real-ip', 'expect']);

export interface ProxyCallOptions {
  /** More identity header names to strip (the app's renamed headers). */
  stripHeaderNames?: readonly string[];
  /** More cookie names to strip (exact, case-sensitive as cookies are). */
  stripCookieNames?: readonly string[];
  /** The client as Gatehouse determined it (readOriginal); default: the socket peer and Host. */
  original?: { clientIp: string; proto: 'http' | 'https'; host: string };
}

export interface ReverseProxy {
  web(req: IncomingMessage, res: ServerResponse, identityHeaders: Readonly<Record<string, string>>, opts?: ProxyCallOptions): void;
  ws(req: IncomingMessage, socket: Duplex, head: Buffer, identityHeaders: Readonly<Record<string, string>>, opts?: ProxyCallOptions): void;
  close(): void;
}

/** Lower-case, with "_" read as "-". */
function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.indexOf('_') < 0 ? lower : lower.replaceAll('_', '-');
}

/** Drop the named cookies from one Cookie header value; undefined when nothing is left. */
function stripCookies(value: string, names: readonly string[]): string | undefined {
  if (names.length === 0) return value;
  let kept: string | undefined;
  let changed = false;
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (names.includes(name)) {
      changed = true;
      continue;
    }
    if (part.trim().length === 0) continue;
    kept = kept === undefined ? part.trim() : `${kept}; ${part.trim()}`;
  }
  return changed ? kept : value;
}

/** The name of the cookie a Set-Cookie value sets. */
function setCookieName(value: string): string {
  const eq = value.indexOf('=');
  return (eq < 0 ? value : value.slice(0, eq)).trim();
}

function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).length === 10 && (raw[i] as string).toLowerCase() === 'connection') {
      tokens ??= new Set();
      for (const t of (raw[i + 1] as string).split(',')) tokens.add(normalizeName(t.trim()));
    }
  }
  return tokens;
}

/** Upstream response headers for the client: hop-by-hop and protected Set-Cookies dropped. */
function responseHeaders(raw: readonly string[], protectedCookies: readonly string[], keepUpgrade: boolean): string[] {
  const listed = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const n = normalizeName(name);
    if (keepUpgrade && (n === 'upgrade' || n === 'connection')) {
      out.push(name, value);
      continue;
    }
    if (HOP_BY_HOP.has(n) || n.startsWith('proxy-') || listed?.has(n)) continue;
    if (n === 'set-cookie' && protectedCookies.includes(setCookieName(value))) continue;
    out.push(name, value);
  }
  return out;
}

function hostOf(req: IncomingMessage): string {
  const h = req.headers.host;
  return h === undefined ? '' : h;
}

export function createReverseProxy(opts: {
  upstream: string;
  logger: Logger;
  /** Idle time (no bytes either way) before an upstream request is given up: 504. Default 60 s. */
  timeoutMs?: number;
  /** Cookie names never forwarded, on every call (Gatehouse's session cookie). */
  stripCookieNames?: readonly string[];
}): ReverseProxy {
  const target = new URL(opts.upstream);
  const secure = target.protocol === 'https:';
  const request = secure ? httpsRequest : httpRequest;
  const port = target.port === '' ? (secure ? 443 : 80) : Number(target.port);
  const hostname = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const basePath = target.pathname === '/' ? '' : target.pathname.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const logger = opts.logger;
  const baseCookies = opts.stripCookieNames ?? [];
  const agentOpts = { keepAlive: true, maxFreeSockets: 64, scheduling: 'lifo' as const };
  const agent = secure ? new HttpsAgent(agentOpts) : new HttpAgent(agentOpts);
  // Upgraded sockets leave the pool; a plain agent keeps them out of the keep-alive one.
  const wsAgent = secure ? new HttpsAgent({ keepAlive: false }) : new HttpAgent({ keepAlive: false });
  const tunnels = new Set<Duplex>();
  let closed = false;

  const defaultStrip = new Set(DEFAULT_STRIP_HEADERS.map(normalizeName));
  // Per-app name lists are stable arrays from the settings; normalize each once.
  const extraStrip = new WeakMap<readonly string[], Set<string>>();
  const extraSet = (names: readonly string[] | undefined): Set<string> | undefined => {
    if (names === undefined || names.length === 0) return undefined;
    let s = extraStrip.get(names);
    if (s === undefined) {
      s = new Set(names.map(normalizeName));
      extraStrip.set(names, s);
    }
    return s;
  };

  function cookieNames(call: ProxyCallOptions | undefined): readonly string[] {
    const extra = call?.stripCookieNames;
    return extra === undefined || extra.length === 0 ? baseCookies : baseCookies.length === 0 ? extra : [...baseCookies, ...extra];
  }

  function path(req: IncomingMessage): string {
    let url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47) {
      // Absolute form (RFC 9112 §3.2.2): keep the path and query only.
      const scheme = url.indexOf('://');
      const slash = scheme < 0 ? -1 : url.indexOf('/', scheme + 3);
      url = slash < 0 ? '/' : url.slice(slash);
    }
    return basePath + url;
  }

  function requestHeaders(
    req: IncomingMessage,
    identity: Readonly<Record<string, string>>,
    call: ProxyCallOptions | undefined,
    cookies: readonly string[],
    upgrade: boolean,
  ): string[] {
    const raw = req.rawHeaders;
    const listed = connectionTokens(raw);
    const extra = extraSet(call?.stripHeaderNames);
    let identityNames: Set<string> | undefined;
    for (const k in identity) (identityNames ??= new Set()).add(normalizeName(k));
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      const n = normalizeName(name);
      if (HOP_BY_HOP.has(n) || n.startsWith('proxy-') || OURS.has(n) || listed?.has(n)) continue;
      if (n.startsWith('x-forwarded-') || n.startsWith('x-original-')) continue;
      if (defaultStrip.has(n) || extra?.has(n) || identityNames?.has(n)) continue;
      let value = raw[i + 1] as string;
      if (n === 'cookie') {
        const kept = stripCookies(value, cookies);
        if (kept === undefined) continue;
        value = kept;
      }
      out.push(name, value);
    }
    const orig = call?.original;
    const proto = orig?.proto ?? ((req.socket as TLSSocket).encrypted === true ? 'https' : 'http');
    const host = orig?.host ?? hostOf(req);
    // The app sees the host the user asked for (absolute links, cookies) and, in
    // X-Forwarded-For, only the client address Gatehouse determined: a client-written chain is
    // never passed on, so an app reading the leftmost entry cannot be fooled.
    if (host !== '') out.push('Host', host, 'X-Forwarded-Host', host);
    out.push('X-Forwarded-Proto', proto);
    const clientIp = orig?.clientIp ?? req.socket.remoteAddress;
    if (clientIp !== undefined && clientIp !== '') out.push('X-Forwarded-For', clientIp);
    // A chunked request body keeps its framing: Node does not chunk a GET by default.
    if (!upgrade && req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined) {
      out.push('Transfer-Encoding', 'chunked');
    }
    if (upgrade) out.push('Connection', 'Upgrade', 'Upgrade', 'websocket');
    for (const k in identity) out.push(k, identity[k] as string);
    return out;
  }

  function web(req: IncomingMessage, res: ServerResponse, identity: Readonly<Record<string, string>>, call?: ProxyCallOptions): void {
    const cookies = cookieNames(call);
    let upstreamReq: ClientRequest;
    try {
      upstreamReq = request({
        host: hostname,
        port,
        method: req.method,
        path: path(req),
        headers: requestHeaders(req, identity, call, cookies, false),
        agent,
        ...(secure ? { servername: hostname } : {}),
      });
    } catch (err) {
      // An identity value Node refuses as a header (a control character): never forward it.
      logger.error({ err, upstream: opts.upstream }, 'could not build the upstream request');
      sendStatus(req, res, 502, 'bad_gateway', 'the app could not be reached');
      req.resume();
      return;
    }
    let answered = false;
    upstreamReq.setTimeout(timeoutMs, () => {
      upstreamReq.destroy(Object.assign(new Error(`no answer from the upstream within ${timeoutMs}ms`), { code: 'GATEHOUSE_TIMEOUT' }));
    });
    upstreamReq.on('response', (upstreamRes: IncomingMessage) => {
      answered = true;
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, responseHeaders(upstreamRes.rawHeaders, cookies, false));
      upstreamRes.pipe(res);
      upstreamRes.on('error', () => res.destroy());
      upstreamRes.on('aborted', () => res.destroy());
    });
    upstreamReq.on('error', (err: NodeJS.ErrnoException) => {
      if (res.writableFinished) return;
      if (answered || res.headersSent) {
        // The response began: cut it so the client sees it is incomplete.
        res.destroy();
        return;
      }
      const timedOut = err.code === 'GATEHOUSE_TIMEOUT';
      logger.warn(
        { upstream: opts.upstream, code: err.code, reason: err.message },
        timedOut ? 'upstream timed out' : 'upstream unreachable',
      );
      if (timedOut) sendStatus(req, res, 504, 'gateway_timeout', 'the app did not answer in time');
      else sendStatus(req, res, 502, 'bad_gateway', 'the app could not be reached');
    });
    // The client went away before the answer was complete: stop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  }

  function rawResponse(status: number, message: string, headers: readonly string[]): string {
    let head = `HTTP/1.1 ${status} ${message}\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    return head + '\r\n';
  }

  function ws(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    identity: Readonly<Record<string, string>>,
    call?: ProxyCallOptions,
  ): void {
    const refuse = (status: number, message: string): void => {
      if (!socket.destroyed) socket.end(rawResponse(status, message, ['Connection', 'close', 'Content-Length', '0']));
    };
    const upgradeHeader = req.headers.upgrade;
    if (upgradeHeader === undefined || upgradeHeader.toLowerCase() !== 'websocket') {
      refuse(400, 'Bad Request');
      return;
    }
    if (closed) {
      refuse(503, 'Service Unavailable');
      return;
    }
    const cookies = cookieNames(call);
    let upstreamReq: ClientRequest;
    try {
      upstreamReq = request({
        host: hostname,
        port,
        method: req.method,
        path: path(req),
        headers: requestHeaders(req, identity, call, cookies, true),
        agent: wsAgent,
        ...(secure ? { servername: hostname } : {}),
      });
    } catch (err) {
      logger.error({ err, upstream: opts.upstream }, 'could not build the upstream upgrade request');
      refuse(502, 'Bad Gateway');
      return;
    }
    socket.on('error', () => {
      upstreamReq.destroy();
    });
    upstreamReq.setTimeout(timeoutMs, () =>
      upstreamReq.destroy(Object.assign(new Error('upgrade timed out'), { code: 'GATEHOUSE_TIMEOUT' })),
    );
    upstreamReq.on('error', (err: NodeJS.ErrnoException) => {
      logger.warn({ upstream: opts.upstream, code: err.code, reason: err.message }, 'upstream upgrade failed');
      refuse(err.code === 'GATEHOUSE_TIMEOUT' ? 504 : 502, err.code === 'GATEHOUSE_TIMEOUT' ? 'Gateway Timeout' : 'Bad Gateway');
    });
    // The upstream said no (401, 404, …): pass its answer on and close.
    upstreamReq.on('response', (upstreamRes: IncomingMessage) => {
      const headers = responseHeaders(upstreamRes.rawHeaders, cookies, false);
      headers.push('Connection', 'close');
      socket.write(rawResponse(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage ?? '', headers));
      upstreamRes.pipe(socket);
    });
    upstreamReq.on('upgrade', (upstreamRes: IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
      upstreamReq.setTimeout(0);
      upstreamSocket.setTimeout(0);
      upstreamSocket.setNoDelay(true);
      if (socket.destroyed) {
        upstreamSocket.destroy();
        return;
      }
      socket.write(rawResponse(101, 'Switching Protocols', responseHeaders(upstreamRes.rawHeaders, cookies, true)));
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      tunnels.add(socket);
      tunnels.add(upstreamSocket);
      const teardown = (): void => {
        tunnels.delete(socket);
        tunnels.delete(upstreamSocket);
        socket.destroy();
        upstreamSocket.destroy();
      };
      socket.on('close', teardown);
      upstreamSocket.on('close', teardown);
      upstreamSocket.on('error', teardown);
      socket.on('error', teardown);
      upstreamSocket.pipe(socket);
      socket.pipe(upstreamSocket);
    });
    upstreamReq.end();
  }

  function close(): void {
    closed = true;
    agent.destroy();
    wsAgent.destroy();
    for (const s of tunnels) s.destroy();
    tunnels.clear();
  }

  return { web, ws, close };
}
