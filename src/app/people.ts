// People's own flows, composed: invitations, password reset, sign-up and notices over the store,
// with the mailer of the current config (made again when `email` changes on reload; the old one
// is closed). The portal gets them as PeopleDeps; sign-ins report to the notices.
import type { Clock, Logger } from '../core/index.ts';
import type { Config } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import { Invitations, PasswordReset, SignInNotices, SignInThrottle, type Accounts } from '../accounts/index.ts';
import { createMailer, type Mailer } from '../mail/index.ts';
import { portalPath, portalUrl, type GateSettings } from '../web/index.ts';
import type { PeopleDeps } from '../portal/index.ts';

export interface People {
  deps: PeopleDeps;
  notices: SignInNotices;
  /** After a reload: limits and the mailer follow the new config. */
  configure(c: Config): void;
  close(): void;
}

function resetLimits(c: Config) {
  return { perAccount: c.passwordReset.perAccount, perAddress: c.passwordReset.perAddress, windowMs: c.passwordReset.window };
}

export function buildPeople(o: {
  config: () => Config;
  settings: () => GateSettings;
  store: Store;
  accounts: Accounts;
  clock: Clock;
  logger: Logger;
}): People {
  const { store, clock, logger } = o;
  let emailConfig = JSON.stringify(o.config().email);
  let mailer: Mailer = createMailer(o.config().email, logger);
  const maxEntries = o.config().limits.throttleEntries;
  const resetThrottle = new SignInThrottle(resetLimits(o.config()), clock, maxEntries);
  const signUpThrottle = new SignInThrottle(resetLimits(o.config()), clock, maxEntries);
  const site = () => o.settings().publicUrl.host;
  const invitations = new Invitations({ store: store.invitations, audit: store.audit, accounts: o.accounts, clock, logger });
  const reset = new PasswordReset({
    store,
    audit: store.audit,
    mailer: () => mailer,
    clock,
    logger,
    throttle: resetThrottle,
    lifetimeMs: () => o.config().passwordReset.linkLifetime,
    linkFor: (token) => portalUrl(o.settings(), '/oauth2/reset', { t: token }),
    site,
    noticeOnChange: () => o.config().email.notices.passwordChanged,
  });
  const notices = new SignInNotices({
    sessions: store.sessions,
    mailer: () => mailer,
    clock,
    logger,
    enabled: () => o.config().email.notices.newAddress,
    site,
    accountUrl: () => portalUrl(o.settings(), '/oauth2/account'),
  });
  return {
    deps: {
      invitations,
      reset,
      mailer: () => mailer,
      signUpThrottle,
      options: () => ({ signUp: o.config().signUp, passwordReset: o.config().passwordReset }),
      emailTaken: async (email) => (await store.users.findByVerifiedEmail(email)).length > 0,
      afterSignIn: (user, sid, ip, device) => {
        notices
          .afterSignIn(user, sid, ip, device)
          .catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not send the new-address notice'));
      },
      // The security page (second factors and passkeys) is linked when any factor is enabled.
      securityPath: () =>
        o.config().factors.totp || o.config().factors.passkeys ? portalPath(o.settings(), '/oauth2/account/security') : null,
      signInLinks: () => {
        const c = o.config();
        const s = o.settings();
        return {
          ...(c.passwordReset.enabled && mailer.configured ? { forgot: portalPath(s, '/oauth2/reset') } : {}),
          ...(c.signUp.enabled && mailer.configured ? { signUp: portalPath(s, '/oauth2/sign_up') } : {}),
        };
      },
    },
    notices,
    configure(c) {
      resetThrottle.setLimits(resetLimits(c));
      signUpThrottle.setLimits(resetLimits(c));
      const next = JSON.stringify(c.email);
      if (next !== emailConfig) {
        mailer.close();
        mailer = createMailer(c.email, logger);
        emailConfig = next;
      }
    },
    close() {
      mailer.close();
    },
  };
}
