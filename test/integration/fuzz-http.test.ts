// Raw-socket fuzzing of a running Gatehouse (issue 9). Properties, over generated and mutated
// requests (request line, headers, cookies, forwarded values, query, form and JSON bodies):
//   - always an answer (a status line) for a well-framed request;
//   - never a 5xx for client input;
//   - never an exit: an 'uncaughtException' or 'unhandledRejection' anywhere fails the suite,
//     and the server still answers /healthz afterwards;
//   - never an allow (2xx on /oauth2/auth) for a protected host without a valid session.
// `npm test` runs a bounded count with a fixed seed; `npm run test:fuzz` runs the long version
// (FUZZ_RUNS, FUZZ_SEED pick the count and seed).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { ALICE, baseConfig, type Instance, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';
import {
  byteMutationArb,
  crashers,
  exchange,
  PORTAL_HOST,
  protectedForwardAuthArb,
  requestArb,
  serialize,
  show,
} from '../kit/fuzz-requests.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const SEED = Number(process.env.FUZZ_SEED ?? 20269);

// Anything escaping a request would end a real process; here it is recorded and fails the suite.
const escaped: unknown[] = [];
const onEscape = (err: unknown): void => {
  escaped.push(err);
};
process.on('uncaughtException', onEscape);
process.on('unhandledRejection', onEscape);

let inst: Instance;
let upstream: Server;
let realCookie: string;
let cookieName: string;

before(async () => {
  // An app behind reverse-proxy mode, so upgrades and proxied requests are fuzzed too.
  upstream = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('upstream\n');
  });
  upstream.on('upgrade', (_req, socket) => {
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  inst = await startInstance({
    users: [ALICE],
    config: (dir) => ({
      ...baseConfig(dir),
      apps: [
        // No public paths: on these hosts only a valid session in group admins is allowed.
        { name: 'app', hosts: ['app.example.test', '*.apps.example.test'], allow: { groups: ['admins'] } },
        { name: 'ws', hosts: ['ws.example.test'], upstream: upstreamUrl, allow: { groups: ['admins'] } },
      ],
    }),
  });
  cookieName = inst.running.settings().cookieName;
  realCookie = (await signIn(inst, ALICE.name)).value;
});

after(async () => {
  await inst.close();
  upstream.closeAllConnections();
  upstream.close();
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
});

async function assertAlive(): Promise<void> {
  const health = await exchange(
    inst.port,
    serialize({ method: 'GET', target: '/healthz', version: '1.1', headers: [['Host', PORTAL_HOST]], body: '' }),
  );
  assert.equal(health.status, 200, 'the server stopped answering /healthz');
  assert.deepEqual(escaped, [], 'an error escaped a request handler');
}

// Every crasher of issue 9, by name: an answer, 4xx (never 5xx, never silence), the process up.
for (const c of crashers()) {
  test(`regression (issue 9): ${c.name}`, async () => {
    const a = await exchange(inst.port, c.bytes);
    assert.ok((a.status >= 400 && a.status < 500) || a.status === 200, `answered ${a.status}: ${a.head}`);
    assert.doesNotMatch(a.body, /at .*\.ts:\d+|GatehouseError/, 'no stack or internals in the answer');
    await assertAlive();
  });
}

test('regression (issue 9): the malformed-host crashers answer exactly 400 with the request id, logged once at info', async () => {
  for (const c of crashers().filter((x) => /Host|no Host/.test(x.name) && !/upgrade|Upgrade/.test(x.name))) {
    const before = inst.logger.lines.length;
    const a = await exchange(inst.port, c.bytes);
    assert.equal(a.status, 400, `${c.name}: ${a.head}`);
    const id = /\r\nx-request-id: ([^\r]+)/i.exec(a.head)?.[1];
    assert.ok(id, `${c.name}: the answer carries a request id`);
    const lines = inst.logger.lines.slice(before).filter((l) => l.fields.requestId === id);
    assert.equal(lines.length, 1, `${c.name}: one log line for the request: ${JSON.stringify(lines)}`);
    assert.equal(lines[0]?.level, 'info');
    assert.equal(lines[0]?.fields.kind, 'invalid_request');
  }
});

test('regression (issue 9): rd that does not parse as a host is refused like an unsafe redirect (the form, with the portal home)', async () => {
  for (const rd of ['https://a,b.example.test/', 'https://app{}.example.test/', 'https://app.example.test,evil.com/']) {
    const a = await exchange(
      inst.port,
      serialize({
        method: 'GET',
        target: `/oauth2/sign_in?rd=${encodeURIComponent(rd)}`,
        version: '1.1',
        headers: [
          ['Host', PORTAL_HOST],
          ['X-Forwarded-Proto', 'https'],
          ['Accept', 'text/html'],
        ],
        body: '',
      }),
    );
    assert.equal(a.status, 200, rd);
    assert.match(a.body, /name="rd" value="https:\/\/auth\.example\.test\/"/, rd);
  }
});

