import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { embeddedConfig } from './defaults.ts';
import { loadConfig } from './loader.ts';
import { LINTS, lintConfig, type Lint } from './lints.ts';
import { configSchema, type ConfigInput } from './schema.ts';

const SECRET = '733ZZX5wL0I/oHNroFNU9523bd6fbVDVVHCK4xJT/R4=';

/** A config that triggers no lint; each test changes one thing. */
function base(): ConfigInput {
  return {
    publicUrl: 'https://auth.example.org',
    secrets: { session: SECRET },
    domains: [{ domain: 'example.org' }],
    apps: [{ name: 'grafana', hosts: ['grafana.example.org'], allow: { groups: ['admins'] } }],
  };
}

function lint(input: ConfigInput, fromFile = true): Lint[] {
  return lintConfig(configSchema.parse(input), { fromFile });
}

function only(code: string, input: ConfigInput, fromFile = true): Lint[] {
  return lint(input, fromFile).filter((l) => l.code === code);
}

const withApps = (...apps: NonNullable<ConfigInput['apps']>): ConfigInput => ({ ...base(), apps });

test('the base config and the embedded defaults have no lints', () => {
  assert.deepEqual(lint(base()), []);
  assert.deepEqual(embeddedConfig().lints, []);
});

test('every lint code is kebab-case and unique', () => {
  const codes = LINTS.map((l) => l.code);
  assert.equal(new Set(codes).size, codes.length);
  for (const c of codes) assert.match(c, /^[a-z]+(?:-[a-z]+)*$/);
});

test('public-url-required: only for a config file', () => {
  const { publicUrl: _, ...noUrl } = base();
  assert.deepEqual(only('public-url-required', noUrl), [
    {
      severity: 'error',
      path: 'publicUrl',
      code: 'public-url-required',
      message: 'publicUrl is required: redirects are never built from the bind address',
    },
  ]);
  assert.deepEqual(only('public-url-required', noUrl, false), []);
  assert.deepEqual(only('public-url-required', base()), []);
});

test('public-url-http: http is a warning except on localhost', () => {
  assert.deepEqual(only('public-url-http', { ...base(), publicUrl: 'http://auth.example.org' }), [
    {
      severity: 'warning',
      path: 'publicUrl',
      code: 'public-url-http',
      message: 'uses http: on auth.example.org; session cookies and sign-in forms would cross the network in clear text (use https:)',
    },
  ]);
  for (const url of [
    'http://localhost:4180',
    'http://auth.localhost',
    'http://127.0.0.1:4180',
    'http://[::1]:4180',
    'https://auth.example.org',
  ]) {
    assert.deepEqual(only('public-url-http', { ...base(), publicUrl: url }), [], url);
  }
});

test('public-url-trailing-slash and public-url-query', () => {
  assert.deepEqual(lint({ ...base(), publicUrl: 'https://auth.example.org/' }), [
    {
      severity: 'error',
      path: 'publicUrl',
      code: 'public-url-trailing-slash',
      message: 'must not end with "/": write https://auth.example.org',
    },
  ]);
  assert.deepEqual(
    lint({ ...base(), publicUrl: 'https://auth.example.org/sso/' }).map((l) => l.message),
    ['must not end with "/": write https://auth.example.org/sso'],
  );
  // An empty "?" or "#" passes the schema (URL parses them to empty strings).
  for (const url of ['https://auth.example.org?', 'https://auth.example.org/#']) {
    assert.deepEqual(
      lint({ ...base(), publicUrl: url }),
      [{ severity: 'error', path: 'publicUrl', code: 'public-url-query', message: 'must not contain a query or fragment' }],
      url,
    );
  }
  assert.deepEqual(lint({ ...base(), publicUrl: 'https://auth.example.org/sso' }), []);
});

