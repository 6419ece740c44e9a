// The claims Gatehouse releases about a user, by scope, and the per-client filter on top.
// `email_verified` is true only for an address the store has verified (the Kubernetes API server
// refuses an email claim whose email_verified is false); `groups` is always an array of strings.
import type { CLIENT_CLAIMS } from '../config/index.ts';
import type { Identity } from '../core/index.ts';

export type ReleasableClaim = (typeof CLIENT_CLAIMS)[number];

/** Scope → claims (OpenID Connect Core §5.4, plus `groups`). */
export const SCOPE_CLAIMS: Record<string, ReleasableClaim[]> = {
  profile: ['name', 'preferred_username'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

export function userClaims(
  sub: string,
  identity: Identity,
  name: string | null,
  allowed: readonly ReleasableClaim[] | undefined,
): Record<string, unknown> {
  const all: Record<ReleasableClaim, unknown> = {
    preferred_username: identity.username,
    name: name ?? identity.username,
    email: identity.email ?? undefined,
    email_verified: identity.email ? identity.emailVerified === true : undefined,
    groups: [...identity.groups].map(String),
  };
  const out: Record<string, unknown> = { sub };
  for (const [k, v] of Object.entries(all) as [ReleasableClaim, unknown][]) {
    if (v === undefined) continue;
    if (allowed && !allowed.includes(k)) continue;
    out[k] = v;
  }
  return out;
}
