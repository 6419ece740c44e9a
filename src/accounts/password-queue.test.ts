// The queue of password checks is bounded (issue 9): a burst of sign-ins beyond
// limits.pendingPasswordChecks is refused with too_many_requests instead of queueing without limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../core/index.ts';
import { hashPassword, pendingPasswordChecks, setPendingPasswordChecks } from './password.ts';

const FAST = { memory: 256, passes: 1, parallelism: 1 };

test('checks past the bound are refused at once; the others finish; the queue is empty after', async () => {
  setPendingPasswordChecks(3);
  try {
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => hashPassword(`pw${i}`, FAST)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(ok.length, 3);
    assert.equal(refused.length, 17);
    for (const r of refused) assert.ok(r.reason instanceof GatehouseError && r.reason.kind === 'too_many_requests', String(r.reason));
    assert.equal(pendingPasswordChecks(), 0);
    // Room again once the queue drained.
    assert.match(await hashPassword('again', FAST), /^\$argon2id\$/);
  } finally {
    setPendingPasswordChecks(64);
  }
});
