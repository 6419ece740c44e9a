// SSRF: client-supplied URLs (client ID metadata documents first) are checked BEFORE a socket is
// opened. A plain TCP listener and a TLS listener on loopback (both IPv4 and IPv6) count every
// connection they accept; every spelling of a loopback address, a name that resolves to one
// (localhost from /etc/hosts, and a resolver override), and a redirect from an allowed host to
// loopback must leave both counts at ZERO. The allowed paths are shown to connect, so a zero
// count means refusal, not a broken listener.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { MemoryLogger } from '../../src/core/index.ts';
import { createGuardedFetch, isSpecialAddress, OutboundRefused } from '../../src/issuer/outbound.ts';
import { send } from '../kit/http.ts';
import { type Instance } from '../kit/server.ts';
import { HTTPS, MCP, pkce, startMcpIssuer } from '../kit/mcp.ts';

/** A listener on :: (dual stack: 127.0.0.1, ::1 and ::ffff:127.0.0.1 all land here) counting connections. */
async function counting(make: () => Server): Promise<{ server: Server; port: number; count: () => number }> {
  const server = make();
  let n = 0;
  server.on('connection', (s) => {
    n += 1;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen({ port: 0, host: '::', ipv6Only: false }, r));
  return { server, port: (server.address() as AddressInfo).port, count: () => n };
}

let tcp: Awaited<ReturnType<typeof counting>>;
let tls: Awaited<ReturnType<typeof counting>>;
before(async () => {
  tcp = await counting(() => createNetServer());
  // A TLS server without a certificate still emits 'connection' on TCP accept, before any handshake.
  tls = await counting(() => createTlsServer());
});
after(() => {
  tcp.server.close();
  tls.server.close();
});

const total = () => tcp.count() + tls.count();

/** Every way to write a loopback host in a URL, for a port. */
function spellings(port: number): string[] {
  return [
    '127.0.0.1',
    '127.1',
    '0x7f.1',
    '2130706433',
    '0177.0.0.1',
    '0x7f000001',
    '127.000.000.001',
    '[::1]',
    '[::ffff:7f00:1]',
    '[::ffff:127.0.0.1]',
    '[0:0:0:0:0:ffff:7f00:1]',
    '[::]',
    '0.0.0.0',
    '0',
    'localhost',
  ].map((h) => `${h}:${port}`);
}

describe('the address check', () => {
  test('special-use addresses in every family and form', () => {
    for (const a of [
      '127.0.0.1',
      '127.255.255.254',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '100.127.255.255',
      '0.0.0.0',
      '0.1.2.3',
      '224.0.0.1',
      '239.255.255.250',
      '255.255.255.255',
      '240.0.0.1',
      '192.0.2.1',
      '198.18.0.1',
      '203.0.113.9',
      '::',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:a9fe:a9fe',
      '::ffff:10.0.0.1',
      'fc00::1',
      'fd12:3456::1',
      'fe80::1',
      'fe80::1%eth0',
      'ff02::1',
      '64:ff9b::7f00:1',
      '2002:7f00:1::',
      '2001:db8::1',
      '::127.0.0.1',
      'not-an-ip',
      '',
    ]) {
      assert.equal(isSpecialAddress(a), true, a);
    }
    for (const a of [
      '93.184.216.34',
      '8.8.8.8',
      '1.1.1.1',
      '100.63.255.255',
      '100.128.0.0',
      '172.32.0.1',
      '2606:4700:4700::1111',
      '2a00:1450:4001::200e',
      '::ffff:8.8.8.8',
    ]) {
      assert.equal(isSpecialAddress(a), false, a);
    }
  });

  test('generated: every IPv4 address in 127/8, 10/8, 169.254/16 and 192.168/16, and its IPv4-mapped IPv6 form, is special', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    fc.assert(
      fc.property(fc.constantFrom([127], [10], [169, 254], [192, 168]), octet, octet, octet, (prefix, b, c, d) => {
        const parts = [...prefix, b, c, d].slice(0, 4);
        const v4 = parts.join('.');
        assert.equal(isSpecialAddress(v4), true, v4);
        assert.equal(isSpecialAddress(`::ffff:${v4}`), true, `::ffff:${v4}`);
        const hex = `::ffff:${((parts[0]! << 8) | parts[1]!).toString(16)}:${((parts[2]! << 8) | parts[3]!).toString(16)}`;
        assert.equal(isSpecialAddress(hex), true, hex);
      }),
    );
  });
});