test("public-url-path: only plain segments, never under /oauth2 (the portal's own pages must not be ambiguous paths)", () => {
  for (const url of ['https://example.org/auth', 'https://example.org/sso/v1', 'https://example.org/a.b_c~d-e', 'https://example.org']) {
    assert.deepEqual(only('public-url-path', { ...base(), publicUrl: url }), [], url);
  }
  for (const url of [
    'https://example.org/a;b',
    'https://example.org/a%2Fb',
    'https://example.org/a%20b',
    'https://example.org//auth',
    'https://example.org/%2e%2e/x',
    'https://example.org/x/../auth',
    'https://example.org/x/./auth',
    'https://example.org/oauth2',
    'https://example.org/OAuth2/x',
    'https://example.org/a\\b',
    'https://example.org/é',
  ]) {
    const found = only('public-url-path', { ...base(), publicUrl: url });
    assert.equal(found.length, 1, url);
    assert.equal(found[0]?.severity, 'error', url);
    assert.match(found[0]?.message ?? '', /^the path ".*" must be plain segments/, url);
  }
});

test('app-decision: exactly one of public, allow, deny', () => {
  assert.deepEqual(only('app-decision', withApps({ name: 'a', hosts: ['a.example.org'] })), [
    {
      severity: 'error',
      path: 'apps[0]',
      code: 'app-decision',
      message: 'expected one of public, allow or deny: the rule matches requests but decides nothing',
    },
  ]);
  assert.deepEqual(
    only(
      'app-decision',
      withApps(
        { name: 'a', hosts: ['a.example.org'], public: true },
        { name: 'b', hosts: ['b.example.org'], public: true, allow: { anyUser: true }, deny: true },
      ),
    ),
    [
      {
        severity: 'error',
        path: 'apps[1]',
        code: 'app-decision',
        message: 'expected exactly one of public, allow or deny, got public and allow and deny',
      },
    ],
  );
  assert.deepEqual(
    only(
      'app-decision',
      withApps({ name: 'a', hosts: ['a.example.org'], deny: true }, { name: 'b', hosts: ['b.example.org'], deny: { users: ['eve'] } }),
    ),
    [],
  );
});

test('allow-empty and deny-empty', () => {
  assert.deepEqual(
    lint(
      withApps(
        { name: 'a', hosts: ['a.example.org'], allow: {} },
        { name: 'b', hosts: ['b.example.org'], allow: { groups: [], users: [] } },
      ),
    ),
    [
      {
        severity: 'error',
        path: 'apps[0].allow',
        code: 'allow-empty',
        message: 'matches nobody: list users, groups, emails or emailDomains, or set anyUser: true',
      },
      {
        severity: 'error',
        path: 'apps[1].allow',
        code: 'allow-empty',
        message: 'matches nobody: list users, groups, emails or emailDomains, or set anyUser: true',
      },
    ],
  );
  assert.deepEqual(lint(withApps({ name: 'a', hosts: ['a.example.org'], deny: {} })), [
    {
      severity: 'warning',
      path: 'apps[0].deny',
      code: 'deny-empty',
      message: 'lists nobody, so the rule never decides: list subjects, or write deny: true',
    },
  ]);
  // anyUser is signed-in users: fine.
  assert.deepEqual(
    lint(
      withApps(
        { name: 'a', hosts: ['a.example.org'], allow: { anyUser: true } },
        { name: 'b', hosts: ['b.example.org'], allow: { emailDomains: ['example.org'] } },
      ),
    ),
    [],
  );
});

test('public-wildcard-host: a whole wildcard domain made public', () => {
  assert.deepEqual(lint(withApps({ name: 'a', hosts: ['a.example.org', '*.apps.example.org'], public: true })), [
    {
      severity: 'warning',
      path: 'apps[0].hosts[1]',
      code: 'public-wildcard-host',
      message: 'public: true without paths makes every host under apps.example.org public, including ones added later',
    },
  ]);
  assert.deepEqual(lint(withApps({ name: 'a', hosts: ['*.apps.example.org'], paths: ['/adsb/*'], public: true })), []);
  assert.deepEqual(lint(withApps({ name: 'a', hosts: ['*.apps.example.org'], allow: { anyUser: true } })), []);
});

test('duplicate-app-name', () => {
  assert.deepEqual(
    only(
      'duplicate-app-name',
      withApps(
        { name: 'grafana', hosts: ['a.example.org'], public: true },
        { name: 'wiki', hosts: ['b.example.org'], public: true },
        { name: 'grafana', hosts: ['c.example.org'], public: true },
      ),
    ),
    [
      {
        severity: 'error',
        path: 'apps[2].name',
        code: 'duplicate-app-name',
        message: 'duplicate app name grafana (first used by apps[0])',
      },
    ],
  );
});

