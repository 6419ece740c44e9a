// The store's ports: small, engine-neutral interfaces that every adapter (SQLite, PostgreSQL)
// implements and the contract suite (contract/suite.ts) pins down. Times are epoch milliseconds.

export interface UserRecord {
  id: string;
  username: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  groups: string[];
  passwordHash: string | null;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface UserStore {
  /** GatehouseError('conflict') on a duplicate id or username (usernames are unique case-insensitively). */
  create(u: Omit<UserRecord, 'createdAt' | 'updatedAt'>): Promise<UserRecord>;
  get(id: string): Promise<UserRecord | undefined>;
  /** Case-insensitive. */
  findByUsername(username: string): Promise<UserRecord | undefined>;
  /** Ordered by username, case-insensitively (ties: exact username), the same on every engine. */
  list(): Promise<UserRecord[]>;
  /** undefined when no such user; an empty patch returns the record unchanged. */
  update(
    id: string,
    patch: Partial<Pick<UserRecord, 'email' | 'emailVerified' | 'name' | 'groups' | 'passwordHash' | 'disabled'>>,
  ): Promise<UserRecord | undefined>;
  count(): Promise<number>;
  /**
   * Users whose email is this address (compared case-insensitively) and verified; for linking an
   * upstream identity by verified email. Ordered by username like list().
   */
  findByVerifiedEmail(email: string): Promise<UserRecord[]>;
  /** Deletes the user and its linked upstream identities; false when no such user. */
  delete(id: string): Promise<boolean>;
}

/** An upstream identity (a connector's subject) linked to a user. */
export interface IdentityRecord {
  connectorId: string;
  subject: string;
  userId: string;
  /** As the upstream last said; for the admin view and logs. */
  username: string | null;
  email: string | null;
  /** Upstream groups after mapping. */
  groups: string[];
  /** Upstream tokens, sealed by the caller; never stored in clear. */
  tokens: string | null;
  createdAt: number;
  signedInAt: number;
  refreshedAt: number;
}

export interface IdentityStore {
  get(connectorId: string, subject: string): Promise<IdentityRecord | undefined>;
  /** The identity of a user at a connector (a user has at most one per connector in practice; the newest sign-in wins). */
  forUser(userId: string, connectorId?: string): Promise<IdentityRecord[]>;
  /** GatehouseError('conflict') if (connectorId, subject) is already linked. */
  link(r: Omit<IdentityRecord, 'createdAt'>, at: number): Promise<IdentityRecord>;
  /** undefined when no such identity. */
  update(
    connectorId: string,
    subject: string,
    patch: Partial<Pick<IdentityRecord, 'username' | 'email' | 'groups' | 'tokens' | 'signedInAt' | 'refreshedAt'>>,
  ): Promise<IdentityRecord | undefined>;
  unlink(connectorId: string, subject: string): Promise<boolean>;
}

export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
  lastSeenAt: number;
  revokedAt: number | null;
  ip: string | null;
  userAgent: string | null;
  /** How it signed in, as JSON (policy/factors.ts FactorState); null: a password only. */
  factors: string | null;
}

export interface SessionStore {
  /** GatehouseError('conflict') on a duplicate id. */
  create(s: Omit<SessionRecord, 'revokedAt' | 'factors'> & { factors?: string | null }): Promise<void>;
  /** Records a session's new factor state (a step-up); false when no such session. */
  setFactors(id: string, factors: string): Promise<boolean>;
  get(id: string): Promise<SessionRecord | undefined>;
  /** Batch write-behind; never moves lastSeenAt backwards; unknown ids are ignored. */
  touch(updates: { id: string; lastSeenAt: number }[]): Promise<void>;
  /** Revokes a session active at `at` (not revoked, expiresAt > at); true if it was. */
  revoke(id: string, at: number): Promise<boolean>;
  /** Revokes every session of the user active at `at`; returns the ids revoked. */
  revokeForUser(userId: string, at: number): Promise<string[]>;
  /** activeAt: not revoked and expiresAt > activeAt. Newest (createdAt) first. */
  list(filter?: { userId?: string; activeAt?: number }): Promise<SessionRecord[]>;
  /** Sessions revoked at >= since and not yet expired at now, oldest revocation first. */
  revokedSince(since: number, now: number): Promise<{ id: string; revokedAt: number; expiresAt: number }[]>;
  /** Deletes sessions expired at `before` (expiresAt <= before), revoked or not; returns how many. */
  deleteExpired(before: number): Promise<number>;
}

