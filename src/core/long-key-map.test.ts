import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LongKeyMap } from './index.ts';

// Keys that often share their last 16 characters (a fixed tail after a short varying head), so
// keys ending alike are compared whole, beside ordinary random keys.
const TAIL = 'ABCDEFGHIJKLMNOP';
const key = fc.oneof(
  fc.string({ minLength: 0, maxLength: 40 }),
  fc.string({ minLength: 0, maxLength: 4 }).map((head) => head + TAIL),
  fc.constantFrom(TAIL, `x${TAIL}`, `xx${TAIL}`, 'short'),
);
const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
  fc.record({ kind: fc.constant('get' as const), key }),
  fc.record({ kind: fc.constant('delete' as const), key }),
  fc.record({ kind: fc.constant('evict' as const), n: fc.integer({ min: 0, max: 3 }) }),
);

test('a hit is only ever the last value set under that exact key, and a key just set is a hit', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const m = new LongKeyMap<number>();
      // What was last set under each key and not deleted since (evictions and shared slots may
      // drop an entry early, never change what a hit answers).
      const truth = new Map<string, number>();
      for (const o of ops) {
        if (o.kind === 'set') {
          m.set(o.key, o.value);
          truth.set(o.key, o.value);
          assert.equal(m.get(o.key), o.value);
        } else if (o.kind === 'get') {
          const got = m.get(o.key);
          if (got !== undefined) assert.equal(got, truth.get(o.key));
        } else if (o.kind === 'delete') {
          const had = m.get(o.key) !== undefined;
          assert.equal(m.delete(o.key), had);
          assert.equal(m.get(o.key), undefined);
          truth.delete(o.key);
        } else {
          const before = m.size;
          m.evictOldest(o.n);
          assert.equal(m.size, Math.max(0, before - o.n));
        }
        assert.ok(m.size <= truth.size);
      }
    }),
  );
});

test('a key that shares the tail of a stored one is a miss, and cannot delete it', () => {
  const m = new LongKeyMap<string>();
  const cookie = `${'a'.repeat(300)}${TAIL}`;
  m.set(cookie, 'session');
  assert.equal(m.get(cookie), 'session');
  assert.equal(m.get(`${'b'.repeat(300)}${TAIL}`), undefined);
  assert.equal(m.get(TAIL), undefined);
  assert.equal(m.delete(`b${TAIL}`), false);
  assert.equal(m.get(cookie), 'session');
  // The same key set again keeps its place in the eviction order.
  m.set(`first${'c'.repeat(20)}`, 'other');
  m.set(cookie, 'again');
  m.evictOldest(1);
  assert.equal(m.get(cookie), undefined);
  assert.equal(m.get(`first${'c'.repeat(20)}`), 'other');
});

test('deleteWhere drops exactly the entries it names', () => {
  const m = new LongKeyMap<number>();
  for (let i = 0; i < 10; i++) m.set(`${'k'.repeat(30)}${String(i).padStart(3, '0')}`, i);
  m.deleteWhere((v) => v % 2 === 0);
  assert.equal(m.size, 5);
  for (let i = 0; i < 10; i++) assert.equal(m.get(`${'k'.repeat(30)}${String(i).padStart(3, '0')}`), i % 2 === 0 ? undefined : i);
  m.clear();
  assert.equal(m.size, 0);
});