test('unreachable-rule: an earlier deciding rule that matches every request the later one would', () => {
  const match = { hosts: ['a.example.org', 'b.example.org'], paths: ['/api/'], methods: ['GET' as const] };
  const message = (i: number, name: string) =>
    `can never match: apps[${i}] (${name}) matches every request it would (hosts, paths, methods, networks) and decides first; move it above apps[${i}] or narrow apps[${i}]`;
  assert.deepEqual(
    lint(
      withApps(
        { name: 'first', ...match, deny: true },
        { name: 'second', ...match, hosts: ['b.example.org', 'a.example.org'], allow: { groups: ['admins'] } },
      ),
    ),
    [{ severity: 'warning', path: 'apps[1]', code: 'unreachable-rule', message: message(0, 'first') }],
  );
  const unreachable = (...apps: NonNullable<ConfigInput['apps']>) => only('unreachable-rule', withApps(...apps)).map((l) => l.path);
  // Every deciding rule shadows: public, deny: true, and an allow of any subject (its subject
  // refuses with 403, never handing on).
  assert.deepEqual(unreachable({ name: 'a', ...match, public: true }, { name: 'b', ...match, deny: true }), ['apps[1]']);
  assert.deepEqual(unreachable({ name: 'a', ...match, allow: { anyUser: true } }, { name: 'b', ...match, public: true }), ['apps[1]']);
  assert.deepEqual(unreachable({ name: 'a', ...match, allow: { groups: ['admins'] } }, { name: 'b', ...match, allow: { anyUser: true } }), [
    'apps[1]',
  ]);
  // A broader rule first: the classic ordering mistake.
  assert.deepEqual(
    unreachable(
      { name: 'everyone', hosts: ['*.example.org'], allow: { anyUser: true } },
      { name: 'grafana', hosts: ['grafana.example.org'], allow: { groups: ['admins'] } },
      { name: 'deep', hosts: ['*.x.example.org:8443'], paths: ['/a/*'], methods: ['GET'], networks: ['10.0.0.0/8'], public: true },
    ),
    ['apps[1]', 'apps[2]'],
  );
  assert.deepEqual(
    unreachable(
      { name: 'api', hosts: ['a.example.org'], paths: ['/api'], deny: true },
      { name: 'v2', hosts: ['a.example.org'], paths: ['/api/v2/', '/api/x/*', '/api/**'], public: true },
      { name: 'docs', hosts: ['a.example.org'], paths: ['/**'], public: true },
      { name: 'rest', hosts: ['a.example.org'], public: true },
    ),
    ['apps[1]', 'apps[3]'],
  );
  // A narrower rule first is the right order, and a deny list hands on: nothing unreachable.
  assert.deepEqual(
    unreachable(
      { name: 'blocked', hosts: ['*.example.org'], deny: { users: ['mallory'] } },
      { name: 'admin', hosts: ['app.example.org'], paths: ['/admin'], allow: { groups: ['admins'] } },
      { name: 'everyone', hosts: ['app.example.org', 'b.example.org'], allow: { anyUser: true } },
    ),
    [],
  );
  // A different path, method, network, port or host leaves the later one reachable.
  assert.deepEqual(unreachable({ name: 'a', ...match, deny: true }, { name: 'b', ...match, paths: ['/apix/'], public: true }), []);
  assert.deepEqual(unreachable({ name: 'a', ...match, deny: true }, { name: 'b', ...match, paths: ['/api'], public: true }), []);
  assert.deepEqual(unreachable({ name: 'a', ...match, deny: true }, { name: 'b', ...match, methods: undefined, public: true }), []);
  assert.deepEqual(unreachable({ name: 'a', ...match, networks: ['10.0.0.0/8'], deny: true }, { name: 'b', ...match, public: true }), []);
  assert.deepEqual(
    unreachable(
      { name: 'a', ...match, hosts: ['a.example.org:8443'], deny: true },
      { name: 'b', ...match, hosts: ['a.example.org'], public: true },
    ),
    [],
  );
  assert.deepEqual(unreachable({ name: 'a', ...match, hosts: ['a.example.org'], deny: true }, { name: 'b', ...match, public: true }), []);
  assert.deepEqual(
    unreachable({ name: 'a', hosts: ['*.example.org'], deny: true }, { name: 'b', hosts: ['example.org'], public: true }),
    [],
  );
});

