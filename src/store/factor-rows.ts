// Row mapping for the second-factor tables, shared by both adapters (see rows.ts for why every
// field is normalised).
import type { PasskeyRecord, TotpRecord } from './ports.ts';
import type { Row } from './rows.ts';

const numOrNull = (v: unknown): number | null => (v == null ? null : Number(v));

export function toTotp(r: Row): TotpRecord {
  return {
    userId: String(r.user_id),
    sealedSecret: String(r.sealed_secret),
    confirmedAt: numOrNull(r.confirmed_at),
    lastStep: numOrNull(r.last_step),
    createdAt: Number(r.created_at),
  };
}

export function toPasskey(r: Row): PasskeyRecord {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    name: String(r.name),
    publicKey: String(r.public_key),
    counter: Number(r.counter),
    transports: (typeof r.transports === 'string' ? JSON.parse(r.transports) : r.transports) as string[],
    discoverable: Boolean(r.discoverable),
    backedUp: Boolean(r.backed_up),
    createdAt: Number(r.created_at),
    lastUsedAt: numOrNull(r.last_used_at),
  };
}
