// The store room: small ports, migrations, and the SQLite and PostgreSQL adapters behind them.

export { openStore, DEFAULT_LOCK_TIMEOUT_MS, type OpenStoreOptions } from './open.ts';
export { MIGRATIONS, LATEST_SCHEMA_VERSION, type Migration } from './migrations.ts';
export { redactUrl } from './url.ts';
export type {
  UserRecord, UserStore, IdentityRecord, IdentityStore, SessionRecord, SessionStore, TicketStore, AuditEvent, AuditQuery, AuditStore,
  RevocationFeed, SchemaStatus, Store, OidcRecord, OidcFound, OidcStore, SigningKeyRecord, SigningKeyStore,
  ReplayStore, FactorStore, TotpRecord, PasskeyRecord,
  ConsentRecord, ConsentStore,
  InvitationRecord, InvitationStore, AccountTokenRecord, AccountTokenStore,
} from './ports.ts';
