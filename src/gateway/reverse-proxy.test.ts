import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { WebSocketServer, WebSocket } from 'ws';
import { MemoryLogger } from '../core/index.ts';
import { createReverseProxy, type ProxyCallOptions } from './reverse-proxy.ts';

// ---- the upstream app: records what it was sent --------------------------------------------
interface Seen {
  method: string;
  url: string;
  rawHeaders: string[];
}
const seen: Seen[] = [];
let releaseStream: (() => void) | undefined;
let upstreamClosed: Promise<void> | undefined;

const upstream = createServer((req: IncomingMessage, res: ServerResponse) => {
  seen.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders });
  const path = (req.url ?? '').replace(/^\/base/, '').split('?')[0];
  if (path === '/upload') {
    const hash = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const body = JSON.stringify({ bytes: n, sha256: hash.digest('hex') });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
    return;
  }
  if (path === '/stream') {
    // Chunked, and the second chunk only after the client has read the first: a proxy that
    // buffered the response would never let the test finish.
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first|');
    new Promise<void>((r) => {
      releaseStream = r;
    }).then(
      () => res.end('second'),
      () => {},
    );
    return;
  }
  if (path === '/slow') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('chunk|');
    upstreamClosed = once(res, 'close').then(() => {});
    return;
  }
  if (path === '/silent') return; // never answers
  if (path === '/headers') {
    res.writeHead(201, 'Made', [
      'Connection',
      'X-Hop-Out, close',
      'X-Hop-Out',
      'dropped',
      'Keep-Alive',
      'timeout=1',
      'Proxy-Authenticate',
      'Basic',
      'Set-Cookie',
      'gh=planted; Domain=example.org; Path=/',
      'Set-Cookie',
      'gh_login=planted',
      'Set-Cookie',
      'app=1; Path=/',
      'X-App',
      'kept',
      'Content-Length',
      '2',
    ]);
    res.end('ok');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 }).end('ok');
});
const wss = new WebSocketServer({ noServer: true });
const wsSeen: string[][] = [];
upstream.on('upgrade', (req: IncomingMessage, socket, head) => {
  wsSeen.push(req.rawHeaders);
  if (req.url === '/ws-refused') {
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nX-Why: nope\r\n\r\nnope');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${String(data)}`, { binary: isBinary }));
  });
});
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const upstreamPort = (upstream.address() as AddressInfo).port;

// ---- the gatehouse side -------------------------------------------------------------------
const logger = new MemoryLogger();
const IDENTITY = { 'X-Auth-Request-User': 'alice', 'X-Auth-Request-Email': 'alice@example.org', 'X-WEBAUTH-USER': 'alice' };
const CALL: ProxyCallOptions = { stripHeaderNames: ['X-WEBAUTH-USER', 'X-WEBAUTH-EMAIL'], stripCookieNames: ['gh_login'] };

async function front(
  upstreamUrl: string,
  opts: { timeoutMs?: number; call?: ProxyCallOptions } = {},
): Promise<{ port: number; server: Server; close: () => void }> {
  const proxy = createReverseProxy({
    upstream: upstreamUrl,
    logger,
    stripCookieNames: ['gh'],
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
  });
  const server = createServer((req, res) => proxy.web(req, res, IDENTITY, opts.call ?? CALL));
  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => proxy.ws(req, socket, head, IDENTITY, opts.call ?? CALL));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () => {
      proxy.close();
      server.close();
      server.closeAllConnections();
    },
  };
}

const main = await front(`http://127.0.0.1:${upstreamPort}`);
after(() => {
  main.close();
  upstream.close();
  upstream.closeAllConnections();
  wss.close();
});

/** Write a request by hand (header names exactly as given) and read the whole answer. */
function raw(port: number, head: string, body = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      data += d;
    });
    s.on('error', reject);
    s.on('end', () => resolve(data));
    s.write(head.replaceAll('\n', '\r\n') + '\r\n\r\n' + body);
  });
}

