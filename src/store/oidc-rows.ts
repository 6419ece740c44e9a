// Row mapping for the issuer's tables, shared by both adapters (pg hands back bigint as strings).
import type { ConsentRecord, OidcFound, SigningKeyRecord } from './ports.ts';
import type { Row } from './rows.ts';

const numOrNull = (v: unknown): number | null => (v == null ? null : Number(v));

export function toOidcFound(r: Row): OidcFound {
  return { payload: String(r.payload), consumedAt: numOrNull(r.consumed_at) };
}

export function toSigningKey(r: Row): SigningKeyRecord {
  return {
    kid: String(r.kid),
    alg: String(r.alg) as SigningKeyRecord['alg'],
    publicJwk: String(r.public_jwk),
    sealedPrivateJwk: String(r.sealed_private_jwk),
    createdAt: Number(r.created_at),
    retiredAt: numOrNull(r.retired_at),
    retireAfter: numOrNull(r.retire_after),
  };
}

export function toConsent(r: Row): ConsentRecord {
  return {
    userId: String(r.user_id),
    clientId: String(r.client_id),
    scopes: JSON.parse(String(r.scopes)) as string[],
    resources: JSON.parse(String(r.resources)) as string[],
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** The union of two lists, sorted and unique (consents only ever grow until revoked). */
export function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}
