// The resource servers the issuer mints access tokens for (RFC 8707): the protected resources of
// the gate (`resources[]`). A token for a resource is an RFC 9068 JWT (typ at+jwt) signed ES256
// whose `aud` is exactly the resource's canonical URL, so the gate verifies it locally.
import type { Config } from '../config/index.ts';

type ResourceConfig = Config['resources'][number];

export interface ResourceServerInfo {
  scope: string;
  audience: string;
  accessTokenFormat: 'jwt';
  accessTokenTTL: number;
  jwt: { sign: { alg: 'ES256' } };
}

/** The configured resource named exactly by `indicator`, or undefined (→ invalid_target). */
export function findResource(config: Config, indicator: string): ResourceConfig | undefined {
  return config.resources.find((r) => r.resource === indicator);
}

export function resourceServerInfo(r: ResourceConfig, accessTokenLifetimeMs: number): ResourceServerInfo {
  return {
    // offline_access is the authorization server's scope, never a resource's (MCP.md).
    scope: r.scopes.filter((s) => s !== 'offline_access').join(' '),
    audience: r.resource,
    accessTokenFormat: 'jwt',
    accessTokenTTL: Math.max(1, Math.floor(accessTokenLifetimeMs / 1000)),
    jwt: { sign: { alg: 'ES256' } },
  };
}