test('unreachable-rule is near-linear: 20,000 apps on their own hosts lint in under 4 s (about 0.15 s here; the quadratic walk took 39 s)', () => {
  const apps = Array.from({ length: 20_000 }, (_, i) => ({
    name: `app-${i}`,
    hosts: [`app-${i}.example.org`],
    allow: { anyUser: true as const },
  }));
  const config = configSchema.parse(withApps(...apps));
  const started = performance.now();
  const lints = lintConfig(config, { fromFile: true });
  const ms = performance.now() - started;
  assert.deepEqual(
    lints.filter((l) => l.code === 'unreachable-rule'),
    [],
  );
  // The pairwise walk took 39 s for these 20,000 apps on this machine; the indexed one is linear. A loose
  // bound that a loaded machine still meets.
  assert.ok(ms < 4000, `lint took ${ms.toFixed(0)} ms`);
});

test('portal-host-protected: an app without paths on the portal host loops sign-in', () => {
  assert.deepEqual(
    only(
      'portal-host-protected',
      withApps(
        { name: 'site', hosts: ['www.example.org'], public: true },
        { name: 'everything', hosts: ['www.example.org', '*.example.org'], allow: { anyUser: true } },
      ),
    ),
    [
      {
        severity: 'error',
        path: 'apps[1].hosts[1]',
        code: 'portal-host-protected',
        message:
          'the portal host auth.example.org is protected by apps[1]; the sign-in pages would loop (give the app paths, or serve the portal on its own host)',
      },
    ],
  );
  assert.equal(only('portal-host-protected', withApps({ name: 'x', hosts: ['auth.example.org'], deny: true })).length, 1);
  // a port in the pattern must match the portal's port
  assert.equal(only('portal-host-protected', withApps({ name: 'x', hosts: ['auth.example.org:443'], deny: true })).length, 1);
  assert.deepEqual(only('portal-host-protected', withApps({ name: 'x', hosts: ['auth.example.org:8443'], deny: true })), []);
  // not matched on a label boundary, public, with paths, or in reverse-proxy mode (Gatehouse routes /oauth2/* itself)
  assert.deepEqual(
    only(
      'portal-host-protected',
      withApps(
        { name: 'a', hosts: ['*.auth.example.org', 'xauth.example.org'], allow: { anyUser: true } },
        { name: 'b', hosts: ['auth.example.org'], public: true },
        { name: 'c', hosts: ['auth.example.org'], paths: ['/admin/'], allow: { groups: ['admins'] } },
        { name: 'd', hosts: ['auth.example.org'], allow: { anyUser: true }, upstream: 'http://10.0.0.5:8080' },
      ),
    ),
    [],
  );
  // a portal under a path shares its host: the gate passes everything under the path
  const shared = {
    ...withApps({ name: 'site', hosts: ['auth.example.org'], allow: { anyUser: true } }),
    publicUrl: 'https://auth.example.org/auth',
  };
  assert.deepEqual(only('portal-host-protected', shared), []);
});

