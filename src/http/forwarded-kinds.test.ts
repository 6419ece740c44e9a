// Which headers describe the original request, per kind of trusted proxy (trustedProxies[].kind):
// every real proxy's own combination of headers works, a client's copy of the other family
// never changes the URL judged, and two descriptions that disagree are refused, never mixed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { GatehouseError } from '../core/index.ts';
import { readOriginal, type OriginalRequest } from './forwarded.ts';
import { TrustedProxies, type ProxyKind } from './trusted.ts';

const KINDS: ProxyKind[] = ['nginx', 'forwarded', 'auto'];
const trustedAs = (kind: ProxyKind) => new TrustedProxies([{ cidr: '10.0.0.0/8', kind }]);

/** A request as Node's parser hands it over: lower-case header names, repeated ones joined. */
function fake(headers: Record<string, string>, opts: { url?: string; method?: string; peer?: string } = {}): IncomingMessage {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = v;
  return {
    url: opts.url ?? '/oauth2/auth',
    method: opts.method ?? 'GET',
    headers: h,
    socket: { remoteAddress: opts.peer ?? '10.1.2.3' },
  } as unknown as IncomingMessage;
}

type Outcome = Pick<OriginalRequest, 'method' | 'proto' | 'host' | 'uri' | 'via'> | 'refused';

function read(kind: ProxyKind, headers: Record<string, string>, opts?: { url?: string; method?: string }): Outcome {
  try {
    const o = readOriginal(fake(headers, opts), trustedAs(kind));
    return { method: o.method, proto: o.proto, host: o.host, uri: o.uri, via: o.via };
  } catch (e) {
    assert.ok(e instanceof GatehouseError && e.kind === 'invalid_request', String(e));
    return 'refused';
  }
}

// What each real proxy sends on a forward-auth check (documented from each one's source or
// config: nginx = docs/proxies/nginx/snippets/gatehouse-endpoints.conf; ingress-nginx = its
// controller template's external-auth location; Caddy 2.6 forward_auth; Traefik
// pkg/middlewares/auth/forward.go writeHeader after the entry point's forwarded-headers step).
const ADMIN = { method: 'POST', proto: 'https', host: 'admin.example.org', uri: '/secret?x=1' } as const;
const PROXIES: Record<string, { headers: Record<string, string>; kinds: ProxyKind[]; via: OriginalRequest['via'] }> = {
  'nginx (shipped snippet)': {
    headers: {
      Host: 'gatehouse',
      'X-Original-URL': 'https://admin.example.org:443/secret?x=1',
      'X-Original-Method': 'POST',
      'X-Forwarded-For': '203.0.113.9',
    },
    kinds: ['nginx', 'auto'],
    via: 'nginx',
  },
  'ingress-nginx (controller defaults)': {
    headers: {
      Host: 'gatehouse.gatehouse.svc.cluster.local',
      'X-Original-URL': 'https://admin.example.org/secret?x=1',
      'X-Original-Method': 'POST',
      'X-Sent-From': 'nginx-ingress-controller',
      'X-Real-IP': '203.0.113.9',
      'X-Forwarded-For': '203.0.113.9',
      'X-Auth-Request-Redirect': '/secret?x=1',
    },
    kinds: ['nginx', 'auto'],
    via: 'nginx',
  },
  'ingress-nginx with X-Forwarded-Host $host from auth-proxy-set-headers': {
    headers: {
      Host: 'gatehouse',
      'X-Original-URL': 'https://admin.example.org/secret?x=1',
      'X-Original-Method': 'POST',
      'X-Forwarded-For': '203.0.113.9',
      'X-Forwarded-Host': 'admin.example.org',
    },
    kinds: ['nginx', 'auto'],
    via: 'nginx',
  },
  'ingress-nginx on a non-default port, X-Forwarded-Host without it ($host)': {
    headers: {
      Host: 'gatehouse',
      'X-Original-URL': 'https://admin.example.org:8443/secret?x=1',
      'X-Original-Method': 'POST',
      'X-Forwarded-Host': 'admin.example.org',
    },
    kinds: ['nginx', 'auto'],
    via: 'nginx',
  },
  'Caddy forward_auth': {
    headers: {
      Host: 'admin.example.org',
      'X-Forwarded-Method': 'POST',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Host': 'admin.example.org',
      'X-Forwarded-Uri': '/secret?x=1',
      'X-Forwarded-For': '203.0.113.9',
    },
    kinds: ['forwarded', 'auto'],
    via: 'forwarded',
  },
  'Traefik ForwardAuth': {
    headers: {
      Host: 'gatehouse:4180',
      'X-Forwarded-Method': 'POST',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Host': 'admin.example.org',
      'X-Forwarded-Uri': '/secret?x=1',
      'X-Forwarded-For': '203.0.113.9',
      'X-Forwarded-Port': '443',
      'X-Forwarded-Server': 'traefik-7d9',
      'X-Real-Ip': '203.0.113.9',
    },
    kinds: ['forwarded', 'auto'],
    via: 'forwarded',
  },
};

