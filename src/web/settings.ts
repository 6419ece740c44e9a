// What the gate, the portal and the issuer need from the current config, built once per config
// load and swapped whole on reload (a request sees one consistent set). Here, below the gate, so
// the portal and the issuer read it without importing the gateway.
import type { KeyRing } from '../crypto/index.ts';
import type { Policy } from '../policy/index.ts';
import type { TrustedProxies } from '../http/index.ts';

export interface HeaderNames {
  user: string;
  email: string;
  groups: string;
  preferredUsername: string;
}

export interface DomainSetting {
  domain: string;
  cookieDomain?: string | undefined;
  allowHttp: boolean;
}

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
  /**
   * Who must use a second factor (factors.require), or null when no factor is on: the gate sends
   * a session of theirs without one to the portal (enrolment or step-up) before any app.
   */
  factorsRequired: { everyone: boolean; groups: ReadonlySet<string> } | null;
}

/** Whether config requires this identity to use a second factor. */
export function mustUseFactor(s: Pick<GateSettings, 'factorsRequired'>, groups: readonly string[]): boolean {
  const r = s.factorsRequired;
  if (r === null) return false;
  if (r.everyone) return true;
  for (const g of groups) if (r.groups.has(g)) return true;
  return false;
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return i === -1 ? host : host.slice(0, i);
}

/** The configured domain a host belongs to, on a label boundary, or undefined. */
export function domainFor(s: Pick<GateSettings, 'domains'>, host: string): DomainSetting | undefined {
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
export function cookieDomainFor(s: Pick<GateSettings, 'domains'>, host: string): string | undefined {
  const d = domainFor(s, host);
  if (!d || d.domain === 'localhost') return undefined;
  return d.cookieDomain ?? d.domain;
}

/** Whether a cookie set for the portal host is also sent to `host`. */
export function sharesPortalCookie(s: Pick<GateSettings, 'domains' | 'portalHost'>, host: string): boolean {
  const portal = cookieDomainFor(s, s.portalHost);
  if (portal === undefined) return stripPort(host).toLowerCase() === stripPort(s.portalHost);
  const name = stripPort(host).toLowerCase();
  return name === portal || name.endsWith('.' + portal);
}

export { stripPort };
