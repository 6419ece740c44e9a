import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../core/index.ts';
import { hashPassword, verifyPassword, SignInThrottle } from './index.ts';

const FAST = { memory: 1024, passes: 1, parallelism: 1 };

test('argon2id hashes verify, in PHC format, and reject a wrong password or a malformed hash', async () => {
  const h = await hashPassword('correct horse', FAST);
  assert.match(h, /^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.equal(await verifyPassword('correct horse', h), true);
  assert.equal(await verifyPassword('correct horsE', h), false);
  assert.equal(await verifyPassword('correct horse', h.replace('argon2id', 'argon2i')), false);
  assert.equal(await verifyPassword('x', 'plaintext'), false);
  // Two hashes of one password differ (random salt).
  assert.notEqual(await hashPassword('correct horse', FAST), h);
});

test('throttling is per account and per address, never global, and lifts after the window', () => {
  const clock = new ManualClock(0);
  const t = new SignInThrottle({ perAccount: 3, perAddress: 5, windowMs: 60_000 }, clock);
  for (let i = 0; i < 3; i++) t.recordFailure('Alice', '10.0.0.1');
  assert.equal(t.retryAfter('alice', '10.0.0.9'), 60, 'the account is held from any address, case-insensitively');
  assert.equal(t.retryAfter('bob', '10.0.0.1'), 0, 'another account from the same address is not (yet)');
  for (let i = 0; i < 2; i++) t.recordFailure(`user${i}`, '10.0.0.1');
  assert.equal(t.retryAfter('carol', '10.0.0.1'), 60, 'the address is held after 5 failures across accounts');
  assert.equal(t.retryAfter('carol', '10.0.0.2'), 0, 'every other address and account still gets in');
  clock.advance(30_000);
  assert.equal(t.retryAfter('alice', '10.0.0.9'), 30);
  clock.advance(30_000);
  assert.equal(t.retryAfter('alice', '10.0.0.9'), 0);
  assert.equal(t.retryAfter('carol', '10.0.0.1'), 0);
});

test('a success clears the account counter but not the address counter', () => {
  const clock = new ManualClock(0);
  const t = new SignInThrottle({ perAccount: 2, perAddress: 2, windowMs: 60_000 }, clock);
  t.recordFailure('alice', '10.0.0.1');
  t.recordSuccess('alice');
  t.recordFailure('alice', '10.0.0.2');
  assert.equal(t.retryAfter('alice', '10.0.0.3'), 0);
  t.recordFailure('bob', '10.0.0.1');
  assert.equal(t.retryAfter('zed', '10.0.0.1'), 60);
});
