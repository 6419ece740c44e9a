import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Logger } from '../core/index.ts';
import { AUTO_WORKER_MEMORY, WorkerLink, workerCount, type Channel, type ToPrimary, type ToWorker } from './workers.ts';

test('workerCount: a number as it is; auto: the CPUs, at most one per 192 MiB of a memory limit', () => {
  assert.equal(workerCount(3, { cpus: 1, memoryLimit: 0 }), 3);
  assert.equal(workerCount('auto', { cpus: 8, memoryLimit: 0 }), 8, 'no limit');
  assert.equal(workerCount('auto', { cpus: 8, memoryLimit: 2 ** 62 }), 8, "cgroup v2 'max' reads as a huge number");
  assert.equal(workerCount('auto', { cpus: 8, memoryLimit: 512 * 1024 * 1024 }), 2);
  assert.equal(workerCount('auto', { cpus: 8, memoryLimit: AUTO_WORKER_MEMORY - 1 }), 1, 'never fewer than one');
  assert.equal(workerCount('auto', { cpus: 1, memoryLimit: 0 }), 1);
});

function fakeChannel() {
  const sent: ToPrimary[] = [];
  let deliver: (m: ToWorker) => void = () => {};
  let disconnect: () => void = () => {};
  const channel: Channel = {
    send: (m) => sent.push(m),
    onMessage: (cb) => {
      deliver = cb;
    },
    onDisconnect: (cb) => {
      disconnect = cb;
    },
  };
  return { channel, sent, deliver: (m: ToWorker) => deliver(m), disconnect: () => disconnect() };
}

const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet } as unknown as Logger;

test("WorkerLink: revocations go to the primary and come back to the store; collect answers with this worker's metrics", async () => {
  const f = fakeChannel();
  const link = new WorkerLink({ slot: 2, first: false, channel: f.channel, logger: quiet });
  const received: string[] = [];
  link.relay.onReceive((sid) => received.push(sid));
  link.relay.send('s1');
  f.deliver({ gh: 'revoked', sid: 's2' });
  assert.deepEqual(f.sent, [{ gh: 'revoked', sid: 's1' }]);
  assert.deepEqual(received, ['s2']);
  link.serveMetrics(async () => 'up 1\n');
  f.deliver({ gh: 'collect', id: 7 });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(f.sent[1], { gh: 'collected', id: 7, text: 'up 1\n' });
});

test('WorkerLink: a scrape joins what the primary sends back', async () => {
  const f = fakeChannel();
  const link = new WorkerLink({ slot: 1, first: true, channel: f.channel, logger: quiet });
  const merged = link.gatherMetrics('# TYPE up gauge\nup 1\n');
  assert.deepEqual(f.sent, [{ gh: 'metrics?', id: 1, text: '# TYPE up gauge\nup 1\n' }]);
  f.deliver({
    gh: 'metrics',
    id: 1,
    parts: [
      { worker: 1, text: '# TYPE up gauge\nup 1\n' },
      { worker: 2, text: '# TYPE up gauge\nup 1\n' },
    ],
    own: 'gatehouse_workers 2\n',
  });
  assert.equal(await merged, '# TYPE up gauge\nup{worker="1"} 1\nup{worker="2"} 1\ngatehouse_workers 2\n');
});

test('WorkerLink: without the primary, a stop; asked before the worker listens for it, the stop still comes', () => {
  const f = fakeChannel();
  const link = new WorkerLink({ slot: 1, first: true, channel: f.channel, logger: quiet });
  f.disconnect();
  let stops = 0;
  link.onStop(() => stops++);
  f.deliver({ gh: 'stop' });
  assert.equal(stops, 1);
});
