import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUTO_WORKER_MEMORY, workerCount } from './workers.ts';

test('workerCount: a number as it is; auto: the CPUs, at most one per 192 MiB of a memory limit', () => {
  assert.equal(workerCount(3, { cpus: 1, memoryLimit: 0 }), 3);
  assert.equal(workerCount('auto', { cpus: 8, memoryLimit: 0 }), 8, 'no limit');
  assert.equal(workerCount('auto', { cpus: 8, memoryLimit: 2 ** 62 }), 8, "cgroup v2 'max' reads as a huge number");
  assert.equal(workerCount('auto', { cpus: 8, memoryLimit: 512 * 1024 * 1024 }), 2);
  assert.equal(workerCount('auto', { cpus: 8, memoryLimit: AUTO_WORKER_MEMORY - 1 }), 1, 'never fewer than one');
  assert.equal(workerCount('auto', { cpus: 1, memoryLimit: 0 }), 1);
});