function pairs(rawHeaders: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) out.push([rawHeaders[i] as string, rawHeaders[i + 1] as string]);
  return out;
}

test('spoofed identity headers never reach the upstream, in any spelling; ours do', async () => {
  seen.length = 0;
  const answer = await raw(
    main.port,
    [
      'GET /echo?q=1 HTTP/1.1',
      'Host: App.example.org',
      'X-Auth-Request_User: evil1',
      'x_auth_request_email: evil2@example.org',
      'X-AUTH-REQUEST-GROUPS: admins',
      'X-Auth-Request-Preferred-Username: evil3',
      'X-Forwarded_Email: evil4@example.org',
      'X-Forwarded-User: evil5',
      'Remote_User: evil6',
      'REMOTE-GROUPS: admins',
      'Remote-Name: evil7',
      'X-Webauth_User: evil8',
      'x-webauth-email: evil9@example.org',
      'X-Forwarded-For: 6.6.6.6',
      'X-Forwarded-Host: evil.example',
      'X-Forwarded-Proto: https',
      'Forwarded: for=6.6.6.6;host=evil.example',
      'X-Real-IP: 6.6.6.6',
      'X-Original-URL: http://evil.example/',
      'Authorization: Bearer app-token',
      'Cookie: gh=SESSION; app=1; gh_login=STATE; other=2',
      'Accept: */*',
      'Connection: close',
    ].join('\n'),
  );
  assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.url, '/echo?q=1');
  assert.deepEqual(pairs(seen[0]?.rawHeaders ?? []), [
    ['Authorization', 'Bearer app-token'],
    ['Cookie', 'app=1; other=2'],
    ['Accept', '*/*'],
    ['Host', 'App.example.org'],
    ['X-Forwarded-Host', 'App.example.org'],
    ['X-Forwarded-Proto', 'http'],
    ['X-Forwarded-For', '127.0.0.1'],
    ['X-Auth-Request-User', 'alice'],
    ['X-Auth-Request-Email', 'alice@example.org'],
    ['X-WEBAUTH-USER', 'alice'],
    ['Connection', 'keep-alive'],
  ]);
  assert.doesNotMatch(JSON.stringify(seen), /evil|SESSION|STATE|6\.6\.6\.6/);
});

test('hop-by-hop request headers, and those Connection lists, are removed (RFC 9110 §7.6.1)', async () => {
  seen.length = 0;
  await raw(
    main.port,
    [
      'GET /echo HTTP/1.1',
      'Host: a.example.org',
      'Connection: close, X-Hop',
      'X-Hop: 1',
      'Keep-Alive: timeout=5',
      'TE: trailers',
      'Trailer: X-T',
      'Upgrade: h2c',
      'Proxy-Authorization: Basic eDp5',
      'Proxy-Connection: keep-alive',
      'Expect: 100-continue',
      'X-Kept: yes',
    ].join('\n'),
  );
  assert.deepEqual(pairs(seen[0]?.rawHeaders ?? []), [
    ['X-Kept', 'yes'],
    ['Host', 'a.example.org'],
    ['X-Forwarded-Host', 'a.example.org'],
    ['X-Forwarded-Proto', 'http'],
    ['X-Forwarded-For', '127.0.0.1'],
    ['X-Auth-Request-User', 'alice'],
    ['X-Auth-Request-Email', 'alice@example.org'],
    ['X-WEBAUTH-USER', 'alice'],
    ['Connection', 'keep-alive'],
  ]);
});