test("every real proxy's own combination of headers gives the original request, in its kind and in auto", () => {
  for (const [name, p] of Object.entries(PROXIES)) {
    for (const kind of p.kinds) {
      const got = read(kind, p.headers);
      const host = (p.headers['X-Original-URL'] ?? '').includes(':8443') ? 'admin.example.org:8443' : ADMIN.host;
      assert.deepEqual(got, { ...ADMIN, host, via: p.via }, `${name} as ${kind}`);
    }
  }
});

test('a proxy of the other kind is never read with the wrong family: nothing of the URL comes from it', () => {
  // An nginx peer's auth subrequest read as `forwarded` sees no X-Forwarded-Uri: the request
  // line (/oauth2/auth on the upstream name) is what it judges, never the admin URL.
  assert.deepEqual(read('forwarded', PROXIES['nginx (shipped snippet)']!.headers), {
    method: 'GET',
    proto: 'http',
    host: 'gatehouse',
    uri: '/oauth2/auth',
    via: 'direct',
  });
  // A forwarded peer's check read as `nginx`: only X-Forwarded-Host/-Proto, never -Uri/-Method.
  assert.deepEqual(read('nginx', PROXIES['Caddy forward_auth']!.headers), {
    method: 'GET',
    proto: 'https',
    host: 'admin.example.org',
    uri: '/oauth2/auth',
    via: 'forwarded',
  });
});

// The attack of issue 18: a client's X-Original-URL copy, let through by a forwarded-kind proxy
// (Caddy's forward_auth and Traefik's ForwardAuth pass client headers on).
const SPOOFS = [
  'http://public.example.org/oauth2/start',
  'https://auth.example.org/oauth2/sign_in',
  'https://admin.example.org/public/x',
  'https://admin.example.org/secret?x=1#',
  'http://admin.example.org/secret?x=1',
  'https://admin.example.org:8443/secret?x=2',
];

test("a client's X-Original-URL through Caddy or Traefik is refused unless it says exactly what the proxy said", () => {
  for (const proxy of ['Caddy forward_auth', 'Traefik ForwardAuth']) {
    for (const kind of KINDS) {
      for (const url of SPOOFS) {
        for (const method of [undefined, 'POST', 'GET']) {
          const headers = {
            ...PROXIES[proxy]!.headers,
            'X-Original-URL': url,
            ...(method !== undefined ? { 'X-Original-Method': method } : {}),
          };
          const got = read(kind, headers);
          // Same method (an absent X-Original-Method is the subrequest's GET), host and path;
          // the scheme is not compared (no rule matches on it).
          const agrees =
            (url === 'https://admin.example.org/secret?x=1#' || url === 'http://admin.example.org/secret?x=1') && method === 'POST';
          if (agrees) assert.equal(typeof got === 'object' && got.uri, ADMIN.uri, `${proxy} ${kind} ${url} ${method}`);
          else assert.equal(got, 'refused', `${proxy} as ${kind}: X-Original-URL ${url} ${method ?? ''} → ${JSON.stringify(got)}`);
        }
      }
    }
  }
});