test('upstream-loop: an upstream at the portal host or at our own listen address', () => {
  assert.deepEqual(
    only(
      'upstream-loop',
      withApps({ name: 'a', hosts: ['a.example.org'], allow: { anyUser: true }, upstream: 'https://auth.example.org/app' }),
    ),
    [
      {
        severity: 'error',
        path: 'apps[0].upstream',
        code: 'upstream-loop',
        message: 'points at the portal host auth.example.org; Gatehouse would proxy to itself',
      },
    ],
  );
  assert.deepEqual(
    only('upstream-loop', withApps({ name: 'a', hosts: ['a.example.org'], allow: { anyUser: true }, upstream: 'http://localhost:4180' })),
    [
      {
        severity: 'error',
        path: 'apps[0].upstream',
        code: 'upstream-loop',
        message: "points at Gatehouse's own listen address 127.0.0.1:4180; Gatehouse would proxy to itself",
      },
    ],
  );
  assert.deepEqual(
    only('upstream-loop', withApps({ name: 'a', hosts: ['a.example.org'], allow: { anyUser: true }, upstream: 'http://127.0.0.1:3000' })),
    [],
  );
  assert.deepEqual(
    only(
      'upstream-loop',
      withApps({ name: 'a', hosts: ['a.example.org'], allow: { anyUser: true }, upstream: 'http://grafana.monitoring:3000' }),
    ),
    [],
  );
});

test('host-outside-domains: only when domains are configured', () => {
  assert.deepEqual(
    lint(
      withApps({
        name: 'a',
        hosts: ['grafana.example.org', 'grafana.example.net:8443', '*.apps.example.org', 'notexample.org'],
        allow: { anyUser: true },
      }),
    ),
    [
      {
        severity: 'warning',
        path: 'apps[0].hosts[1]',
        code: 'host-outside-domains',
        message: 'grafana.example.net is not under any domains[] entry; redirects back to it after sign-in will be refused',
      },
      {
        severity: 'warning',
        path: 'apps[0].hosts[3]',
        code: 'host-outside-domains',
        message: 'notexample.org is not under any domains[] entry; redirects back to it after sign-in will be refused',
      },
    ],
  );
  assert.deepEqual(
    only('host-outside-domains', { ...withApps({ name: 'a', hosts: ['grafana.example.net'], allow: { anyUser: true } }), domains: [] }),
    [],
  );
});

test('cookie-domain-public-suffix and cookie-domain-mismatch', () => {
  const domains = (d: NonNullable<ConfigInput['domains']>): ConfigInput => ({ ...base(), apps: [], domains: d });
  assert.deepEqual(
    lint(
      domains([
        { domain: 'example.co.uk', cookieDomain: 'co.uk' },
        { domain: 'me.github.io', cookieDomain: '.github.io' },
        { domain: 'github.io' },
        { domain: 'app.example.org', cookieDomain: 'example.net' },
      ]),
    ),
    [
      {
        severity: 'error',
        path: 'domains[0].cookieDomain',
        code: 'cookie-domain-public-suffix',
        message: 'co.uk is a public suffix: browsers reject cookies for it, and it would share cookies with every site under it',
      },
      {
        severity: 'error',
        path: 'domains[1].cookieDomain',
        code: 'cookie-domain-public-suffix',
        message: 'github.io is a public suffix: browsers reject cookies for it, and it would share cookies with every site under it',
      },
      {
        severity: 'error',
        path: 'domains[2].domain',
        code: 'cookie-domain-public-suffix',
        message: 'github.io is a public suffix: browsers reject cookies for it, and it would share cookies with every site under it',
      },
      {
        severity: 'error',
        path: 'domains[3].cookieDomain',
        code: 'cookie-domain-mismatch',
        message: 'example.net is not app.example.org or a parent of it; browsers reject the cookie',
      },
    ],
  );
  assert.deepEqual(
    lint(
      domains([
        { domain: 'example.co.uk' },
        { domain: 'me.github.io' },
        { domain: 'app.example.org', cookieDomain: '.example.org' },
        { domain: 'localhost' },
        { domain: 'home.internal' },
      ]),
    ),
    [],
  );
});

test('trusted-proxies-everyone', () => {
  assert.deepEqual(only('trusted-proxies-everyone', { ...base(), trustedProxies: ['10.0.0.0/8', '0.0.0.0/0', '::/0'] }), [
    {
      severity: 'warning',
      path: 'trustedProxies[1]',
      code: 'trusted-proxies-everyone',
      message: '0.0.0.0/0 trusts every peer: any client can spoof X-Forwarded-* and X-Original-* headers',
    },
    {
      severity: 'warning',
      path: 'trustedProxies[2]',
      code: 'trusted-proxies-everyone',
      message: '::/0 trusts every peer: any client can spoof X-Forwarded-* and X-Original-* headers',
    },
  ]);
  assert.deepEqual(only('trusted-proxies-everyone', { ...base(), trustedProxies: ['10.0.0.0/8', '::1/128', '192.168.0.10'] }), []);
});

