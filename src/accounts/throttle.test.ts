// The sign-in throttle's memory is bounded whatever clients send (issue 9), and the bound
// cannot be used to lift a throttle.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../core/index.ts';
import { SignInThrottle } from './throttle.ts';

const LIMITS = { perAccount: 3, perAddress: 1_000_000, windowMs: 60_000 };

test('a stream of unique junk account names and addresses never holds more than maxEntries keys', () => {
  const t = new SignInThrottle(LIMITS, new ManualClock(0), 500);
  for (let i = 0; i < 5_000; i++) {
    t.recordFailure(`junk-${i}-${'x'.repeat(i % 300)}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const { accounts, addresses } = t.size;
    assert.ok(accounts <= 500 && addresses <= 500, `after ${i + 1} failures: ${accounts} accounts, ${addresses} addresses`);
  }
  assert.ok(t.size.accounts >= 450, 'the map is used up to its bound, not emptied');
});

test('junk names cannot push a throttled account out of a full map', () => {
  const t = new SignInThrottle(LIMITS, new ManualClock(0), 100);
  for (let i = 0; i < 3; i++) t.recordFailure('alice', '10.0.0.1');
  assert.equal(t.retryAfter('alice', '10.9.9.9'), 60);
  for (let i = 0; i < 10_000; i++) t.recordFailure(`junk${i}`, '10.0.0.2');
  assert.equal(t.retryAfter('alice', '10.9.9.9'), 60, 'alice is still held after 100x the bound of junk');
});

test('an over-long account name is kept as a fixed-size key: the same name still counts, case-insensitively', () => {
  const t = new SignInThrottle(LIMITS, new ManualClock(0), 100);
  const long = 'A'.repeat(10_000);
  for (let i = 0; i < 3; i++) t.recordFailure(long, `10.0.0.${i}`);
  assert.equal(t.retryAfter(long.toLowerCase(), '10.9.9.9'), 60);
  assert.equal(t.retryAfter('a'.repeat(9_999), '10.9.9.9'), 0);
});

test('property: whatever the sequence of failures, both maps stay within the bound', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 50 }),
      fc.array(fc.tuple(fc.string({ maxLength: 80 }), fc.string({ maxLength: 40 }), fc.nat(5_000)), { maxLength: 400 }),
      (max, events) => {
        const clock = new ManualClock(0);
        const t = new SignInThrottle(LIMITS, clock, max);
        for (const [account, address, dt] of events) {
          clock.advance(dt);
          t.recordFailure(account, address);
          assert.ok(t.size.accounts <= max && t.size.addresses <= max);
        }
      },
    ),
    { seed: 9, numRuns: 200 },
  );
});