test('regression (issue 9): an upgrade to a gate path is answered as a plain request; to an app with a bad host, 400', async () => {
  const start = await exchange(
    inst.port,
    Buffer.from(
      `GET /oauth2/start HTTP/1.1\r\nHost: ${PORTAL_HOST}\r\nX-Forwarded-Proto: https\r\nAccept: text/html\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
      'latin1',
    ),
  );
  assert.equal(start.status, 200);
  assert.match(start.body, /<form/);
  const app = await exchange(
    inst.port,
    Buffer.from('GET /socket HTTP/1.1\r\nHost: ws.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 'latin1'),
  );
  assert.equal(app.status, 401, "no session: the app's WebSocket is refused with 401");
  const bad = await exchange(
    inst.port,
    Buffer.from('GET /socket HTTP/1.1\r\nHost: ws.example.test:8x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 'latin1'),
  );
  assert.equal(bad.status, 400);
  await assertAlive();
});

test('CONNECT (a tunnel request, for forward proxies only) gets 405 with Allow and a request id, never silence', async () => {
  for (const target of [`${PORTAL_HOST}:443`, 'app.example.test:443', '127.0.0.1:22']) {
    for (const version of ['1.1', '1.0']) {
      const before = inst.logger.lines.length;
      const a = await exchange(inst.port, Buffer.from(`CONNECT ${target} HTTP/${version}\r\nHost: ${target}\r\n\r\n`, 'latin1'));
      assert.equal(a.status, 405, `${target} HTTP/${version}: ${a.head}`);
      assert.match(a.head, /\r\nallow: GET, HEAD, POST/i);
      const id = /\r\nx-request-id: ([^\r]+)/i.exec(a.head)?.[1];
      assert.ok(id);
      assert.equal(inst.logger.lines.slice(before).filter((l) => l.fields.requestId === id && l.level === 'info').length, 1);
    }
  }
  await assertAlive();
});

test('a request the HTTP parser refuses gets 400 (431 for headers too large) and a log line, never silence', async () => {
  const bad = await exchange(inst.port, Buffer.from('GET / HTTP/1.1\r\nHost: auth.example.test\r\nBad Header: x\r\n\r\n', 'latin1'));
  assert.equal(bad.status, 400);
  assert.match(bad.head, /\r\nx-request-id: /i);
  const big = await exchange(
    inst.port,
    Buffer.from(`GET / HTTP/1.1\r\nHost: auth.example.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 'latin1'),
  );
  assert.equal(big.status, 431);
  assert.ok(inst.logger.lines.some((l) => l.msg === 'request refused by the HTTP parser' && l.fields.code === 'HPE_HEADER_OVERFLOW'));
  await assertAlive();
});

test(`property: any generated request gets an answer, never a 5xx (${RUNS} runs, seed ${SEED})`, async () => {
  await fc.assert(
    fc.asyncProperty(
      requestArb({ cookieName, realCookie, hosts: [PORTAL_HOST, 'app.example.test', 'ws.example.test', 'unknown.example.com'] }),
      async (r) => {
        const bytes = serialize(r);
        const a = await exchange(inst.port, bytes);
        assert.notEqual(a.status, 0, `no answer to ${show(bytes)}`);
        assert.ok(a.status < 500, `${a.status} for ${show(bytes)}: ${a.body.slice(0, 200)}`);
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
  await assertAlive();
});

test(`property: a forward-auth request for a protected host without a valid session is never allowed (${RUNS} runs)`, async () => {
  await fc.assert(
    fc.asyncProperty(protectedForwardAuthArb({ cookieName, realCookie }), async (r) => {
      const bytes = serialize(r);
      const a = await exchange(inst.port, bytes);
      assert.ok(a.status >= 300 && a.status < 500, `${a.status} for ${show(bytes)}`);
    }),
    { seed: SEED + 1, numRuns: RUNS },
  );
  await assertAlive();
});

test(`property: byte-mutated requests never get a 5xx nor end the process (${RUNS} runs)`, async () => {
  await fc.assert(
    fc.asyncProperty(
      byteMutationArb(requestArb({ cookieName, hosts: [PORTAL_HOST, 'app.example.test', 'ws.example.test'] })),
      async (bytes) => {
        const a = await exchange(inst.port, bytes);
        // A cut can leave a request incomplete: then closing without an answer is right.
        assert.ok(a.status < 500, `${a.status} for ${show(bytes)}: ${a.body.slice(0, 200)}`);
      },
    ),
    { seed: SEED + 2, numRuns: RUNS },
  );
  await assertAlive();
});

test('the session the suite signed in with is valid (so the allow property is not vacuous)', async () => {
  const a = await exchange(
    inst.port,
    serialize({
      method: 'GET',
      target: '/oauth2/auth',
      version: '1.1',
      headers: [
        ['Host', 'gatehouse.internal'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'app.example.test'],
        ['X-Forwarded-Uri', '/admin'],
        ['X-Forwarded-Method', 'GET'],
        ['Cookie', `${cookieName}=${realCookie}`],
      ],
      body: '',
    }),
  );
  assert.equal(a.status, 202);
});
