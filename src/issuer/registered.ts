// Registered clients (RFC 7591): the registration screen's limits, the client address of each
// registration request (for its audit event: the provider sees the request after the proxy
// headers are rewritten), the audit of each registration, and the unused-client expiry.
import type { IncomingMessage } from 'node:http';
import type { Clock, Logger } from '../core/index.ts';
import type { Config } from '../config/index.ts';
import type { AuditEvent, Store } from '../store/index.ts';
import type { GateSettings } from '../web/index.ts';
import { adapterFor } from './adapter.ts';
import { createRegistrationGuard } from './registration.ts';
import type { RecordCache } from './record-cache.ts';

export type IssuerAudit = (e: Omit<AuditEvent, 'at' | 'target'> & { target?: string | null }) => void;

export function registeredClients(o: {
  store: Store;
  clock: Clock;
  logger: Logger;
  config: () => Config;
  settings: () => GateSettings;
  audit: IssuerAudit;
  /** The issuer's record cache: a client written here is read from the store again. */
  recordCache: RecordCache;
}) {
  const { store, clock, logger, audit } = o;
  // Registration (RFC 7591) limits, and the client address of each registration request for its
  // audit event (the provider sees the request after the proxy headers are rewritten).
  const registrations = createRegistrationGuard({ limits: () => o.config().issuer.registrationLimits, clock, logger });
  const registrationIp = new WeakMap<IncomingMessage, string>();
  const clientAdapter = () => new (adapterFor(store.oidc, clock, { keyring: o.settings().keyring, cache: o.recordCache }))('Client');
  const touchedAt = new Map<string, number>();
  /**
   * A registered client was used (or just made): it lives issuer.registrationLimits.unusedClientLifetime
   * from now. Written at most once an hour per client (and the map of those times is bounded).
   */
  async function clientUsed(clientId: string, fresh: boolean): Promise<void> {
    const now = clock.now();
    const last = touchedAt.get(clientId);
    if (!fresh && last !== undefined && now - last < 3_600_000) return;
    if (touchedAt.size >= 10_000) touchedAt.clear();
    touchedAt.set(clientId, now);
    const a = clientAdapter();
    const payload = await a.find(clientId);
    if (!payload) return;
    await a.upsert(clientId, payload, Math.max(1, Math.floor(o.config().issuer.registrationLimits.unusedClientLifetime / 1000)));
  }
  function registered(
    req: IncomingMessage,
    c: { clientId: string; clientName?: string; redirectUris: string[]; applicationType?: string; authMethod?: string },
  ): Promise<void> {
    const ip = registrationIp.get(req) ?? null;
    // Never the secret or the registration access token: who, what for, from where.
    logger.info(
      {
        event: 'client_registered',
        client: c.clientId,
        name: c.clientName,
        redirectUris: c.redirectUris,
        applicationType: c.applicationType,
        authMethod: c.authMethod,
        ip,
      },
      'client registered',
    );
    audit({
      actor: ip ? `anonymous@${ip}` : 'anonymous',
      action: 'client_registered',
      outcome: 'ok',
      target: c.clientId,
      detail: { name: c.clientName ?? null, redirectUris: c.redirectUris, applicationType: c.applicationType ?? 'web', ip },
    });
    return clientUsed(c.clientId, true).catch((err: unknown) =>
      logger.warn({ err: (err as Error).message, client: c.clientId }, "could not set the registered client's expiry"),
    );
  }

  return { registrations, registrationIp, clientUsed, registered };
}
