// A server that is not there, or a database that does not exist: store_unavailable with
// host:port and the reason, never the password from database.url.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { GatehouseError, MemoryLogger } from '../../src/core/index.ts';
import { rejectsWith } from '../../src/store/contract/suite.ts';
import { openStore } from '../../src/store/index.ts';
import { PG_URL, requirePostgres } from '../kit/postgres.ts';

await requirePostgres();

/** A port on which nothing listens: bind port 0, note it, close. */
async function deadPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

test('a down server: openStore fails with store_unavailable naming host:port and the reason, without the password', async () => {
  const port = await deadPort();
  const logger = new MemoryLogger();
  let caught: unknown;
  try {
    await openStore({ url: `postgres://gate:s3cret-pw@127.0.0.1:${port}/gatehouse`, logger });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GatehouseError);
  assert.equal(caught.kind, 'store_unavailable');
  assert.equal(
    caught.detail,
    `cannot reach PostgreSQL at 127.0.0.1:${port} (ECONNREFUSED): check database.url and that the server is running`,
  );
  assert.equal(caught.status, 503);
  for (const text of [caught.message, caught.stack ?? '', String(caught.cause), JSON.stringify(caught.cause), logger.text()]) {
    assert.ok(!text.includes('s3cret-pw'), `the password leaked into: ${text}`);
  }
});

test("a database that does not exist: store_unavailable with the server's reason", async () => {
  const u = new URL(PG_URL);
  u.pathname = '/gatehouse_no_such_database';
  const endpoint = `${u.hostname}:${u.port || '5432'}`;
  await rejectsWith(
    openStore({ url: u.toString(), logger: new MemoryLogger() }),
    'store_unavailable',
    `cannot reach PostgreSQL at ${endpoint} (3D000 database "gatehouse_no_such_database" does not exist): check database.url and that the server is running`,
  );
});

test('the opened-store log line carries the url with its password redacted', async () => {
  const u = new URL(PG_URL);
  u.username = u.username || 'postgres';
  u.password = 'hunter2-secret';
  const logger = new MemoryLogger();
  const store = await openStore({ url: u.toString(), logger });
  try {
    await store.ping();
    const line = logger.lines.find((l) => l.msg.startsWith('opened the PostgreSQL store'));
    assert.equal(line?.fields.url, u.toString().replace('hunter2-secret', '***'));
    assert.ok(!logger.text().includes('hunter2-secret'));
  } finally {
    await store.close();
  }
});
