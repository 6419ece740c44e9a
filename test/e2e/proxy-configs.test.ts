// The proxy configs shipped in docs/proxies/, run in the real nginx and Caddy against a scripted
// stand-in for Gatehouse's /oauth2/auth. This pins what the proxy half of the contract does on
// its own — which headers reach the gate and the app, what reaches the client — so a failure in
// the gate suites (gate-*.test.ts) can be told apart from a broken proxy config.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort, request } from '../kit/http.ts';
import { nginxConfigTest, type ProxyProcess } from '../kit/proxies.ts';
import { nginxSnippets, readDoc, render, startCaddyFromDocs, startNginxFromDocs } from '../kit/proxy-docs.ts';
import {
  assertNoSpoof,
  carriesSpoof,
  GATE_HEADERS,
  headerValues,
  IDENTITY_HEADERS,
  PROXY_HEADERS,
  spellings,
  SPOOFED_HEADERS as SPOOFED,
  spoofValue,
} from '../kit/spoofing.ts';
import { recordRequest, type SeenRequest, startWhoami, type Whoami } from '../kit/whoami.ts';

interface Stub {
  address: string;
  seen: SeenRequest[];
  sockets: Set<Socket>;
  connections(): number;
  stop(): Promise<void>;
}

const PORTAL = 'auth.example.test';

/**
 * The stand-in answers like the gate must: bodiless auth answers carry `Content-Length: 0`
 * (nginx reuses an upstream connection after an auth subrequest only when the answer has no
 * body to skip — a chunked empty body closes it). It decides on the original path (from X-Original-URL, else X-Forwarded-Uri):
 * /allowed… → 202 with identity and a renewal cookie; /public… → 202 with empty identity;
 * /forbidden… → 403; /anon… → 401 (+Location for X-Original-URL, 302 for X-Forwarded-*,
 * 401 + WWW-Authenticate for Accept: application/json); /oauth2/ticket → 302 + Set-Cookie.
 * Any other path (the portal, /oauth2/* through nginx) echoes the request as JSON.
 */
