// Security notices after a sign-in: with email.notices.newAddress, a person is told by mail when
// they signed in from an address none of their sessions of the last 30 days came from. Never on
// an account's first sign-in (nothing to compare with), never holding up the sign-in (the caller
// does not await it), and only to a verified address.
import type { Clock, Logger } from '../core/index.ts';
import type { Mailer } from '../mail/index.ts';
import type { SessionStore, UserRecord } from '../store/index.ts';

const LOOKBACK_MS = 30 * 86_400_000;

export interface NoticeOptions {
  sessions: SessionStore;
  mailer: () => Mailer;
  clock: Clock;
  logger: Logger;
  enabled: () => boolean;
  site: () => string;
  accountUrl: () => string;
}

export class SignInNotices {
  readonly #o: NoticeOptions;
  constructor(o: NoticeOptions) {
    this.#o = o;
  }

  /** Mails the notice when due; true when one was sent. */
  async afterSignIn(user: UserRecord, sid: string, ip: string, device: string): Promise<boolean> {
    const o = this.#o;
    if (!o.enabled() || !user.email || !user.emailVerified || !o.mailer().configured) return false;
    const since = o.clock.now() - LOOKBACK_MS;
    const before = (await o.sessions.list({ userId: user.id })).filter((s) => s.id !== sid && s.createdAt >= since);
    if (before.length === 0 || before.some((s) => s.ip === ip)) return false;
    o.logger.info({ event: 'new_address_notice', user: user.username, ip }, 'signed in from a new address; telling the account by mail');
    return o.mailer().send({
      kind: 'new_address',
      to: user.email,
      vars: {
        site: o.site(),
        username: user.username,
        at: new Date(o.clock.now()).toISOString(),
        address: ip,
        device,
        account: o.accountUrl(),
      },
    });
  }
}