test('trusted-proxies-kind: a range beyond loopback without a kind', () => {
  assert.deepEqual(
    lint({
      ...base(),
      trustedProxies: [
        '10.0.0.0/8',
        '127.0.0.0/8',
        '127.0.0.1',
        '::1/128',
        '::1',
        { cidr: '10.1.0.0/16', kind: 'nginx' },
        { cidr: '10.2.0.0/16', kind: 'forwarded' },
        '128.0.0.0/8',
        '127.0.0.0/7',
      ],
    }),
    [
      {
        severity: 'warning',
        path: 'trustedProxies[0]',
        code: 'trusted-proxies-kind',
        message:
          '10.0.0.0/8 has no kind: Gatehouse reads X-Original-URL when present, else X-Forwarded-*; write { cidr: 10.0.0.0/8, kind: nginx } for nginx and ingress-nginx, or kind: forwarded for Traefik and Caddy',
      },
      {
        severity: 'warning',
        path: 'trustedProxies[7]',
        code: 'trusted-proxies-kind',
        message:
          '128.0.0.0/8 has no kind: Gatehouse reads X-Original-URL when present, else X-Forwarded-*; write { cidr: 128.0.0.0/8, kind: nginx } for nginx and ingress-nginx, or kind: forwarded for Traefik and Caddy',
      },
      {
        severity: 'warning',
        path: 'trustedProxies[8]',
        code: 'trusted-proxies-kind',
        message:
          '127.0.0.0/7 has no kind: Gatehouse reads X-Original-URL when present, else X-Forwarded-*; write { cidr: 127.0.0.0/7, kind: nginx } for nginx and ingress-nginx, or kind: forwarded for Traefik and Caddy',
      },
    ],
  );
  // The default list (loopback) is quiet.
  assert.deepEqual(only('trusted-proxies-kind', base()), []);
});

test('database-url-scheme: never echoes the URL', () => {
  const bad = lint({ ...base(), database: { url: 'mysql://gatehouse:hunter2hunter2@db/gatehouse' } });
  assert.deepEqual(bad, [
    {
      severity: 'error',
      path: 'database.url',
      code: 'database-url-scheme',
      message: 'expected postgres://…, postgresql://… or sqlite:/path',
    },
  ]);
  for (const url of ['postgres://u:p@db/g', 'postgresql://db/g', 'sqlite:/var/lib/gatehouse/db.sqlite', 'sqlite:data/x.db']) {
    assert.deepEqual(lint({ ...base(), database: { url } }), [], url);
  }
});

test('workers-memory-database: more than one worker on sqlite::memory:', () => {
  const message =
    'workers share the store, but each would open its own sqlite::memory: database: use a sqlite: file or PostgreSQL, or workers: 1';
  for (const workers of [2, 'auto'] as const) {
    assert.deepEqual(lint({ ...base(), workers, database: { url: 'sqlite::memory:' } }), [
      { severity: 'error', path: 'workers', code: 'workers-memory-database', message },
    ]);
  }
  assert.deepEqual(lint({ ...base(), workers: 1, database: { url: 'sqlite::memory:' } }), []);
  assert.deepEqual(lint({ ...base(), workers: 4, database: { url: 'sqlite:/var/lib/gatehouse/db.sqlite' } }), []);
  assert.deepEqual(lint({ ...base(), workers: 4 }), []);
});

test('idle-timeout-exceeds-lifetime', () => {
  assert.deepEqual(lint({ ...base(), session: { lifetime: '8h', idleTimeout: '1d' } }), [
    {
      severity: 'warning',
      path: 'session.idleTimeout',
      code: 'idle-timeout-exceeds-lifetime',
      message: 'is longer than session.lifetime, so it never ends a session',
    },
  ]);
  assert.deepEqual(lint({ ...base(), session: { lifetime: '8h', idleTimeout: '8h' } }), []);
});