/** One-time, short-lived, single-use values (cross-domain sign-in tickets, later: codes). */
export interface TicketStore {
  /** id is already a hash; stored as given. GatehouseError('conflict') if it exists. */
  put(id: string, payload: string, expiresAt: number): Promise<void>;
  /** Atomic: returns the payload once, then never again; undefined if expired or unknown. */
  consume(id: string, now: number): Promise<string | undefined>;
}

/** Values that may be used once while they live: DPoP proof ids (RFC 9449 §11.1). */
export interface ReplayStore {
  /**
   * Records `key` (already a hash) until `expiresAt`. true the first time; false while a live
   * record exists, from any replica (atomic). A record expired at `now` counts as absent.
   */
  once(key: string, expiresAt: number, now: number): Promise<boolean>;
  /** Deletes records expired at `before`; returns how many. */
  deleteExpired(before: number): Promise<number>;
}

export interface AuditEvent {
  at: number;
  actor: string;
  action: string;
  target: string | null;
  outcome: 'ok' | 'denied' | 'error';
  detail: Record<string, unknown>;
}

/** Which audit events to read: every filter given must match (exact values; a time range in epoch ms). */
export interface AuditQuery {
  /** At most this many (the newest); default 100. */
  limit?: number;
  actor?: string;
  action?: string;
  target?: string;
  outcome?: AuditEvent['outcome'];
  /** at >= since */
  since?: number;
  /** at < until */
  until?: number;
}

export interface AuditStore {
  append(e: AuditEvent): Promise<void>;
  /** The newest matching events: newest (at) first, ties newest appended first. */
  list(query?: AuditQuery): Promise<(AuditEvent & { id: number })[]>;
}

/**
 * `serve --workers` on SQLite: the other worker processes on the same file, reached through the
 * primary over IPC. What this process publishes is sent to them; what they publish arrives
 * here. PostgreSQL needs none (LISTEN/NOTIFY reaches every process).
 */
export interface RevocationRelay {
  send(sessionId: string): void;
  /** Called once, when the store opens. */
  onReceive(cb: (sessionId: string) => void): void;
}

/** Revocations reach every replica within a second. */
export interface RevocationFeed {
  publish(sessionId: string): Promise<void>;
  /** Returns unsubscribe. A throwing subscriber is logged and does not stop the others. */
  subscribe(cb: (sessionId: string) => void): () => void;
}

/**
 * One record of the OpenID provider (oidc-provider's Adapter: a model name and an id). Ids, uids
 * and user codes reach the store already hashed by the issuer; they are stored as given.
 */
export interface OidcRecord {
  /** JSON text of the model's payload (the issuer strips bearer identifiers before writing). */
  payload: string;
  grantId: string | null;
  /** Hashed session uid (Session model), else null. */
  uid: string | null;
  /** Hashed device user code, else null. */
  userCode: string | null;
  /** Epoch ms; null: never expires. */
  expiresAt: number | null;
  /** The user the record belongs to (grants, tokens, codes, OpenID sessions), else null/absent. */
  accountId?: string | null;
  /** The client the record belongs to, else null/absent. */
  clientId?: string | null;
}

export interface OidcFound {
  payload: string;
  consumedAt: number | null;
}

export interface OidcStore {
  /** Inserts or replaces (model, id); a replace keeps consumedAt. */
  upsert(model: string, id: string, rec: OidcRecord): Promise<void>;
  /** undefined when unknown or expired at `now` (expiresAt <= now). */
  find(model: string, id: string, now: number): Promise<OidcFound | undefined>;
  findByUid(model: string, uid: string, now: number): Promise<(OidcFound & { id: string }) | undefined>;
  findByUserCode(model: string, userCode: string, now: number): Promise<(OidcFound & { id: string }) | undefined>;
  /** Marks consumed at `at`; true only for the first consume of a live record (atomic). */
  consume(model: string, id: string, at: number): Promise<boolean>;
  destroy(model: string, id: string): Promise<void>;
  /** Deletes every record of `model` with this grant id; returns how many. */
  revokeByGrantId(model: string, grantId: string): Promise<number>;
  /** Deletes records expired at `before`; returns how many. */
  deleteExpired(before: number): Promise<number>;
  /** Every live record of `model` at `now`, by id (for small models the issuer lists: agents). */
  list(model: string, now: number): Promise<(OidcFound & { id: string })[]>;
  /**
   * Deletes every record (any model) owned by the account, or only those of one client; returns
   * how many. Used to revoke a user's grants, refresh tokens and OpenID sessions at once.
   */
  revokeForAccount(accountId: string, clientId?: string): Promise<number>;
}

