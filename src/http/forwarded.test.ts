import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { GatehouseError } from '../core/index.ts';
import { readOriginal, normalizeHost } from './forwarded.ts';
import { TrustedProxies } from './trusted.ts';

// A real server per trust setting: it answers with readOriginal's result (200) or the error's
// kind and detail (400). Requests are written by hand so every header is exactly as a proxy
// (or an attacker) would send it.
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function serve(trusted: TrustedProxies, host = '127.0.0.1'): Promise<number> {
  const server = createServer((req: IncomingMessage, res) => {
    try {
      const body = JSON.stringify(readOriginal(req, trusted));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    } catch (e) {
      const g = e as GatehouseError;
      const body = JSON.stringify({ kind: g.kind, detail: g.detail });
      res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    }
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  return (server.address() as AddressInfo).port;
}

async function raw(port: number, head: string, host = '127.0.0.1'): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, host);
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      data += d;
    });
    s.on('error', reject);
    s.on('end', () => {
      const status = Number(data.slice(9, 12));
      const body = data.slice(data.indexOf('\r\n\r\n') + 4);
      resolve({ status, body: body.length > 0 ? JSON.parse(body) : undefined });
    });
    s.write(head.replaceAll('\n', '\r\n') + '\r\n\r\n');
  });
}

const untrustedPort = await serve(new TrustedProxies(['10.0.0.0/8']));
const trustedPort = await serve(new TrustedProxies(['127.0.0.0/8', '10.0.0.0/8']));

test('from an untrusted peer every forwarded header is ignored', async () => {
  const r = await raw(
    untrustedPort,
    [
      'GET /public?a=1 HTTP/1.1',
      'Host: App.Example.org',
      'X-Original-URL: https://app.example.org/admin',
      'X-Original-Method: DELETE',
      'X-Forwarded-Uri: /admin/secret',
      'X-Forwarded-Host: other.example.org',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Method: DELETE',
      'X-Forwarded-For: 1.2.3.4',
      'X-Real-IP: 5.6.7.8',
      'Connection: close',
    ].join('\n'),
  );
  assert.deepEqual(r, {
    status: 200,
    body: {
      method: 'GET',
      proto: 'http',
      host: 'app.example.org',
      uri: '/public?a=1',
      clientIp: '127.0.0.1',
      via: 'direct',
      trustedPeer: false,
    },
  });
});

test('nginx: X-Original-URL and X-Original-Method from a trusted peer', async () => {
  const r = await raw(
    trustedPort,
    [
      'GET /oauth2/auth HTTP/1.1',
      'Host: gatehouse.internal:4180',
      'X-Original-URL: HTTPS://Grafana.Example.org:443/d/abc/x%2Fy?orgId=1&q=a%20b#frag',
      'X-Original-Method: post',
      'X-Forwarded-For: 203.0.113.7',
      'Connection: close',
    ].join('\n'),
  );
  assert.deepEqual(r, {
    status: 200,
    body: {
      method: 'POST',
      proto: 'https',
      host: 'grafana.example.org',
      uri: '/d/abc/x%2Fy?orgId=1&q=a%20b',
      clientIp: '203.0.113.7',
      via: 'nginx',
      trustedPeer: true,
    },
  });
});

test('nginx without X-Original-Method uses the subrequest method; a bare authority means "/"', async () => {
  const r = await raw(
    trustedPort,
    'GET /oauth2/auth HTTP/1.1\nHost: g\nX-Original-URL: http://app.example.org:8080?x=1\nConnection: close',
  );
  assert.deepEqual(r.body, {
    method: 'GET',
    proto: 'http',
    host: 'app.example.org:8080',
    uri: '/?x=1',
    clientIp: '127.0.0.1',
    via: 'nginx',
    trustedPeer: true,
  });
});

test('Traefik/Caddy: X-Forwarded-Method/Proto/Host/Uri from a trusted peer', async () => {
  const r = await raw(
    trustedPort,
    [
      'GET /oauth2/auth HTTP/1.1',
      'Host: gatehouse:4180',
      'X-Forwarded-Method: PUT',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Host: api.example.org',
      'X-Forwarded-Uri: /adsb/data.json?since=5',
      'X-Forwarded-For: 198.51.100.1, 10.0.0.5',
      'Connection: close',
    ].join('\n'),
  );
  assert.deepEqual(r.body, {
    method: 'PUT',
    proto: 'https',
    host: 'api.example.org',
    uri: '/adsb/data.json?since=5',
    clientIp: '198.51.100.1',
    via: 'forwarded',
    trustedPeer: true,
  });
});

