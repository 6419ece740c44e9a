// Federation: the configured connectors, and what happens around them — who is admitted, how an
// upstream identity becomes (or finds) a Gatehouse account, and keeping it current afterwards.
// The portal drives the browser flow; Sessions asks `groupsFor`/`refresh` (never on the hot path:
// when a process first sees a session, and in the background at renewal).
import { randomId, type Clock, type Logger } from '../core/index.ts';
import type { ConnectorConfig } from '../config/index.ts';
import type { KeyRing } from '../crypto/index.ts';
import type { IdentityRecord, Store, UserRecord } from '../store/index.ts';
import { mapGroups, refusal } from './admission.ts';
import { EntraConnector } from './entra.ts';
import { GithubConnector } from './github.ts';
import type { Fetch } from './http.ts';
import { GenericOidcConnector } from './oidc.ts';
import { ConnectorError, type AuthorizationRequest, type CallbackInput, type Connector, type ExternalIdentity, type UpstreamTokens } from './types.ts';

const TOKENS_PURPOSE = 'upstream-tokens';
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export interface FederationOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  keyring: () => KeyRing;
  connectors: () => readonly ConnectorConfig[];
  /** For tests and proxies; default global fetch. */
  fetch?: Fetch;
}

export type SignInResult =
  | { ok: true; user: UserRecord; identity: ExternalIdentity; groups: string[]; how: 'linked' | 'email' | 'created' }
  | { ok: false; error: ConnectorError; identity?: ExternalIdentity };

export function buildConnector(cfg: ConnectorConfig, fetchImpl?: Fetch): Connector {
  switch (cfg.type) {
    case 'github': return new GithubConnector(cfg, fetchImpl);
    case 'oidc': return new GenericOidcConnector(cfg, fetchImpl);
    case 'entra': return new EntraConnector(cfg, fetchImpl);
  }
}

export class Federation {
  readonly #o: FederationOptions;
  #source: readonly ConnectorConfig[] | undefined;
  #byId = new Map<string, Connector>();
  /** Refreshes in flight, per identity, so concurrent sessions share one upstream call (rotating refresh tokens). */
  readonly #inflight = new Map<string, Promise<string[] | 'revoked' | null>>();

