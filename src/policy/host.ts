// Host matching. Hosts compare case-insensitively (RFC 4343), without a trailing dot (the
// absolute form of the same name, RFC 1034 §3.1) and without a default port (80 or 443: the
// scheme is not known here, and either is the default of one of them).
//
// A pattern without a port matches the name on any port (a proxy on :8443 in front of the same
// app); a pattern with a port (grafana.example.org:3000) matches only that port. "*.example.org" matches any
// subdomain on a label boundary (a.example.org, a.b.example.org) and never example.org itself
// nor evilexample.org.

export interface HostParts {
  /** Lowercase name without trailing dot; IPv6 literals keep their brackets. */
  readonly name: string;
  /** Port digits, or "" for none or a default port. */
  readonly port: string;
}

const COLON = 58;

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

export function splitHost(host: string): HostParts {
  const h = hasUpper(host) ? host.toLowerCase() : host;
  let portAt = -1;
  if (h.charCodeAt(0) === 91 /* [ */) {
    const close = h.indexOf(']');
    if (close !== -1 && h.charCodeAt(close + 1) === COLON) portAt = close + 1;
  } else {
    const colon = h.indexOf(':');
    // More than one colon without brackets is not host:port; keep it whole so it matches nothing.
    if (colon !== -1 && h.indexOf(':', colon + 1) === -1) portAt = colon;
  }
  let name = portAt === -1 ? h : h.slice(0, portAt);
  let port = portAt === -1 ? '' : h.slice(portAt + 1);
  if (port === '80' || port === '443') port = '';
  if (name.length > 1 && name.charCodeAt(name.length - 1) === 46 /* . */) name = name.slice(0, -1);
  return { name, port };
}

/** The key a host is indexed under: "name" or "name:port". */
export function hostKey(parts: HostParts): string {
  return parts.port === '' ? parts.name : `${parts.name}:${parts.port}`;
}

export interface HostPattern {
  readonly source: string;
  /** For "*.example.org": "example.org"; for an exact pattern: the whole name. */
  readonly base: string;
  readonly port: string;
  readonly wildcard: boolean;
}

export function compileHostPattern(pattern: string): HostPattern {
  const wildcard = pattern.startsWith('*.');
  const { name, port } = splitHost(wildcard ? pattern.slice(2) : pattern);
  return { source: pattern, base: name, port, wildcard };
}

/** Does `name` end with ".<base>" after one or more whole labels, none of them empty? */
export function isSubdomainOf(name: string, base: string): boolean {
  const at = name.length - base.length - 1;
  return (
    at > 0 &&
    name.charCodeAt(0) !== 46 &&
    name.charCodeAt(at) === 46 &&
    name.charCodeAt(at - 1) !== 46 &&
    name.endsWith(base) &&
    !name.includes(':') &&
    !name.includes('..')
  );
}

export function matchHostPattern(p: HostPattern, host: HostParts): boolean {
  if (p.port !== '' && p.port !== host.port) return false;
  return p.wildcard ? isSubdomainOf(host.name, p.base) : host.name === p.base;
}

/** One-off check (the engine compiles its patterns once instead). */
export function hostMatches(pattern: string, host: string): boolean {
  return matchHostPattern(compileHostPattern(pattern), splitHost(host));
}