test('a list in X-Forwarded-Host/Proto counts by its first (client-facing) element', async () => {
  const r = await raw(
    trustedPort,
    [
      'GET /x HTTP/1.1',
      'Host: gatehouse',
      'X-Forwarded-Proto: https, http',
      'X-Forwarded-Host: app.example.org, gatehouse.internal',
      'Connection: close',
    ].join('\n'),
  );
  assert.deepEqual(r.body, {
    method: 'GET',
    proto: 'https',
    host: 'app.example.org',
    uri: '/x',
    clientIp: '127.0.0.1',
    via: 'forwarded',
    trustedPeer: true,
  });
  // Two separate header lines are joined by Node in order: the first still wins.
  const two = await raw(
    trustedPort,
    'GET /x HTTP/1.1\nHost: g\nX-Forwarded-Host: first.example.org\nX-Forwarded-Host: second.example.org\nConnection: close',
  );
  assert.equal((two.body as { host: string }).host, 'first.example.org');
});

test('missing forwarded pieces fall back to the request itself', async () => {
  const r = await raw(
    trustedPort,
    'POST /oauth2/sign_in HTTP/1.1\nHost: Auth.Example.org\nX-Forwarded-Proto: https\nContent-Length: 0\nConnection: close',
  );
  assert.deepEqual(r.body, {
    method: 'POST',
    proto: 'https',
    host: 'auth.example.org',
    uri: '/oauth2/sign_in',
    clientIp: '127.0.0.1',
    via: 'forwarded',
    trustedPeer: true,
  });
});

test('a fragment in X-Forwarded-Uri is cut and cannot hide a path', async () => {
  const r = await raw(
    trustedPort,
    'GET /oauth2/auth HTTP/1.1\nHost: g\nX-Forwarded-Host: a.example.org\nX-Forwarded-Uri: /public/#/../admin\nConnection: close',
  );
  assert.equal((r.body as { uri: string }).uri, '/public/');
});

test('default ports are dropped for their scheme only', async () => {
  const get = async (proto: string, host: string) =>
    (
      (await raw(trustedPort, `GET / HTTP/1.1\nHost: g\nX-Forwarded-Proto: ${proto}\nX-Forwarded-Host: ${host}\nConnection: close`))
        .body as { host: string }
    ).host;
  assert.equal(await get('https', 'a.example.org:443'), 'a.example.org');
  assert.equal(await get('http', 'a.example.org:80'), 'a.example.org');
  assert.equal(await get('http', 'a.example.org:443'), 'a.example.org:443');
  assert.equal(await get('https', 'a.example.org:8443'), 'a.example.org:8443');
  assert.equal(await get('https', '[2001:DB8::1]:443'), '[2001:db8::1]');
  assert.equal(await get('https', '[2001:db8::1]:8443'), '[2001:db8::1]:8443');
});

test('a forwarded host with userinfo, a path, a backslash or whitespace is refused', async () => {
  for (const [host, detail] of [
    ['evil.example@app.example.org', 'X-Forwarded-Host: the host contains a character that is not allowed'],
    ['app.example.org/evil', 'X-Forwarded-Host: the host contains a character that is not allowed'],
    ['app.example.org\\evil', 'X-Forwarded-Host: the host contains a character that is not allowed'],
    ['app.example.org\tevil', 'X-Forwarded-Host: the host contains a character that is not allowed'],
    ['app.example.org:x', 'X-Forwarded-Host: the host has an invalid port'],
    ['app.example.org:80:80', 'X-Forwarded-Host: the host has an invalid port'],
    ['app.example.org:', 'X-Forwarded-Host: the host has an invalid port'],
    [':443', 'X-Forwarded-Host: the host name is invalid'],
    ['a[b]', 'X-Forwarded-Host: the host name is invalid'],
    ['[::1]x', 'X-Forwarded-Host: the host has junk after the IPv6 literal'],
    ['[::1', 'X-Forwarded-Host: the host has an unclosed IPv6 literal'],
    ['[nope]', 'X-Forwarded-Host: the host has an invalid IPv6 literal'],
  ]) {
    const r = await raw(trustedPort, `GET / HTTP/1.1\nHost: g\nX-Forwarded-Host: ${host}\nConnection: close`);
    assert.deepEqual(r, { status: 400, body: { kind: 'invalid_request', detail } }, host);
  }
  const r = await raw(trustedPort, 'GET / HTTP/1.1\nHost: g\nX-Original-URL: https://user:pw@app.example.org/x\nConnection: close');
  assert.deepEqual(r.body, { kind: 'invalid_request', detail: 'X-Original-URL: the host contains a character that is not allowed' });
});

test('control characters and spaces in a host are refused (parser-level input)', () => {
  for (const h of ['a\u0000b', 'a\u0001b', 'a\u007fb', 'a b', 'a\nb', 'a.example.org\u00e9', '']) {
    assert.throws(
      () => normalizeHost(h, 'https', 'Host'),
      (e: unknown) => e instanceof GatehouseError && e.kind === 'invalid_request',
    );
  }
});

