// Gatehouse behind Traefik as docs/proxies/traefik/middleware.yaml configures it. No Traefik
// binary can be had here, so a small stand-in does, step by step, what Traefik's source does with
// the settings read from THAT file (traefik/traefik, pinned in the comments below), and the real
// gate and a header-echoing app sit behind it:
//   1. the entry point (pkg/middlewares/forwardedheaders/forwarded_header.go, entry points
//      without trustedIPs): every X-Forwarded-*, X-Scheme and X-Real-Ip a client sent is deleted
//      (underscore spellings too), then X-Real-Ip, X-Forwarded-Proto, -Port, -Host and -Server
//      are set from the connection;
//   2. ForwardAuth (pkg/middlewares/auth/forward.go, writeHeader): the client's headers are
//      copied (hop-by-hop ones dropped), kept only if listed in authRequestHeaders (when it is
//      set), then X-Forwarded-For, -Method, -Proto, -Host and -Uri are set — from the request
//      itself, or from its own X-Forwarded-* when trustForwardHeader is true;
//   3. a non-2xx answer goes to the client with its headers and body; on a 2xx, each
//      authResponseHeaders name and every request header matching authResponseHeadersRegex is
//      deleted from the request, and the matching ones are copied from the answer;
//   4. the request goes on to the service, X-Forwarded-For appended.
// Header names are held the way Go holds them (textproto.CanonicalMIMEHeaderKey).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { freePort, type HttpResponse, request } from '../kit/http.ts';
import { addUser, gateConfig, type GatehouseProcess, startGatehouse } from '../kit/process.ts';
import { readDoc } from '../kit/proxy-docs.ts';
import { signIn } from '../kit/sign-in.ts';
import { carriesSpoof, GATE_HEADERS, IDENTITY_HEADERS, spellings, spoofValue } from '../kit/spoofing.ts';
import { type SeenRequest, startWhoami, type Whoami } from '../kit/whoami.ts';

const PASSWORD = 'correct horse battery staple';
const PORTAL_HOST = 'auth.example.test';
const HOP = ['Connection', 'Keep-Alive', 'Proxy-Authenticate', 'Proxy-Authorization', 'Te', 'Trailer', 'Transfer-Encoding', 'Upgrade'];
const MANAGED = new Set([
  'X-Forwarded-Proto',
  'X-Forwarded-Scheme',
  'X-Forwarded-For',
  'X-Forwarded-Host',
  'X-Forwarded-Port',
  'X-Forwarded-Server',
  'X-Forwarded-Uri',
  'X-Forwarded-Method',
  'X-Forwarded-Prefix',
  'X-Forwarded-Tls-Client-Cert',
  'X-Forwarded-Tls-Client-Cert-Info',
  'X-Scheme',
  'X-Real-Ip',
]);

/** Go's textproto.CanonicalMIMEHeaderKey: upper-case the first letter and each one after "-". */
function canonical(name: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) return name;
  let up = true;
  let out = '';
  for (const ch of name) {
    out += up ? ch.toUpperCase() : ch.toLowerCase();
    up = ch === '-';
  }
  return out;
}

type Header = Map<string, string[]>;
const get = (h: Header, k: string) => h.get(canonical(k))?.[0] ?? '';
const set = (h: Header, k: string, v: string) => {
  h.set(canonical(k), [v]);
};

interface TraefikSettings {
  trustForwardHeader: boolean;
  authRequestHeaders: string[];
  authResponseHeaders: string[];
  authResponseHeadersRegex: RegExp | undefined;
  portalRequestHeaders: Record<string, string>;
}

