// The ordered list of schema migrations, one SQL text per engine. Append only: a released
// migration is never edited, a fix is a new version. Each runs in its own transaction under the
// migration lock; `schema_migrations` (made by the runner, not by a migration) records it.

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

// Usernames are unique case-insensitively through `username_key` (the username lowercased by
// the adapter in JS), so both engines fold case the same way: SQLite's NOCASE folds ASCII only
// and PostgreSQL's lower() depends on the database locale.
const V1_SQLITE = `
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL,
  username_key TEXT NOT NULL,
  email TEXT,
  email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
  name TEXT,
  groups TEXT NOT NULL DEFAULT '[]',
  password_hash TEXT,
  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  CONSTRAINT users_username_unique UNIQUE (username_key)
);
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  revoked_at INTEGER,
  ip TEXT,
  user_agent TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at);
CREATE TABLE tickets (
  id TEXT PRIMARY KEY,
  payload TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX tickets_expires_at ON tickets (expires_at);
CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'error')),
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit (at, id);
CREATE INDEX audit_actor ON audit (actor, at, id);
`;

const V1_POSTGRES = `
CREATE TABLE users (
  id text PRIMARY KEY,
  username text NOT NULL,
  username_key text NOT NULL,
  email text,
  email_verified boolean NOT NULL DEFAULT false,
  name text,
  groups jsonb NOT NULL DEFAULT '[]'::jsonb,
  password_hash text,
  disabled boolean NOT NULL DEFAULT false,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  CONSTRAINT users_username_unique UNIQUE (username_key)
);
CREATE TABLE sessions (
  id text PRIMARY KEY,
  user_id text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  last_seen_at bigint NOT NULL,
  revoked_at bigint,
  ip text,
  user_agent text
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at);
CREATE TABLE tickets (
  id text PRIMARY KEY,
  payload text NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX tickets_expires_at ON tickets (expires_at);
CREATE TABLE audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at bigint NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text,
  outcome text NOT NULL CHECK (outcome IN ('ok', 'denied', 'error')),
  detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_at ON audit (at, id);
CREATE INDEX audit_actor ON audit (actor, at, id);
`;

// Upstream identities (connectors): one row per (connector, upstream subject), linked to a user.
// `groups` are the upstream groups after mapping, `tokens` the upstream refresh/access tokens
// sealed with the key ring (never plaintext at rest); `refreshed_at` drives the refresh interval.
const V2_SQLITE = `
CREATE TABLE identities (
  connector_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  user_id TEXT NOT NULL,
  username TEXT,
  email TEXT,
  groups TEXT NOT NULL DEFAULT '[]',
  tokens TEXT,
  created_at INTEGER NOT NULL,
  signed_in_at INTEGER NOT NULL,
  refreshed_at INTEGER NOT NULL,
  PRIMARY KEY (connector_id, subject)
);
CREATE INDEX identities_user_id ON identities (user_id);
`;

const V2_POSTGRES = `
CREATE TABLE identities (
  connector_id text NOT NULL,
  subject text NOT NULL,
  user_id text NOT NULL,
  username text,
  email text,
  groups jsonb NOT NULL DEFAULT '[]'::jsonb,
  tokens text,
  created_at bigint NOT NULL,
  signed_in_at bigint NOT NULL,
  refreshed_at bigint NOT NULL,
  PRIMARY KEY (connector_id, subject)
);
CREATE INDEX identities_user_id ON identities (user_id);
`;

// The OpenID provider's records (oidc-provider's models: sessions, codes, tokens, grants,
// interactions) and its signing keys. `id`, `uid` and `user_code` hold SHA-256 hashes of the
// bearer values (the issuer hashes them), so a leaked table cannot be replayed; a signing key's
// private JWK is sealed by the key ring, its public JWK is published as is.
const V3_SQLITE = `
CREATE TABLE oidc_records (
  model TEXT NOT NULL,
  id TEXT NOT NULL,
  payload TEXT NOT NULL,
  grant_id TEXT,
  uid TEXT,
  user_code TEXT,
  expires_at INTEGER,
  consumed_at INTEGER,
  PRIMARY KEY (model, id)
);
CREATE INDEX oidc_records_grant_id ON oidc_records (grant_id);
CREATE INDEX oidc_records_uid ON oidc_records (uid);
CREATE INDEX oidc_records_user_code ON oidc_records (user_code);
CREATE INDEX oidc_records_expires_at ON oidc_records (expires_at);
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL CHECK (alg IN ('ES256', 'RS256')),
  public_jwk TEXT NOT NULL,
  sealed_private_jwk TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER,
  retire_after INTEGER
);
`;

