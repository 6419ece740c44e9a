import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { MemoryLogger } from '../core/index.ts';
import { FATAL_EXIT_CODE, installProcessGuards, type GuardedProcess } from './process-guards.ts';

function setup() {
  const proc = new EventEmitter();
  const logger = new MemoryLogger();
  const calls: string[] = [];
  let exited: (code: number) => void = () => {};
  const exit = new Promise<number>((r) => {
    exited = r;
  });
  installProcessGuards({
    proc: proc as unknown as GuardedProcess,
    logger,
    flushMs: 1,
    stopListening: () => calls.push('stop'),
    exit: (c) => {
      calls.push(`exit ${c}`);
      exited(c);
    },
    stderr: (l) => calls.push(l),
  });
  return { proc, logger, calls, exit };
}

test('an uncaught exception: a line on stderr and in the log, the listener closed, then exit 70', async () => {
  const { proc, logger, calls, exit } = setup();
  proc.emit('uncaughtException', new Error('boom'), 'uncaughtException');
  proc.emit('uncaughtException', new Error('again'), 'uncaughtException');
  assert.equal(await exit, FATAL_EXIT_CODE);
  assert.deepEqual(calls, ['gatehouse: fatal: boom (uncaughtException); exiting with status 70 to be restarted', 'stop', 'exit 70']);
  assert.deepEqual(
    logger.lines.map((l) => [l.level, l.msg]),
    [['error', 'fatal: an error escaped every handler; exiting to be restarted']],
  );
});

test('an unhandled rejection is logged and the process serves on', () => {
  const { proc, logger, calls } = setup();
  proc.emit('unhandledRejection', new Error('lost'));
  assert.deepEqual(calls, []);
  assert.deepEqual(
    logger.lines.map((l) => [l.level, l.msg]),
    [['error', 'a promise was rejected with no handler; serving on']],
  );
});