/** The ForwardAuth and portal settings from docs/proxies/traefik/middleware.yaml, and that the routes use them. */
async function readShipped(): Promise<TraefikSettings> {
  const docs = parseAllDocuments(await readDoc('traefik/middleware.yaml')).map(
    (d) =>
      d.toJS() as {
        kind: string;
        metadata: { name: string };
        spec: Record<string, unknown> & { routes?: Array<{ match: string; middlewares?: Array<{ name: string }> }> };
      },
  );
  const fa = docs.find((d) => d.kind === 'Middleware' && d.spec.forwardAuth !== undefined);
  assert.ok(fa, 'a ForwardAuth middleware');
  const f = fa.spec.forwardAuth as Record<string, unknown>;
  const portalRoute = docs.find(
    (d) => d.kind === 'IngressRoute' && (d.spec.routes ?? []).some((r) => r.match.includes('auth.example.org')),
  );
  const appRoute = docs.find((d) => d.kind === 'IngressRoute' && d !== portalRoute);
  assert.ok(
    appRoute?.spec.routes?.[0]?.middlewares?.some((m) => m.name === fa.metadata.name),
    'the app route uses the ForwardAuth middleware',
  );
  const portalMw =
    portalRoute?.spec.routes?.[0]?.middlewares?.map((m) => docs.find((d) => d.kind === 'Middleware' && d.metadata.name === m.name)) ?? [];
  const portalRequestHeaders: Record<string, string> = {};
  for (const m of portalMw)
    Object.assign(
      portalRequestHeaders,
      (m?.spec.headers as { customRequestHeaders?: Record<string, string> } | undefined)?.customRequestHeaders ?? {},
    );
  // Go's regexp: "(?i)" flags at the front; the rest of this pattern reads the same in JavaScript.
  const rx = typeof f.authResponseHeadersRegex === 'string' ? f.authResponseHeadersRegex : undefined;
  return {
    trustForwardHeader: f.trustForwardHeader === true,
    authRequestHeaders: (f.authRequestHeaders as string[] | undefined) ?? [],
    authResponseHeaders: (f.authResponseHeaders as string[] | undefined) ?? [],
    authResponseHeadersRegex: rx === undefined ? undefined : new RegExp(rx.replace(/^\(\?i\)/, ''), rx.startsWith('(?i)') ? 'i' : ''),
    portalRequestHeaders,
  };
}

