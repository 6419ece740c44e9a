// Accounts own people: who someone is (username, email, groups; local or linked to upstream
// identities), how they prove it (a password), what they hold (sessions, grants to clients) and
// ending it. No HTTP here: the portal, the issuer, sessions and the CLI all come through this class;
// none of them reads or writes the users or identities tables themselves.
import { GatehouseError, randomId, type Clock, type Identity, type Logger } from '../core/index.ts';
import type { KeyRing } from '../crypto/index.ts';
import type { CallbackInput, Connector, Connectors, ExternalIdentity } from '../connectors/index.ts';
import type { AuditEvent, ConsentRecord, IdentityRecord, SessionRecord, Store, UserRecord } from '../store/index.ts';
import { dummyPasswordHash, hashPassword, verifyPassword } from './password.ts';
import type { SignInThrottle } from './throttle.ts';
import { UpstreamLinks, type InvitationGrant, type SignInIntent, type SignInResult } from './upstream.ts';
import { endSessionsOf, revokeThenPublish } from './ending.ts';
import { USERNAME } from './rules.ts';

export type AuthResult =
  { ok: true; user: UserRecord } | { ok: false; reason: 'invalid' } | { ok: false; reason: 'throttled'; retryAfterSeconds: number };

export interface ConfigGroup {
  name: string;
  members: readonly string[];
}

/**
 * Who acts, as the audit log names them (docs/audit.md): `cli` for the command line, `system`
 * for Gatehouse itself, else the acting person's username. The person acted on is always named
 * by their username too (the audit event's target), never by the internal user id.
 */
export type Actor = string;

/** What an account held when it was cut off. */
export interface CutOff {
  sessions: string[];
  grants: number;
}

/** Upstream sign-in as the portal drives it: the providers to offer, and the callback. */
export interface Federation {
  list(): { id: string; label: string }[];
  get(id: string): Connector | undefined;
  signIn(connectorId: string, input: CallbackInput, intent?: SignInIntent): Promise<SignInResult>;
}

export interface AccountsOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  throttle: SignInThrottle;
  groups: readonly ConfigGroup[];
  /** The upstream providers (none: no upstream sign-in) and the key ring upstream tokens are sealed with. */
  upstream?: { connectors: Connectors; keyring: () => KeyRing };
}

export class Accounts {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #throttle: SignInThrottle;
  readonly #upstream: UpstreamLinks | undefined;
  #groupsByMember = new Map<string, string[]>();

