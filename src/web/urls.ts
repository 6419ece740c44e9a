// Portal URLs: the one builder of every address of the portal and the issuer.
import { stripPort, type GateSettings } from './settings.ts';

/** What a URL needs from the settings: publicUrl (its origin and its path). */
export type PortalAt = Pick<GateSettings, 'publicUrl'>;

// The portal and the issuer live under publicUrl's path on the portal host
// (https://example.org/auth: /auth/oauth2/sign_in, /auth/oidc/*, /auth/.well-known/…); the gate's
// proxy-facing paths stay at the root of every host (/oauth2/auth is called by the proxy itself,
// and /oauth2/start, /oauth2/ticket, /oauth2/sign_out on an app host are that host's). Every
// portal address is built here, so none forgets the base path.

/** publicUrl's path without a trailing slash ('' at the root): the portal's base path. */
export function portalBase(s: PortalAt): string {
  const p = s.publicUrl.pathname;
  return p.endsWith('/') ? p.slice(0, -1) : p;
}

function withQuery(path: string, query: Record<string, string> | undefined): string {
  if (!query) return path;
  const parts = Object.entries(query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return parts.length ? `${path}?${parts.join('&')}` : path;
}

/** A portal path under the base path: portalPath(s, '/oauth2/sign_in') is '/auth/oauth2/sign_in'. */
export function portalPath(s: PortalAt, path: string, query?: Record<string, string>): string {
  return withQuery(`${portalBase(s)}${path}`, query);
}

/** The absolute portal URL of a path: publicUrl's origin, the base path, the path. */
export function portalUrl(s: PortalAt, path: string, query?: Record<string, string>): string {
  return `${s.publicUrl.origin}${portalPath(s, path, query)}`;
}

/** Whether a request path is the portal's (under the base path; everything when there is none). */
export function underPortalBase(s: PortalAt, path: string): boolean {
  const base = portalBase(s);
  return base === '' || path === base || path.startsWith(`${base}/`);
}

/**
 * Whether a request host is the portal's. Ports are ignored: a proxy may pass `$host` without
 * the port the browser used, and the portal is one name whatever the port.
 */
export function isPortalHost(s: Pick<GateSettings, 'portalHost'>, host: string): boolean {
  return stripPort(host).toLowerCase() === stripPort(s.portalHost);
}
