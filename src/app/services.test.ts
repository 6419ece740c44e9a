// The store-backed services are built one way for `serve` and the CLI: the sign-in throttle's
// limits come from signIn.throttle here and nowhere else, and a reload reaches the throttle, the
// config groups and the sessions through `configure`.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, MemoryLogger } from '../core/index.ts';
import type { Config } from '../config/index.ts';
import { embeddedConfig } from '../config/defaults.ts';
import { KeyRing } from '../crypto/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { buildServices, throttleLimits } from './services.ts';

const SECRET = '+IgCoVQqg0/lBY/ijpasDEt4ezf5x0YQM8oB0e4TIME=';
let store: Store;
let clock: ManualClock;

function configWith(perAccount: number, groups: Config['groups'] = []): Config {
  const c = embeddedConfig().config;
  return { ...c, groups, signIn: { ...c.signIn, throttle: { ...c.signIn.throttle, perAccount, window: 60_000 } } };
}

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 2, 1));
  store = await openStore({ url: 'sqlite::memory:', logger: new MemoryLogger(), clock });
  await store.migrate();
});
afterEach(async () => {
  await store.close();
});

test('throttleLimits reads signIn.throttle', () => {
  assert.deepEqual(throttleLimits(configWith(3)), { perAccount: 3, perAddress: 20, windowMs: 60_000 });
});

test('without a key ring (the CLI): accounts and the throttle, no sessions, no upstream sign-in', () => {
  const s = buildServices({ store, clock, logger: new MemoryLogger(), config: () => configWith(5) });
  assert.equal(s.sessions, undefined);
  assert.equal(s.federation, undefined);
  assert.equal(s.accounts.throttle, s.throttle);
  assert.equal(s.audit, store.audit);
});

test('with a key ring (serve): sessions and upstream sign-in; configure applies a reloaded throttle and config groups', async () => {
  let config = configWith(2);
  const keyring = KeyRing.fromSecrets([SECRET]);
  const s = buildServices({ store, clock, logger: new MemoryLogger(), config: () => config, keyring: () => keyring });
  assert.ok(s.sessions);
  assert.deepEqual(s.federation.list(), []);
  for (let i = 0; i < 2; i++) s.throttle.recordFailure('alice', '192.0.2.1');
  assert.equal(s.throttle.retryAfter('alice', '192.0.2.9'), 60, 'held after perAccount (2) failures');
  const alice = await s.accounts.create({ username: 'alice' });
  assert.deepEqual(s.accounts.identityOf(alice).groups, []);
  config = configWith(5, [{ name: 'admins', members: ['alice'] }]);
  s.configure(config);
  assert.equal(s.throttle.retryAfter('alice', '192.0.2.9'), 0, 'perAccount is 5 after the reload');
  assert.deepEqual(s.accounts.identityOf(alice).groups, ['admins']);
});