function send(
  target: string,
  method: string,
  path: string,
  h: Header,
  body: Buffer | undefined,
): Promise<{ status: number; headers: Header; body: Buffer }> {
  const u = new URL(target);
  const flat: string[] = [];
  for (const [k, vs] of h) for (const v of vs) flat.push(k, v);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: flat, setHost: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const out: Header = new Map();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          const k = canonical(res.rawHeaders[i]!);
          out.set(k, [...(out.get(k) ?? []), res.rawHeaders[i + 1]!]);
        }
        resolve({ status: res.statusCode ?? 0, headers: out, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The stand-in: one entry point on `port`, the portal router and one ForwardAuth-protected router for every other host. */
async function startTraefikStandIn(
  port: number,
  s: TraefikSettings,
  gate: string,
  app: string,
): Promise<{ authRequests: Header[]; stop(): Promise<void> }> {
  const authRequests: Header[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
        const h: Header = new Map();
        for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
          const k = canonical(req.rawHeaders[i]!);
          h.set(k, [...(h.get(k) ?? []), req.rawHeaders[i + 1]!]);
        }
        const host = get(h, 'Host');
        h.delete('Host');
        const clientIp = req.socket.remoteAddress!.replace(/^::ffff:/, '');
        // 1. Entry point: the client is not in trustedIPs.
        for (const k of [...h.keys()]) if (MANAGED.has(k) || MANAGED.has(canonical(k.replaceAll('_', '-')))) h.delete(k);
        set(h, 'X-Real-Ip', clientIp);
        set(h, 'X-Forwarded-Proto', 'http');
        set(h, 'X-Forwarded-Port', /:(\d+)$/.exec(host)?.[1] ?? '80');
        set(h, 'X-Forwarded-Host', host);
        set(h, 'X-Forwarded-Server', 'traefik-stand-in');
        for (const k of HOP) h.delete(k);
        const forward = async (target: string) => {
          const out = new Map(h);
          out.set('Host', [host]);
          set(out, 'X-Forwarded-For', [...(h.get('X-Forwarded-For') ?? []), clientIp].join(', '));
          const r = await send(target, req.method ?? 'GET', req.url ?? '/', out, body);
          reply(r);
        };
        const reply = (r: { status: number; headers: Header; body: Buffer }) => {
          const flat: string[] = [];
          for (const [k, vs] of r.headers) if (!HOP.includes(k) && k !== 'Content-Length') for (const v of vs) flat.push(k, v);
          res.writeHead(r.status, flat);
          res.end(r.body);
        };
        if (host.split(':')[0] === PORTAL_HOST) {
          for (const [k, v] of Object.entries(s.portalRequestHeaders))
            if (v === '') h.delete(canonical(k));
            else set(h, k, v);
          await forward(gate);
          return;
        }
        // 2. ForwardAuth's writeHeader.
        let a: Header = new Map(h);
        if (s.authRequestHeaders.length > 0) {
          const kept: Header = new Map();
          for (const n of s.authRequestHeaders) {
            const v = a.get(canonical(n));
            if (v !== undefined) kept.set(canonical(n), v);
          }
          a = kept;
        }
        const prior = h.get('X-Forwarded-For');
        set(a, 'X-Forwarded-For', s.trustForwardHeader && prior !== undefined ? `${prior.join(', ')}, ${clientIp}` : clientIp);
        set(
          a,
          'X-Forwarded-Method',
          s.trustForwardHeader && get(h, 'X-Forwarded-Method') !== '' ? get(h, 'X-Forwarded-Method') : (req.method ?? 'GET'),
        );
        set(a, 'X-Forwarded-Proto', s.trustForwardHeader && get(h, 'X-Forwarded-Proto') !== '' ? get(h, 'X-Forwarded-Proto') : 'http');
        if (s.trustForwardHeader && get(h, 'X-Forwarded-Port') !== '') set(a, 'X-Forwarded-Port', get(h, 'X-Forwarded-Port'));
        set(a, 'X-Forwarded-Host', s.trustForwardHeader && get(h, 'X-Forwarded-Host') !== '' ? get(h, 'X-Forwarded-Host') : host);
        set(a, 'X-Forwarded-Uri', s.trustForwardHeader && get(h, 'X-Forwarded-Uri') !== '' ? get(h, 'X-Forwarded-Uri') : (req.url ?? '/'));
        const g = new URL(gate);
        a.set('Host', [g.host]);
        set(a, 'User-Agent', 'Go-http-client/1.1');
        authRequests.push(a);
        const auth = await send(gate, 'GET', '/oauth2/auth', a, undefined);
        // 3. The answer.
        if (auth.status < 200 || auth.status >= 300) {
          reply(auth);
          return;
        }
        for (const n of s.authResponseHeaders) {
          h.delete(canonical(n));
          const v = auth.headers.get(canonical(n));
          if (v !== undefined) h.set(canonical(n), v);
        }
        if (s.authResponseHeadersRegex !== undefined) {
          for (const k of [...h.keys()]) if (s.authResponseHeadersRegex.test(k)) h.delete(k);
          for (const [k, v] of auth.headers) if (s.authResponseHeadersRegex.test(k)) h.set(k, v);
        }
        // 4. On to the service.
        await forward(app);
      })().catch((err: unknown) => {
        res.writeHead(502);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    authRequests,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function verdict(res: HttpResponse, seen: SeenRequest | undefined): string {
  const user = seen?.headers
    .filter(([k]) => k.toLowerCase() === 'x-auth-request-user')
    .map(([, v]) => v)
    .join(',');
  return `${res.status} ${res.headers.location ?? ''} ${seen === undefined ? 'app:-' : `app:${seen.url} user:${user}`}`;
}

describe("Gatehouse behind Traefik as docs/proxies/traefik/middleware.yaml sets it (stand-in from Traefik's source)", () => {
  let port = 0;
  let gh: GatehouseProcess;
  let app: Whoami;
  let traefik: Awaited<ReturnType<typeof startTraefikStandIn>>;
  let bobCookie = '';
  const url = (host: string, p: string) => `http://${host}:${port}${p}`;
  const portal = () => `http://${PORTAL_HOST}:${port}`;

  before(async () => {
    port = await freePort();
    app = await startWhoami();
    // The default plain trustedProxies list (kind auto): the strictest reader of both header families.
    gh = await startGatehouse(gateConfig({ publicUrl: portal() }));
    traefik = await startTraefikStandIn(port, await readShipped(), gh.url, `http://${app.address}`);
    await addUser(gh, 'bob', PASSWORD, []);
    const { jar } = await signIn(portal(), 'bob', PASSWORD, url('app.example.test', '/'));
    bobCookie = jar.header(url('app.example.test', '/'))!;
  });
  after(async () => {
    await traefik?.stop();
    await gh?.stop();
    await app?.stop();
  });

  test('the shipped settings: client headers filtered, X-Forwarded-* from the request itself, identity by regex', async () => {
    const s = await readShipped();
    assert.equal(s.trustForwardHeader, false);
    assert.deepEqual(s.authRequestHeaders, ['Accept', 'Authorization', 'Cookie', 'DPoP', 'Sec-Fetch-Mode', 'X-Requested-With']);
    assert.ok(s.authResponseHeadersRegex?.test('X-Auth-Request_user'));
  });

  test('the gate sees exactly what Traefik sends, and decides as the rules say', async () => {
    const anon = await request(url('app.example.test', '/private/x?q=1'), { headers: { Accept: 'text/html' } });
    assert.equal(anon.status, 302);
    assert.equal(anon.headers.location, `${portal()}/oauth2/start?rd=${encodeURIComponent(url('app.example.test', '/private/x?q=1'))}`);
    const a = traefik.authRequests.at(-1)!;
    assert.deepEqual([...a.keys()].sort(), [
      'Accept',
      'Host',
      'User-Agent',
      'X-Forwarded-For',
      'X-Forwarded-Host',
      'X-Forwarded-Method',
      'X-Forwarded-Proto',
      'X-Forwarded-Uri',
    ]);
    assert.equal(get(a, 'X-Forwarded-Uri'), '/private/x?q=1');
    assert.equal(
      (await request(url('app.example.test', '/private/x'), { headers: { Accept: 'text/html', Cookie: bobCookie } })).status,
      403,
    );
    const pub = await request(url('app.example.test', '/adsb/x'), { headers: { Cookie: bobCookie } });
    assert.equal(pub.status, 200);
  });

  test('client copies of every gate and identity header, in every spelling: same decision, nothing reaches the app', async () => {
    const names = [...GATE_HEADERS, ...IDENTITY_HEADERS].flatMap(spellings);
    let tried = 0;
    const targets = [
      url('app.example.test', '/private/x?q=1'),
      url('app.example.test', '/adsb/feed'),
      `${portal()}/oauth2/sign_in?rd=${encodeURIComponent(url('app.example.test', '/'))}`,
      url('app.example.test', `/oauth2/start?rd=${encodeURIComponent(url('app.example.test', '/private'))}`),
    ];
    for (const target of targets) {
      for (const cookie of [undefined, bobCookie]) {
        const base: Array<[string, string]> = [
          ['Accept', 'text/html'],
          ...(cookie !== undefined ? [['Cookie', cookie] as [string, string]] : []),
        ];
        const run = async (extra: Array<[string, string]>, what: string) => {
          const n = app.seen.length;
          const res = await request(target, { headers: [...base, ...extra] });
          tried++;
          const seen = app.seen.length > n ? app.seen.at(-1) : undefined;
          const leaked = (seen?.headers ?? []).filter(
            ([k, v]) => carriesSpoof(v) || /^(x[-_]original[-_]|forwarded$|x[-_]forwarded[-_](uri|method|prefix)$)/i.test(k),
          );
          assert.deepEqual(leaked, [], `${target} ${what}: reached the app`);
          return verdict(res, seen);
        };
        const expected = await run([], 'no spoof');
        for (const name of names)
          assert.equal(await run([[name, spoofValue(name, port)]], name), expected, `${target}, ${cookie ? 'bob' : 'anonymous'}: ${name}`);
        assert.equal(
          await run(
            names.map((n): [string, string] => [n, spoofValue(n, port)]),
            'all',
          ),
          expected,
          `${target}: all at once`,
        );
      }
    }
    console.log(`traefik (stand-in): ${tried} spoofed requests tried`);
  });

  test('issue 18: a client X-Original-URL naming a public URL does not get into the admins-only host', async () => {
    for (const spoof of [url('api.example.test', '/adsb/x'), `${portal()}/oauth2/start`, url('app.example.test', '/oauth2/start')]) {
      for (const cookie of [undefined, bobCookie]) {
        const n = app.seen.length;
        const res = await request(url('app.example.test', '/private/x'), {
          headers: { 'X-Original-URL': spoof, Accept: 'text/html', ...(cookie ? { Cookie: cookie } : {}) },
        });
        assert.equal(app.seen.length, n, `${spoof}: reached the app (${res.status})`);
        assert.equal(res.status, cookie ? 403 : 302, spoof);
      }
    }
  });
});