test("a client's X-Forwarded-* copy through ingress-nginx is refused unless it agrees; -Uri/-Method never read from nginx otherwise", () => {
  const base = PROXIES['ingress-nginx (controller defaults)']!.headers;
  const spoofs: Array<[string, string]> = [
    ['X-Forwarded-Uri', '/public/x'],
    ['X-Forwarded-Method', 'GET'],
    ['X-Forwarded-Host', 'public.example.org'],
    ['X-Forwarded-Host', 'auth.example.org'],
  ];
  for (const kind of KINDS) {
    for (const [name, value] of spoofs) assert.equal(read(kind, { ...base, [name]: value }), 'refused', `${kind}: ${name}: ${value}`);
  }
  // ingress-nginx behind a TLS-terminating load balancer: the balancer's X-Forwarded-Proto says
  // https, X-Original-URL (nginx's $scheme) says http. No rule matches on the scheme: not refused,
  // and the believed family's scheme is used.
  for (const kind of ['nginx', 'auto'] as const) {
    assert.deepEqual(
      read(kind, { ...base, 'X-Original-URL': 'http://admin.example.org/secret?x=1', 'X-Forwarded-Proto': 'https' }),
      { ...ADMIN, proto: 'http', via: 'nginx' },
      kind,
    );
  }
  // The portal and /oauth2/ on an app host, proxied plainly by nginx (no X-Original-URL): a
  // client's X-Forwarded-Uri/-Method are not the request, the request line is.
  const portal = {
    Host: 'auth.example.org',
    'X-Forwarded-Proto': 'https',
    'X-Forwarded-Host': 'auth.example.org',
    'X-Forwarded-Uri': '/elsewhere',
    'X-Forwarded-Method': 'DELETE',
  };
  assert.deepEqual(read('nginx', portal, { url: '/oauth2/sign_in?rd=x' }), {
    method: 'GET',
    proto: 'https',
    host: 'auth.example.org',
    uri: '/oauth2/sign_in?rd=x',
    via: 'forwarded',
  });
});

test('a forwarded-kind peer with only a client X-Original-URL (a plain reverse proxy) judges the request line', () => {
  assert.deepEqual(
    read('forwarded', { Host: 'app.example.org', 'X-Original-URL': 'http://public.example.org/oauth2/start' }, { url: '/secret' }),
    { method: 'GET', proto: 'http', host: 'app.example.org', uri: '/secret', via: 'direct' },
  );
});

test("the narrowest range decides a peer's kind; a plain address is auto", () => {
  const t = new TrustedProxies([
    { cidr: '10.0.0.0/8', kind: 'nginx' },
    { cidr: '10.1.0.0/16', kind: 'forwarded' },
    '192.168.0.0/16',
    { cidr: '::1/128', kind: 'forwarded' },
  ]);
  assert.equal(t.kindOf('10.2.0.1'), 'nginx');
  assert.equal(t.kindOf('10.1.9.9'), 'forwarded');
  assert.equal(t.kindOf('::ffff:10.1.9.9'), 'forwarded');
  assert.equal(t.kindOf('192.168.4.4'), 'auto');
  assert.equal(t.kindOf('::1'), 'forwarded');
  assert.equal(t.kindOf('11.0.0.1'), null);
  assert.throws(
    () => new TrustedProxies([{ cidr: '10.0.0.0/8', kind: 'haproxy' as ProxyKind }]),
    /trustedProxies\[0\]\.kind: expected one of nginx, forwarded, auto/,
  );
  assert.throws(
    () => new TrustedProxies([{ cidr: '10.0.0/8', kind: 'nginx' }]),
    /trustedProxies\[0\]\.cidr: "10\.0\.0\/8" is not an IP address/,
  );
});