test('weak-secret: indexed only when several secrets are listed, never shows the secret', () => {
  const msg = 'the secret has about 16 bytes of entropy (read as hex); at least 32 are needed: generate one with `openssl rand -base64 32`';
  assert.deepEqual(lint({ ...base(), secrets: { session: '551c76b5b41fd0ae17d734e1ee351489' } }), [
    { severity: 'error', path: 'secrets.session', code: 'weak-secret', message: msg },
  ]);
  assert.deepEqual(lint({ ...base(), secrets: { session: [SECRET, '551c76b5b41fd0ae17d734e1ee351489'] } }), [
    { severity: 'error', path: 'secrets.session[1]', code: 'weak-secret', message: msg },
  ]);
});

test('connector-open-to-everyone: createAccounts auto with an empty allow', () => {
  const gh = (extra: Record<string, unknown>) =>
    ({ ...base(), connectors: [{ id: 'github', type: 'github', clientId: 'id', clientSecret: 'secret-value', ...extra }] }) as ConfigInput;
  assert.deepEqual(lint(gh({ createAccounts: 'auto' })), [
    {
      severity: 'warning',
      path: 'connectors[0].allow',
      code: 'connector-open-to-everyone',
      message:
        'connector github creates an account for ANY GitHub user who signs in; restrict it with allow (orgs, teams, emailDomains, emails) or use createAccounts: invite',
    },
  ]);
  assert.deepEqual(lint(gh({ createAccounts: 'auto', allow: { orgs: ['acme'] } })), []);
  assert.deepEqual(
    lint(gh({ createAccounts: 'auto', allow: { orgs: [] } })).map((l) => l.code),
    ['connector-open-to-everyone'],
  );
  assert.deepEqual(lint(gh({ createAccounts: 'invite' })), []);
});

test('inline-secret: a client or connector secret not from ${file:}/${env:} warns with its path; unknown provenance (no referencePaths) never warns', () => {
  const input = {
    ...base(),
    clients: [
      { id: 'spa', public: true, redirectUris: ['https://spa.example.org/cb'] },
      { id: 'grafana', secret: 'grafana-secret-0123456789', redirectUris: ['https://grafana.example.org/cb'] },
    ],
    connectors: [{ id: 'github', type: 'github', clientId: 'id', clientSecret: 'upstream-secret' }],
  } as ConfigInput;
  const config = configSchema.parse(input);
  const inline = (referencePaths?: string[]) =>
    lintConfig(config, { fromFile: true, referencePaths }).filter((l) => l.code === 'inline-secret');
  assert.deepEqual(inline([]), [
    {
      severity: 'warning',
      path: 'clients[1].secret',
      code: 'inline-secret',
      message: 'written inline: use ${file:/path} or ${env:NAME}, so the secret is not in the config file',
    },
    {
      severity: 'warning',
      path: 'connectors[0].clientSecret',
      code: 'inline-secret',
      message: 'written inline: use ${file:/path} or ${env:NAME}, so the secret is not in the config file',
    },
  ]);
  assert.deepEqual(
    inline(['clients[1].secret']).map((l) => l.path),
    ['connectors[0].clientSecret'],
  );
  assert.deepEqual(inline(['clients[1].secret', 'connectors[0].clientSecret']), []);
  assert.deepEqual(inline(undefined), []);
  // The message never carries the value.
  for (const l of inline([])) assert.doesNotMatch(l.message, /grafana-secret|upstream-secret/);
});