const V3_POSTGRES = `
CREATE TABLE oidc_records (
  model text NOT NULL,
  id text NOT NULL,
  payload text NOT NULL,
  grant_id text,
  uid text,
  user_code text,
  expires_at bigint,
  consumed_at bigint,
  PRIMARY KEY (model, id)
);
CREATE INDEX oidc_records_grant_id ON oidc_records (grant_id);
CREATE INDEX oidc_records_uid ON oidc_records (uid);
CREATE INDEX oidc_records_user_code ON oidc_records (user_code);
CREATE INDEX oidc_records_expires_at ON oidc_records (expires_at);
CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL CHECK (alg IN ('ES256', 'RS256')),
  public_jwk text NOT NULL,
  sealed_private_jwk text NOT NULL,
  created_at bigint NOT NULL,
  retired_at bigint,
  retire_after bigint
);
`;

// RFC 9449 §11.1: the jti of every DPoP proof accepted, kept until the proof could no longer pass
// the iat window, so a replay is refused by whichever replica it reaches. `key` is a hash.
const V4_SQLITE = `
CREATE TABLE dpop_proofs (
  key TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
`;

const V4_POSTGRES = `
CREATE TABLE dpop_proofs (
  key text PRIMARY KEY,
  expires_at bigint NOT NULL
);
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
`;

// Remembered consent (one row per user and client: the union of the scopes and resources the
// user allowed) and the owner of each OpenID record (account and client), so a user's grants,
// refresh tokens and OpenID sessions can be revoked at once (user disable/delete, revoke-grant).
// Records written before this migration have no owner and are not found by it; they expire.
const V5_SQLITE = `
CREATE TABLE consents (
  user_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  scopes TEXT NOT NULL DEFAULT '[]',
  resources TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, client_id)
);
ALTER TABLE oidc_records ADD COLUMN account_id TEXT;
ALTER TABLE oidc_records ADD COLUMN client_id TEXT;
CREATE INDEX oidc_records_account ON oidc_records (account_id, client_id);
`;

const V5_POSTGRES = `
CREATE TABLE consents (
  user_id text NOT NULL,
  client_id text NOT NULL,
  scopes text NOT NULL DEFAULT '[]',
  resources text NOT NULL DEFAULT '[]',
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (user_id, client_id)
);
ALTER TABLE oidc_records ADD COLUMN account_id text;
ALTER TABLE oidc_records ADD COLUMN client_id text;
CREATE INDEX oidc_records_account ON oidc_records (account_id, client_id);
`;

// Invitations (a link to enrol with, its groups, uses and expiry) and single-use account links
// (password reset). Both keep only the SHA-256 of the token a link carries, so a leaked table
// opens nothing; an invitation's `id` is a short public name for listing and revoking it.
const V7_SQLITE = `
CREATE TABLE invitations (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL,
  groups TEXT NOT NULL DEFAULT '[]',
  email TEXT,
  max_uses INTEGER NOT NULL CHECK (max_uses >= 1),
  uses INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER,
  CONSTRAINT invitations_token_hash_unique UNIQUE (token_hash)
);
CREATE INDEX invitations_expires_at ON invitations (expires_at);
CREATE TABLE account_tokens (
  token_hash TEXT PRIMARY KEY,
  purpose TEXT NOT NULL CHECK (purpose IN ('reset')),
  user_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at ON account_tokens (expires_at);
`;