async function startStub(portalPort: () => number): Promise<Stub> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = http.createServer((req, res) => {
    const rec = recordRequest(req);
    seen.push(rec);
    req.resume();
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const originalUrl = req.headers['x-original-url'];
    const fwdUri = req.headers['x-forwarded-uri'];
    const original =
      typeof originalUrl === 'string'
        ? new URL(originalUrl).pathname
        : typeof fwdUri === 'string'
          ? new URL(fwdUri, 'http://x').pathname
          : undefined;
    const rd =
      typeof originalUrl === 'string'
        ? originalUrl
        : `${String(req.headers['x-forwarded-proto'])}://${String(req.headers['x-forwarded-host'])}${String(fwdUri)}`;
    const start = `http://${PORTAL}:${portalPort()}/oauth2/start?rd=${encodeURIComponent(rd)}`;
    const ticket = (p: string) => p === '/oauth2/ticket';
    if (path === '/oauth2/auth' && original !== undefined && !ticket(original)) {
      if (original.startsWith('/allowed')) {
        res.writeHead(202, {
          'X-Auth-Request-User': 'alice',
          'X-Auth-Request-Email': 'alice@example.org',
          'X-Auth-Request-Groups': 'admins,dev',
          'X-Auth-Request-Preferred-Username': 'Alice',
          'Set-Cookie': 'renewed=1; Path=/; HttpOnly',
          'Content-Length': '0',
        });
      } else if (original.startsWith('/public')) {
        res.writeHead(202, {
          'X-Auth-Request-User': '',
          'X-Auth-Request-Email': '',
          'X-Auth-Request-Groups': '',
          'X-Auth-Request-Preferred-Username': '',
          'Content-Length': '0',
        });
      } else if (original.startsWith('/forbidden')) {
        res.writeHead(403, { 'Content-Type': 'text/plain' });
        res.end('stub: forbidden');
        return;
      } else if (req.headers.accept === 'application/json') {
        res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="stub"', 'Content-Type': 'application/json' });
        res.end('{"error":"unauthorized"}');
        return;
      } else if (typeof originalUrl === 'string') {
        res.writeHead(401, { Location: start, 'Content-Length': '0' });
      } else {
        res.writeHead(302, { Location: start, 'Content-Length': '0' });
      }
      res.end();
      return;
    }
    if ((path === '/oauth2/auth' && original !== undefined && ticket(original)) || path === '/oauth2/ticket') {
      res.writeHead(302, { Location: 'http://app2.other.test/after-ticket', 'Set-Cookie': 'session=from-ticket; Path=/; HttpOnly' });
      res.end();
      return;
    }
    const body = JSON.stringify(rec);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('stub: no address');
  return {
    address: `127.0.0.1:${addr.port}`,
    seen,
    sockets,
    connections: () => connections,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Every spelling of every gate and identity header, sent on an allowed, a public, a portal and a
 * /oauth2/ request: no copy may reach the gate (nor the app, where the request gets there) —
 * whatever the gate would make of it, a header the proxy did not set itself never arrives.
 */
async function assertNoCopiesReachTheGate(stub: Stub, app: Whoami, urls: string[]): Promise<number> {
  const names = [...GATE_HEADERS, ...IDENTITY_HEADERS, ...PROXY_HEADERS].flatMap(spellings);
  let tried = 0;
  for (const u of urls) {
    const port = Number(new URL(u).port);
    for (const batch of [...names.map((n) => [n]), names]) {
      const fromStub = stub.seen.length;
      const fromApp = app.seen.length;
      await request(u, { headers: batch.map((n): [string, string] => [n, spoofValue(n, port)]) });
      tried++;
      for (const r of [...stub.seen.slice(fromStub), ...app.seen.slice(fromApp)]) {
        const leaked = r.headers.filter(
          ([k, v]) =>
            carriesSpoof(v) ||
            (/^x[-_]forwarded[-_]proto$/i.test(k) && v !== 'http') ||
            (/^(x[-_]original|x[-_]forwarded)[-_]method$/i.test(k) && v !== 'GET'),
        );
        assert.deepEqual(leaked, [], `${u} with ${batch.length === 1 ? batch[0] : 'every header'}: ${r.url}`);
      }
    }
  }
  return tried;
}

function lastAuth(stub: Stub): SeenRequest {
  const r = stub.seen.filter((s) => s.url.startsWith('/oauth2/auth')).at(-1);
  assert.ok(r !== undefined, 'the gate saw an auth request');
  return r;
}

describe('docs/proxies/nginx against a scripted gate', () => {
  let port = 0;
  let stub: Stub;
  let app: Whoami;
  let nginx: ProxyProcess;
  const url = (host: string, p: string) => `http://${host}:${port}${p}`;

  before(async () => {
    port = await freePort();
    stub = await startStub(() => port);
    app = await startWhoami();
    nginx = await startNginxFromDocs({
      port,
      gatehouse: stub.address,
      portalName: PORTAL,
      sites: [{ serverName: 'app.example.test app2.other.test', upstream: app.address }],
    });
  });
  after(async () => {
    await nginx?.stop();
    await app?.stop();
    await stub?.stop();
  });

  test('an allowed request reaches the app with the identity, the exact original URL, and the renewal cookie', async () => {
    const res = await request(url('app.example.test', '/allowed/x?q=1&x=%2F'), {
      headers: [
        ['Cookie', 'gh=1'],
        ['X-Forwarded-Uri', '/public/spoof'],
        ['X-Original-URL', 'http://evil.test/public'],
      ],
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers['set-cookie'], ['renewed=1; Path=/; HttpOnly']);
    const seen = app.seen.at(-1)!;
    assert.equal(seen.url, '/allowed/x?q=1&x=%2F');
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-User'), ['alice']);
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-Email'), ['alice@example.org']);
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-Groups'), ['admins,dev']);
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-Preferred-Username'), ['Alice']);
    assert.deepEqual(headerValues(seen, 'X-Forwarded-User'), ['alice']);
    const auth = lastAuth(stub);
    assert.equal(auth.method, 'GET');
    assert.equal(auth.url, '/oauth2/auth');
    assert.deepEqual(headerValues(auth, 'X-Original-URL'), [url('app.example.test', '/allowed/x?q=1&x=%2F')]);
    assert.deepEqual(headerValues(auth, 'X-Original-Method'), ['GET']);
    assert.deepEqual(headerValues(auth, 'X-Forwarded-For'), ['127.0.0.1']);
    assert.deepEqual(headerValues(auth, 'Cookie'), ['gh=1']);
    assert.deepEqual(headerValues(auth, 'X-Forwarded-Uri'), [], 'a client-sent X-Forwarded-Uri never reaches the gate');
    assert.deepEqual(headerValues(auth, 'X-Forwarded-Host'), []);
  });

  test('a POST is checked with its method and without its body', async () => {
    const res = await request(url('app.example.test', '/allowed/form'), {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: 'a body for the app only',
    });
    assert.equal(res.status, 200);
    const auth = lastAuth(stub);
    assert.deepEqual(headerValues(auth, 'X-Original-Method'), ['POST']);
    assert.deepEqual(headerValues(auth, 'Content-Length'), []);
    assert.equal(app.seen.at(-1)!.method, 'POST');
  });

  test('auth subrequests reuse kept-alive connections to the gate', async () => {
    const before = stub.connections();
    for (let i = 0; i < 20; i++) assert.equal((await request(url('app.example.test', `/allowed/${i}`))).status, 200);
    assert.ok(stub.connections() - before <= 1, `expected at most one new connection, got ${stub.connections() - before}`);
  });

  test('spoofed identity headers never reach the app, signed in or on a public path', async () => {
    for (const p of ['/allowed/spoof', '/public/spoof']) {
      const res = await request(url('app.example.test', p), { headers: SPOOFED });
      assert.equal(res.status, 200, p);
      assertNoSpoof(app.seen.at(-1));
    }
  });

  test('a browser that is not signed in is sent to the Location the gate chose', async () => {
    const res = await request(url('app.example.test', '/anon/page?q=1&x=%2F'), { headers: { Accept: 'text/html' } });
    assert.equal(res.status, 302);
    assert.equal(
      res.headers.location,
      `http://${PORTAL}:${port}/oauth2/start?rd=${encodeURIComponent(url('app.example.test', '/anon/page?q=1&x=%2F'))}`,
    );
  });

  test("an API client gets 401 with the gate's WWW-Authenticate", async () => {
    const res = await request(url('app.example.test', '/anon/api'), { headers: { Accept: 'application/json' } });
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="stub"');
    assert.equal(res.headers.location, undefined);
  });

  test('403 from the gate is a 403 to the client, and the app never sees the request', async () => {
    const n = app.seen.length;
    const res = await request(url('app.example.test', '/forbidden/x'));
    assert.equal(res.status, 403);
    assert.equal(app.seen.length, n);
  });

  test('the auth endpoint itself cannot be called through a protected site', async () => {
    const res = await request(url('app.example.test', '/oauth2/auth'));
    assert.equal(res.status, 404);
  });

  test('the ticket hop reaches the gate on the app host and its Set-Cookie reaches the browser', async () => {
    const res = await request(url('app2.other.test', '/oauth2/ticket?t=abc&rd=http%3A%2F%2Fapp2.other.test%2F'), {
      headers: [
        ['X-Forwarded-Uri', '/spoof'],
        ['X-Original-URL', 'http://evil.test/'],
      ],
    });
    assert.equal(res.status, 302);
    assert.deepEqual(res.headers['set-cookie'], ['session=from-ticket; Path=/; HttpOnly']);
    const seen = stub.seen.at(-1)!;
    assert.equal(seen.url, '/oauth2/ticket?t=abc&rd=http%3A%2F%2Fapp2.other.test%2F');
    assert.deepEqual(headerValues(seen, 'Host'), [`app2.other.test:${port}`]);
    assert.deepEqual(headerValues(seen, 'X-Forwarded-Host'), [`app2.other.test:${port}`]);
    assert.deepEqual(headerValues(seen, 'X-Forwarded-Proto'), ['http']);
    assert.deepEqual(headerValues(seen, 'X-Forwarded-Uri'), []);
    assert.deepEqual(headerValues(seen, 'X-Original-URL'), []);
  });

  test('the portal server passes everything to the gate with the forwarded host and protocol', async () => {
    const res = await request(url(PORTAL, '/oauth2/sign_in?rd=x'), {
      headers: [
        ['X-Forwarded-For', '6.6.6.6'],
        ['X-Forwarded-Host', 'evil.test'],
      ],
    });
    assert.equal(res.status, 200);
    const seen = stub.seen.at(-1)!;
    assert.equal(seen.url, '/oauth2/sign_in?rd=x');
    assert.deepEqual(headerValues(seen, 'Host'), [`${PORTAL}:${port}`]);
    assert.deepEqual(headerValues(seen, 'X-Forwarded-Host'), [`${PORTAL}:${port}`]);
    assert.deepEqual(headerValues(seen, 'X-Forwarded-For'), ['127.0.0.1']);
  });

  test('no client copy of a header the gate reads or of an identity header reaches the gate or the app', async () => {
    const n = await assertNoCopiesReachTheGate(stub, app, [
      url('app.example.test', '/allowed/x'),
      url('app.example.test', '/public/x'),
      url(PORTAL, '/oauth2/sign_in'),
      url('app.example.test', '/oauth2/ticket?t=1'),
    ]);
    console.log(`nginx (scripted gate): ${n} spoofed requests`);
  });
});

describe('docs/proxies/caddy against a scripted gate', () => {
  let port = 0;
  let stub: Stub;
  let app: Whoami;
  let caddy: ProxyProcess;
  const url = (host: string, p: string) => `http://${host}:${port}${p}`;

  before(async () => {
    port = await freePort();
    stub = await startStub(() => port);
    app = await startWhoami();
    caddy = await startCaddyFromDocs({
      port,
      gatehouse: stub.address,
      portalName: PORTAL,
      appNames: ['app.example.test', 'app2.other.test'],
      upstream: app.address,
    });
  });
  after(async () => {
    await caddy?.stop();
    await app?.stop();
    await stub?.stop();
  });

  test('an allowed request reaches the app with the identity; the gate sees the original request in X-Forwarded-*', async () => {
    const res = await request(url('app.example.test', '/allowed/x?q=1&x=%2F'), {
      headers: [
        ['X-Forwarded-Uri', '/public/spoof'],
        ['X-Forwarded-Method', 'OPTIONS'],
        ['X-Forwarded-Host', 'evil.test'],
      ],
    });
    assert.equal(res.status, 200);
    const seen = app.seen.at(-1)!;
    assert.equal(seen.url, '/allowed/x?q=1&x=%2F');
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-User'), ['alice']);
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-Email'), ['alice@example.org']);
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-Groups'), ['admins,dev']);
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-Preferred-Username'), ['Alice']);
    const auth = lastAuth(stub);
    assert.equal(auth.method, 'GET');
    assert.equal(auth.url, '/oauth2/auth', 'no query string appended to the auth URI');
    assert.deepEqual(headerValues(auth, 'X-Forwarded-Method'), ['GET']);
    assert.deepEqual(headerValues(auth, 'X-Forwarded-Uri'), ['/allowed/x?q=1&x=%2F']);
    assert.deepEqual(headerValues(auth, 'X-Forwarded-Host'), [`app.example.test:${port}`]);
    assert.deepEqual(headerValues(auth, 'X-Forwarded-Proto'), ['http']);
  });

  test('spoofed identity headers never reach the app, signed in or on a public path', async () => {
    for (const p of ['/allowed/spoof', '/public/spoof']) {
      const res = await request(url('app.example.test', p), { headers: SPOOFED });
      assert.equal(res.status, 200, p);
      assertNoSpoof(app.seen.at(-1));
    }
  });

  test("the gate's 302 to the portal, 401 and 403 go to the client as they are", async () => {
    const anon = await request(url('app.example.test', '/anon/page?q=1'));
    assert.equal(anon.status, 302);
    assert.equal(
      anon.headers.location,
      `http://${PORTAL}:${port}/oauth2/start?rd=${encodeURIComponent(url('app.example.test', '/anon/page?q=1'))}`,
    );
    const api = await request(url('app.example.test', '/anon/api'), { headers: { Accept: 'application/json' } });
    assert.equal(api.status, 401);
    assert.equal(api.headers['www-authenticate'], 'Bearer realm="stub"');
    assert.equal(api.body, '{"error":"unauthorized"}');
    const n = app.seen.length;
    const forbidden = await request(url('app.example.test', '/forbidden/x'));
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body, 'stub: forbidden');
    assert.equal(app.seen.length, n);
  });

  test('the ticket hop arrives as X-Forwarded-Uri and its 302 + Set-Cookie reach the browser', async () => {
    const res = await request(url('app2.other.test', '/oauth2/ticket?t=abc&rd=x'));
    assert.equal(res.status, 302);
    assert.deepEqual(res.headers['set-cookie'], ['session=from-ticket; Path=/; HttpOnly']);
    assert.deepEqual(headerValues(lastAuth(stub), 'X-Forwarded-Uri'), ['/oauth2/ticket?t=abc&rd=x']);
  });

  test('no client copy of a header the gate reads or of an identity header reaches the gate or the app', async () => {
    const n = await assertNoCopiesReachTheGate(stub, app, [
      url('app.example.test', '/allowed/x'),
      url('app.example.test', '/public/x'),
      url(PORTAL, '/oauth2/sign_in'),
      url('app.example.test', '/oauth2/ticket?t=1'),
    ]);
    console.log(`caddy (scripted gate): ${n} spoofed requests`);
  });
});

// Every combination of the nginx files the docs suggest (docs/proxies/README.md, docs/mcp.md),
// each with only the snippets it says to copy, passes `nginx -t` (nginx 1.22).
describe('docs/proxies/nginx: every suggested combination of files passes nginx -t', () => {
  const vars = {
    GATEHOUSE: '127.0.0.1:4180',
    LISTEN: 8080,
    PORTAL_NAME: 'auth.example.test',
    SERVER_NAME: 'app.example.test',
    APP_UPSTREAM: '127.0.0.1:3000',
    MCP_SERVER_NAME: 'mcp.example.test',
    MCP_UPSTREAM: '127.0.0.1:3001',
  };
  const COMBOS: Array<{ name: string; confs: string[]; snippets: string[] }> = [
    { name: 'the portal only', confs: ['gatehouse.conf'], snippets: ['gatehouse-clean-headers.conf'] },
    {
      name: 'the portal and protected apps',
      confs: ['gatehouse.conf', 'app.conf'],
      snippets: ['gatehouse-clean-headers.conf', 'gatehouse-endpoints.conf', 'gatehouse-auth.conf'],
    },
    {
      name: 'the portal and an MCP server only',
      confs: ['gatehouse.conf', 'mcp.conf'],
      snippets: ['gatehouse-clean-headers.conf', 'gatehouse-endpoints.conf', 'gatehouse-mcp.conf', 'gatehouse-mcp-auth.conf'],
    },
    {
      name: 'the portal, apps and an MCP server',
      confs: ['gatehouse.conf', 'app.conf', 'mcp.conf'],
      snippets: [
        'gatehouse-clean-headers.conf',
        'gatehouse-endpoints.conf',
        'gatehouse-auth.conf',
        'gatehouse-mcp.conf',
        'gatehouse-mcp-auth.conf',
      ],
    },
  ];
  for (const c of COMBOS) {
    test(c.name, async () => {
      const conf = (await Promise.all(c.confs.map(async (f) => render(await readDoc(`nginx/${f}`), vars)))).join('\n');
      const files: Record<string, string> = {};
      for (const f of c.snippets) files[`snippets/${f}`] = await readDoc(`nginx/snippets/${f}`);
      const r = await nginxConfigTest(conf, files);
      assert.equal(r.ok, true, `${c.confs.join(' + ')} with ${c.snippets.join(', ')}:\n${r.output}`);
    });
  }
  test('the clean-headers snippet drops exactly the headers the spoofing tables send (and X-Forwarded-For, which every location also sets)', async () => {
    const text = await readDoc('nginx/snippets/gatehouse-clean-headers.conf');
    const names = [...text.matchAll(/^proxy_set_header (\S+) "";$/gm)].map((m) => m[1]!.toLowerCase()).sort();
    assert.deepEqual(names, [...new Set([...GATE_HEADERS, ...IDENTITY_HEADERS, ...PROXY_HEADERS].map((n) => n.toLowerCase()))].sort());
  });

  test('every snippet file is in some combination', async () => {
    const all = Object.keys(await nginxSnippets())
      .map((k) => k.slice('snippets/'.length))
      .sort();
    assert.deepEqual([...new Set(COMBOS.flatMap((c) => c.snippets))].sort(), all);
  });
});
