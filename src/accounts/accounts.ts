// Local accounts: who someone is (username, email, groups) and how they prove it (a password).
// No HTTP here; the portal calls authenticate() and the CLI calls the admin operations.
import { GatehouseError, randomId, type Clock, type Identity, type Logger } from '../core/index.ts';
import type { Store, UserRecord } from '../store/index.ts';
import { dummyPasswordHash, hashPassword, verifyPassword } from './password.ts';
import type { SignInThrottle } from './throttle.ts';

export type AuthResult =
  | { ok: true; user: UserRecord }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'throttled'; retryAfterSeconds: number };

export interface ConfigGroup { name: string; members: readonly string[] }

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export class Accounts {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #throttle: SignInThrottle;
  #groupsByMember = new Map<string, string[]>();

  constructor(opts: { store: Store; clock: Clock; logger: Logger; throttle: SignInThrottle; groups: readonly ConfigGroup[] }) {
    this.#store = opts.store;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#throttle = opts.throttle;
    this.setConfigGroups(opts.groups);
  }

  get throttle(): SignInThrottle { return this.#throttle; }

  /** Groups declared in config; swapped on reload. */
  setConfigGroups(groups: readonly ConfigGroup[]): void {
    const next = new Map<string, string[]>();
    for (const g of groups) for (const m of g.members) {
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

  /**
   * Check a username and password. An unknown user, a disabled user and a wrong password give
   * the same answer after the same work (a hash is always verified), so timing and wording say
   * nothing about which accounts exist.
   */
  async authenticate(username: string, password: string, address: string): Promise<AuthResult> {
    const retry = this.#throttle.retryAfter(username, address);
    if (retry > 0) return { ok: false, reason: 'throttled', retryAfterSeconds: retry };
    const user = USERNAME.test(username) ? await this.#store.users.findByUsername(username) : undefined;
    const hash = user?.passwordHash ?? await dummyPasswordHash();
    const good = await verifyPassword(password, hash);
    if (good && user && user.passwordHash && !user.disabled) {
      this.#throttle.recordSuccess(username);
      return { ok: true, user };
    }
    this.#throttle.recordFailure(username, address);
    this.#logger.info({ event: 'sign_in_failed', username: user ? user.username : null, known: user !== undefined, address }, 'sign-in failed');
    return { ok: false, reason: 'invalid' };
  }

  async create(input: { username: string; email?: string | null; name?: string | null; groups?: string[]; password?: string | null }): Promise<UserRecord> {
    if (!USERNAME.test(input.username)) {
      throw new GatehouseError('invalid_request', `username "${input.username}" is invalid: use 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit`);
    }
    return this.#store.users.create({
      id: randomId(12),
      username: input.username,
      email: input.email ?? null,
      // Local accounts are created by an administrator, who vouches for the address.
      emailVerified: input.email != null,
      name: input.name ?? null,
      groups: input.groups ?? [],
      passwordHash: input.password ? await hashPassword(input.password) : null,
      disabled: false,
    });
  }

  async setPassword(username: string, password: string): Promise<UserRecord> {
    const user = await this.#require(username);
    const updated = await this.#store.users.update(user.id, { passwordHash: await hashPassword(password) });
    if (!updated) throw new GatehouseError('not_found', `no user named "${username}"`);
    return updated;
  }

  /**
   * Disable an account: every browser session ends (every replica within a second, through the
   * revocation feed), and its OpenID grants, refresh tokens and OpenID sessions are revoked. Its
   * access tokens (JWTs, which cannot be recalled) are refused by the gate within 2 s, which
   * asks the store whether a token's user is still active (gateway/bearer.ts subjectActive).
   */
  async disable(username: string): Promise<{ sessions: string[]; grants: number }> {
    const user = await this.#require(username);
    await this.#store.users.update(user.id, { disabled: true });
    return this.#cutOff(user.id);
  }

  /** Delete an account: as disable, then its remembered consents, linked identities and the record. */
  async delete(username: string): Promise<{ sessions: string[]; grants: number }> {
    const user = await this.#require(username);
    // Disabled first: a request racing the deletion is refused, never served as the user.
    await this.#store.users.update(user.id, { disabled: true });
    const ended = await this.#cutOff(user.id);
    await this.#store.consents.revoke(user.id);
    await this.#store.users.delete(user.id);
    return ended;
  }

  /** Revoke what a user signed in to a client: its remembered consent, grants and tokens. */
  async revokeGrant(username: string, clientId: string): Promise<{ consents: number; grants: number }> {
    const user = await this.#require(username);
    const consents = await this.#store.consents.revoke(user.id, clientId);
    const grants = await this.#store.oidc.revokeForAccount(user.id, clientId);
    return { consents, grants };
  }

  async #cutOff(userId: string): Promise<{ sessions: string[]; grants: number }> {
    const sessions = await this.#store.sessions.revokeForUser(userId, this.#clock.now());
    for (const id of sessions) await this.#store.revocations.publish(id);
    const grants = await this.#store.oidc.revokeForAccount(userId);
    return { sessions, grants };
  }

  /** Whether a user id may still use what it was given (tokens): it exists and is not disabled. */
  async isActive(userId: string): Promise<boolean> {
    const user = await this.#store.users.get(userId);
    return user !== undefined && !user.disabled;
  }

  find(username: string): Promise<UserRecord | undefined> { return this.#store.users.findByUsername(username); }
  get(id: string): Promise<UserRecord | undefined> { return this.#store.users.get(id); }

  async #require(username: string): Promise<UserRecord> {
    const user = await this.#store.users.findByUsername(username);
    if (!user) throw new GatehouseError('not_found', `no user named "${username}"`);
    return user;
  }
}