test('malformed proto, method, URI or original URL is an invalid request', async () => {
  const cases: [string, string][] = [
    ['X-Forwarded-Proto: ftp', 'X-Forwarded-Proto: expected http or https'],
    ['X-Forwarded-Method: GE(T', 'X-Forwarded-Method: the method is not a token'],
    ['X-Forwarded-Uri: admin', 'X-Forwarded-Uri: the URI must start with "/"'],
    ['X-Forwarded-Uri: /a b', 'X-Forwarded-Uri: the URI contains whitespace or a control character'],
    ['X-Original-URL: /relative', 'X-Original-URL: expected an absolute http or https URL'],
    ['X-Original-URL: javascript://app.example.org/', 'X-Original-URL: expected an absolute http or https URL'],
  ];
  for (const [h, detail] of cases) {
    const r = await raw(trustedPort, `GET / HTTP/1.1\nHost: g\n${h}\nConnection: close`);
    assert.deepEqual(r, { status: 400, body: { kind: 'invalid_request', detail } }, h);
  }
  const twoUris = await raw(trustedPort, 'GET / HTTP/1.1\nHost: g\nX-Forwarded-Uri: /public\nX-Forwarded-Uri: /admin\nConnection: close');
  assert.deepEqual(twoUris.body, {
    kind: 'invalid_request',
    detail: 'X-Forwarded-Uri: the URI contains whitespace or a control character',
  });
});

test('client IP: X-Forwarded-For is walked from the right past our own proxies', async () => {
  const ip = async (headers: string) =>
    ((await raw(trustedPort, `GET / HTTP/1.1\nHost: g\n${headers}\nConnection: close`)).body as { clientIp: string }).clientIp;
  // The leftmost entry was written by the client: never believed when a hop follows it.
  assert.equal(await ip('X-Forwarded-For: 6.6.6.6, 203.0.113.9, 10.0.0.2'), '203.0.113.9');
  assert.equal(await ip('X-Forwarded-For: 6.6.6.6\nX-Forwarded-For: 203.0.113.9, 10.0.0.2'), '203.0.113.9');
  assert.equal(await ip('X-Forwarded-For: 10.0.0.1, 10.0.0.2'), '10.0.0.1');
  assert.equal(await ip('X-Forwarded-For: garbage, 10.0.0.2'), '10.0.0.2');
  assert.equal(await ip('X-Forwarded-For: garbage'), '127.0.0.1');
  assert.equal(await ip('X-Forwarded-For: 203.0.113.9:5678'), '203.0.113.9');
  assert.equal(await ip('X-Forwarded-For: [2001:db8::7]:443, 10.0.0.2'), '2001:db8::7');
  assert.equal(await ip('X-Forwarded-For: ::ffff:203.0.113.9'), '203.0.113.9');
  assert.equal(await ip('X-Real-IP: 198.51.100.4'), '198.51.100.4');
  assert.equal(await ip('X-Real-IP: 198.51.100.4\nX-Forwarded-For: 203.0.113.9'), '203.0.113.9');
  assert.equal(await ip('X-Real-IP: nonsense'), '127.0.0.1');
});

test('from a trusted peer with only X-Forwarded-For the request is direct', async () => {
  const r = await raw(trustedPort, 'GET /p HTTP/1.1\nHost: app.example.org\nX-Forwarded-For: 203.0.113.9\nConnection: close');
  assert.deepEqual(r.body, {
    method: 'GET',
    proto: 'http',
    host: 'app.example.org',
    uri: '/p',
    clientIp: '203.0.113.9',
    via: 'direct',
    trustedPeer: true,
  });
});

test('an absolute-form request target gives the host (RFC 9112 §3.2.2)', async () => {
  const r = await raw(untrustedPort, 'GET http://Other.example.org/x?y HTTP/1.1\nHost: app.example.org\nConnection: close');
  assert.deepEqual(r.body, {
    method: 'GET',
    proto: 'http',
    host: 'other.example.org',
    uri: '/x?y',
    clientIp: '127.0.0.1',
    via: 'direct',
    trustedPeer: false,
  });
});

test('a request without Host is refused', async () => {
  const r = await raw(untrustedPort, 'GET /x HTTP/1.0');
  assert.deepEqual(r, { status: 400, body: { kind: 'invalid_request', detail: 'the request has no Host header' } });
});

test('an IPv6 peer is matched against IPv6 ranges', async () => {
  const port = await serve(new TrustedProxies(['::1/128']), '::1');
  const r = await raw(port, 'GET / HTTP/1.1\nHost: g\nX-Forwarded-Host: app.example.org\nConnection: close', '::1');
  assert.deepEqual(r.body, {
    method: 'GET',
    proto: 'http',
    host: 'app.example.org',
    uri: '/',
    clientIp: '::1',
    via: 'forwarded',
    trustedPeer: true,
  });
});