test('the client as Gatehouse determined it is what the upstream sees', async () => {
  const f = await front(`http://127.0.0.1:${upstreamPort}/base/`, {
    call: { original: { clientIp: '203.0.113.9', proto: 'https', host: 'app.example.org' } },
  });
  try {
    seen.length = 0;
    await raw(f.port, 'GET /x/y?z=1 HTTP/1.1\nHost: internal:8080\nCookie: gh=S\nConnection: close');
    assert.equal(seen[0]?.url, '/base/x/y?z=1');
    assert.deepEqual(pairs(seen[0]?.rawHeaders ?? []), [
      ['Host', 'app.example.org'],
      ['X-Forwarded-Host', 'app.example.org'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-For', '203.0.113.9'],
      ['X-Auth-Request-User', 'alice'],
      ['X-Auth-Request-Email', 'alice@example.org'],
      ['X-WEBAUTH-USER', 'alice'],
      ['Connection', 'keep-alive'],
    ]);
  } finally {
    f.close();
  }
});

test('response: hop-by-hop headers and Gatehouse cookies planted by the app are dropped', async () => {
  const answer = await raw(main.port, 'GET /headers HTTP/1.1\nHost: a\nConnection: close');
  const [head, body] = answer.split('\r\n\r\n');
  const lines = (head ?? '').split('\r\n');
  assert.equal(lines[0], 'HTTP/1.1 201 Made');
  assert.deepEqual(
    lines.slice(1).filter((l) => !l.startsWith('Date:')),
    ['Set-Cookie: app=1; Path=/', 'X-App: kept', 'Content-Length: 2', 'Connection: close'],
  );
  assert.equal(body, 'ok');
});

test('a large request body streams through intact', { timeout: 20_000 }, async () => {
  const size = 16 * 1024 * 1024 + 7;
  const chunk = Buffer.alloc(64 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 255;
  const expected = createHash('sha256');
  const got = await new Promise<string>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: main.port, method: 'POST', path: '/upload', headers: { 'content-length': size }, agent: false },
      (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          b += d;
        });
        res.on('end', () => resolve(b));
      },
    );
    req.on('error', reject);
    let left = size;
    const pump = (): void => {
      while (left > 0) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        expected.update(piece);
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
  assert.deepEqual(JSON.parse(got), { bytes: size, sha256: expected.digest('hex') });
});

test('a chunked request body keeps its framing', async () => {
  const answer = await raw(
    main.port,
    'POST /upload HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nConnection: close',
    '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
  );
  const hash = createHash('sha256').update('hello world').digest('hex');
  assert.ok(answer.endsWith(`{"bytes":11,"sha256":"${hash}"}`), answer);
});

test('a chunked response streams: the client reads the first chunk before the app ends', { timeout: 5000 }, async () => {
  const text = await new Promise<string>((resolve, reject) => {
    request({ host: '127.0.0.1', port: main.port, path: '/stream', agent: false }, (res) => {
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        b += d;
        if (b === 'first|') releaseStream?.();
      });
      res.on('end', () => resolve(b));
    })
      .on('error', reject)
      .end();
  });
  assert.equal(text, 'first|second');
});

test('a client that goes away ends the upstream request too', { timeout: 5000 }, async () => {
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: main.port, path: '/slow', agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => {});
    req.on('close', () => {});
    req.end();
    setTimeout(() => reject(new Error('no data')), 4000).unref();
  });
  await upstreamClosed;
});

