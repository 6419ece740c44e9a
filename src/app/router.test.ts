// The router is the one place every request error ends up (issue 9): whatever a handler or the
// route lookup throws or rejects with becomes an answer and one log line, never an uncaught
// exception. Real node:http server on port 0, raw sockets.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { GatehouseError, MemoryLogger } from '../core/index.ts';
import { Metrics } from '../http/index.ts';
import { exchange } from '../../test/kit/fuzz-requests.ts';
import { createRouter, type Route } from './router.ts';

const logger = new MemoryLogger();
const escaped: unknown[] = [];
const onEscape = (e: unknown): void => {
  escaped.push(e);
};
let server: Server;
let port: number;
let fallbackThrows: unknown = null;

before(async () => {
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  const routes = new Map<string, Route>();
  const route = (handler: Route['handler'], lean = false): Route => ({ label: 'other', methods: null, handler, lean });
  routes.set(
    '/sync-throw',
    route(() => {
      throw new Error('bug');
    }),
  );
  routes.set(
    '/sync-refuse',
    route(() => {
      throw new GatehouseError('invalid_request', 'bad input');
    }),
  );
  routes.set(
    '/async-reject',
    route(async () => {
      await Promise.resolve();
      throw new GatehouseError('too_many_requests', 'busy');
    }),
  );
  routes.set(
    '/throw-string',
    route(() => {
      throw 'not an error';
    }),
  );
  routes.set(
    '/lean-throw',
    route(() => {
      throw new Error('lean bug');
    }, true),
  );
  routes.set(
    '/after-headers',
    route((_req, res) => {
      res.writeHead(200);
      res.write('partial');
      throw new Error('late bug');
    }),
  );
  const router = createRouter({
    logger,
    metrics: new Metrics({ version: 'test', defaultMetrics: false }),
    site: {
      routes,
      fallback: () => {
        if (fallbackThrows !== null) throw fallbackThrows;
        return {
          label: 'not_found',
          run: (res) => {
            res.writeHead(404);
            res.end();
          },
        };
      },
      isProxiedApp: () => false,
    },
    hsts: () => false,
    isTrustedPeer: () => false,
  });
  server = createServer(router.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
});

const get = (path: string) => exchange(port, Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'));

function logged(id: string | undefined) {
  return logger.lines.filter((l) => l.fields.requestId === id).map((l) => [l.level, l.msg, l.fields.status]);
}

for (const [path, status, level] of [
  ['/sync-throw', 500, 'error'],
  ['/sync-refuse', 400, 'info'],
  ['/async-reject', 429, 'info'],
  ['/throw-string', 500, 'error'],
] as const) {
  test(`${path}: ${status}, the request id on the answer and on exactly one ${level} log line`, async () => {
    const a = await get(path);
    assert.equal(a.status, status);
    const id = /\r\nx-request-id: ([^\r]+)/i.exec(a.head)?.[1];
    assert.ok(id);
    assert.deepEqual(logged(id), [[level, status >= 500 ? 'request failed' : 'request refused', status]]);
    assert.doesNotMatch(a.body, /bug|bad input|busy|not an error/, 'the reason stays in the log');
    assert.deepEqual(escaped, []);
  });
}

test('a lean route that throws: 500 and a log line', async () => {
  const before = logger.lines.length;
  const a = await get('/lean-throw');
  assert.equal(a.status, 500);
  assert.deepEqual(
    logger.lines.slice(before).map((l) => [l.level, l.msg]),
    [['error', 'request failed']],
  );
  assert.deepEqual(escaped, []);
});

test('the route lookup throwing (a host the fallback cannot read) is answered like a handler error', async () => {
  fallbackThrows = new GatehouseError('invalid_request', 'Host: the host has an invalid port');
  try {
    const a = await get('/anything');
    assert.equal(a.status, 400);
    fallbackThrows = new TypeError('lookup bug');
    assert.equal((await get('/anything')).status, 500);
  } finally {
    fallbackThrows = null;
  }
  assert.deepEqual(escaped, []);
});

test('an error after the headers went out cuts the response (the client sees it incomplete), nothing escapes', async () => {
  const before = logger.lines.length;
  const a = await get('/after-headers');
  // Whatever reached the wire before the cut, it is never a complete chunked response.
  assert.ok(a.status === 0 || (a.status === 200 && !a.body.endsWith('0\r\n\r\n')), `${a.status} ${JSON.stringify(a.body)}`);
  assert.deepEqual(
    logger.lines.slice(before).map((l) => [l.level, l.msg]),
    [['error', 'request failed']],
  );
  assert.deepEqual(escaped, []);
});
