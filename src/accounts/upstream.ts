// Upstream identities linked to accounts: which account an admitted identity signs in as
// (already linked, one account with the same verified email, or a new account), and keeping a
// link's groups current at session renewal. The providers themselves are behind `Connectors`;
// this file only reads and writes the identities table (through `Accounts`, which owns people).
import type { Clock, Logger } from '../core/index.ts';
import type { KeyRing } from '../crypto/index.ts';
import {
  ConnectorError,
  type Admitted,
  type CallbackInput,
  type Connectors,
  type ExternalIdentity,
  type UpstreamTokens,
} from '../connectors/index.ts';
import type { IdentityRecord, Store, UserRecord } from '../store/index.ts';

const TOKENS_PURPOSE = 'upstream-tokens';

export type SignInResult =
  | { ok: true; user: UserRecord; identity: ExternalIdentity; groups: string[]; how: 'linked' | 'email' | 'created' | 'invited' | 'added' }
  | { ok: false; error: ConnectorError; identity?: ExternalIdentity };

/** What an invitation gives the account it makes. */
export interface InvitationGrant {
  groups: string[];
  email: string | null;
}

/**
 * What a sign-in is for besides signing in, carried by the portal's sealed login state:
 *   invitation  an unlinked identity may make a new account, whatever createAccounts says:
 *               `enrol` takes one use of the invitation (atomically) and calls `create`
 *   link        link the identity to this (signed-in) account: the account page's "link another"
 */
export type SignInIntent =
  | {
      kind: 'invitation';
      enrol: (
        username: string,
        create: (grant: InvitationGrant) => Promise<UserRecord>,
      ) => Promise<{ ok: true; user: UserRecord } | { ok: false; reason: string }>;
    }
  | { kind: 'link'; userId: string };

/** What the linking needs of `Accounts`: a free username for a new account, and creating it. */
export interface AccountMaker {
  freeUsername(identity: ExternalIdentity, connectorId: string): Promise<string | null>;
  createFromUpstream(identity: ExternalIdentity, username: string, grant?: InvitationGrant): Promise<UserRecord>;
}

export class UpstreamLinks {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #connectors: Connectors;
  readonly #keyring: () => KeyRing;
  readonly #accounts: AccountMaker;
  /** Refreshes in flight, per identity, so concurrent sessions share one upstream call (rotating refresh tokens). */
  readonly #inflight = new Map<string, Promise<string[] | 'revoked' | null>>();

  constructor(o: { store: Store; clock: Clock; logger: Logger; connectors: Connectors; keyring: () => KeyRing; accounts: AccountMaker }) {
    this.#store = o.store;
    this.#clock = o.clock;
    this.#logger = o.logger;
    this.#connectors = o.connectors;
    this.#keyring = o.keyring;
    this.#accounts = o.accounts;
  }

  get connectors(): Connectors {
    return this.#connectors;
  }

  /** The callback: the provider's answer -> an admitted identity -> a linked (or created) account. */
  async signIn(connectorId: string, input: CallbackInput, intent?: SignInIntent): Promise<SignInResult> {
    const answer = await this.#connectors.callback(connectorId, input);
    if (!answer.ok) return answer;
    return this.link(answer, intent);
  }

