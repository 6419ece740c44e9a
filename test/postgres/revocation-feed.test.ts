// Revocations across replicas over LISTEN/NOTIFY, and a listener that comes back after its
// connection drops.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { MemoryLogger } from '../../src/core/index.ts';
import { rejectsWith } from '../../src/store/contract/suite.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { until } from '../kit/poll.ts';
import { createTestDatabase, PG_URL, requirePostgres, type TestDatabase } from '../kit/postgres.ts';

await requirePostgres();

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

/** Resolves with the first `n` ids `store` delivers; rejects after `ms`. */
function receive(store: Store, n: number, ms = 1000): Promise<string[]> {
  const ids: string[] = [];
  const { promise, resolve, reject } = Promise.withResolvers<string[]>();
  const timer = setTimeout(() => {
    off();
    reject(new Error(`expected ${n} revocation(s) within ${ms}ms, got ${JSON.stringify(ids)}`));
  }, ms);
  const off = store.revocations.subscribe((id) => {
    ids.push(id);
    if (ids.length === n) {
      clearTimeout(timer);
      off();
      resolve(ids);
    }
  });
  return promise;
}

test('a revocation published on one store reaches another store (its own pool) within a second', async () => {
  const a = await openStore({ url: db.url, logger: new MemoryLogger() });
  const b = await openStore({ url: db.url, logger: new MemoryLogger() });
  try {
    const onB = receive(b, 2);
    const onA = receive(a, 2);
    await a.revocations.publish('s-from-a');
    await b.revocations.publish('s-from-b');
    assert.deepEqual(await onB, ['s-from-a', 's-from-b']);
    assert.deepEqual(await onA, ['s-from-a', 's-from-b']);
  } finally {
    await a.close();
    await b.close();
  }
});

/** A TCP proxy to the server that the test can cut and restore, on the same port. */
class CuttableProxy {
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;
  port = 0;

  async start(): Promise<void> {
    const target = new URL(PG_URL);
    this.#server = net.createServer((down) => {
      const up = net.connect(Number(target.port || 5432), target.hostname);
      for (const s of [down, up]) {
        this.#sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.#sockets.delete(s);
          down.destroy();
          up.destroy();
        });
      }
      down.pipe(up);
      up.pipe(down);
    });
    this.#server.listen(this.port, '127.0.0.1');
    await once(this.#server, 'listening');
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise((r) => server.close(r));
  }
}

test('when the connection drops: the listener logs it, ping says store_unavailable, and the listener reconnects and delivers again', async () => {
  const proxy = new CuttableProxy();
  await proxy.start();
  const viaProxy = new URL(db.url);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  const logger = new MemoryLogger();
  const replica = await openStore({ url: viaProxy.toString(), logger });
  const publisher = await openStore({ url: db.url, logger: new MemoryLogger() });
  try {
    await replica.ping();
    await proxy.cut();
    const lost = await until(() => logger.lines.find((l) => l.msg.startsWith('revocation listener lost')), {
      timeoutMs: 10_000,
      what: 'the listener to log the lost connection',
    });
    assert.equal(lost.level, 'warn');
    assert.match(
      lost.msg,
      new RegExp(
        `^revocation listener lost its connection: cannot reach PostgreSQL at 127\\.0\\.0\\.1:${proxy.port} \\(.+\\): check database\\.url and that the server is running; reconnecting in 250ms$`,
      ),
    );
    await rejectsWith(
      replica.ping(),
      'store_unavailable',
      `cannot reach PostgreSQL at 127.0.0.1:${proxy.port} (ECONNREFUSED): check database.url and that the server is running`,
    );

    await proxy.start();
    const back = await until(() => logger.lines.find((l) => l.msg.startsWith('revocation listener reconnected')), {
      timeoutMs: 10_000,
      what: 'the listener to reconnect',
    });
    assert.equal(back.msg, `revocation listener reconnected to PostgreSQL at 127.0.0.1:${proxy.port}`);
    const got = receive(replica, 1);
    await publisher.revocations.publish('s-after-reconnect');
    assert.deepEqual(await got, ['s-after-reconnect']);
    await replica.ping();
  } finally {
    await replica.close();
    await publisher.close();
    await proxy.cut();
  }
});
