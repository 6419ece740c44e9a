// Who a connector lets in, and how upstream groups become Gatehouse groups. Pure functions; the
// connectors check provider-specific facts (Google's hd, Entra's tid) themselves.
import type { ConnectorConfig, GroupMapping } from '../config/index.ts';
import type { ExternalIdentity } from './types.ts';

/** The email's domain when it is verified and has exactly one "@"; else null. */
function verifiedDomain(id: ExternalIdentity): string | null {
  if (!id.emailVerified || id.email === null) return null;
  const parts = id.email.split('@');
  return parts.length === 2 && parts[0] && parts[1] ? parts[1].toLowerCase() : null;
}

/** Why this identity is refused (for the log), or null when every `allow` kind matches. */
export function refusal(cfg: ConnectorConfig, id: ExternalIdentity): string | null {
  const allow = cfg.allow;
  const groups = new Set(id.groups);
  if (cfg.type === 'github') {
    const a = cfg.allow;
    if (a.orgs && !a.orgs.some((o) => groups.has(o.toLowerCase())))
      return `not a member of any organization in connectors[${cfg.id}].allow.orgs`;
    if (a.teams && !a.teams.some((t) => groups.has(t.toLowerCase())))
      return `not a member of any team in connectors[${cfg.id}].allow.teams`;
  } else if (cfg.allow.groups && !cfg.allow.groups.some((g) => groups.has(g))) {
    return `not in any group of connectors[${cfg.id}].allow.groups`;
  }
  if (allow.emailDomains || allow.emails) {
    const domain = verifiedDomain(id);
    if (domain === null) return 'no verified email address, and allow.emailDomains or allow.emails needs one';
    const email = id.email!.toLowerCase();
    if (allow.emailDomains && !allow.emailDomains.some((d) => d.toLowerCase() === domain))
      return `email domain ${domain} is not in connectors[${cfg.id}].allow.emailDomains`;
    if (allow.emails && !allow.emails.some((e) => e.toLowerCase() === email))
      return `email address is not in connectors[${cfg.id}].allow.emails`;
  }
  return null;
}

/** Upstream groups -> Gatehouse groups: explicit map entries as given, the rest prefixed (or dropped). */
export function mapGroups(mapping: GroupMapping, upstream: readonly string[]): string[] {
  const out = new Set<string>();
  for (const g of upstream) {
    const mapped = Object.hasOwn(mapping.map, g) ? mapping.map[g] : undefined;
    if (mapped) for (const m of mapped) out.add(m);
    else if (mapping.unmapped === 'keep') out.add(`${mapping.prefix}${g}`);
  }
  return [...out];
}
