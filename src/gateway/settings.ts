// What the gate and the portal need from the current config, built once per config load and
// swapped whole on reload (a request sees one consistent set).
import type { KeyRing } from '../crypto/index.ts';
import type { Policy } from '../policy/index.ts';
import type { TrustedProxies } from '../http/index.ts';

export interface HeaderNames { user: string; email: string; groups: string; preferredUsername: string }

export interface DomainSetting { domain: string; cookieDomain?: string | undefined; allowHttp: boolean }

export interface GateSettings {
  publicUrl: URL;
  /** publicUrl's host (with port when not the default), lowercase. */
  portalHost: string;
  cookieName: string;
  secureCookies: boolean;
  domains: DomainSetting[];
  policy: Policy;
  trusted: TrustedProxies;
  keyring: KeyRing;
  defaultHeaders: HeaderNames;
  loginStateMs: number;
  sessionLifetimeMs: number;
  /** Lower-cased header names the gate always sets, for the reverse proxy to strip. */
  identityHeaderNames: string[];
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return i === -1 ? host : host.slice(0, i);
}

/** The configured domain a host belongs to, on a label boundary, or undefined. */
export function domainFor(s: GateSettings, host: string): DomainSetting | undefined {
  const name = stripPort(host).toLowerCase();
  let best: DomainSetting | undefined;
  for (const d of s.domains) {
    if (name === d.domain || name.endsWith('.' + d.domain)) {
      if (!best || d.domain.length > best.domain.length) best = d;
    }
  }
  return best;
}

/**
 * The Domain attribute for a session cookie set on `host`: the configured cookie domain (or
 * the domain itself), so one cookie covers every app on it; undefined (a host-only cookie)
 * for hosts outside any configured domain and for `localhost`, which browsers refuse as a
 * Domain attribute.
 */
export function cookieDomainFor(s: GateSettings, host: string): string | undefined {
  const d = domainFor(s, host);
  if (!d || d.domain === 'localhost') return undefined;
  return d.cookieDomain ?? d.domain;
}

/** Whether a cookie set for the portal host is also sent to `host`. */
export function sharesPortalCookie(s: GateSettings, host: string): boolean {
  const portal = cookieDomainFor(s, s.portalHost);
  if (portal === undefined) return stripPort(host).toLowerCase() === stripPort(s.portalHost);
  const name = stripPort(host).toLowerCase();
  return name === portal || name.endsWith('.' + portal);
}

export { stripPort };

// ---- Portal URLs. The portal and the issuer live under publicUrl's path on the portal host
// (https://example.org/auth: /auth/oauth2/sign_in, /auth/oidc/*, /auth/.well-known/…); the gate's
// proxy-facing paths stay at the root of every host (/oauth2/auth is called by the proxy itself,
// and /oauth2/start, /oauth2/ticket, /oauth2/sign_out on an app host are that host's). Every
// portal address is built here, so none forgets the base path.

/** publicUrl's path without a trailing slash ('' at the root): the portal's base path. */
export function portalBase(s: Pick<GateSettings, 'publicUrl'>): string {
  const p = s.publicUrl.pathname;
  return p.endsWith('/') ? p.slice(0, -1) : p;
}

function withQuery(path: string, query: Record<string, string> | undefined): string {
  if (!query) return path;
  const parts = Object.entries(query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return parts.length ? `${path}?${parts.join('&')}` : path;
}

/** A portal path under the base path: portalPath(s, '/oauth2/sign_in') is '/auth/oauth2/sign_in'. */
export function portalPath(s: Pick<GateSettings, 'publicUrl'>, path: string, query?: Record<string, string>): string {
  return withQuery(`${portalBase(s)}${path}`, query);
}

/** The absolute portal URL of a path: publicUrl's origin, the base path, the path. */
export function portalUrl(s: Pick<GateSettings, 'publicUrl'>, path: string, query?: Record<string, string>): string {
  return `${s.publicUrl.origin}${portalPath(s, path, query)}`;
}

/** Whether a request path is the portal's (under the base path; everything when there is none). */
export function underPortalBase(s: Pick<GateSettings, 'publicUrl'>, path: string): boolean {
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