const V7_POSTGRES = `
CREATE TABLE invitations (
  id text PRIMARY KEY,
  token_hash text NOT NULL,
  groups jsonb NOT NULL DEFAULT '[]'::jsonb,
  email text,
  max_uses integer NOT NULL CHECK (max_uses >= 1),
  uses integer NOT NULL DEFAULT 0,
  created_by text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  revoked_at bigint,
  CONSTRAINT invitations_token_hash_unique UNIQUE (token_hash)
);
CREATE INDEX invitations_expires_at ON invitations (expires_at);
CREATE TABLE account_tokens (
  token_hash text PRIMARY KEY,
  purpose text NOT NULL CHECK (purpose IN ('reset')),
  user_id text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at ON account_tokens (expires_at);
`;

// Second factors. A session records how it signed in (`factors`, JSON: amr and when a second
// factor and a passkey were last used; null for a password only), for explain and the admin
// view; the gate reads the same state from the cookie. A TOTP secret is sealed by the key ring before it is stored; `last_step` makes
// each code single-use on every replica (a conditional UPDATE). Passkeys keep their public key
// only. Recovery codes are stored as SHA-256 hashes of high-entropy codes, each used once.
const FACTORS_SQLITE = `
ALTER TABLE sessions ADD COLUMN factors TEXT;
CREATE TABLE totp_factors (
  user_id TEXT PRIMARY KEY,
  sealed_secret TEXT NOT NULL,
  confirmed_at INTEGER,
  last_step INTEGER,
  created_at INTEGER NOT NULL
);
CREATE TABLE passkeys (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  public_key TEXT NOT NULL,
  counter INTEGER NOT NULL DEFAULT 0,
  transports TEXT NOT NULL DEFAULT '[]',
  discoverable INTEGER NOT NULL DEFAULT 0 CHECK (discoverable IN (0, 1)),
  backed_up INTEGER NOT NULL DEFAULT 0 CHECK (backed_up IN (0, 1)),
  created_at INTEGER NOT NULL,
  last_used_at INTEGER
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);
CREATE TABLE recovery_codes (
  user_id TEXT NOT NULL,
  hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  used_at INTEGER,
  PRIMARY KEY (user_id, hash)
);
`;

const FACTORS_POSTGRES = `
ALTER TABLE sessions ADD COLUMN factors text;
CREATE TABLE totp_factors (
  user_id text PRIMARY KEY,
  sealed_secret text NOT NULL,
  confirmed_at bigint,
  last_step bigint,
  created_at bigint NOT NULL
);
CREATE TABLE passkeys (
  id text PRIMARY KEY,
  user_id text NOT NULL,
  name text NOT NULL,
  public_key text NOT NULL,
  counter bigint NOT NULL DEFAULT 0,
  transports jsonb NOT NULL DEFAULT '[]'::jsonb,
  discoverable boolean NOT NULL DEFAULT false,
  backed_up boolean NOT NULL DEFAULT false,
  created_at bigint NOT NULL,
  last_used_at bigint
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);
CREATE TABLE recovery_codes (
  user_id text NOT NULL,
  hash text NOT NULL,
  created_at bigint NOT NULL,
  used_at bigint,
  PRIMARY KEY (user_id, hash)
);
`;

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { version: 1, name: 'users_sessions_tickets_audit', sqlite: V1_SQLITE, postgres: V1_POSTGRES },
  { version: 2, name: 'upstream_identities', sqlite: V2_SQLITE, postgres: V2_POSTGRES },
  { version: 3, name: 'oidc_records_signing_keys', sqlite: V3_SQLITE, postgres: V3_POSTGRES },
  { version: 4, name: 'dpop_proofs', sqlite: V4_SQLITE, postgres: V4_POSTGRES },
  { version: 5, name: 'consents_oidc_owners', sqlite: V5_SQLITE, postgres: V5_POSTGRES },
  { version: 6, name: 'invitations_account_tokens', sqlite: V7_SQLITE, postgres: V7_POSTGRES },
  { version: 7, name: 'second_factors', sqlite: FACTORS_SQLITE, postgres: FACTORS_POSTGRES },
]);

export const LATEST_SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
