// Invitations: a link that lets whoever holds it enrol — choose a username and a password, or
// sign in through an upstream provider — and gives the new account the invitation's groups.
// Single-use by default, expiring, revocable; the store keeps only the token's SHA-256. Self
// sign-up reuses them: a sign-up mails a one-use invitation to the address it names, so opening
// the link is what verifies the address.
import { randomBytes } from 'node:crypto';
import { GatehouseError, randomId, type Clock, type Logger } from '../core/index.ts';
import { hashToken } from '../crypto/index.ts';
import type { AuditStore, InvitationRecord, InvitationStore, UserRecord } from '../store/index.ts';
import { passwordProblem, usernameProblem, type CredentialProblem } from './rules.ts';

/** Why a link cannot be used; the page says which (the holder has the link, nothing leaks). */
export type InvitationState = 'usable' | 'unknown' | 'expired' | 'used' | 'revoked';

export type EnrolResult =
  | { ok: true; user: UserRecord; invitation: InvitationRecord }
  | { ok: false; reason: Exclude<InvitationState, 'usable'> }
  | { ok: false; reason: 'username_taken' }
  | { ok: false; reason: CredentialProblem };

/** What enrolment needs from the accounts room: creating an account with groups. */
export interface AccountCreator {
  create(input: {
    username: string;
    email?: string | null;
    name?: string | null;
    groups?: string[];
    password?: string | null;
    id?: string;
  }): Promise<UserRecord>;
  find(username: string): Promise<UserRecord | undefined>;
}

/** A token is 32 random bytes (base64url, 43 characters); anything else is not looked up. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
/** `invite create --expires` at most a year; `--uses` at most 1000. */
export const MAX_INVITATION_MS = 366 * 24 * 3_600_000;
export const MAX_USES = 1000;

export function invitationState(inv: InvitationRecord | undefined, now: number): InvitationState {
  if (!inv) return 'unknown';
  if (inv.revokedAt !== null) return 'revoked';
  if (inv.expiresAt <= now) return 'expired';
  if (inv.uses >= inv.maxUses) return 'used';
  return 'usable';
}

/** The name audit lines give an invitation (target), the same everywhere. */
export const invitationTarget = (id: string): string => `invitation:${id}`;

export class Invitations {
  readonly #store: InvitationStore;
  readonly #audit: AuditStore;
  readonly #accounts: AccountCreator;
  readonly #clock: Clock;
  readonly #logger: Logger;

  constructor(o: { store: InvitationStore; audit: AuditStore; accounts: AccountCreator; clock: Clock; logger: Logger }) {
    this.#store = o.store;
    this.#audit = o.audit;
    this.#accounts = o.accounts;
    this.#clock = o.clock;
    this.#logger = o.logger;
  }