  constructor(opts: AccountsOptions) {
    this.#store = opts.store;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#throttle = opts.throttle;
    this.setConfigGroups(opts.groups);
    this.#upstream =
      opts.upstream &&
      new UpstreamLinks({
        store: opts.store,
        clock: opts.clock,
        logger: opts.logger,
        ...opts.upstream,
        accounts: { freeUsername: (i, c) => this.#freeUsername(i, c), createFromUpstream: (i, u, g) => this.#createFromUpstream(i, u, g) },
      });
  }

  get throttle(): SignInThrottle {
    return this.#throttle;
  }

  // --- who someone is --------------------------------------------------------------------------

  find(username: string): Promise<UserRecord | undefined> {
    return this.#store.users.findByUsername(username);
  }
  get(id: string): Promise<UserRecord | undefined> {
    return this.#store.users.get(id);
  }
  /** Ordered by username. */
  list(): Promise<UserRecord[]> {
    return this.#store.users.list();
  }
  count(): Promise<number> {
    return this.#store.users.count();
  }

  /** The username of a user id, for logs and the audit log; the id itself when the user is gone. */
  async nameOf(userId: string): Promise<string> {
    return (await this.#store.users.get(userId).catch(() => undefined))?.username ?? userId;
  }

  /** Groups declared in config; swapped on reload. */
  setConfigGroups(groups: readonly ConfigGroup[]): void {
    const next = new Map<string, string[]>();
    for (const g of groups)
      for (const m of g.members) {
        const key = m.toLowerCase();
        const list = next.get(key) ?? [];
        list.push(g.name);
        next.set(key, list);
      }
    this.#groupsByMember = next;
  }

  /** The identity rules and headers see: stored groups plus groups that list the user in config. */
  identityOf(user: UserRecord): Identity {
    const fromConfig = this.#groupsByMember.get(user.username.toLowerCase()) ?? [];
    const groups = fromConfig.length === 0 ? user.groups : [...new Set([...user.groups, ...fromConfig])];
    return { username: user.username, email: user.email, emailVerified: user.emailVerified, groups };
  }

  /** Whether a user id may still use what it was given (tokens): it exists and is not disabled. */
  async isActive(userId: string): Promise<boolean> {
    const user = await this.#store.users.get(userId);
    return user !== undefined && !user.disabled;
  }

  // --- proving it ------------------------------------------------------------------------------

  /**
   * Check a username and password. An unknown user, a disabled user and a wrong password give
   * the same answer after the same work (a hash is always verified), so timing and wording say
   * nothing about which accounts exist.
   */
  async authenticate(username: string, password: string, address: string): Promise<AuthResult> {
    const retry = this.#throttle.retryAfter(username, address);
    if (retry > 0) return { ok: false, reason: 'throttled', retryAfterSeconds: retry };
    const user = USERNAME.test(username) ? await this.#store.users.findByUsername(username) : undefined;
    const hash = user?.passwordHash ?? (await dummyPasswordHash());
    const good = await verifyPassword(password, hash);
    if (good && user && user.passwordHash && !user.disabled) {
      this.#throttle.recordSuccess(username);
      return { ok: true, user };
    }
    this.#throttle.recordFailure(username, address);
    this.#logger.info(
      { event: 'sign_in_failed', username: user ? user.username : null, known: user !== undefined, address },
      'sign-in failed',
    );
    return { ok: false, reason: 'invalid' };
  }

  async setPassword(username: string, password: string): Promise<UserRecord> {
    const user = await this.#require(username);
    const updated = await this.#store.users.update(user.id, { passwordHash: await hashPassword(password) });
    if (!updated) throw new GatehouseError('not_found', `no user named "${username}"`);
    return updated;
  }

  // --- making and ending accounts --------------------------------------------------------------

  /** A local account, made by an administrator (or, next, by an accepted invitation). */
  async create(input: {
    username: string;
    email?: string | null;
    name?: string | null;
    groups?: string[];
    password?: string | null;
    /** The account id, when something was made for it before the account (an invitation's passkey). */
    id?: string;
  }): Promise<UserRecord> {
    if (input.id !== undefined && !/^[A-Za-z0-9_-]{16,64}$/.test(input.id))
      throw new GatehouseError('invalid_request', 'an account id is 16-64 base64url characters');
    if (!USERNAME.test(input.username)) {
      throw new GatehouseError(
        'invalid_request',
        `username "${input.username}" is invalid: use 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit`,
      );
    }
    return this.#insert(
      {
        username: input.username,
        email: input.email ?? null,
        // Local accounts are created by an administrator, who vouches for the address.
        emailVerified: input.email != null,
        name: input.name ?? null,
        groups: input.groups ?? [],
        passwordHash: input.password ? await hashPassword(input.password) : null,
      },
      input.id,
    );
  }

  /** Let a disabled account sign in again (ended sessions and revoked tokens stay ended). */
  async enable(username: string, by: Actor): Promise<UserRecord> {
    const user = await this.#require(username);
    const updated = await this.#store.users.update(user.id, { disabled: false });
    await this.#audit({ actor: by, action: 'user_enable', target: user.username, detail: {} });
    return updated ?? user;
  }