  constructor(o: FederationOptions) { this.#o = o; }

  /** The connectors of the current config; rebuilt (discovery redone) when the config changes. */
  #current(): Map<string, Connector> {
    const list = this.#o.connectors();
    if (list !== this.#source) {
      const next = new Map<string, Connector>();
      for (const c of list) {
        const old = this.#byId.get(c.id);
        next.set(c.id, old && JSON.stringify(old.config) === JSON.stringify(c) ? old : buildConnector(c, this.#o.fetch));
      }
      this.#byId = next;
      this.#source = list;
    }
    return this.#byId;
  }

  list(): { id: string; label: string }[] {
    return [...this.#current().values()].map((c) => ({ id: c.id, label: c.label }));
  }

  get(id: string): Connector | undefined { return this.#current().get(id); }

  async authorizationUrl(id: string, req: AuthorizationRequest): Promise<string> {
    const c = this.get(id);
    if (!c) throw new ConnectorError('upstream_error', `no connector "${id}" is configured`);
    return c.authorizationUrl(req);
  }

  /** The callback: the provider's answer -> an admitted identity -> a linked (or created) account. */
  async signIn(id: string, input: CallbackInput): Promise<SignInResult> {
    const c = this.get(id);
    if (!c) return { ok: false, error: new ConnectorError('upstream_error', `no connector "${id}" is configured any more`) };
    // RFC 6749 §4.1.2.1: the provider reports refusals (the user declined, …) as error=….
    const error = input.currentUrl.searchParams.get('error');
    if (error !== null) {
      return { ok: false, error: new ConnectorError('access_denied', `the provider answered error=${error.slice(0, 64)}`, { upstreamCode: error.slice(0, 64) }) };
    }
    let identity: ExternalIdentity;
    let tokens: UpstreamTokens;
    try {
      ({ identity, tokens } = await c.callback(input));
    } catch (err) {
      if (err instanceof ConnectorError) return { ok: false, error: err };
      throw err;
    }
    const why = refusal(c.config, identity);
    if (why) return { ok: false, error: new ConnectorError('refused', why), identity };
    const groups = mapGroups(c.config.groups, identity.groups);
    const sealed = this.#seal(tokens);
    const now = this.#o.clock.now();
    const { store } = this.#o;
    const fields = { username: identity.username, email: identity.email, groups, tokens: sealed, signedInAt: now, refreshedAt: now };

    const known = await store.identities.get(c.id, identity.subject);
    if (known) {
      const user = await store.users.get(known.userId);
      if (!user || user.disabled) return { ok: false, error: new ConnectorError('refused', 'the linked account is disabled or gone'), identity };
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
      if (matches.length > 1) this.#o.logger.warn({ connector: c.id, count: matches.length }, 'several accounts have this verified email; not linking by email');
    }
    if (c.config.createAccounts !== 'auto') {
      return { ok: false, error: new ConnectorError('no_account', `no account is linked to this ${c.label} identity and connectors[${c.id}].createAccounts is invite`), identity };
    }
    const username = await this.#freeUsername(identity, c.id);
    if (!username) {
      return { ok: false, error: new ConnectorError('refused', `username "${identity.username}" is taken by another account (it is never linked by name)`), identity };
    }
    const user = await store.users.create({
      id: randomId(12), username, email: identity.email, emailVerified: identity.emailVerified, name: identity.name,
      groups: [], passwordHash: null, disabled: false,
    });
    await store.identities.link({ connectorId: c.id, subject: identity.subject, userId: user.id, ...fields }, now);
    this.#o.logger.info({ event: 'account_created', connector: c.id, user: username }, 'account created from an upstream identity');
    return { ok: true, user, identity, groups, how: 'created' };
  }

  /** The upstream login if free, else login@connector; an existing account is never taken over by name. */
  async #freeUsername(identity: ExternalIdentity, connectorId: string): Promise<string | null> {
    for (const candidate of [identity.username, `${identity.username}@${connectorId}`]) {
      if (USERNAME.test(candidate) && !(await this.#o.store.users.findByUsername(candidate))) return candidate;
    }
    return null;
  }

  /** Mapped upstream groups of the identity a session was made with (when a process first sees the session). */
  async groupsFor(userId: string, connectorId: string): Promise<string[] | null> {
    const row = (await this.#o.store.identities.forUser(userId, connectorId))[0];
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
    const { store, clock, logger } = this.#o;
    const c = this.get(connectorId);
    const row = (await store.identities.forUser(userId, connectorId))[0];
    if (!c || !row) {
      logger.info({ event: 'upstream_refresh', connector: connectorId, result: 'revoked', reason: c ? 'identity unlinked' : 'connector removed from config' }, 'upstream access ended');
      return 'revoked';
    }
    if (clock.now() - row.refreshedAt < c.config.refreshInterval) return row.groups;
    // No tokens: a refresh already found this identity refused; every session made with it ends.
    if (row.tokens === null) return 'revoked';
    const tokens = this.#unseal(row.tokens);
    if (!tokens) {
      logger.warn({ event: 'upstream_refresh', connector: connectorId, result: 'error', err: 'the stored tokens do not unseal (root secret rotated away)' }, 'could not refresh upstream access');
      return row.groups;
    }
    const previous: ExternalIdentity = {
      connectorId, subject: row.subject, username: row.username ?? '', email: row.email, emailVerified: false, name: null, groups: [],
    };
    let result;
    try {
      result = await c.refresh(tokens, previous);
    } catch (err) {
      logger.warn({ event: 'upstream_refresh', connector: connectorId, result: 'error', err: err instanceof ConnectorError ? err.detail : (err as Error).message },
        'could not refresh upstream access; keeping the current groups');
      return row.groups;
    }
    if ('gone' in result) {
      // Another replica may have used a rotating refresh token first: if the row moved on, it is fine.
      const again = await store.identities.get(connectorId, row.subject);
      if (again && again.refreshedAt !== row.refreshedAt) return again.groups;
      return this.#revoked(row, result.reason);
    }
    const why = refusal(c.config, result.identity);
    if (why) return this.#revoked(row, why);
    const groups = mapGroups(c.config.groups, result.identity.groups);
    await store.identities.update(connectorId, row.subject, {
      groups, tokens: this.#seal(result.tokens), refreshedAt: clock.now(),
      username: result.identity.username || row.username, email: result.identity.email ?? row.email,
    });
    logger.info({ event: 'upstream_refresh', connector: connectorId, user: row.username, result: 'ok' }, 'upstream access refreshed');
    return groups;
  }

  async #revoked(row: IdentityRecord, reason: string): Promise<'revoked'> {
    // Forget the tokens: nothing may be refreshed with them again; the next sign-in starts over.
    await this.#o.store.identities.update(row.connectorId, row.subject, { tokens: null, groups: [] });
    this.#o.logger.info({ event: 'upstream_refresh', connector: row.connectorId, user: row.username, result: 'revoked', reason }, 'upstream access ended');
    return 'revoked';
  }

  #seal(tokens: UpstreamTokens): string {
    return this.#o.keyring().seal(TOKENS_PURPOSE, JSON.stringify(tokens));
  }

  #unseal(sealed: string | null): UpstreamTokens | null {
    if (!sealed) return null;
    const raw = this.#o.keyring().unseal(TOKENS_PURPOSE, sealed);
    if (!raw) return null;
    try {
      const t = JSON.parse(raw.toString('utf8')) as UpstreamTokens;
      return typeof t.accessToken === 'string' ? t : null;
    } catch { return null; }
  }
}
