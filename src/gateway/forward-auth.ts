// GET /oauth2/auth — the forward-auth verdict, the hot path:
//   1. the original request, from trusted proxy headers only
//   2. the portal's own paths are always reachable (a protected sign-in page loops forever),
//      under publicUrl's path when it has one
//   3. a cross-domain ticket arriving through Traefik/Caddy forward auth is redeemed
//   4. the verdict (verdict.ts); protected resources first, bearer-only; their RFC 9728
//      metadata path on a resource host passes (the proxy routes it to Gatehouse)
//   5. the answer each proxy understands (answers.ts)
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isGatehouseError, type Logger } from '../core/index.ts';
import { readOriginal, type OriginalRequest, type Metrics } from '../http/index.ts';
import type { Sessions } from '../sessions/index.ts';
import { isPortalHost, portalBase, underPortalBase, type GateSettings, answer as write, NO_STORE } from '../web/index.ts';
import { readPath } from '../policy/index.ts';
import { originalUrl, portalStartUrl, isBrowserRequest, sendChallenge, sendDenied, sendPass, sendUnauthenticated } from './answers.ts';
import type { TicketRedeemer } from './ticket-redemption.ts';
import { decide, decisionOf, type BearerGate, type Verdict } from './verdict.ts';
import { METADATA_PATH } from './resources.ts';

export interface ForwardAuthDeps {
  settings: () => GateSettings;
  sessions: Sessions;
  metrics: Metrics;
  logger: Logger;
  redeem: TicketRedeemer;
  /** Protected resources (`resources[]`) and the access-token verifier; none: no resources. */
  bearer?: BearerGate;
}

/** Paths on an app host that belong to the gate itself and pass without a rule. */
const GATE_PATHS = new Set(['/oauth2/start', '/oauth2/sign_in', '/oauth2/sign_out', '/oauth2/ticket', '/oauth2/callback']);

/**
 * What forward auth answers for a path before any rule (`gatehouse explain` says the same):
 *   no-original  /oauth2/auth itself: nothing the gate believes from the peer named the request
 *                to judge (an untrusted peer; a Traefik or Caddy peer listed as kind nginx, whose
 *                X-Forwarded-Uri is not read; an nginx snippet without X-Original-URL). Judging
 *                /oauth2/auth would give every path of the host one verdict, so a path rule
 *                (/admin for admins before everything for anyone) would pass anyone: refused.
 *   gate         the gate's own paths on any host (/oauth2/start, sign_in, sign_out, ticket,
 *                callback): passed without identity.
 *   portal       the portal's paths on its host: /oauth2/*, and everything under publicUrl's
 *                path when it has one (a host shared with an app). Only when the raw path (as an
 *                app that never normalizes reads it) and the normalized one (as nginx routes it)
 *                both say so, and the path is not ambiguous (policy/path.ts): "/auth/../admin" is
 *                nginx's /admin, "/x/../auth/y" the app's /x/… to a framework that matches raw
 *                paths, and "/auth/..;/admin" a servlet container's /admin.
 *   null         the rules decide.
 */
export function ownPath(
  s: Pick<GateSettings, 'publicUrl' | 'portalHost'>,
  host: string,
  path: string,
): 'no-original' | 'gate' | 'portal' | null {
  if (path === '/oauth2/auth') return 'no-original';
  if (GATE_PATHS.has(path)) return 'gate';
  const base = portalBase(s);
  if ((path.startsWith('/oauth2/') || base !== '') && isPortalHost(s, host)) {
    const r = readPath(path);
    const portalPath = (p: string) => p.startsWith('/oauth2/') || (base !== '' && underPortalBase(s, p));
    if (r.ok && !r.ambiguous && portalPath(path) && portalPath(r.path)) return 'portal';
  }
  return null;
}