/** What a user allowed a client (remembered consent): scope values and resource indicators. */
export interface ConsentRecord {
  userId: string;
  clientId: string;
  /** Sorted, unique. */
  scopes: string[];
  /** Sorted, unique. */
  resources: string[];
  createdAt: number;
  updatedAt: number;
}

export interface ConsentStore {
  get(userId: string, clientId: string): Promise<ConsentRecord | undefined>;
  /** Adds scopes and resources to the user's consent for the client (a union; created when new). */
  grant(userId: string, clientId: string, scopes: readonly string[], resources: readonly string[], at: number): Promise<ConsentRecord>;
  /** The user's consents, ordered by client id. */
  list(userId: string): Promise<ConsentRecord[]>;
  /** Removes the consent for one client, or every consent of the user; returns how many. */
  revoke(userId: string, clientId?: string): Promise<number>;
}

/** A signing key of the issuer: the public JWK in clear, the private JWK sealed by the key ring. */
export interface SigningKeyRecord {
  kid: string;
  alg: 'ES256' | 'RS256';
  publicJwk: string;
  sealedPrivateJwk: string;
  createdAt: number;
  /** When it stopped signing (a newer key of its alg took over); null while current. */
  retiredAt: number | null;
  /** When it stops being published: every token it signed has expired by then. */
  retireAfter: number | null;
}

export interface SigningKeyStore {
  /** Oldest first (createdAt, then kid). */
  list(): Promise<SigningKeyRecord[]>;
  /** GatehouseError('conflict') on a duplicate kid. */
  add(k: SigningKeyRecord): Promise<void>;
  /**
   * Adds k (a current key) only when no current key of k.alg exists, atomically across every
   * process on the store: replicas that start together on an empty database race to make the
   * first pair, and exactly one of each alg must win. True when k was added.
   */
  addFirst(k: SigningKeyRecord): Promise<boolean>;
  /** Retires these keys if still current (retiredAt null); returns the kids retired, sorted. */
  retire(kids: readonly string[], at: number, retireAfter: number): Promise<string[]>;
  /** Re-sealed private parts (root secret rotation); unknown kids are ignored. */
  reseal(kid: string, sealedPrivateJwk: string): Promise<void>;
  /** Deletes keys whose retireAfter <= now; returns their kids. */
  deleteExpired(now: number): Promise<string[]>;
}

/**
 * A person's TOTP authenticator (RFC 6238). The secret is sealed by the key ring before it reaches
 * the store; `lastStep` is the newest time step accepted, so each code is used once.
 */
export interface TotpRecord {
  userId: string;
  sealedSecret: string;
  /** null until the first code confirmed the enrolment. */
  confirmedAt: number | null;
  lastStep: number | null;
  createdAt: number;
}

/** A WebAuthn credential (passkey or security key) registered by a person. */
export interface PasskeyRecord {
  /** The credential id, base64url. */
  id: string;
  userId: string;
  name: string;
  /** The COSE public key, base64url. */
  publicKey: string;
  counter: number;
  transports: string[];
  /** Whether it is a discoverable (resident) credential usable without a username. */
  discoverable: boolean;
  /** Backup eligible/state as the authenticator said (a synced passkey). */
  backedUp: boolean;
  createdAt: number;
  lastUsedAt: number | null;
}

/** Second factors: TOTP authenticators, passkeys and recovery codes (stored as hashes). */
export interface FactorStore {
  totp(userId: string): Promise<TotpRecord | undefined>;
  /** Inserts or replaces the person's authenticator (a new enrolment starts unconfirmed). */
  putTotp(r: TotpRecord): Promise<void>;
  /**
   * Atomic, across replicas: records `step` as used when it is newer than the last one used
   * (and confirms the enrolment at `at` if `confirm`); true when it was.
   */
  useTotpStep(userId: string, step: number, at: number, confirm: boolean): Promise<boolean>;
  deleteTotp(userId: string): Promise<boolean>;
  /** Oldest first. */
  passkeys(userId: string): Promise<PasskeyRecord[]>;
  passkey(id: string): Promise<PasskeyRecord | undefined>;
  /** GatehouseError('conflict') when the credential id is registered already (to anyone). */
  addPasskey(r: PasskeyRecord): Promise<void>;
  /** Records a use: the new signature counter and when; false when no such credential. */
  usePasskey(id: string, counter: number, at: number): Promise<boolean>;
  renamePasskey(userId: string, id: string, name: string): Promise<boolean>;
  deletePasskey(userId: string, id: string): Promise<boolean>;
  /** Replaces every recovery code of the person with these hashes. */
  setRecoveryCodes(userId: string, hashes: readonly string[], at: number): Promise<void>;
  /** Atomic: true once for an unused code of this person, then never again. */
  useRecoveryCode(userId: string, hash: string, at: number): Promise<boolean>;
  /** Unused codes left. */
  recoveryCodesLeft(userId: string): Promise<number>;
  /** Removes every factor of the person; says what there was. */
  deleteAll(userId: string): Promise<{ totp: boolean; passkeys: number; recoveryCodes: number }>;
}

