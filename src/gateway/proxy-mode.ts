// Reverse-proxy mode: for apps with an `upstream`, Gatehouse is the proxy. The verdict is the
// forward-auth one; an allowed request goes upstream with our identity headers (and none the
// client sent), a browser without a session is sent to the portal, an API client gets 401.
// A protected resource (`resources[]`) is bearer-only; its token is never passed upstream.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/index.ts';
import { readOriginal, type OriginalRequest, type Metrics } from '../http/index.ts';
import type { Sessions } from '../sessions/index.ts';
import { type GateSettings, answer, NO_STORE } from '../web/index.ts';
import {
  identityHeaderValues,
  isBrowserRequest,
  originalUrl,
  portalStartUrl,
  sendChallenge,
  sendDenied,
  sendUnauthenticated,
} from './answers.ts';
import { createReverseProxy } from './reverse-proxy.ts';
import { decide, decisionOf, type BearerGate, type Verdict } from './verdict.ts';

type Proxy = ReturnType<typeof createReverseProxy>;

export function createProxyMode(deps: {
  settings: () => GateSettings;
  sessions: Sessions;
  metrics: Metrics;
  logger: Logger;
  bearer?: BearerGate;
}) {
  const bearer = deps.bearer ?? null;
  const proxies = new Map<string, Proxy>();
  const proxyFor = (upstream: string): Proxy => {
    let p = proxies.get(upstream);
    if (!p) {
      p = createReverseProxy({ upstream, logger: deps.logger });
      proxies.set(upstream, p);
    }
    return p;
  };

  function verdict(req: IncomingMessage, s: GateSettings): { orig: OriginalRequest; v: Verdict | Promise<Verdict> } {
    // Decide on what is forwarded: this request's own method and URI (a front proxy's
    // X-Forwarded-Uri could name another path than the one we pass upstream).
    const orig = { ...readOriginal(req, s.trusted), method: (req.method ?? 'GET').toUpperCase(), uri: req.url ?? '/' };
    return { orig, v: decide(s, deps.sessions, orig, req.headers.cookie, null, bearer, req.headers.authorization, req.headers.dpop) };
  }

  function callOptions(s: GateSettings, orig: OriginalRequest, v: Verdict & { kind: 'pass' }) {
    return {
      // The access token is for us (its aud is the resource, and we checked it): the MCP server
      // gets identity headers, never the token (MCP authorization, "token passthrough").
      stripHeaderNames: v.resource === undefined ? s.identityHeaderNames : [...s.identityHeaderNames, 'authorization', 'dpop'],
      stripCookieNames: [s.cookieName, `${s.cookieName}_login`, `${s.cookieName}_csrf`],
      original: { clientIp: orig.clientIp, proto: orig.proto, host: orig.host },
    };
  }

  async function web(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    const { orig, v: pending } = verdict(req, s);
    const v = await pending;
    deps.metrics.decision(decisionOf(v));
    if (v.kind === 'challenge') {
      deps.logger.debug({ host: orig.host, reason: v.reason }, 'reverse proxy: bearer token refused');
      return sendChallenge(req, res, null, v.status, v.error, v.wwwAuthenticate);
    }
    if (v.kind === 'authenticate')
      return sendUnauthenticated(req, res, { ...orig, via: 'forwarded' }, portalStartUrl(s, orig), isBrowserRequest(req));
    if (v.kind === 'deny') {
      const requestId = sendDenied(req, res, null, v.why, originalUrl(orig));
      deps.logger.info({ requestId, host: orig.host, reason: v.reason }, 'reverse proxy: denied');
      return;
    }
    if (!v.upstream) {
      answer(
        res,
        404,
        { 'content-type': 'text/plain; charset=utf-8', 'cache-control': NO_STORE },
        'no upstream is configured for this host\n',
      );
      return;
    }
    proxyFor(v.upstream).web(req, res, identityHeaderValues(v.names, v.identity), callOptions(s, orig, v));
  }

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const s = deps.settings();
    const { orig, v: pending } = verdict(req, s);
    const v = await pending;
    if (v.kind !== 'pass' || !v.upstream) {
      const challenge = v.kind === 'challenge' ? `www-authenticate: ${v.wwwAuthenticate}\r\n` : '';
      const status =
        v.kind === 'authenticate' || (v.kind === 'challenge' && v.status === 401)
          ? '401 Unauthorized'
          : v.kind === 'pass'
            ? '404 Not Found'
            : '403 Forbidden';
      socket.end(`HTTP/1.1 ${status}\r\n${challenge}connection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    proxyFor(v.upstream).ws(req, socket, head, identityHeaderValues(v.names, v.identity), callOptions(s, orig, v));
  }

  function close(): void {
    for (const p of proxies.values()) p.close();
    proxies.clear();
  }

  return { web, upgrade, close };
}