export function createForwardAuth(deps: ForwardAuthDeps) {
  const { sessions, metrics, logger } = deps;
  const bearer = deps.bearer ?? null;

  function answer(req: IncomingMessage, res: ServerResponse, s: GateSettings, orig: OriginalRequest, v: Verdict): void {
    metrics.decision(decisionOf(v));
    if (v.kind === 'pass') {
      sendPass(res, v.names, v.identity);
    } else if (v.kind === 'challenge') {
      logger.debug({ host: orig.host, reason: v.reason }, 'forward auth: bearer token refused');
      sendChallenge(req, res, orig, v.status, v.error, v.wwwAuthenticate);
    } else if (v.kind === 'authenticate') {
      if (v.stepUp) logger.info({ host: orig.host, reason: v.stepUp }, 'forward auth: step-up needed');
      sendUnauthenticated(req, res, orig, portalStartUrl(s, orig), isBrowserRequest(req));
    } else {
      const requestId = sendDenied(req, res, orig, v.why, originalUrl(orig));
      logger.info({ requestId, host: orig.host, reason: v.reason }, 'forward auth: denied');
    }
  }

  return function forwardAuth(req: IncomingMessage, res: ServerResponse, query: URLSearchParams | null): void | Promise<void> {
    const s = deps.settings();
    let orig: OriginalRequest;
    try {
      orig = readOriginal(req, s.trusted);
    } catch (err) {
      metrics.decision('invalid');
      logger.info({ reason: isGatehouseError(err) ? err.detail : 'unreadable forwarded headers' }, 'forward auth: bad original request');
      // nginx's auth_request relays only 2xx, 401 and 403; any other answer becomes a 500 for
      // the client. A malformed original request (say a Host with a bad port that nginx let
      // through) is therefore refused with 403 in nginx's vocabulary; other proxies pass 400 on.
      const status = req.headers['x-original-url'] !== undefined ? 403 : 400;
      write(
        res,
        status,
        { 'cache-control': NO_STORE, 'content-type': 'text/plain; charset=utf-8' },
        status === 403 ? 'forbidden\n' : 'bad request\n',
      );
      return;
    }
    const qPos = orig.uri.indexOf('?');
    const path = qPos === -1 ? orig.uri : orig.uri.slice(0, qPos);
    const own = ownPath(s, orig.host, path);
    if (own === 'no-original') {
      metrics.decision('invalid');
      logger.warn(
        { host: orig.host, via: orig.via, trustedPeer: orig.trustedPeer },
        'forward auth: the proxy did not send the original request (check trustedProxies[].kind against the proxy)',
      );
      // 403, not 400: nginx's auth_request turns anything but 2xx/401/403 into a 500.
      write(res, 403, { 'cache-control': NO_STORE, 'content-type': 'text/plain; charset=utf-8' }, 'forbidden\n');
      return;
    }
    if (path === '/oauth2/ticket' && orig.via === 'forwarded') {
      return deps.redeem(res, orig.host, new URLSearchParams(qPos === -1 ? '' : orig.uri.slice(qPos + 1)), s);
    }
    if (own !== null) {
      answer(req, res, s, orig, { kind: 'pass', names: s.defaultHeaders, identity: null, upstream: null, app: null });
      return;
    }
    // RFC 9728 §3: a resource's metadata is public; the proxy normally routes it to us directly,
    // and this covers a forward-auth check on it anyway.
    if (bearer && path.startsWith(METADATA_PATH) && bearer.resources().hasHost(orig.host)) {
      answer(req, res, s, orig, { kind: 'pass', names: s.defaultHeaders, identity: null, upstream: null, app: null });
      return;
    }
    const v = decide(
      s,
      sessions,
      orig,
      req.headers.cookie,
      query && query.size > 0 ? query : null,
      bearer,
      req.headers.authorization,
      req.headers.dpop,
    );
    if (v instanceof Promise) {
      return v.then(
        (verdict) => answer(req, res, s, orig, verdict),
        (err: unknown) => {
          logger.error({ err: (err as Error).message }, 'forward auth: session lookup failed');
          write(res, 503, { 'cache-control': NO_STORE, 'content-type': 'text/plain; charset=utf-8' }, 'temporarily unavailable\n');
        },
      );
    }
    answer(req, res, s, orig, v);
  };
}
