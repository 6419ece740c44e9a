// The store-backed services, built one way for `serve` and for the CLI: accounts (people, with
// upstream linking when a key ring is given), the sign-in throttle with its limits read from
// config here and nowhere else, the connectors, browser sessions (serve only: they need the key
// ring and are started by the caller) and the audit log. A command that changes people goes
// through the same `Accounts` the running server uses, so both write the same audit events and
// end sessions the same way.
import type { Clock, Logger } from '../core/index.ts';
import type { Config } from '../config/index.ts';
import type { KeyRing } from '../crypto/index.ts';
import type { AuditStore, Store } from '../store/index.ts';
import { Accounts, SignInThrottle, setPendingPasswordChecks, type Federation, type ThrottleLimits } from '../accounts/index.ts';
import { Connectors } from '../connectors/index.ts';
import { Sessions } from '../sessions/index.ts';

export interface ServicesOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** The config in force (reloads swap it; call `configure` after). */
  config: () => Config;
  /**
   * The key ring in force. With it: browser sessions, and upstream sign-in (its tokens are kept
   * sealed). The CLI's people commands need neither and leave it out.
   */
  keyring?: () => KeyRing;
}

export interface Services {
  accounts: Accounts;
  throttle: SignInThrottle;
  connectors: Connectors;
  /** Upstream sign-in for the portal (with a key ring). */
  federation: Federation | undefined;
  /** Not started: `serve` starts and stops them. */
  sessions: Sessions | undefined;
  audit: AuditStore;
  /** Apply a reloaded config: throttle limits, config groups, session lifetimes and keys. */
  configure(config: Config): void;
}

/** signIn.throttle as the throttle reads it: the one place these limits come from. */
export function throttleLimits(c: Config): ThrottleLimits {
  return { perAccount: c.signIn.throttle.perAccount, perAddress: c.signIn.throttle.perAddress, windowMs: c.signIn.throttle.window };
}

export function buildServices(o: ServicesOptions & { keyring: () => KeyRing }): Services & { sessions: Sessions; federation: Federation };
export function buildServices(o: ServicesOptions): Services;
export function buildServices(o: ServicesOptions): Services {
  const { store, clock, logger, keyring } = o;
  const config = o.config();
  const throttle = new SignInThrottle(throttleLimits(config), clock, config.limits.throttleEntries);
  setPendingPasswordChecks(config.limits.pendingPasswordChecks);
  const connectors = new Connectors({ connectors: () => o.config().connectors });
  const accounts = new Accounts({
    store,
    clock,
    logger,
    throttle,
    groups: config.groups,
    ...(keyring ? { upstream: { connectors, keyring } } : {}),
  });
  const sessions =
    keyring &&
    new Sessions({
      keyring: keyring(),
      store,
      clock,
      logger,
      accounts,
      lifetimeMs: config.session.lifetime,
      idleTimeoutMs: config.session.idleTimeout,
      cacheSize: config.limits.sessionCache,
    });
  return {
    accounts,
    throttle,
    connectors,
    federation: accounts.federation,
    sessions,
    audit: store.audit,
    configure(c) {
      throttle.setLimits(throttleLimits(c));
      accounts.setConfigGroups(c.groups);
      if (sessions && keyring) {
        sessions.configure({ keyring: keyring(), lifetimeMs: c.session.lifetime, idleTimeoutMs: c.session.idleTimeout });
        sessions.reidentify();
      }
    },
  };
}
