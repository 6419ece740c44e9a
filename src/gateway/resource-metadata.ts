// RFC 9728 protected-resource metadata, served by Gatehouse on each resource's own host:
//   GET /.well-known/oauth-protected-resource/<resource path>   (§3.1, the path-suffixed form)
//   GET /.well-known/oauth-protected-resource                    (the root form: the host's only
//                                                                 resource, or the one at "/")
// An MCP client reaches it from the 401's resource_metadata, or by trying these two URLs; from
// `authorization_servers[0]` it finds our issuer. Browser-based clients read it cross-origin,
// so it is CORS-open (it is public by definition) and the preflight allows the headers MCP
// clients send (Authorization, MCP-Protocol-Version).
//
// Behind a proxy in forward-auth mode, the proxy routes this path on the resource host to
// Gatehouse (docs/mcp.md); in reverse-proxy mode the router sends it here first.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../http/index.ts';
import { type GateSettings, answer, NO_STORE } from '../web/index.ts';
import { METADATA_PATH, type ProtectedResources } from './resources.ts';

const CORS = {
  'access-control-allow-origin': '*',
};
const PREFLIGHT = {
  ...CORS,
  'access-control-allow-methods': 'GET, HEAD, OPTIONS',
  'access-control-allow-headers': 'Authorization, MCP-Protocol-Version, Content-Type',
  'access-control-max-age': '86400',
};

export interface ResourceMetadataDeps {
  settings: () => GateSettings;
  resources: () => ProtectedResources;
  /**
   * A host without a resource at this path whose paths belong to an app Gatehouse proxies:
   * the request is the app's (reverse-proxy mode). Anything else gets 404.
   */
  app?: { owns(req: IncomingMessage): boolean; handle(req: IncomingMessage, res: ServerResponse): void | Promise<void> };
}

export function createResourceMetadata(deps: ResourceMetadataDeps) {
  return function resourceMetadata(req: IncomingMessage, res: ServerResponse): void | Promise<void> {
    const s = deps.settings();
    let host: string;
    try {
      host = readOriginal(req, s.trusted).host;
    } catch {
      answer(res, 400, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': NO_STORE }, 'bad request\n');
      return;
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const r = path === METADATA_PATH || path.startsWith(`${METADATA_PATH}/`) ? deps.resources().forMetadata(host, path) : null;
    if (!r) {
      if (deps.app && deps.app.owns(req)) return deps.app.handle(req, res);
      answer(
        res,
        404,
        { ...CORS, 'content-type': 'application/json', 'cache-control': NO_STORE },
        '{"error":"not_found","error_description":"no protected resource is described here"}',
      );
      return;
    }
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      answer(res, 204, PREFLIGHT);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      answer(
        res,
        405,
        { ...CORS, allow: 'GET, HEAD, OPTIONS', 'content-type': 'application/json', 'cache-control': NO_STORE },
        '{"error":"invalid_request","error_description":"method not allowed"}',
      );
      return;
    }
    // Short caching: a config reload may change scopes; clients fetch it once per session anyway.
    answer(
      res,
      200,
      { ...CORS, 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
      method === 'HEAD' ? undefined : r.metadataJson,
    );
  };
}
