// The resource servers the issuer mints access tokens for (RFC 8707):
//   - the protected resources of the gate (`resources[]`), with their scopes;
//   - the apps that take bearer tokens at the gate (`apps[].audience`), without scopes: the
//     app's allow/deny decides, not a scope.
// A token for either is an RFC 9068 JWT (typ at+jwt) signed ES256 whose `aud` is exactly the
// resource's canonical URL (or the app's audience), so the gate verifies it locally.
import type { Config } from '../config/index.ts';

export interface ResourceServerInfo {
  scope: string;
  audience: string;
  accessTokenFormat: 'jwt';
  accessTokenTTL: number;
  jwt: { sign: { alg: 'ES256' } };
}

/** A resource server as the issuer sees it: the audience and the scopes it understands. */
export interface ResourceServer {
  audience: string;
  scopes: readonly string[];
  kind: 'resource' | 'app';
}

/** The resource server named exactly by `indicator`, or undefined (→ invalid_target). */
export function findResource(config: Config, indicator: string): ResourceServer | undefined {
  const r = config.resources.find((x) => x.resource === indicator);
  if (r) return { audience: r.resource, scopes: r.scopes, kind: 'resource' };
  const app = config.apps.find((a) => a.audience === indicator);
  if (app) return { audience: indicator, scopes: [], kind: 'app' };
  return undefined;
}

export function resourceServerInfo(r: ResourceServer, accessTokenLifetimeMs: number): ResourceServerInfo {
  return {
    // offline_access is the authorization server's scope, never a resource's (MCP.md).
    scope: r.scopes.filter((s) => s !== 'offline_access').join(' '),
    audience: r.audience,
    accessTokenFormat: 'jwt',
    accessTokenTTL: Math.max(1, Math.floor(accessTokenLifetimeMs / 1000)),
    jwt: { sign: { alg: 'ES256' } },
  };
}
