// oidc-provider's storage Adapter over the store's OidcStore port. Every identifier that is a
// bearer value (token and code ids, session ids, interaction ids, session uids, user codes) is
// hashed before it reaches the store, and `jti` (the id again) is taken out of the payload and
// put back on read, so the tables never hold a usable token, code or session cookie.
//
// Two models get more: a registered client's `client_secret` is sealed by the key ring (oidc-provider
// compares the secret itself, so a one-way hash cannot serve), and a rotated refresh token of a
// public client is given back unconsumed exactly once within a grace period (a client that lost
// the token response retries; RFC 9700 §4.14.2 still revokes the grant on any later reuse).
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Clock } from '../core/index.ts';
import { hashToken, type KeyRing } from '../crypto/index.ts';
import type { OidcFound, OidcStore } from '../store/index.ts';
import { AGENT_MODEL, otherAgentClientId } from './agent-ids.ts';
import type { RecordCache } from './record-cache.ts';

/** Namespaced so a value of one model never hashes to a key of another's lookups. */
export const h = (kind: string, value: string): string => hashToken(`${kind}:${value}`);

const SECRET_PURPOSE = 'client-secret';
const SEALED = 'gatehouse_sealed_secret';
const GRACE_USED = 'gatehouse_grace_used';

export interface AdapterOptions {
  /** Seals client secrets at rest (model Client). */
  keyring: KeyRing;
  /** How long a consumed refresh token still works once for this client (0: never). */
  refreshGraceMs?: (clientId: string) => Promise<number>;
  /**
   * The issuer's short-lived copy of clients and agents (record-cache.ts): this adapter's writes
   * drop their entries; with `cachedReads` its reads of those models go through it too.
   */
  cache?: RecordCache;
  cachedReads?: boolean;
}

/** The models whose reads may come from the record cache: what every client_credentials token reads. */
const CACHED_MODELS: ReadonlySet<string> = new Set(['Client', AGENT_MODEL]);

export function adapterFor(store: OidcStore, clock: Clock, opts: AdapterOptions): new (model: string) => Adapter {
  return class StoreAdapter implements Adapter {
    readonly #model: string;
    readonly #cached: RecordCache | undefined;
    constructor(model: string) {
      this.#model = model;
      this.#cached = opts.cachedReads && CACHED_MODELS.has(model) ? opts.cache : undefined;
    }

    /** A write here: the cached copy (under either spelling of an agent's client id) is gone at once. */
    #forget(id: string): void {
      if (!opts.cache) return;
      opts.cache.delete(this.#model, id);
      const alias = this.#model === 'Client' ? otherAgentClientId(id) : undefined;
      if (alias !== undefined) opts.cache.delete(this.#model, alias);
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      this.#forget(id);
      const { jti: _jti, consumed: _consumed, ...rest } = payload;
      if (this.#model === 'Client' && typeof rest.client_secret === 'string') {
        rest[SEALED] = opts.keyring.seal(SECRET_PURPOSE, rest.client_secret);
        delete rest.client_secret;
      }
      await store.upsert(this.#model, h('id', id), {
        payload: JSON.stringify(rest),
        grantId: typeof payload.grantId === 'string' ? h('grant', payload.grantId) : null,
        uid: typeof payload.uid === 'string' ? h('uid', payload.uid) : null,
        userCode: typeof payload.userCode === 'string' ? h('user-code', payload.userCode) : null,
        expiresAt: expiresIn ? clock.now() + expiresIn * 1000 : null,
        ...owner(payload),
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const hit = this.#cached?.get(this.#model, id);
      if (hit !== undefined) return hit as AdapterPayload;
      const payload = await this.#read(id);
      if (payload !== undefined) this.#cached?.set(this.#model, id, payload);
      return payload;
    }

    async #read(id: string): Promise<AdapterPayload | undefined> {
      let found = await store.find(this.#model, h('id', id), clock.now());
      // An agent's client answers to both spellings of its id (agent-ids.ts), whichever it is
      // stored under; the payload names the id it was asked by, as oidc-provider expects.
      const alias = this.#model === 'Client' && !found ? otherAgentClientId(id) : undefined;
      if (alias !== undefined) {
        found = await store.find(this.#model, h('id', alias), clock.now());
        if (found) found = { ...found, payload: JSON.stringify({ ...(JSON.parse(found.payload) as object), client_id: id }) };
      }
      if (found && this.#model === 'RefreshToken' && found.consumedAt !== null) return this.#grace(id, found);
      const payload = revive(found, id);
      if (payload && this.#model === 'Client' && typeof payload[SEALED] === 'string') {
        const secret = opts.keyring.unseal(SECRET_PURPOSE, payload[SEALED]);
        delete payload[SEALED];
        // A secret sealed under a root secret no longer configured cannot be opened: no secret,
        // so every authentication with it fails (invalid_client) instead of the process failing.
        if (secret) payload.client_secret = secret.toString('utf8');
      }
      return payload;
    }

    /** A consumed refresh token: unconsumed once within the grace, else as stored (reuse). */
    async #grace(id: string, found: OidcFound): Promise<AdapterPayload | undefined> {
      const payload = JSON.parse(found.payload) as AdapterPayload;
      const clientId = typeof payload.clientId === 'string' ? payload.clientId : '';
      const grace = opts.refreshGraceMs && payload[GRACE_USED] !== true ? await opts.refreshGraceMs(clientId) : 0;
      if (found.consumedAt === null || clock.now() - found.consumedAt > grace) return revive(found, id);
      payload[GRACE_USED] = true;
      await store.upsert(this.#model, h('id', id), {
        payload: JSON.stringify(payload),
        grantId: typeof payload.grantId === 'string' ? h('grant', payload.grantId) : null,
        uid: null,
        userCode: null,
        expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
        ...owner(payload),
      });
      payload.jti = id;
      return payload;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const found = await store.findByUid(this.#model, h('uid', uid), clock.now());
      // The stored id is a hash; the Session model reads its id from `jti`, which the payload no
      // longer carries, so a lookup by uid gives back the payload with the uid it was asked for
      // and oidc-provider (which only needs accountId, authorizations and uid) never sees an id.
      return found ? revive(found, undefined) : undefined;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const found = await store.findByUserCode(this.#model, h('user-code', userCode), clock.now());
      return found ? revive(found, undefined) : undefined;
    }

    async consume(id: string): Promise<void> {
      await store.consume(this.#model, h('id', id), clock.now());
    }

    async destroy(id: string): Promise<void> {
      this.#forget(id);
      await store.destroy(this.#model, h('id', id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await store.revokeByGrantId(this.#model, h('grant', grantId));
    }
  };
}

/** Whose record this is (user and client), so a user's grants and tokens can be revoked at once. */
function owner(payload: AdapterPayload): { accountId: string | null; clientId: string | null } {
  return {
    accountId: typeof payload.accountId === 'string' ? payload.accountId : null,
    clientId: typeof payload.clientId === 'string' ? payload.clientId : null,
  };
}

function revive(found: OidcFound | undefined, id: string | undefined): AdapterPayload | undefined {
  if (!found) return undefined;
  const payload = JSON.parse(found.payload) as AdapterPayload;
  if (id !== undefined) payload.jti = id;
  // oidc-provider reads `consumed` (epoch seconds) to refuse a second use of a code or token.
  if (found.consumedAt !== null) payload.consumed = Math.floor(found.consumedAt / 1000);
  return payload;
}