  /** Make an invitation; the token is returned once and never stored. */
  async create(input: {
    groups: string[];
    expiresInMs: number;
    email?: string | null;
    maxUses?: number;
    createdBy: string;
  }): Promise<{ invitation: InvitationRecord; token: string }> {
    const maxUses = input.maxUses ?? 1;
    if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > MAX_USES)
      throw new GatehouseError('invalid_request', `uses must be a whole number from 1 to ${MAX_USES} (got ${maxUses})`);
    if (!(input.expiresInMs > 0) || input.expiresInMs > MAX_INVITATION_MS)
      throw new GatehouseError('invalid_request', 'expires must be a duration from 1s to 366d');
    const email = input.email?.trim() || null;
    if (email !== null && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email))
      throw new GatehouseError('invalid_request', `"${email}" is not an email address`);
    for (const g of input.groups)
      if (!/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/.test(g))
        throw new GatehouseError('invalid_request', `group "${g}" is invalid: use letters, digits, ".", "_", ":", "@", "/" or "-"`);
    const token = randomId(32);
    const now = this.#clock.now();
    const invitation = await this.#store.create({
      id: randomBytes(5).toString('hex'),
      tokenHash: hashToken(token),
      groups: [...new Set(input.groups)],
      email,
      maxUses,
      createdBy: input.createdBy,
      createdAt: now,
      expiresAt: now + input.expiresInMs,
    });
    await this.#record(input.createdBy, 'invitation_create', invitationTarget(invitation.id), 'ok', {
      groups: invitation.groups,
      email: invitation.email,
      uses: maxUses,
      expiresAt: invitation.expiresAt,
    });
    return { invitation, token };
  }

  list(): Promise<InvitationRecord[]> {
    return this.#store.list();
  }

  async revoke(id: string, actor: string): Promise<boolean> {
    const done = await this.#store.revoke(id, this.#clock.now());
    if (done) await this.#record(actor, 'invitation_revoke', invitationTarget(id), 'ok', {});
    return done;
  }

  /** The invitation a link names and whether it can be used now (for the page that shows the form). */
  async inspect(token: string): Promise<{ state: InvitationState; invitation?: InvitationRecord }> {
    if (!TOKEN.test(token)) return { state: 'unknown' };
    const invitation = await this.#store.findByToken(hashToken(token));
    const state = invitationState(invitation, this.#clock.now());
    return invitation ? { state, invitation } : { state };
  }

  /**
   * Enrol with a username and a password. Checked first (nothing taken for a bad form); then one
   * use is taken atomically, so a single-use link makes one account however many tabs post it;
   * a username taken meanwhile gives the use back.
   */
  async enrolWithPassword(
    token: string,
    input: { username: string; password: string; name?: string | null },
    ip: string,
  ): Promise<EnrolResult> {
    const problem = usernameProblem(input.username) ?? passwordProblem(input.password, input.username);
    if (problem) return { ok: false, reason: problem };
    return this.#enrol(token, input.username, ip, 'password', (inv) =>
      this.#accounts.create({
        username: input.username,
        email: inv.email,
        name: input.name ?? null,
        groups: inv.groups,
        password: input.password,
      }),
    );
  }

  /** Why `username` could not enrol now (format, taken), or null: checked before a passkey's answer is spent. */
  async usernameProblem(username: string): Promise<'username_taken' | CredentialProblem | null> {
    const problem = usernameProblem(username);
    if (problem) return problem;
    return (await this.#accounts.find(username)) ? 'username_taken' : null;
  }

  /**
   * Enrol with a passkey instead of a password: the account is made with `id`, the one the
   * passkey's registration was made for (Factors.verifyNewAccountPasskey), and no password.
   */
  async enrolWithPasskey(token: string, input: { username: string; id: string; name?: string | null }, ip: string): Promise<EnrolResult> {
    const problem = usernameProblem(input.username);
    if (problem) return { ok: false, reason: problem };
    return this.#enrol(token, input.username, ip, 'passkey', (inv) =>
      this.#accounts.create({
        id: input.id,
        username: input.username,
        email: inv.email,
        name: input.name ?? null,
        groups: inv.groups,
        password: null,
      }),
    );
  }

  /**
   * Enrol through an upstream identity: `create` makes and links the account (the connectors'
   * job) with the invitation's groups and address. The same single-use guarantee.
   */
  async enrolUpstream(
    token: string,
    username: string,
    ip: string,
    connectorId: string,
    create: (inv: InvitationRecord) => Promise<UserRecord>,
  ): Promise<EnrolResult> {
    return this.#enrol(token, username, ip, connectorId, create);
  }

  async #enrol(
    token: string,
    username: string,
    ip: string,
    method: string,
    create: (inv: InvitationRecord) => Promise<UserRecord>,
  ): Promise<EnrolResult> {
    const seen = await this.inspect(token);
    if (seen.state !== 'usable' || !seen.invitation)
      return this.#refused(seen.state === 'usable' ? 'unknown' : seen.state, seen.invitation, username, ip);
    if (await this.#accounts.find(username)) return { ok: false, reason: 'username_taken' };
    const taken = await this.#store.take(hashToken(token), this.#clock.now());
    if (!taken) {
      // Used up, expired or revoked between the look and the take.
      const again = await this.inspect(token);
      return this.#refused(again.state === 'usable' ? 'used' : again.state, again.invitation, username, ip);
    }
    let user: UserRecord;
    try {
      user = await create(taken);
    } catch (err) {
      await this.#store.giveBack(taken.id);
      if (err instanceof GatehouseError && err.kind === 'conflict') return { ok: false, reason: 'username_taken' };
      throw err;
    }
    this.#logger.info({ event: 'enrolled', user: user.username, invitation: taken.id, method }, 'account enrolled by invitation');
    await this.#record(user.username, 'enrol', user.username, 'ok', { invitation: taken.id, groups: taken.groups, method, ip });
    return { ok: true, user, invitation: taken };
  }

  async #refused(
    reason: Exclude<InvitationState, 'usable'>,
    inv: InvitationRecord | undefined,
    username: string,
    ip: string,
  ): Promise<EnrolResult> {
    await this.#record(username.slice(0, 64) || '-', 'enrol', inv ? invitationTarget(inv.id) : null, 'denied', { reason, ip });
    return { ok: false, reason };
  }

  async #record(
    actor: string,
    action: string,
    target: string | null,
    outcome: 'ok' | 'denied',
    detail: Record<string, unknown>,
  ): Promise<void> {
    try {
      await this.#audit.append({ at: this.#clock.now(), actor, action, target, outcome, detail });
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message, action }, 'could not write the audit log');
    }
  }
}