/**
 * An invitation: a link that lets whoever holds it enrol (choose credentials) once or a few
 * times before it expires, and gives the new account its groups. Only the token's hash is
 * stored; `id` is a short public name for listing and revoking.
 */
export interface InvitationRecord {
  id: string;
  tokenHash: string;
  groups: string[];
  /** The address it was made for (the account gets it, verified), else null. */
  email: string | null;
  maxUses: number;
  uses: number;
  /** Who made it: `cli`, a username, or `sign-up` (self sign-up's verification link). */
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

export interface InvitationStore {
  /** GatehouseError('conflict') on a duplicate id or token hash. */
  create(r: Omit<InvitationRecord, 'uses' | 'revokedAt'>): Promise<InvitationRecord>;
  /** By id (public name) or undefined. */
  get(id: string): Promise<InvitationRecord | undefined>;
  /** By token hash; whatever its state (the caller tells expired, used up and revoked apart). */
  findByToken(tokenHash: string): Promise<InvitationRecord | undefined>;
  /** Newest first. */
  list(): Promise<InvitationRecord[]>;
  /**
   * Atomic, across every process: takes one use of a live invitation (not revoked, expiresAt >
   * now, uses < maxUses) and returns it with the use counted; undefined otherwise.
   */
  take(tokenHash: string, now: number): Promise<InvitationRecord | undefined>;
  /** Gives back a use taken by take() when the enrolment it was for failed. */
  giveBack(id: string): Promise<void>;
  /** Revokes an invitation not revoked yet; true if it was. */
  revoke(id: string, at: number): Promise<boolean>;
  /** Deletes invitations expired (or revoked) before `before`; returns how many. */
  deleteExpired(before: number): Promise<number>;
}

/** A single-use link for one account (password reset), stored only as its hash. */
export interface AccountTokenRecord {
  tokenHash: string;
  purpose: 'reset';
  userId: string;
  createdAt: number;
  expiresAt: number;
}

export interface AccountTokenStore {
  /** GatehouseError('conflict') on a duplicate hash. */
  put(r: AccountTokenRecord): Promise<void>;
  /** A live token (expiresAt > now) without using it (the page that shows the form). */
  peek(tokenHash: string, purpose: AccountTokenRecord['purpose'], now: number): Promise<AccountTokenRecord | undefined>;
  /** Atomic: the live token once, then never again (it is deleted); undefined if expired or unknown. */
  consume(tokenHash: string, purpose: AccountTokenRecord['purpose'], now: number): Promise<AccountTokenRecord | undefined>;
  /** Deletes every token of the user for the purpose (a reset done, a password changed); returns how many. */
  deleteForUser(userId: string, purpose: AccountTokenRecord['purpose']): Promise<number>;
  /** Deletes tokens expired at `before`; returns how many. */
  deleteExpired(before: number): Promise<number>;
}

export interface SchemaStatus {
  current: number;
  latest: number;
  pending: { version: number; name: string }[];
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly tickets: TicketStore;
  readonly audit: AuditStore;
  readonly identities: IdentityStore;
  readonly revocations: RevocationFeed;
  readonly oidc: OidcStore;
  readonly consents: ConsentStore;
  readonly signingKeys: SigningKeyStore;
  readonly replays: ReplayStore;
  readonly factors: FactorStore;
  readonly invitations: InvitationStore;
  readonly accountTokens: AccountTokenStore;
  /** Takes the migration lock, applies pending migrations each in a transaction, records versions. */
  migrate(): Promise<{ applied: number[] }>;
  schemaStatus(): Promise<SchemaStatus>;
  /** Throws schema_too_new (database ahead of this release) or migration_failed (behind). */
  assertSchemaCurrent(): Promise<void>;
  /** Throws GatehouseError('store_unavailable', …) with a clear message. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