test('upstream down: 502 with a short answer and no internals', async () => {
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const f = await front(`http://127.0.0.1:${deadPort}`);
  try {
    logger.lines.length = 0;
    const api = await raw(f.port, 'GET /x HTTP/1.1\nHost: a\nAccept: application/json\nConnection: close');
    assert.match(api, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.ok(api.endsWith('\r\n\r\n{"error":"bad_gateway","error_description":"the app could not be reached"}'), api);
    assert.doesNotMatch(api, /ECONNREFUSED|127\.0\.0\.1/);
    const page = await raw(f.port, 'GET /x HTTP/1.1\nHost: a\nAccept: text/html\nConnection: close');
    assert.match(page, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.match(page, /<title>502 Bad Gateway<\/title>/);
    assert.doesNotMatch(page, /ECONNREFUSED|127\.0\.0\.1/);
    assert.deepEqual(logger.lines[0], {
      level: 'warn',
      msg: 'upstream unreachable',
      fields: {
        upstream: `http://127.0.0.1:${deadPort}`,
        code: 'ECONNREFUSED',
        reason: `connect ECONNREFUSED 127.0.0.1:${deadPort}`,
      },
    });
  } finally {
    f.close();
  }
});

test('an upstream that stays silent past the timeout: 504', async () => {
  const f = await front(`http://127.0.0.1:${upstreamPort}`, { timeoutMs: 50 });
  try {
    const answer = await raw(f.port, 'GET /silent HTTP/1.1\nHost: a\nConnection: close');
    assert.match(answer, /^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    assert.ok(answer.endsWith('{"error":"gateway_timeout","error_description":"the app did not answer in time"}'));
  } finally {
    f.close();
  }
});

test('an identity value Node refuses as a header is never sent: 502', async () => {
  const proxy = createReverseProxy({ upstream: `http://127.0.0.1:${upstreamPort}`, logger });
  const server = createServer((req, res) => proxy.web(req, res, { 'X-Auth-Request-User': 'a\r\nX-Injected: 1' }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    seen.length = 0;
    const answer = await raw((server.address() as AddressInfo).port, 'GET /x HTTP/1.1\nHost: a\nConnection: close');
    assert.match(answer, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.equal(seen.length, 0);
  } finally {
    proxy.close();
    server.close();
  }
});

test('WebSocket: upgrade is piped both ways, with our identity and without spoofed headers or our cookie', { timeout: 5000 }, async () => {
  wsSeen.length = 0;
  const ws = new WebSocket(`ws://127.0.0.1:${main.port}/ws`, {
    headers: { 'X-Auth-Request_User': 'evil', Remote_User: 'evil', Cookie: 'gh=SESSION; app=1', Host: 'app.example.org' },
  });
  await once(ws, 'open');
  ws.send('hello');
  const [text] = (await once(ws, 'message')) as [Buffer];
  assert.equal(String(text), 'echo:hello');
  ws.send(Buffer.from([1, 2, 3]), { binary: true });
  const [bin] = (await once(ws, 'message')) as [Buffer];
  assert.deepEqual([...bin], [1, 2, 3]);
  const headers = pairs(wsSeen[0] ?? []);
  const names = headers.map(([n]) => n.toLowerCase());
  assert.ok(!JSON.stringify(headers).includes('evil'));
  assert.ok(!JSON.stringify(headers).includes('SESSION'));
  assert.deepEqual(
    headers.filter(([n]) => ['Cookie', 'Host', 'X-Auth-Request-User', 'X-Forwarded-For', 'Connection', 'Upgrade'].includes(n)),
    [
      ['Cookie', 'app=1'],
      ['Host', 'app.example.org'],
      ['X-Forwarded-For', '127.0.0.1'],
      ['Connection', 'Upgrade'],
      ['Upgrade', 'websocket'],
      ['X-Auth-Request-User', 'alice'],
    ],
  );
  assert.ok(names.includes('sec-websocket-key'));
  assert.ok(names.includes('sec-websocket-version'));
  ws.close();
  await once(ws, 'close');
});

test('WebSocket refused by the app: its answer is passed on', { timeout: 5000 }, async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${main.port}/ws-refused`);
  ws.on('error', () => {}); // terminate() before the handshake completes reports an error
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
  assert.equal(res.statusCode, 401);
  assert.equal(res.headers['x-why'], 'nope');
  res.resume();
  ws.terminate();
});

test('close() ends open tunnels', { timeout: 5000 }, async () => {
  const f = await front(`http://127.0.0.1:${upstreamPort}`);
  const ws = new WebSocket(`ws://127.0.0.1:${f.port}/ws`);
  await once(ws, 'open');
  f.close();
  const [code] = (await once(ws, 'close')) as [number];
  assert.equal(code, 1006);
});

test('a non-WebSocket upgrade is refused', async () => {
  const answer = await raw(main.port, 'GET / HTTP/1.1\nHost: a\nConnection: Upgrade\nUpgrade: h2c');
  assert.equal(answer, 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
});
