// Claim mapping: `dot.path` lookups into a claims object (Keycloak's realm_access.roles), and
// the shapes providers use for groups (an array of strings, or one string).

/** The value at a dot path; a key containing a dot is matched whole first (some claims are URLs). */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let cur: unknown = claims;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function claimString(claims: Record<string, unknown>, path: string): string | null {
  const v = claimAt(claims, path);
  return typeof v === 'string' && v !== '' ? v : null;
}

/** Groups: an array (strings kept, anything else dropped) or a single string; else none. */
export function claimStrings(claims: Record<string, unknown>, path: string): string[] {
  const v = claimAt(claims, path);
  if (typeof v === 'string') return v === '' ? [] : [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x !== '');
  return [];
}

/** Only a literal true (or the string "true", which some providers send) counts as verified. */
export function claimTrue(claims: Record<string, unknown>, path: string): boolean {
  const v = claimAt(claims, path);
  return v === true || v === 'true';
}
