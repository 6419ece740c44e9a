import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError, toWire, parseDuration, ManualClock } from './index.ts';

test('errors carry status and RFC code from their kind, never the detail', () => {
  const err = new GatehouseError('forbidden', 'user bob is not in group admins');
  assert.equal(err.status, 403);
  assert.deepEqual(toWire(err), { status: 403, error: 'access_denied', error_description: 'access is denied' });
  assert.deepEqual(toWire(new Error('secret stuff')), { status: 500, error: 'server_error', error_description: 'internal error' });
});

test('durations parse with units and reject junk', () => {
  assert.equal(parseDuration('7d'), 7 * 86_400_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('10'), undefined);
  assert.equal(parseDuration('5x'), undefined);
  assert.equal(parseDuration(''), undefined);
});

test('manual clock moves only when told', () => {
  const c = new ManualClock(1000);
  c.advance(500);
  assert.equal(c.now(), 1500);
});