test('inline-secret through loadConfig: every mix of inline, ${env:} and ${file:} for two clients and a connector warns exactly at the inline ones', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-inline-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const secretFile = join(dir, 'secret');
  await writeFile(secretFile, 'file-secret-0123456789\n');
  const env = { CLIENT_SECRET: 'env-secret-0123456789' };
  const forms = { inline: 'inline-secret-0123456789', env: '${env:CLIENT_SECRET}', file: `\${file:${secretFile}}` } as const;
  const kinds = Object.keys(forms) as (keyof typeof forms)[];
  let n = 0;
  for (const a of kinds)
    for (const b of kinds)
      for (const c of kinds) {
        const path = join(dir, `config-${n++}.yaml`);
        await writeFile(
          path,
          stringify({
            publicUrl: 'https://auth.example.org',
            secrets: { session: SECRET },
            domains: [{ domain: 'example.org' }],
            apps: [{ name: 'grafana', hosts: ['grafana.example.org'], allow: { groups: ['admins'] } }],
            clients: [
              { id: 'one', secret: forms[a], redirectUris: ['https://one.example.org/cb'] },
              { id: 'two', secret: forms[b], redirectUris: ['https://two.example.org/cb'] },
            ],
            connectors: [{ id: 'github', type: 'github', clientId: 'id', clientSecret: forms[c] }],
          }),
        );
        const loaded = await loadConfig({ path, env });
        const expected = [
          a === 'inline' && 'clients[0].secret',
          b === 'inline' && 'clients[1].secret',
          c === 'inline' && 'connectors[0].clientSecret',
        ].filter((p) => p !== false);
        assert.deepEqual(
          loaded.lints.filter((l) => l.code === 'inline-secret').map((l) => l.path),
          expected,
          `${a} ${b} ${c}`,
        );
        assert.deepEqual(
          loaded.lints.filter((l) => l.code !== 'inline-secret'),
          [],
          `${a} ${b} ${c}`,
        );
      }
  assert.equal(n, 27);
});

test("resource-gate-path: a resource under the portal's path on its host, or under /oauth2/ anywhere, is refused; elsewhere it is fine", () => {
  const withResources = (publicUrl: string, resources: string[]): ConfigInput => ({
    ...base(),
    publicUrl,
    resources: resources.map((resource) => ({ resource, scopes: ['mcp:tools'] })),
  });
  const bad = only(
    'resource-gate-path',
    withResources('https://www.example.org/auth', [
      'https://www.example.org/auth/mcp',
      'https://www.example.org/auth',
      'https://mcp.example.org/oauth2/x',
      'https://www.example.org/oauth2',
    ]),
  );
  assert.deepEqual(
    bad.map((l) => [l.path, l.severity]),
    [
      ['resources[0].resource', 'error'],
      ['resources[1].resource', 'error'],
      ['resources[2].resource', 'error'],
      ['resources[3].resource', 'error'],
    ],
  );
  assert.match(
    bad[0]?.message ?? '',
    /^https:\/\/www\.example\.org\/auth\/mcp is under a path Gatehouse answers itself \(\/auth\/ on the portal host\)/,
  );
  assert.deepEqual(
    only(
      'resource-gate-path',
      withResources('https://www.example.org/auth', [
        'https://www.example.org/mcp',
        'https://www.example.org/authx/mcp',
        'https://other.example.org/auth/mcp',
      ]),
    ),
    [],
  );
  assert.deepEqual(
    only('resource-gate-path', withResources('https://auth.example.org', ['https://mcp.example.org/mcp', 'https://auth.example.org/mcp'])),
    [],
  );
});

test("rule-portal-path: an app path under the portal's own paths on the portal host is a warning; elsewhere none", () => {
  const input = (publicUrl: string, paths: string[], hosts = ['www.example.org']): ConfigInput => ({
    ...base(),
    publicUrl,
    apps: [{ name: 'adm', hosts, paths, allow: { groups: ['admins'] } }],
  });
  const found = only(
    'rule-portal-path',
    input('https://www.example.org/auth', ['/auth/admin/**', '/auth', '/oauth2/x', '/authors/**', '/admin/**']),
  );
  assert.deepEqual(
    found.map((l) => [l.path, l.severity]),
    [
      ['apps[0].paths[0]', 'warning'],
      ['apps[0].paths[1]', 'warning'],
      ['apps[0].paths[2]', 'warning'],
    ],
  );
  assert.equal(
    found[0]?.message,
    "/auth/admin/** on the portal host www.example.org is the portal's own: forward auth answers it before any rule, so this rule never applies there",
  );
  assert.deepEqual(only('rule-portal-path', input('https://www.example.org/auth', ['/auth/admin/**'], ['app.example.org'])), []);
  assert.deepEqual(only('rule-portal-path', input('https://www.example.org/auth', ['/auth/admin/**'], ['*.example.org'])).length, 1);
});
