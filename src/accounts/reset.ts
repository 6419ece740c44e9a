// Password reset by a single-use link: by mail on request (the "forgot your password?" form), or
// issued by an operator (`gatehouse user reset-link`). A link is 32 random bytes; the store keeps
// its SHA-256, for linkLifetime (30 minutes by default), and gives it back once. Choosing the new
// password ends every session and refresh grant of the account, on every replica.
//
// The request answers the same whatever was typed: the lookup, the link and the mail all happen
// after the answer is decided (`request` returns before any of them), so status, body and time
// say nothing about which accounts exist. Requests are limited per name typed and per address,
// counted alike for known and unknown names.
import { randomId, type Clock, type Logger } from '../core/index.ts';
import { hashToken } from '../crypto/index.ts';
import type { Mailer } from '../mail/index.ts';
import type { AuditStore, Store, UserRecord } from '../store/index.ts';
import { endSessionsOf } from './ending.ts';
import { hashPassword } from './password.ts';
import { passwordProblem, type CredentialProblem } from './rules.ts';
import type { SignInThrottle } from './throttle.ts';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface ResetOptions {
  store: Store;
  audit: AuditStore;
  mailer: () => Mailer;
  clock: Clock;
  logger: Logger;
  /** Requests per name typed and per address (SignInThrottle counts them as "failures"). */
  throttle: SignInThrottle;
  lifetimeMs: () => number;
  /** The link a token opens (the portal's reset page). */
  linkFor: (token: string) => string;
  /** The site's name in mail (publicUrl's host). */
  site: () => string;
  /** Whether to tell the person by mail that their password changed. */
  noticeOnChange: () => boolean;
}

export type CompleteResult =
  { ok: true; user: UserRecord; sessionsEnded: number } | { ok: false; reason: 'invalid_link' | CredentialProblem };

/** Ends every session (published to every replica; but `keepSession`) and every OpenID grant of a user. */
export async function endAllAccess(
  store: Store,
  userId: string,
  now: number,
  keepSession?: string,
): Promise<{ sessions: string[]; grants: number }> {
  const sessions = await endSessionsOf(store, userId, now, keepSession);
  const grants = await store.oidc.revokeForAccount(userId);
  return { sessions, grants };
}

export class PasswordReset {
  readonly #o: ResetOptions;
  readonly #pending = new Set<Promise<void>>();

  constructor(o: ResetOptions) {
    this.#o = o;
  }

