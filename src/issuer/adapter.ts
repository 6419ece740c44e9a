// oidc-provider's storage Adapter over the store's OidcStore port. Every identifier that is a
// bearer value (token and code ids, session ids, interaction ids, session uids, user codes) is
// hashed before it reaches the store, and `jti` (the id again) is taken out of the payload and
// put back on read, so the tables never hold a usable token, code or session cookie.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Clock } from '../core/index.ts';
import { hashToken } from '../crypto/index.ts';
import type { OidcFound, OidcStore } from '../store/index.ts';

/** Namespaced so a value of one model never hashes to a key of another's lookups. */
const h = (kind: string, value: string): string => hashToken(`${kind}:${value}`);

export function adapterFor(store: OidcStore, clock: Clock): new (model: string) => Adapter {
  return class StoreAdapter implements Adapter {
    readonly #model: string;
    constructor(model: string) { this.#model = model; }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const { jti: _jti, consumed: _consumed, ...rest } = payload;
      await store.upsert(this.#model, h('id', id), {
        payload: JSON.stringify(rest),
        grantId: typeof payload.grantId === 'string' ? h('grant', payload.grantId) : null,
        uid: typeof payload.uid === 'string' ? h('uid', payload.uid) : null,
        userCode: typeof payload.userCode === 'string' ? h('user-code', payload.userCode) : null,
        expiresAt: expiresIn ? clock.now() + expiresIn * 1000 : null,
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return revive(await store.find(this.#model, h('id', id), clock.now()), id);
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
      await store.destroy(this.#model, h('id', id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await store.revokeByGrantId(this.#model, h('grant', grantId));
    }
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