  /**
   * The account an admitted identity signs in as: linked before, matched by verified email, or
   * created (createAccounts: auto, or an invitation). With a `link` intent: linked to that account
   * instead, never taken from another.
   */
  async link(a: Admitted, intent?: SignInIntent): Promise<SignInResult> {
    const { connector: c, identity, groups } = a;
    const now = this.#clock.now();
    const store = this.#store;
    const fields = {
      username: identity.username,
      email: identity.email,
      groups,
      tokens: this.#seal(a.tokens),
      signedInAt: now,
      refreshedAt: now,
    };

    const known = await store.identities.get(c.id, identity.subject);
    if (intent?.kind === 'link') {
      const user = await store.users.get(intent.userId);
      if (!user || user.disabled)
        return { ok: false, error: new ConnectorError('refused', 'the account to link to is disabled or gone'), identity };
      if (known && known.userId !== user.id) {
        return {
          ok: false,
          error: new ConnectorError('refused', `this ${c.label} identity is linked to another account already`),
          identity,
        };
      }
      if (known) await store.identities.update(c.id, identity.subject, fields);
      else await store.identities.link({ connectorId: c.id, subject: identity.subject, userId: user.id, ...fields }, now);
      this.#logger.info(
        { event: 'identity_linked', connector: c.id, user: user.username },
        'upstream identity linked to a signed-in account',
      );
      return { ok: true, user, identity, groups, how: 'added' };
    }
    if (known) {
      const user = await store.users.get(known.userId);
      if (!user || user.disabled)
        return { ok: false, error: new ConnectorError('refused', 'the linked account is disabled or gone'), identity };
      await store.identities.update(c.id, identity.subject, fields);
      return { ok: true, user, identity, groups, how: 'linked' };
    }
    if (c.config.linkByEmail && identity.emailVerified && identity.email) {
      // Both addresses verified, and exactly one account has it: anything else is not a safe match.
      const matches = (await store.users.findByVerifiedEmail(identity.email)).filter((u) => !u.disabled);
      if (matches.length === 1 && matches[0]) {
        await store.identities.link({ connectorId: c.id, subject: identity.subject, userId: matches[0].id, ...fields }, now);
        return { ok: true, user: matches[0], identity, groups, how: 'email' };
      }
      if (matches.length > 1)
        this.#logger.warn({ connector: c.id, count: matches.length }, 'several accounts have this verified email; not linking by email');
    }
    if (intent?.kind === 'invitation') {
      const username = await this.#accounts.freeUsername(identity, c.id);
      if (!username) {
        return {
          ok: false,
          error: new ConnectorError('refused', `username "${identity.username}" is taken by another account (it is never linked by name)`),
          identity,
        };
      }
      const r = await intent.enrol(username, async (grant) => {
        const user = await this.#accounts.createFromUpstream(identity, username, grant);
        await store.identities.link({ connectorId: c.id, subject: identity.subject, userId: user.id, ...fields }, now);
        return user;
      });
      if (!r.ok) return { ok: false, error: new ConnectorError('refused', `the invitation cannot be used (${r.reason})`), identity };
      this.#logger.info(
        { event: 'account_created', connector: c.id, user: username, invited: true },
        'account created from an upstream identity by invitation',
      );
      return { ok: true, user: r.user, identity, groups, how: 'invited' };
    }
    if (c.config.createAccounts !== 'auto') {
      return {
        ok: false,
        error: new ConnectorError(
          'no_account',
          `no account is linked to this ${c.label} identity and connectors[${c.id}].createAccounts is invite`,
        ),
        identity,
      };
    }
    const username = await this.#accounts.freeUsername(identity, c.id);
    if (!username) {
      return {
        ok: false,
        error: new ConnectorError('refused', `username "${identity.username}" is taken by another account (it is never linked by name)`),
        identity,
      };
    }
    const user = await this.#accounts.createFromUpstream(identity, username);
    await store.identities.link({ connectorId: c.id, subject: identity.subject, userId: user.id, ...fields }, now);
    this.#logger.info({ event: 'account_created', connector: c.id, user: username }, 'account created from an upstream identity');
    return { ok: true, user, identity, groups, how: 'created' };
  }

  /** Mapped upstream groups of the identity a session was made with; null when it is no longer linked. */
  async groupsFor(userId: string, connectorId: string): Promise<string[] | null> {
    const row = (await this.#store.identities.forUser(userId, connectorId))[0];
    return row ? row.groups : null;
  }

  /**
   * At session renewal: when the connector's refreshInterval has passed, ask upstream again.
   * 'revoked' when upstream or the allow rules say no (or the link or connector is gone); the
   * stored groups when it cannot tell (an outage never ends sessions; it is retried next time).
   */
  refresh(userId: string, connectorId: string): Promise<string[] | 'revoked' | null> {
    const key = `${connectorId}\u0000${userId}`;
    let job = this.#inflight.get(key);
    if (!job) {
      job = this.#refresh(userId, connectorId).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, job);
    }
    return job;
  }

  async #refresh(userId: string, connectorId: string): Promise<string[] | 'revoked' | null> {
    const store = this.#store;
    const logger = this.#logger;
    const c = this.#connectors.get(connectorId);
    const row = (await store.identities.forUser(userId, connectorId))[0];
    if (!c || !row) {
      logger.info(
        {
          event: 'upstream_refresh',
          connector: connectorId,
          result: 'revoked',
          reason: c ? 'identity unlinked' : 'connector removed from config',
        },
        'upstream access ended',
      );
      return 'revoked';
    }
    if (this.#clock.now() - row.refreshedAt < c.config.refreshInterval) return row.groups;
    // No tokens: a refresh already found this identity refused; every session made with it ends.
    if (row.tokens === null) return 'revoked';
    const tokens = this.#unseal(row.tokens);
    if (!tokens) {
      logger.warn(
        {
          event: 'upstream_refresh',
          connector: connectorId,
          result: 'error',
          err: 'the stored tokens do not unseal (root secret rotated away)',
        },
        'could not refresh upstream access',
      );
      return row.groups;
    }
    const previous: ExternalIdentity = {
      connectorId,
      subject: row.subject,
      username: row.username ?? '',
      email: row.email,
      emailVerified: false,
      name: null,
      groups: [],
    };
    let result;
    try {
      result = await this.#connectors.refresh(c, tokens, previous);
    } catch (err) {
      logger.warn(
        {
          event: 'upstream_refresh',
          connector: connectorId,
          result: 'error',
          err: err instanceof ConnectorError ? err.detail : (err as Error).message,
        },
        'could not refresh upstream access; keeping the current groups',
      );
      return row.groups;
    }
    if (!result.ok) {
      if (result.by === 'provider') {
        // Another replica may have used a rotating refresh token first: if the row moved on, it is fine.
        const again = await store.identities.get(connectorId, row.subject);
        if (again && again.refreshedAt !== row.refreshedAt) return again.groups;
      }
      return this.#revoked(row, result.gone);
    }
    await store.identities.update(connectorId, row.subject, {
      groups: result.groups,
      tokens: this.#seal(result.tokens),
      refreshedAt: this.#clock.now(),
      username: result.identity.username || row.username,
      email: result.identity.email ?? row.email,
    });
    logger.info({ event: 'upstream_refresh', connector: connectorId, user: row.username, result: 'ok' }, 'upstream access refreshed');
    return result.groups;
  }

  async #revoked(row: IdentityRecord, reason: string): Promise<'revoked'> {
    // Forget the tokens: nothing may be refreshed with them again; the next sign-in starts over.
    await this.#store.identities.update(row.connectorId, row.subject, { tokens: null, groups: [] });
    this.#logger.info(
      { event: 'upstream_refresh', connector: row.connectorId, user: row.username, result: 'revoked', reason },
      'upstream access ended',
    );
    return 'revoked';
  }

  #seal(tokens: UpstreamTokens): string {
    return this.#keyring().seal(TOKENS_PURPOSE, JSON.stringify(tokens));
  }

  #unseal(sealed: string | null): UpstreamTokens | null {
    if (!sealed) return null;
    const raw = this.#keyring().unseal(TOKENS_PURPOSE, sealed);
    if (!raw) return null;
    try {
      const t = JSON.parse(raw.toString('utf8')) as UpstreamTokens;
      return typeof t.accessToken === 'string' ? t : null;
    } catch {
      return null;
    }
  }
}