  /**
   * "Forgot your password?": returns at once with 0 (accepted: the page says a link is on its
   * way if an account matches) or the seconds to wait when this name or address asked too often.
   * Either answer is the same for a name that exists and one that does not.
   */
  request(identifier: string, ip: string): number {
    const name = identifier.trim().slice(0, 320);
    const wait = this.#o.throttle.retryAfter(name || '-', ip);
    if (wait > 0) {
      this.#o.logger.info({ event: 'password_reset_throttled', ip }, 'password reset request refused: too many');
      void this.#record('-', 'password_reset_request', null, 'denied', { reason: 'throttled', ip });
      return wait;
    }
    this.#o.throttle.recordFailure(name || '-', ip);
    const job = this.#deliver(name, ip)
      .catch((err: unknown) => {
        this.#o.logger.error({ err: (err as Error).message, event: 'password_reset_failed' }, 'could not handle a password reset request');
      })
      .finally(() => this.#pending.delete(job));
    this.#pending.add(job);
    return 0;
  }

  /** Resolves when every request accepted so far has been handled (for tests and shutdown). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  async #deliver(name: string, ip: string): Promise<void> {
    const user = await this.#find(name);
    if (!user || user.disabled || user.passwordHash === null || !user.email || !user.emailVerified) {
      // Nothing to send: no such account, or none with a verified address and a password.
      await this.#record('-', 'password_reset_request', user ? user.username : null, 'denied', {
        reason: !user ? 'no_account' : user.disabled ? 'disabled' : user.passwordHash === null ? 'no_password' : 'no_verified_email',
        ip,
      });
      return;
    }
    const { token, expiresAt } = await this.#issue(user);
    const sent = await this.#o.mailer().send({
      kind: 'reset',
      to: user.email,
      vars: {
        site: this.#o.site(),
        username: user.username,
        link: this.#o.linkFor(token),
        minutes: Math.round((expiresAt - this.#o.clock.now()) / 60_000),
      },
    });
    await this.#record('-', 'password_reset_request', user.username, 'ok', { ip, mailed: sent });
  }

  /** A link for an operator to hand over; any earlier link of the account keeps working until used or expired. */
  async issueLink(user: UserRecord, actor: string): Promise<{ link: string; expiresAt: number }> {
    const { token, expiresAt } = await this.#issue(user);
    await this.#record(actor, 'password_reset_link', user.username, 'ok', { expiresAt });
    return { link: this.#o.linkFor(token), expiresAt };
  }

  async #issue(user: UserRecord): Promise<{ token: string; expiresAt: number }> {
    const token = randomId(32);
    const now = this.#o.clock.now();
    const expiresAt = now + this.#o.lifetimeMs();
    await this.#o.store.accountTokens.put({ tokenHash: hashToken(token), purpose: 'reset', userId: user.id, createdAt: now, expiresAt });
    return { token, expiresAt };
  }

  /** The account a link is for, while it works (the page that shows the form); it is not used up. */
  async inspect(token: string): Promise<UserRecord | undefined> {
    if (!TOKEN.test(token)) return undefined;
    const rec = await this.#o.store.accountTokens.peek(hashToken(token), 'reset', this.#o.clock.now());
    if (!rec) return undefined;
    const user = await this.#o.store.users.get(rec.userId);
    return user && !user.disabled ? user : undefined;
  }

  /** Set the new password: the link is used up, every other link of the account dies, every session and grant ends. */
  async complete(token: string, password: string, ip: string): Promise<CompleteResult> {
    const before = await this.inspect(token);
    if (!before) {
      await this.#record('-', 'password_reset', null, 'denied', { reason: 'invalid_link', ip });
      return { ok: false, reason: 'invalid_link' };
    }
    const problem = passwordProblem(password, before.username);
    if (problem) return { ok: false, reason: problem };
    const hash = await hashPassword(password);
    const now = this.#o.clock.now();
    const rec = await this.#o.store.accountTokens.consume(hashToken(token), 'reset', now);
    const user = rec && rec.userId === before.id ? await this.#o.store.users.update(rec.userId, { passwordHash: hash }) : undefined;
    if (!user) {
      await this.#record('-', 'password_reset', before.username, 'denied', { reason: 'invalid_link', ip });
      return { ok: false, reason: 'invalid_link' };
    }
    await this.#o.store.accountTokens.deleteForUser(user.id, 'reset');
    const ended = await endAllAccess(this.#o.store, user.id, now);
    this.#o.logger.info({ event: 'password_reset', user: user.username, sessionsEnded: ended.sessions.length, ip }, 'password reset');
    await this.#record(user.username, 'password_reset', user.username, 'ok', {
      ip,
      sessionsEnded: ended.sessions.length,
      grantsRevoked: ended.grants,
    });
    await this.notifyChanged(user, ip);
    return { ok: true, user, sessionsEnded: ended.sessions.length };
  }

  /** The security notice after a password change (reset or the account page), when enabled and mail is set up. */
  async notifyChanged(user: UserRecord, ip: string): Promise<void> {
    if (!this.#o.noticeOnChange() || !user.email || !user.emailVerified || !this.#o.mailer().configured) return;
    await this.#o.mailer().send({
      kind: 'password_changed',
      to: user.email,
      vars: { site: this.#o.site(), username: user.username, at: new Date(this.#o.clock.now()).toISOString(), address: ip },
    });
  }

  async #find(name: string): Promise<UserRecord | undefined> {
    if (name === '') return undefined;
    if (name.includes('@')) {
      const byEmail = (await this.#o.store.users.findByVerifiedEmail(name)).filter((u) => !u.disabled);
      if (byEmail.length === 1) return byEmail[0];
      // An address no account has (or several share) may still be a username with "@".
    }
    return this.#o.store.users.findByUsername(name);
  }

  async #record(
    actor: string,
    action: string,
    target: string | null,
    outcome: 'ok' | 'denied',
    detail: Record<string, unknown>,
  ): Promise<void> {
    try {
      await this.#o.audit.append({ at: this.#o.clock.now(), actor, action, target, outcome, detail });
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message, action }, 'could not write the audit log');
    }
  }
}
