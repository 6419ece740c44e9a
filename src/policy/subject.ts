// Who a rule applies to. A subject matches when any listed item matches:
//   users         username, exact, case-insensitive
//   groups        group name, exact (case-sensitive: groups come from config and upstream claims)
//   emails        address, exact, case-insensitive
//   emailDomains  the part after the single "@", exact, case-insensitive: x@sub.corp.com is not
//                 corp.com, and a@evil.com@corp.com has no single "@" so it matches nothing
//   anyUser       any signed-in identity
// Emails and email domains count only when the identity's email is verified: an unverified
// address is a claim anyone can make at an upstream provider.
import type { Identity } from '../core/index.ts';
import type { Subject } from '../config/index.ts';

export interface CompiledSubject {
  readonly source: Subject;
  readonly users: ReadonlySet<string> | null;
  readonly groups: ReadonlySet<string> | null;
  readonly emails: ReadonlySet<string> | null;
  readonly emailDomains: ReadonlySet<string> | null;
  readonly anyUser: boolean;
  /** Whether any item depends on the email (explain mentions an unverified one). */
  readonly usesEmail: boolean;
}

/** What subject matching needs from an identity, computed once per decision. */
export interface IdentityView {
  readonly identity: Identity;
  readonly username: string;
  /** Lowercase, verified, exactly one "@" with text on both sides; otherwise null. */
  readonly email: string | null;
  readonly emailDomain: string | null;
}

function lowerSet(items: readonly string[] | undefined): ReadonlySet<string> | null {
  return items === undefined || items.length === 0 ? null : new Set(items.map((s) => s.toLowerCase()));
}

export function compileSubject(subject: Subject): CompiledSubject {
  const emails = lowerSet(subject.emails);
  const emailDomains = lowerSet(subject.emailDomains);
  return {
    source: subject,
    users: lowerSet(subject.users),
    groups: subject.groups === undefined || subject.groups.length === 0 ? null : new Set(subject.groups),
    emails,
    emailDomains,
    anyUser: subject.anyUser === true,
    usesEmail: emails !== null || emailDomains !== null,
  };
}

/**
 * The view of an identity, made once per identity object: a session's identity is the same
 * object on every check until it is refreshed, and a verified token's too (the gate decides
 * twice per check, lower-casing the username and the address each time otherwise).
 */
export function viewOf(identity: Identity): IdentityView {
  let v = views.get(identity);
  if (v === undefined) {
    v = makeView(identity);
    views.set(identity, v);
  }
  return v;
}
const views = new WeakMap<Identity, IdentityView>();

function makeView(identity: Identity): IdentityView {
  let email: string | null = null;
  let emailDomain: string | null = null;
  const raw = identity.email;
  if (identity.emailVerified && raw !== null) {
    const at = raw.indexOf('@');
    if (at > 0 && at < raw.length - 1 && raw.indexOf('@', at + 1) === -1) {
      email = raw.toLowerCase();
      emailDomain = email.slice(at + 1);
    }
  }
  return { identity, username: identity.username.toLowerCase(), email, emailDomain };
}

export function subjectMatches(s: CompiledSubject, v: IdentityView): boolean {
  if (s.anyUser) return true;
  if (s.users !== null && s.users.has(v.username)) return true;
  if (s.groups !== null) {
    for (const g of v.identity.groups) if (s.groups.has(g)) return true;
  }
  if (v.email !== null) {
    if (s.emails !== null && s.emails.has(v.email)) return true;
    if (s.emailDomains !== null && s.emailDomains.has(v.emailDomain as string)) return true;
  }
  return false;
}

/** "{users: alice, bob; groups: admins}" for explain. */
export function describeSubject(s: Subject): string {
  const parts: string[] = [];
  if (s.users?.length) parts.push(`users: ${s.users.join(', ')}`);
  if (s.groups?.length) parts.push(`groups: ${s.groups.join(', ')}`);
  if (s.emails?.length) parts.push(`emails: ${s.emails.join(', ')}`);
  if (s.emailDomains?.length) parts.push(`emailDomains: ${s.emailDomains.join(', ')}`);
  if (s.anyUser) parts.push('anyUser');
  return `{${parts.join('; ')}}`;
}
