// The issuer's record cache through the storage adapter: reads of clients and agent records are
// served from it for less than RECORD_CACHE_MS, a change written elsewhere (the CLI, another
// replica: straight to the store here) is seen once that has passed, a write or delete through
// any adapter sharing the cache is seen at once (under both spellings of an agent's client id),
// other models are never cached, misses are not kept, and the entries are bounded.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { ManualClock, MemoryLogger } from '../core/index.ts';
import { KeyRing } from '../crypto/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { adapterFor, h } from './adapter.ts';
import { agentsFor } from './agents.ts';
import { RECORD_CACHE_MS, RecordCache } from './record-cache.ts';

const SECRET = '+IgCoVQqg0/lBY/ijpasDEt4ezf5x0YQM8oB0e4TIME=';
let clock: ManualClock;
let store: Store;
let keyring: KeyRing;
let cache: RecordCache;

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 2, 1));
  store = await openStore({ url: 'sqlite::memory:', logger: new MemoryLogger(), clock });
  await store.migrate();
  keyring = KeyRing.fromSecrets([SECRET]);
  cache = new RecordCache(clock);
});

/** A change made without this process's adapters (the CLI, another replica): straight to the store. */
async function writeElsewhere(model: string, id: string, payload: Record<string, unknown>): Promise<void> {
  await store.oidc.upsert(model, h('id', id), {
    payload: JSON.stringify(payload),
    grantId: null,
    uid: null,
    userCode: null,
    expiresAt: null,
  });
}

test('a client read through the cache: at most RECORD_CACHE_MS old, a fresh copy each time', async () => {
  const Cached = adapterFor(store.oidc, clock, { keyring, cache, cachedReads: true });
  const clients = new Cached('Client');
  await clients.upsert('c1', { client_id: 'c1', client_secret: 's1', redirect_uris: ['https://a.example/cb'] }, 0);
  const first = await clients.find('c1');
  assert.equal(first?.client_secret, 's1');
  (first?.redirect_uris as string[]).push('https://mutated.example/');
  await writeElsewhere('Client', 'c1', { client_id: 'c1', redirect_uris: ['https://b.example/cb'] });
  clock.advance(RECORD_CACHE_MS - 1);
  const cached = await clients.find('c1');
  assert.deepEqual(cached?.redirect_uris, ['https://a.example/cb']);
  assert.equal(cached?.client_secret, 's1');
  clock.advance(1);
  assert.deepEqual((await clients.find('c1'))?.redirect_uris, ['https://b.example/cb']);
  // Deleted elsewhere: gone once the bound has passed.
  await store.oidc.destroy('Client', h('id', 'c1'));
  assert.ok(await clients.find('c1'));
  clock.advance(RECORD_CACHE_MS);
  assert.equal(await clients.find('c1'), undefined);
});

test('writes and deletes through any adapter sharing the cache are seen at once; without cachedReads every read is the store', async () => {
  const Cached = adapterFor(store.oidc, clock, { keyring, cache, cachedReads: true });
  const Writer = adapterFor(store.oidc, clock, { keyring, cache });
  const reader = new Cached('Client');
  await new Writer('Client').upsert('agent:old', { client_id: 'agent:old', client_secret: 's' }, 0);
  // Stored under the first spelling, asked for by the second (agent-ids.ts).
  assert.equal((await reader.find('agent.old'))?.client_id, 'agent.old');
  await new Writer('Client').destroy('agent:old');
  assert.equal(await reader.find('agent.old'), undefined);
  await new Writer('Client').upsert('c2', { client_id: 'c2', client_name: 'one' }, 0);
  assert.equal((await reader.find('c2'))?.client_name, 'one');
  await new Writer('Client').upsert('c2', { client_id: 'c2', client_name: 'two' }, 0);
  assert.equal((await reader.find('c2'))?.client_name, 'two');
  // The writer's own reads are not cached.
  await writeElsewhere('Client', 'c2', { client_id: 'c2', client_name: 'three' });
  assert.equal((await new Writer('Client').find('c2'))?.client_name, 'three');
  assert.equal((await reader.find('c2'))?.client_name, 'two');
});

test('only clients and agent records are cached; misses are not kept', async () => {
  const Cached = adapterFor(store.oidc, clock, { keyring, cache, cachedReads: true });
  const tokens = new Cached('AccessToken');
  await tokens.upsert('t1', { kind: 'AccessToken', accountId: 'u' }, 60);
  await tokens.find('t1');
  await store.oidc.destroy('AccessToken', h('id', 't1'));
  assert.equal(await tokens.find('t1'), undefined);
  const clients = new Cached('Client');
  assert.equal(await clients.find('later'), undefined);
  await writeElsewhere('Client', 'later', { client_id: 'later' });
  assert.equal((await clients.find('later'))?.client_id, 'later');
});

test('an agent: its token groups come through the cache, isActive and get from the store; delete here is seen at once', async () => {
  const agents = agentsFor(store.oidc, keyring, clock, cache);
  await agents.create('bot', { groups: ['ci'], ttlMs: null });
  assert.deepEqual(await agents.groupsForToken('bot'), ['ci']);
  await writeElsewhere('GatehouseAgent', 'bot', { name: 'bot', groups: ['ops'], createdAt: clock.now(), expiresAt: null });
  assert.deepEqual(await agents.groupsForToken('bot'), ['ci']);
  assert.deepEqual((await agents.get('bot'))?.groups, ['ops']);
  await store.oidc.destroy('GatehouseAgent', h('id', 'bot'));
  assert.equal(await agents.isActive('bot'), false);
  clock.advance(RECORD_CACHE_MS);
  assert.equal(await agents.groupsForToken('bot'), undefined);
  await agents.create('bot2', { groups: ['ci'], ttlMs: null });
  assert.deepEqual(await agents.groupsForToken('bot2'), ['ci']);
  await agents.delete('bot2');
  assert.equal(await agents.groupsForToken('bot2'), undefined);
});

test('bounded: at the limit it starts again empty', () => {
  const small = new RecordCache(clock, RECORD_CACHE_MS, 2);
  small.set('Client', 'a', { n: 1 });
  small.set('Client', 'b', { n: 2 });
  assert.deepEqual(small.get('Client', 'a'), { n: 1 });
  small.set('Client', 'c', { n: 3 });
  assert.equal(small.get('Client', 'a'), undefined);
  assert.equal(small.get('Client', 'b'), undefined);
  assert.deepEqual(small.get('Client', 'c'), { n: 3 });
});