// Property: whatever a mix of headers says, the answer is either a refusal or exactly the
// description of the family the peer's kind believes — never a field taken from the other one.
const hosts = fc.constantFrom('admin.example.org', 'public.example.org', 'admin.example.org:8443', 'auth.example.org');
const uris = fc.constantFrom('/secret', '/public/x', '/oauth2/start', '/secret?x=1');
const methods = fc.constantFrom('GET', 'POST', 'DELETE');
const protos = fc.constantFrom<'http' | 'https'>('http', 'https');

test("property: never a mix — the URL is wholly one family's, or the request is refused", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...KINDS),
      fc.option(fc.record({ proto: protos, host: hosts, uri: uris, method: fc.option(methods, { nil: undefined }) }), { nil: undefined }),
      fc.record({
        proto: fc.option(protos, { nil: undefined }),
        host: fc.option(hosts, { nil: undefined }),
        uri: fc.option(uris, { nil: undefined }),
        method: fc.option(methods, { nil: undefined }),
      }),
      (kind, o, f) => {
        const headers: Record<string, string> = { Host: 'gatehouse' };
        if (o !== undefined) {
          headers['X-Original-URL'] = `${o.proto}://${o.host}${o.uri}`;
          if (o.method !== undefined) headers['X-Original-Method'] = o.method;
        }
        if (f.proto !== undefined) headers['X-Forwarded-Proto'] = f.proto;
        if (f.host !== undefined) headers['X-Forwarded-Host'] = f.host;
        if (f.uri !== undefined) headers['X-Forwarded-Uri'] = f.uri;
        if (f.method !== undefined) headers['X-Forwarded-Method'] = f.method;
        const got = read(kind, headers);
        const sameName = (a: string, b: string) => a.split(':')[0] === b.split(':')[0] && (!a.includes(':') || !b.includes(':') || a === b);
        const disagree =
          o !== undefined &&
          ((f.uri !== undefined && f.uri !== o.uri) ||
            (f.method !== undefined && f.method !== (o.method ?? 'GET')) ||
            (f.host !== undefined && !sameName(f.host, o.host)));
        if (disagree) {
          assert.equal(got, 'refused');
          return;
        }
        assert.notEqual(got, 'refused');
        if (got === 'refused') return;
        if (o !== undefined && kind !== 'forwarded') {
          assert.deepEqual(got, { method: o.method ?? 'GET', proto: o.proto, host: o.host, uri: o.uri, via: 'nginx' });
          return;
        }
        const fam = kind === 'nginx' ? { ...f, uri: undefined, method: undefined } : f;
        const any = fam.proto !== undefined || fam.host !== undefined || fam.uri !== undefined || fam.method !== undefined;
        assert.deepEqual(got, {
          method: fam.method ?? 'GET',
          proto: fam.proto ?? 'http',
          host: fam.host ?? 'gatehouse',
          uri: fam.uri ?? '/oauth2/auth',
          via: any ? 'forwarded' : 'direct',
        });
      },
    ),
    { numRuns: 2000 },
  );
});

test('config: plain addresses keep working as kind auto; { cidr, kind } is checked with its path', async () => {
  const { configSchema } = await import('../config/schema.ts');
  const parsed = configSchema.parse({
    trustedProxies: ['10.0.0.0/8', { cidr: '172.16.0.0/12', kind: 'nginx' }, { cidr: '::1/128', kind: 'forwarded' }],
  });
  assert.deepEqual(parsed.trustedProxies, [
    { cidr: '10.0.0.0/8', kind: 'auto' },
    { cidr: '172.16.0.0/12', kind: 'nginx' },
    { cidr: '::1/128', kind: 'forwarded' },
  ]);
  assert.deepEqual(configSchema.parse({}).trustedProxies, [
    { cidr: '127.0.0.0/8', kind: 'auto' },
    { cidr: '::1/128', kind: 'auto' },
  ]);
  const bad = configSchema.safeParse({ trustedProxies: [{ cidr: '10.0.0.0/8', kind: 'haproxy' }] });
  assert.equal(bad.success, false);
  const missing = configSchema.safeParse({ trustedProxies: [{ cidr: '10.0.0.0/8' }] });
  assert.equal(missing.success, false);
});
