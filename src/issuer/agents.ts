// Agents: machine identities. An agent is a confidential OAuth client (client_credentials only,
// client_secret_basic, or client_secret_post) whose client_id is `agent.<name>` (agent-ids.ts:
// `agent:<name>` is still accepted), and its access tokens say `sub: agent:<name>`; its groups
// ride in every token. Both records (the oidc-provider Client and
// the agent's own, model GatehouseAgent) expire together at the agent's TTL, and deleting the
// agent deletes both: from then on /token answers invalid_client. Tokens already issued are JWTs
// the gate verifies offline; `isActive` is the check that refuses them too.
import { randomBytes } from 'node:crypto';
import { GatehouseError, type Clock } from '../core/index.ts';
import type { KeyRing } from '../crypto/index.ts';
import type { OidcStore } from '../store/index.ts';
import { adapterFor } from './adapter.ts';
import { agentClientId, agentSubject } from './agent-ids.ts';

import { AGENT_MODEL } from './agent-ids.ts';
import type { RecordCache } from './record-cache.ts';

export { AGENT_MODEL, AGENT_PREFIX, AGENT_SUBJECT_PREFIX, agentName, agentClientId, agentSubject } from './agent-ids.ts';
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface AgentRecord {
  name: string;
  groups: string[];
  createdAt: number;
  /** Epoch ms; null: never expires. */
  expiresAt: number | null;
}

export interface Agents {
  create(
    name: string,
    opts: { groups: string[]; ttlMs: number | null },
  ): Promise<{ agent: AgentRecord; clientId: string; clientSecret: string }>;
  list(): Promise<AgentRecord[]>;
  get(name: string): Promise<AgentRecord | undefined>;
  delete(name: string): Promise<boolean>;
  /** True while the agent exists and has not expired: the gate's check for tokens already issued (read from the store). */
  isActive(name: string): Promise<boolean>;
  /**
   * The agent's groups for a token's claims: through the issuer's record cache when it has one
   * (at most RECORD_CACHE_MS old, record-cache.ts), else from the store.
   */
  groupsForToken(name: string): Promise<string[] | undefined>;
}

/** The agents of a store; `cache`: the issuer's record cache (writes drop its entries, token reads use it). */
export function agentsFor(store: OidcStore, keyring: KeyRing, clock: Clock, cache?: RecordCache): Agents {
  const Adapter = adapterFor(store, clock, { keyring, ...(cache ? { cache } : {}) });
  const clients = new Adapter('Client');
  const records = new Adapter(AGENT_MODEL);
  const cachedRecords = cache ? new (adapterFor(store, clock, { keyring, cache, cachedReads: true }))(AGENT_MODEL) : records;

  async function get(name: string): Promise<AgentRecord | undefined> {
    return recordOf(await records.find(name));
  }
  function recordOf(p: Awaited<ReturnType<typeof records.find>>): AgentRecord | undefined {
    if (!p) return undefined;
    return {
      name: String(p.name),
      groups: (p.groups as string[]) ?? [],
      createdAt: Number(p.createdAt),
      expiresAt: typeof p.expiresAt === 'number' ? p.expiresAt : null,
    };
  }

  return {
    async create(name, { groups, ttlMs }) {
      if (!NAME.test(name))
        throw new GatehouseError('invalid_request', `agent name "${name}" must be 1-63 lowercase letters, digits and "-"`);
      if (await get(name)) throw new GatehouseError('conflict', `agent "${name}" already exists (delete it first)`);
      const now = clock.now();
      const expiresAt = ttlMs === null ? null : now + ttlMs;
      const ttlSeconds = ttlMs === null ? 0 : Math.max(1, Math.ceil(ttlMs / 1000));
      const clientId = agentClientId(name);
      const clientSecret = randomBytes(32).toString('base64url');
      await clients.upsert(
        clientId,
        {
          client_id: clientId,
          client_secret: clientSecret,
          client_id_issued_at: Math.floor(now / 1000),
          // RFC 7591 §3.2.1: 0 means the secret does not expire.
          client_secret_expires_at: expiresAt === null ? 0 : Math.floor(expiresAt / 1000),
          client_name: `agent ${name}`,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: 'client_secret_basic',
        },
        ttlSeconds,
      );
      const agent: AgentRecord = { name, groups: [...new Set(groups)], createdAt: now, expiresAt };
      await records.upsert(name, { ...agent }, ttlSeconds);
      return { agent, clientId, clientSecret };
    },
    async list() {
      const found = await store.list(AGENT_MODEL, clock.now());
      return found.map((f) => JSON.parse(f.payload) as AgentRecord).sort((a, b) => a.name.localeCompare(b.name));
    },
    get,
    async delete(name) {
      const existed = (await get(name)) !== undefined;
      // Both spellings: an agent made before `agent.<name>` is stored under `agent:<name>`.
      await clients.destroy(agentClientId(name));
      await clients.destroy(agentSubject(name));
      await records.destroy(name);
      return existed;
    },
    async groupsForToken(name) {
      return recordOf(await cachedRecords.find(name))?.groups;
    },
    async isActive(name) {
      // The adapter finds the client under either spelling.
      return (await get(name)) !== undefined && (await clients.find(agentClientId(name))) !== undefined;
    },
  };
}
