// The store room: small ports, migrations, and the SQLite and PostgreSQL adapters behind them.

export { openStore } from './open.ts';
export { MIGRATIONS, LATEST_SCHEMA_VERSION } from './migrations.ts';
export { redactUrl } from './url.ts';
export type {
  UserRecord,
  IdentityRecord,
  SessionRecord,
  SessionStore,
  TicketStore,
  AuditEvent,
  AuditQuery,
  AuditStore,
  Store,
  OidcFound,
  OidcStore,
  SigningKeyRecord,
  SigningKeyStore,
  PasskeyRecord,
  ConsentRecord,
  InvitationRecord,
  InvitationStore,
  RevocationRelay,
} from './ports.ts';
