// Row mapping shared by both adapters. The engines hand back different shapes (SQLite: integers
// for booleans, JSON text; pg: strings for bigint, parsed jsonb), so every field is normalised.

import { GatehouseError } from '../core/index.ts';
import type { AccountTokenRecord, AuditEvent, AuditQuery, IdentityRecord, InvitationRecord, SessionRecord, UserRecord } from './ports.ts';

export type Row = Record<string, unknown>;

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v == null ? null : Number(v));
const strOrNull = (v: unknown): string | null => (v == null ? null : String(v));
const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

/** The key that makes usernames unique and searchable case-insensitively on every engine. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}

export function toUser(r: Row): UserRecord {
  return {
    id: String(r.id),
    username: String(r.username),
    email: strOrNull(r.email),
    emailVerified: Boolean(r.email_verified),
    name: strOrNull(r.name),
    groups: json(r.groups) as string[],
    passwordHash: strOrNull(r.password_hash),
    disabled: Boolean(r.disabled),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

export function toSession(r: Row): SessionRecord {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    lastSeenAt: num(r.last_seen_at),
    revokedAt: numOrNull(r.revoked_at),
    ip: strOrNull(r.ip),
    userAgent: strOrNull(r.user_agent),
    factors: strOrNull(r.factors),
  };
}

export function toAudit(r: Row): AuditEvent & { id: number } {
  return {
    id: num(r.id),
    at: num(r.at),
    actor: String(r.actor),
    action: String(r.action),
    target: strOrNull(r.target),
    outcome: String(r.outcome) as AuditEvent['outcome'],
    detail: json(r.detail) as Record<string, unknown>,
  };
}

/** touch() batches may name a session twice; keep the latest time for each. */
export function latestTouches(updates: readonly { id: string; lastSeenAt: number }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const u of updates) out.set(u.id, Math.max(u.lastSeenAt, out.get(u.id) ?? -Infinity));
  return out;
}

export const AUDIT_DEFAULT_LIMIT = 100;

/** The audit list limit: default 100, a positive integer otherwise. */
export function auditLimit(limit: number | undefined): number {
  if (limit === undefined) return AUDIT_DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1)
    throw new GatehouseError('invalid_request', `audit list limit must be a positive integer (got ${limit})`);
  return limit;
}

const OUTCOMES: readonly string[] = ['ok', 'denied', 'error'];

/**
 * An audit query as a WHERE clause and its parameters, checked first (a bad value is
 * invalid_request naming the field); `param(n)` is the adapter's placeholder for the n-th.
 */
export function auditWhere(q: AuditQuery, param: (n: number) => string): { where: string; params: (string | number)[]; limit: number } {
  const limit = auditLimit(q.limit);
  const clauses: string[] = [];
  const params: (string | number)[] = [];
  for (const field of ['actor', 'action', 'target', 'outcome'] as const) {
    const v = q[field];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new GatehouseError('invalid_request', `audit ${field} must be a string`);
    if (field === 'outcome' && !OUTCOMES.includes(v))
      throw new GatehouseError('invalid_request', `audit outcome must be ok, denied or error (got ${JSON.stringify(v)})`);
    params.push(v);
    clauses.push(`${field} = ${param(params.length)}`);
  }
  for (const [field, op] of [
    ['since', '>='],
    ['until', '<'],
  ] as const) {
    const v = q[field];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v))
      throw new GatehouseError('invalid_request', `audit ${field} must be a time in epoch milliseconds (got ${v})`);
    params.push(v);
    clauses.push(`at ${op} ${param(params.length)}`);
  }
  if (q.since !== undefined && q.until !== undefined && q.since > q.until) {
    throw new GatehouseError(
      'invalid_request',
      `audit since (${new Date(q.since).toISOString()}) is after until (${new Date(q.until).toISOString()})`,
    );
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params, limit };
}

/** A user patch as column/value pairs, in a fixed order; only the columns the port allows. */
export function userPatchColumns(
  patch: Partial<Pick<UserRecord, 'email' | 'emailVerified' | 'name' | 'groups' | 'passwordHash' | 'disabled'>>,
): [string, unknown][] {
  const cols: [string, unknown][] = [];
  if (patch.email !== undefined) cols.push(['email', patch.email]);
  if (patch.emailVerified !== undefined) cols.push(['email_verified', patch.emailVerified]);
  if (patch.name !== undefined) cols.push(['name', patch.name]);
  if (patch.groups !== undefined) cols.push(['groups', JSON.stringify(patch.groups)]);
  if (patch.passwordHash !== undefined) cols.push(['password_hash', patch.passwordHash]);
  if (patch.disabled !== undefined) cols.push(['disabled', patch.disabled]);
  return cols;
}

export function toIdentity(r: Row): IdentityRecord {
  return {
    connectorId: String(r.connector_id),
    subject: String(r.subject),
    userId: String(r.user_id),
    username: strOrNull(r.username),
    email: strOrNull(r.email),
    groups: json(r.groups) as string[],
    tokens: strOrNull(r.tokens),
    createdAt: num(r.created_at),
    signedInAt: num(r.signed_in_at),
    refreshedAt: num(r.refreshed_at),
  };
}

/** An identity patch as column/value pairs, in a fixed order. */
export function identityPatchColumns(
  patch: Partial<Pick<IdentityRecord, 'username' | 'email' | 'groups' | 'tokens' | 'signedInAt' | 'refreshedAt'>>,
): [string, unknown][] {
  const cols: [string, unknown][] = [];
  if (patch.username !== undefined) cols.push(['username', patch.username]);
  if (patch.email !== undefined) cols.push(['email', patch.email]);
  if (patch.groups !== undefined) cols.push(['groups', JSON.stringify(patch.groups)]);
  if (patch.tokens !== undefined) cols.push(['tokens', patch.tokens]);
  if (patch.signedInAt !== undefined) cols.push(['signed_in_at', patch.signedInAt]);
  if (patch.refreshedAt !== undefined) cols.push(['refreshed_at', patch.refreshedAt]);
  return cols;
}

/**
 * Email addresses compare case-insensitively here (JS lowercasing on both engines, like
 * usernames): SQLite's lower() folds ASCII only and PostgreSQL's depends on the locale.
 */
export function sameEmail(a: string | null, b: string): boolean {
  return a !== null && a.toLowerCase() === b.toLowerCase();
}

export function toInvitation(r: Row): InvitationRecord {
  return {
    id: String(r.id),
    tokenHash: String(r.token_hash),
    groups: json(r.groups) as string[],
    email: strOrNull(r.email),
    maxUses: num(r.max_uses),
    uses: num(r.uses),
    createdBy: String(r.created_by),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

export function toAccountToken(r: Row): AccountTokenRecord {
  return {
    tokenHash: String(r.token_hash),
    purpose: String(r.purpose) as AccountTokenRecord['purpose'],
    userId: String(r.user_id),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
  };
}
