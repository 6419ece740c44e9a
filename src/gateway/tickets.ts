// Cross-domain sign-in. A cookie is bound to its domain, so a session made at the portal on
// example.org is carried to example.net by a ticket: random, single-use, valid for a minute,
// stored only as a hash, its payload sealed. Any replica can redeem what another issued.
import { randomId } from '../core/index.ts';
import { hashToken, type KeyRing } from '../crypto/index.ts';
import type { TicketStore } from '../store/index.ts';

const PURPOSE = 'domain-ticket';
export const TICKET_LIFETIME_MS = 60_000;

interface TicketPayload {
  cookie: string;
  host: string;
  exp: number;
}

export async function issueTicket(tickets: TicketStore, keyring: KeyRing, cookie: string, host: string, now: number): Promise<string> {
  const token = randomId(24);
  const payload: TicketPayload = { cookie, host: host.toLowerCase(), exp: now + TICKET_LIFETIME_MS };
  await tickets.put(hashToken(token), keyring.seal(PURPOSE, JSON.stringify(payload)), payload.exp);
  return token;
}

/** The session cookie a ticket carries, once, and only on the host it was issued for. */
export async function redeemTicket(
  tickets: TicketStore,
  keyring: KeyRing,
  token: string,
  host: string,
  now: number,
): Promise<string | undefined> {
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(token)) return undefined;
  const sealed = await tickets.consume(hashToken(token), now);
  if (!sealed) return undefined;
  const raw = keyring.unseal(PURPOSE, sealed);
  if (!raw) return undefined;
  const p = JSON.parse(raw.toString('utf8')) as TicketPayload;
  if (p.exp <= now || p.host !== host.toLowerCase()) return undefined;
  return p.cookie;
}
