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

/**
 * A resource indicator in canonical form (RFC 3986 §6.2.2 and §6.2.3): scheme and host lower
 * case, no default port, dot segments resolved, percent-encoding normalized (unreserved decoded,
 * hex upper case), an empty path "/". Path and query keep their case. null: not an absolute URL.
 */
export function canonicalResource(indicator: string): string | null {
  let u: URL;
  try {
    u = new URL(indicator);
  } catch {
    return null;
  }
  if (u.hash !== '' || u.username !== '' || u.password !== '') return null;
  const pct = (s: string) =>
    s.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
      const c = String.fromCharCode(parseInt(hex, 16));
      return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${hex.toUpperCase()}`;
    });
  return `${u.protocol}//${u.host}${pct(u.pathname)}${pct(u.search)}`;
}

/**
 * The resource server `indicator` names, compared in canonical form (HTTPS://MCP.Example.org/mcp
 * is https://mcp.example.org/mcp), or undefined (→ invalid_target). The audience is always the
 * configured spelling, so the gate compares aud exactly.
 */
export function findResource(config: Config, indicator: string): ResourceServer | undefined {
  const want = canonicalResource(indicator);
  const same = (configured: string) => configured === indicator || (want !== null && canonicalResource(configured) === want);
  const r = config.resources.find((x) => same(x.resource));
  if (r) return { audience: r.resource, scopes: r.scopes, kind: 'resource' };
  const app = config.apps.find((a) => a.audience !== undefined && same(a.audience));
  if (app?.audience !== undefined) return { audience: app.audience, scopes: [], kind: 'app' };
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
