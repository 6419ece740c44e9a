// The hashing thread ends when idle (its isolate and argon2id's block go back to the system) and
// a later check starts a new one: the answers are the same before and after.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, passwordThreadRunning, setPasswordThreadIdle, verifyPassword } from './password.ts';

const FAST = { memory: 256, passes: 1, parallelism: 1 };

/** Waits for a condition with a deadline (the thread's end is asynchronous). */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('the idle thread ends; the next check starts another and verifies what the first hashed', async () => {
  setPasswordThreadIdle(0);
  try {
    const hash = await hashPassword('correct horse', FAST);
    await until(() => !passwordThreadRunning(), 'the idle thread to end');
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('wrong horse', hash), false);
    await until(() => !passwordThreadRunning(), 'the second thread to end');
    // Checks started together while a thread is ending or starting all get their answer.
    const again = await Promise.all(['a', 'b', 'c'].map((p) => hashPassword(p, FAST)));
    assert.deepEqual(await Promise.all(again.map((h, i) => verifyPassword(['a', 'b', 'c'][i]!, h))), [true, true, true]);
  } finally {
    setPasswordThreadIdle(10_000);
  }
});

test('a thread with work pending is kept', async () => {
  setPasswordThreadIdle(60_000);
  const h = hashPassword('kept', FAST);
  assert.equal(passwordThreadRunning(), true);
  assert.match(await h, /^\$argon2id\$/);
  assert.equal(passwordThreadRunning(), true);
  setPasswordThreadIdle(10_000);
});