describe('the guarded fetch', () => {
  const logger = new MemoryLogger();
  const guarded = createGuardedFetch({ logger });

  test('every loopback spelling, http and https: refused before connecting (zero connections), each refusal logged', async () => {
    const before = logger.lines.length;
    const urls = [
      ...spellings(tcp.port).map((h) => `http://${h}/client.json`),
      ...spellings(tls.port).map((h) => `https://${h}/client.json`),
    ];
    for (const url of urls) await assert.rejects(guarded(url), OutboundRefused, url);
    assert.equal(total(), 0);
    const refusals = logger.lines.slice(before).filter((e) => (e.fields as { event?: string }).event === 'outbound.refused');
    assert.equal(refusals.length, urls.length);
  });

  test('a name resolving to loopback (resolver override, one bad address among good ones): zero connections', async () => {
    const f = createGuardedFetch({
      logger,
      resolve: async () => [
        { address: '93.184.216.34', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ],
    });
    await assert.rejects(
      f(`http://metadata.example.test:${tcp.port}/c.json`),
      (e: unknown) => e instanceof OutboundRefused && e.reason === 'the host name resolves to a special-use address',
    );
    const v6 = createGuardedFetch({ logger, resolve: async () => [{ address: '::ffff:127.0.0.1', family: 6 }] });
    await assert.rejects(v6(`https://mapped.example.test:${tls.port}/c.json`), OutboundRefused);
    assert.equal(total(), 0);
  });

  describe('allowed hosts connect to the checked address only, never follow a redirect', () => {
    // 127.0.0.2 plays a public host here (allowAddress), so the allowed path is real.
    let pub: HttpServer;
    let pubPort = 0;
    const seen: { host: string | undefined; url: string | undefined }[] = [];
    before(async () => {
      pub = createHttpServer((req, res) => {
        seen.push({ host: req.headers.host, url: req.url });
        if (req.url === '/redirect') {
          res.writeHead(302, { location: `http://127.0.0.1:${tcp.port}/c.json` }).end();
          return;
        }
        if (req.url === '/big') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('x'.repeat(4096));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
      await new Promise<void>((r) => pub.listen(0, '127.0.0.2', r));
      pubPort = (pub.address() as AddressInfo).port;
    });
    after(() => {
      pub.close();
    });
    const allow127002 = (a: string) => a === '127.0.0.2';

    test('a name resolved to an allowed address: the socket goes there, Host keeps the name', async () => {
      let lookups = 0;
      const f = createGuardedFetch({
        logger,
        allowAddress: allow127002,
        resolve: async () => {
          lookups += 1;
          return [{ address: '127.0.0.2', family: 4 }];
        },
      });
      const r = await f(`http://docs.example.test:${pubPort}/client.json`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), '{"ok":true}');
      assert.deepEqual(seen.at(-1), { host: `docs.example.test:${pubPort}`, url: '/client.json' });
      assert.equal(lookups, 1, 'resolved once: the checked answer is the one connected to');
    });

    test('a redirect from the allowed host to loopback is returned, not followed: zero connections to loopback', async () => {
      const f = createGuardedFetch({ logger, allowAddress: allow127002 });
      const r = await f(`http://127.0.0.2:${pubPort}/redirect`, { redirect: 'follow' });
      assert.equal(r.status, 302);
      assert.equal(total(), 0);
    });

    test('a response over the size limit is refused', async () => {
      const f = createGuardedFetch({ logger, allowAddress: allow127002, maxBytes: 1024 });
      await assert.rejects(
        f(`http://127.0.0.2:${pubPort}/big`),
        (e: unknown) => e instanceof OutboundRefused && e.reason === 'the response is larger than 1024 bytes',
      );
    });

    test('a server that never answers hits the timeout', async () => {
      const silent = createNetServer(() => {
        /* accept, never answer */
      });
      await new Promise<void>((r) => silent.listen(0, '127.0.0.2', r));
      try {
        const f = createGuardedFetch({ logger, allowAddress: allow127002, timeoutMs: 200 });
        await assert.rejects(
          f(`http://127.0.0.2:${(silent.address() as AddressInfo).port}/`),
          (e: unknown) => (e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError',
        );
      } finally {
        silent.close();
      }
    });
  });
});

describe('client ID metadata documents through the issuer', () => {
  let inst: Instance;
  before(async () => {
    inst = await startMcpIssuer();
  });
  after(async () => {
    await inst.close();
  });

  const authUrl = (clientId: string) =>
    `/oidc/auth?${new URLSearchParams({
      client_id: clientId,
      redirect_uri: 'http://127.0.0.1:7777/cb',
      response_type: 'code',
      scope: 'mcp:tools',
      resource: MCP,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      state: 's',
    }).toString()}`;

  test('every loopback spelling of a client_id: invalid_client, zero connections (TCP and TLS), a refusal logged for each', async () => {
    const ids = spellings(tls.port).map((h) => `https://${h}/client.json`);
    for (const id of ids) {
      const a = await send(inst.port, { path: authUrl(id), headers: { ...HTTPS, accept: 'text/html' } });
      assert.equal(a.status, 400, id);
      assert.match(a.body, /invalid_client/, id);
      assert.equal(a.headers.location, undefined);
    }
    assert.equal(total(), 0);
    // Each client_id is refused (oidc-provider may look a client up more than once per request).
    const refused = new Set(inst.logger.lines.filter((e) => e.fields.event === 'outbound.refused').map((e) => String(e.fields.url)));
    assert.deepEqual(
      refused,
      new Set(
        ids.map((id) => {
          const u = new URL(id);
          return `${u.protocol}//${u.host}${u.pathname}`;
        }),
      ),
    );
  });
});