  /**
   * Disable an account: every browser session ends (every replica within a second, through the
   * revocation feed), and its OpenID grants, refresh tokens and OpenID sessions are revoked. Its
   * access tokens (JWTs, which cannot be recalled) are refused by the gate within 2 s, which
   * asks whether a token's user is still active (isActive).
   */
  async disable(username: string, by: Actor): Promise<CutOff> {
    const user = await this.#require(username);
    await this.#store.users.update(user.id, { disabled: true });
    const ended = await this.cutOff(user.id, 'account disabled');
    await this.#audit({
      actor: by,
      action: 'user_disable',
      target: user.username,
      detail: { sessionsEnded: ended.sessions.length, grantsRevoked: ended.grants },
    });
    return ended;
  }

  /** Delete an account: as disable, then its remembered consents, linked identities and the record. */
  async delete(username: string, by: Actor): Promise<CutOff> {
    const user = await this.#require(username);
    // Disabled first: a request racing the deletion is refused, never served as the user.
    await this.#store.users.update(user.id, { disabled: true });
    const ended = await this.cutOff(user.id, 'account deleted');
    await this.#store.consents.revoke(user.id);
    await this.#store.users.delete(user.id);
    await this.#audit({
      actor: by,
      action: 'user_delete',
      target: user.username,
      detail: { sessionsEnded: ended.sessions.length, grantsRevoked: ended.grants },
    });
    return ended;
  }

  // --- sessions --------------------------------------------------------------------------------

  /** A person's sessions still active now (every person's without a user id), newest first. */
  sessionsOf(userId?: string): Promise<SessionRecord[]> {
    return this.#store.sessions.list({ activeAt: this.#clock.now(), ...(userId !== undefined ? { userId } : {}) });
  }

  /**
   * End every session of a person (but `except`, the session they act from when it stays), on
   * every replica: each is revoked in the store, then published on the revocation feed
   * (ending.ts, the one place that does this; replicas that miss the feed find it by polling).
   */
  async endSessions(userId: string, reason: string, opts: { except?: string } = {}): Promise<string[]> {
    const ids = await endSessionsOf(this.#store, userId, this.#clock.now(), opts.except);
    this.#logger.debug({ event: 'sessions_ended', reason, count: ids.length, user: userId }, 'sessions ended');
    return ids;
  }

  /** End one session everywhere; whether it was active. Published even when it was not: a replica may still hold it. */
  async endSession(sid: string, reason: string): Promise<boolean> {
    let was = false;
    await revokeThenPublish(this.#store, async () => {
      was = await this.#store.sessions.revoke(sid, this.#clock.now());
      return [sid];
    });
    this.#logger.debug({ event: 'sessions_ended', reason, count: was ? 1 : 0, session: sid.slice(0, 6) }, 'sessions ended');
    return was;
  }

  /** End everything a person signed in to: browser sessions (but `except`), and OpenID grants, refresh tokens and OpenID sessions. */
  async cutOff(userId: string, reason: string, opts: { except?: string } = {}): Promise<CutOff> {
    const sessions = await this.endSessions(userId, reason, opts);
    const grants = await this.#store.oidc.revokeForAccount(userId);
    return { sessions, grants };
  }

  // --- grants to clients -----------------------------------------------------------------------

  /** The clients a person allowed (remembered consent). */
  grantsOf(userId: string): Promise<ConsentRecord[]> {
    return this.#store.consents.list(userId);
  }

  /** Revoke what a user signed in to a client: its remembered consent, grants and tokens. */
  async revokeGrant(username: string, clientId: string, by: Actor): Promise<{ consents: number; grants: number }> {
    const user = await this.#require(username);
    const consents = await this.#store.consents.revoke(user.id, clientId);
    const grants = await this.#store.oidc.revokeForAccount(user.id, clientId);
    if (consents > 0 || grants > 0)
      await this.#audit({ actor: by, action: 'grant_revoke', target: user.username, detail: { client: clientId, grantsRevoked: grants } });
    return { consents, grants };
  }

  // --- upstream identities ---------------------------------------------------------------------

  /** Upstream sign-in for the portal; undefined when no providers are wired. */
  get federation(): Federation | undefined {
    const up = this.#upstream;
    if (!up) return undefined;
    return {
      list: () => up.connectors.list(),
      get: (id) => up.connectors.get(id),
      signIn: (id, input, intent) => up.signIn(id, input, intent),
    };
  }

  /** The upstream identities linked to a person. */
  identitiesOf(userId: string, connectorId?: string): Promise<IdentityRecord[]> {
    return this.#store.identities.forUser(userId, connectorId);
  }

  /**
   * Remove a person's link at a connector and end every one of their sessions (a session records
   * only its user, not the connector it was signed in with; the sealed cookie does). The next
   * sign-in with that provider links again as on a first sign-in.
   */
  async unlink(username: string, connectorId: string, by: Actor): Promise<{ user: UserRecord; subjects: string[]; sessions: string[] }> {
    const user = await this.#require(username);
    const rows = await this.#store.identities.forUser(user.id, connectorId);
    if (rows.length === 0) throw new GatehouseError('not_found', `${user.username} has no identity linked at connector "${connectorId}"`);
    const subjects: string[] = [];
    for (const r of rows) if (await this.#store.identities.unlink(r.connectorId, r.subject)) subjects.push(r.subject);
    const sessions = await this.endSessions(user.id, 'identity unlinked');
    await this.#audit({
      actor: by,
      action: 'identity_unlink',
      target: user.username,
      detail: { connector: connectorId, subjects, sessionsEnded: sessions.length },
    });
    return { user, subjects, sessions };
  }

  /** Mapped groups of the upstream identity a session was made with; null when it is no longer linked. */
  upstreamGroups(userId: string, connectorId: string): Promise<string[] | null> {
    return this.#upstream ? this.#upstream.groupsFor(userId, connectorId) : Promise.resolve([]);
  }

  /** At session renewal: ask the provider again when due ('revoked' ends the session; null or groups keep it). */
  refreshUpstream(userId: string, connectorId: string): Promise<string[] | 'revoked' | null> {
    return this.#upstream ? this.#upstream.refresh(userId, connectorId) : Promise.resolve(null);
  }

  /** The upstream login if free, else login@connector; an existing account is never taken over by name. */
  async #freeUsername(identity: ExternalIdentity, connectorId: string): Promise<string | null> {
    for (const candidate of [identity.username, `${identity.username}@${connectorId}`]) {
      if (USERNAME.test(candidate) && !(await this.#store.users.findByUsername(candidate))) return candidate;
    }
    return null;
  }

  /** An account for an upstream identity (connectors[].createAccounts: auto): the provider vouches for the email, or not. */
  #createFromUpstream(identity: ExternalIdentity, username: string, grant?: InvitationGrant): Promise<UserRecord> {
    // An invitation made for an address gives that address (the invitation vouches for it).
    if (grant?.email)
      return this.#insert({
        username,
        email: grant.email,
        emailVerified: true,
        name: identity.name,
        groups: grant.groups,
        passwordHash: null,
      });
    return this.#insert({
      username,
      email: identity.email,
      emailVerified: identity.emailVerified,
      name: identity.name,
      groups: grant?.groups ?? [],
      passwordHash: null,
    });
  }

  #insert(
    u: Pick<UserRecord, 'username' | 'email' | 'emailVerified' | 'name' | 'groups' | 'passwordHash'>,
    id = randomId(12),
  ): Promise<UserRecord> {
    return this.#store.users.create({ id, ...u, disabled: false });
  }

  async #require(username: string): Promise<UserRecord> {
    const user = await this.#store.users.findByUsername(username);
    if (!user) throw new GatehouseError('not_found', `no user named "${username}"`);
    return user;
  }

  async #audit(e: Pick<AuditEvent, 'actor' | 'action' | 'target' | 'detail'>): Promise<void> {
    await this.#store.audit.append({ at: this.#clock.now(), outcome: 'ok', ...e });
  }
}
