import { test, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryLogger } from '../core/index.ts';
import { healthHandlers, type ReadyCheck } from './health.ts';

const servers: Server[] = [];
let readyzDone = 0;
after(() => {
  for (const s of servers) s.close();
});

async function serve(ready: ReadyCheck, logger?: MemoryLogger): Promise<number> {
  const h = healthHandlers(logger === undefined ? { ready } : { ready, logger });
  const server = createServer((req, res) => {
    if (req.url === '/healthz') h.healthz(req, res);
    else
      void h.readyz(req, res).then(() => {
        readyzDone++;
      });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function get(port: number, path: string): Promise<{ status: number; type: string | undefined; cache: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], cache: res.headers['cache-control'], body }),
      );
    })
      .on('error', reject)
      .end();
  });
}

test('/healthz answers at once even while readiness never settles', async () => {
  let called = 0;
  const port = await serve(() => {
    called++;
    return new Promise(() => {});
  });
  assert.deepEqual(await get(port, '/healthz'), { status: 200, type: 'text/plain; charset=utf-8', cache: 'no-store', body: 'ok' });
  assert.equal(called, 0);
});

test('/readyz reports ready with its checks', async () => {
  const port = await serve(async () => ({ ok: true, checks: { store: 'ok', migrations: 'ok' } }));
  assert.deepEqual(await get(port, '/readyz'), {
    status: 200,
    type: 'application/json; charset=utf-8',
    cache: 'no-store',
    body: '{"status":"ready","checks":{"store":"ok","migrations":"ok"}}',
  });
});

test('/readyz answers 503 when a check fails or throws', async () => {
  const port = await serve(async () => ({ ok: false, checks: { store: 'unreachable', migrations: 'ok' } }));
  assert.deepEqual(await get(port, '/readyz'), {
    status: 503,
    type: 'application/json; charset=utf-8',
    cache: 'no-store',
    body: '{"status":"not ready","checks":{"store":"unreachable","migrations":"ok"}}',
  });
  const logger = new MemoryLogger();
  const throwing = await serve(async () => {
    throw new Error('connect ECONNREFUSED');
  }, logger);
  assert.deepEqual((await get(throwing, '/readyz')).body, '{"status":"not ready","checks":{"ready":"failed"}}');
  assert.equal(logger.lines[0]?.msg, 'readiness check failed');
});

test('/readyz gives up after 2 s with 503', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    let entered!: () => void;
    const inCheck = new Promise<void>((r) => {
      entered = r;
    });
    const port = await serve(() => {
      entered();
      return new Promise(() => {});
    });
    const before = readyzDone;
    const pending = get(port, '/readyz');
    await inCheck;
    mock.timers.tick(1999);
    await new Promise((r) => setImmediate(r));
    assert.equal(readyzDone, before, 'not answered before 2 s');
    mock.timers.tick(1);
    await new Promise((r) => setImmediate(r));
    assert.equal(readyzDone, before + 1, 'answered at 2 s');
    assert.deepEqual(await pending, {
      status: 503,
      type: 'application/json; charset=utf-8',
      cache: 'no-store',
      body: '{"status":"not ready","checks":{"ready":"timed out after 2000ms"}}',
    });
  } finally {
    mock.timers.reset();
  }
});
