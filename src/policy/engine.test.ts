import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AppConfig } from '../config/index.ts';
import { GatehouseError, type Identity } from '../core/index.ts';
import { compilePolicy, explain, hostMatches, compilePathPattern } from './index.ts';
import type { Decision } from './index.ts';

const DEFAULTS = {
  user: 'X-Auth-Request-User',
  email: 'X-Auth-Request-Email',
  groups: 'X-Auth-Request-Groups',
  preferredUsername: 'X-Auth-Request-Preferred-Username',
};
const GRAFANA_HEADERS = {
  user: 'X-WEBAUTH-USER',
  email: 'X-WEBAUTH-EMAIL',
  groups: 'X-WEBAUTH-GROUPS',
  preferredUsername: 'X-WEBAUTH-NAME',
};

const apps: AppConfig[] = [
  { name: 'blocked', hosts: ['grafana.example.org', 'wiki.example.org'], deny: { users: ['mallory'] } },
  { name: 'grafana', hosts: ['grafana.example.org'], allow: { groups: ['admins'] }, headers: GRAFANA_HEADERS },
  { name: 'viewers', hosts: ['viewers.example.org'], methods: ['GET', 'HEAD'], allow: { emailDomains: ['corp.com'] } },
  { name: 'internal', hosts: ['*.example.org'], networks: ['10.0.0.0/8', 'fd00::/8'], allow: { anyUser: true } },
  { name: 'off', hosts: ['off.example.net'], deny: true },
  { name: 'wiki', hosts: ['wiki.example.org'], allow: { emails: ['Bob@Corp.com'], users: ['Alice'] }, upstream: 'http://wiki.svc:8080' },
  { name: 'noop', hosts: ['noop.example.net'] },
  { name: 'mixed', hosts: ['mixed.example.net'], allow: { anyUser: true }, deny: { groups: ['contractors'] } },
  { name: 'contradiction', hosts: ['both.example.net'], public: true, deny: true },
];
const policy = compilePolicy(apps, DEFAULTS);

const OUTSIDE = '203.0.113.9';
const id = (username: string, more: Partial<Identity> = {}): Identity => ({
  username,
  email: null,
  emailVerified: false,
  groups: [],
  ...more,
});
const get = (host: string, path = '/', ip = OUTSIDE, method = 'GET') => ({ host, path, method, ip });
const pick = (d: Decision) => [d.action, d.app, d.ruleIndex, d.reason];

test('default deny: exact decision, for anonymous and signed-in alike', () => {
  const expected = {
    action: 'deny',
    app: null,
    ruleIndex: null,
    reason: 'no rule matched (default deny)',
    headers: null,
    upstream: null,
    factors: null,
  };
  assert.deepEqual({ ...policy.decide(get('unknown.example.com'), null) }, expected);
  assert.deepEqual({ ...policy.decide(get('unknown.example.com'), id('alice', { groups: ['admins'] })) }, expected);
});

test('the first rule whose facts match decides: a signed-in user its subject refuses gets 403 from it, never a later rule', () => {
  // grafana (#1) allows admins; internal (#3, *.example.org from 10/8) allows anyone: eve from
  // 10.1.1.1 is refused by grafana, and internal never sees her.
  const refused = ['deny', 'grafana', 1, 'app grafana does not allow this user'];
  assert.deepEqual(pick(policy.decide(get('grafana.example.org'), id('eve'))), refused);
  assert.deepEqual(pick(policy.decide(get('grafana.example.org', '/', '10.1.1.1'), id('eve'))), refused);
  assert.deepEqual(policy.decide(get('grafana.example.org'), id('eve')).headers, GRAFANA_HEADERS);
  // Another host under the wildcard reaches internal.
  assert.deepEqual(pick(policy.decide(get('other.example.org', '/', '10.1.1.1'), id('eve'))), [
    'allow',
    'internal',
    3,
    'app internal allows this user',
  ]);
  // The README's shape: an admins-only app before an anyUser catch-all on the same host.
  const readme = compilePolicy(
    [
      { name: 'admin-area', hosts: ['app.example.org'], paths: ['/admin'], allow: { groups: ['admins'] } },
      { name: 'everyone', hosts: ['app.example.org'], allow: { anyUser: true } },
    ],
    DEFAULTS,
  );
  assert.deepEqual(pick(readme.decide(get('app.example.org', '/admin/users'), id('bob'))), [
    'deny',
    'admin-area',
    0,
    'app admin-area does not allow this user',
  ]);
  assert.deepEqual(pick(readme.decide(get('app.example.org', '/admin/users'), id('root', { groups: ['admins'] }))), [
    'allow',
    'admin-area',
    0,
    'app admin-area allows this user',
  ]);
  assert.deepEqual(pick(readme.decide(get('app.example.org', '/home'), id('bob'))), [
    'allow',
    'everyone',
    1,
    'app everyone allows this user',
  ]);
  assert.deepEqual(pick(readme.decide(get('app.example.org', '/admin'), null)), [
    'authenticate',
    'admin-area',
    0,
    'app admin-area requires sign-in',
  ]);
});

test('a deny list is the one explicit fall-through: it refuses its subjects and hands everyone else on', () => {
  assert.deepEqual(pick(policy.decide(get('wiki.example.org'), id('mallory'))), ['deny', 'blocked', 0, 'app blocked denies this user']);
  assert.deepEqual(pick(policy.decide(get('wiki.example.org'), id('alice'))), ['allow', 'wiki', 5, 'app wiki allows this user']);
});

test('malformed path is denied before any rule', () => {
  for (const path of ['/a%00', '/%zz', '/a%252e%252e/', 'noslash']) {
    assert.deepEqual(
      { ...policy.decide(get('off.example.net', path), null) },
      { action: 'deny', app: null, ruleIndex: null, reason: 'malformed path', headers: null, upstream: null, factors: null },
      path,
    );
  }
});

test('first match wins: an earlier deny subject beats a later allow', () => {
  const mallory = id('mallory', { groups: ['admins'] });
  assert.deepEqual(pick(policy.decide(get('grafana.example.org'), mallory)), ['deny', 'blocked', 0, 'app blocked denies this user']);
  const alice = id('alice', { groups: ['admins'] });
  const d = policy.decide(get('grafana.example.org'), alice);
  assert.deepEqual(pick(d), ['allow', 'grafana', 1, 'app grafana allows this user']);
  assert.deepEqual(d.headers, GRAFANA_HEADERS);
  assert.equal(d.upstream, null);
});

test('anonymous and a matching rule with a subject: authenticate at the first such rule', () => {
  assert.deepEqual(pick(policy.decide(get('grafana.example.org'), null)), ['authenticate', 'blocked', 0, 'app blocked requires sign-in']);
  assert.deepEqual(pick(policy.decide(get('mixed.example.net'), null)), ['authenticate', 'mixed', 7, 'app mixed requires sign-in']);
  // A rule whose facts do not match (network) does not ask for sign-in: default deny.
  assert.deepEqual(pick(policy.decide(get('other.example.org'), null)), ['deny', null, null, 'no rule matched (default deny)']);
  assert.deepEqual(pick(policy.decide(get('other.example.org', '/', '10.1.1.1'), null)), [
    'authenticate',
    'internal',
    3,
    'app internal requires sign-in',
  ]);
});

test('deny: true denies even anonymous; it wins over public in the same rule', () => {
  assert.deepEqual(pick(policy.decide(get('off.example.net'), null)), ['deny', 'off', 4, 'app off denies everyone']);
  assert.deepEqual(pick(policy.decide(get('off.example.net'), id('alice', { groups: ['admins'] }))), [
    'deny',
    'off',
    4,
    'app off denies everyone',
  ]);
  assert.deepEqual(pick(policy.decide(get('both.example.net'), null)), ['deny', 'contradiction', 8, 'app contradiction denies everyone']);
});

test('a rule with neither public, allow nor deny fails closed (check refuses it as app-decision)', () => {
  assert.deepEqual(pick(policy.decide(get('noop.example.net'), null)), ['deny', 'noop', 6, 'app noop has no public, allow or deny']);
  assert.deepEqual(pick(policy.decide(get('noop.example.net'), id('alice'))), ['deny', 'noop', 6, 'app noop has no public, allow or deny']);
});

test('deny subject before allow subject within one rule', () => {
  assert.deepEqual(pick(policy.decide(get('mixed.example.net'), id('carol', { groups: ['contractors'] }))), [
    'deny',
    'mixed',
    7,
    'app mixed denies this user',
  ]);
  assert.deepEqual(pick(policy.decide(get('mixed.example.net'), id('dave'))), ['allow', 'mixed', 7, 'app mixed allows this user']);
});

test('subjects: email domains need a verified address with exactly one "@" and the exact domain', () => {
  const decide = (email: string, emailVerified = true) =>
    pick(policy.decide(get('viewers.example.org'), id('bob', { email, emailVerified })));
  const viewers = ['allow', 'viewers', 2, 'app viewers allows this user'];
  const none = ['deny', 'viewers', 2, 'app viewers does not allow this user'];
  assert.deepEqual(decide('bob@corp.com'), viewers);
  assert.deepEqual(decide('Bob@CORP.COM'), viewers);
  assert.deepEqual(decide('bob@corp.com', false), none, 'unverified');
  assert.deepEqual(decide('a@evil.com@corp.com'), none, 'two @');
  assert.deepEqual(decide('x@sub.corp.com'), none, 'subdomain is not the domain');
  assert.deepEqual(decide('x@evilcorp.com'), none, 'suffix');
  assert.deepEqual(decide('corp.com'), none, 'no @');
  assert.deepEqual(decide('@corp.com'), none, 'empty local part');
  assert.deepEqual(decide('bob@corp.com.'), none, 'trailing dot');
});

test('subjects: emails and users case-insensitive, groups exact', () => {
  const wiki = (who: Identity) => pick(policy.decide(get('wiki.example.org'), who));
  const allowed = ['allow', 'wiki', 5, 'app wiki allows this user'];
  const none = ['deny', 'wiki', 5, 'app wiki does not allow this user'];
  assert.deepEqual(wiki(id('x', { email: 'bob@corp.com', emailVerified: true })), allowed);
  assert.deepEqual(wiki(id('x', { email: 'BOB@corp.COM', emailVerified: true })), allowed);
  assert.deepEqual(wiki(id('x', { email: 'bob@corp.com', emailVerified: false })), none);
  assert.deepEqual(wiki(id('x', { email: 'bob@corp.com@corp.com', emailVerified: true })), none);
  assert.deepEqual(wiki(id('ALICE')), allowed);
  assert.deepEqual(wiki(id('alicex')), none);
  assert.equal(policy.decide(get('wiki.example.org'), id('alice')).upstream, 'http://wiki.svc:8080');
  assert.deepEqual(pick(policy.decide(get('grafana.example.org'), id('x', { groups: ['Admins'] }))), [
    'deny',
    'grafana',
    1,
    'app grafana does not allow this user',
  ]);
});

test('methods and networks are facts; method case is ignored; mapped IPv6 counts as IPv4', () => {
  const bob = id('bob', { email: 'bob@corp.com', emailVerified: true });
  assert.deepEqual(pick(policy.decide(get('viewers.example.org', '/', OUTSIDE, 'POST'), bob)), [
    'deny',
    null,
    null,
    'no rule matched (default deny)',
  ]);
  assert.equal(policy.decide(get('viewers.example.org', '/', OUTSIDE, 'get'), bob).app, 'viewers');
  assert.equal(policy.decide(get('viewers.example.org', '/', '10.2.3.4', 'POST'), bob).app, 'internal');
  assert.equal(policy.decide(get('viewers.example.org', '/', '::ffff:10.2.3.4', 'POST'), bob).app, 'internal');
  assert.equal(policy.decide(get('viewers.example.org', '/', 'fd00::7', 'POST'), bob).app, 'internal');
  assert.equal(policy.decide(get('viewers.example.org', '/', 'fe80::7', 'POST'), bob).app, null);
  // Default headers when the app names none.
  assert.deepEqual(policy.decide(get('viewers.example.org', '/', '10.2.3.4', 'POST'), bob).headers, DEFAULTS);
});

test('host normalization reaches the rules: case, trailing dot, default port', () => {
  const alice = id('alice', { groups: ['admins'] });
  for (const host of ['Grafana.Example.Org', 'grafana.example.org.', 'grafana.example.org:443']) {
    assert.equal(policy.decide(get(host), alice).app, 'grafana', host);
  }
  assert.equal(policy.decide(get('grafana.example.org:8443'), alice).app, 'grafana', 'a pattern without a port matches any port');
  assert.equal(policy.decide(get('grafanaexample.org'), alice).app, null);
});

test('decisions are frozen and shared', () => {
  const a = policy.decide(get('off.example.net'), null);
  assert.equal(Object.isFrozen(a), true);
  assert.equal(a, policy.decide(get('off.example.net', '/x'), null));
});

test('story: public data paths stay open on a protected host (api.kub0.io/adsb/*)', () => {
  const kub0 = compilePolicy(
    [
      { name: 'adsb', hosts: ['api.kub0.io'], paths: ['/adsb/*'], methods: ['GET', 'HEAD'], public: true },
      { name: 'api', hosts: ['api.kub0.io'], allow: { groups: ['admins'] } },
    ],
    DEFAULTS,
  );
  const anon = (path: string, method = 'GET') => pick(kub0.decide(get('api.kub0.io', path, OUTSIDE, method), null));
  const open = ['public', 'adsb', 0, 'app adsb is public'];
  const signIn = ['authenticate', 'api', 1, 'app api requires sign-in'];
  assert.deepEqual(anon('/adsb/flights'), open);
  assert.deepEqual(anon('/adsb/flights?since=/admin'), open);
  assert.deepEqual(anon('/adsb/flights', 'POST'), signIn);
  assert.deepEqual(anon('/adsb/'), signIn);
  assert.deepEqual(anon('/adsb/x/y'), signIn);
  assert.deepEqual(anon('/adsb/../admin'), signIn);
  assert.deepEqual(anon('/adsb/%2e%2e/admin'), signIn);
  assert.deepEqual(anon('/adsb%2F..%2Fadmin'), signIn);
  assert.deepEqual(anon('/adsb/..%5Cadmin'), signIn);
  assert.deepEqual(anon('/admin#/adsb/x'), signIn);
  // Express reads "//adsb//x" as it stands (no route /adsb/*), nginx merges the slashes: the
  // stricter reading decides.
  assert.deepEqual(anon('//adsb//x'), signIn);
  assert.deepEqual(anon('/adsb/%2e%2e'), signIn);
  assert.deepEqual(anon('/adsb/..;/admin'), signIn);
  assert.deepEqual(anon('/ADSB/flights'), signIn);
  assert.deepEqual(anon('/adsb/x%00'), ['deny', null, null, 'malformed path']);
  assert.deepEqual(pick(kub0.decide(get('api.kub0.io', '/admin'), id('root', { groups: ['admins'] }))), [
    'allow',
    'api',
    1,
    'app api allows this user',
  ]);
  assert.deepEqual(pick(kub0.decide(get('api.kub0.io', '/admin'), id('guest'))), ['deny', 'api', 1, 'app api does not allow this user']);
});

test('compilePolicy reports every bad network with its config path', () => {
  assert.throws(
    () =>
      compilePolicy(
        [
          { name: 'a', hosts: ['a.example.org'], networks: ['10.0.0.0/8', '999.0.0.0/8'], public: true },
          { name: 'b', hosts: ['b.example.org'], networks: ['10.0.0.0/40'], public: true },
        ],
        DEFAULTS,
      ),
    (e: unknown) =>
      e instanceof GatehouseError &&
      e.kind === 'config_invalid' &&
      assert.deepEqual(e.problems, [
        'apps[0].networks[1]: expected an IP address or CIDR such as 10.0.0.0/8 or ::1/128',
        'apps[1].networks[0]: expected a prefix length from 0 to 32',
      ]) === undefined,
  );
});

test('the host index never changes which rule wins (compared with a linear walk)', () => {
  const rules: AppConfig[] = [
    { name: 'r0', hosts: ['*.b.example.org'], paths: ['/zero'], public: true },
    { name: 'r1', hosts: ['a.b.example.org', '*.example.org'], paths: ['/one', '/zero'], public: true },
    { name: 'r2', hosts: ['*.example.org'], paths: ['/two', '/one'], deny: true },
    { name: 'r3', hosts: ['x.example.org:8443'], paths: ['/three', '/two'], public: true },
    { name: 'r4', hosts: ['*.example.org:8443'], paths: ['/four', '/three', '/two'], deny: true },
    { name: 'r5', hosts: ['a.b.example.org'], public: true },
    { name: 'r6', hosts: ['*.a.b.example.org'], deny: true },
  ];
  const p = compilePolicy(rules, DEFAULTS);
  const hostsToTry = [
    'a.b.example.org',
    'c.b.example.org',
    'z.a.b.example.org',
    'b.example.org',
    'example.org',
    'x.example.org',
    'x.example.org:8443',
    'y.example.org:8443',
    'A.B.Example.Org.',
    'a.b.example.org:443',
    'evil.com',
    'a..b.example.org',
    '.b.example.org',
  ];
  for (const host of hostsToTry) {
    for (const path of ['/zero', '/one', '/two', '/three', '/four', '/five']) {
      const linear = rules.findIndex(
        (r) => r.hosts.some((h) => hostMatches(h, host)) && (r.paths ?? ['/']).some((pp) => compilePathPattern(pp)(path)),
      );
      assert.equal(p.decide(get(host, path), null).ruleIndex, linear === -1 ? null : linear, `${host} ${path}`);
    }
  }
});

test('explain: decision, rule, request, normalization and every skipped rule, exactly', () => {
  const bob = id('bob', { email: 'bob@corp.com', emailVerified: false, groups: ['dev'] });
  assert.deepEqual(explain(policy, get('wiki.example.org', '/a/../b?x=1', '10.1.1.1', 'POST'), bob), [
    'decision: allow: app internal allows this user',
    'rule: #3 internal',
    'request: POST wiki.example.org /a/../b?x=1 from 10.1.1.1 as bob (email bob@corp.com, unverified; groups: dev)',
    'path: /a/../b?x=1 normalizes to /b',
    'path: backends can read it 2 ways; the strictest decides',
    '  reading /b: allow: app internal allows this user',
    '  reading /a/../b: allow: app internal allows this user',
    'passed rule #0 blocked: its deny list {users: mallory} does not name bob, and a deny list decides nothing for anyone else, so the next rule decides',
    'skipped rule #1 grafana: host wiki.example.org does not match grafana.example.org',
    'skipped rule #2 viewers: host wiki.example.org does not match viewers.example.org',
  ]);
  assert.deepEqual(explain(policy, get('viewers.example.org', '/', OUTSIDE, 'POST'), bob), [
    'decision: deny: no rule matched (default deny)',
    'rule: none',
    `request: POST viewers.example.org / from ${OUTSIDE} as bob (email bob@corp.com, unverified; groups: dev)`,
    'skipped rule #0 blocked: host viewers.example.org does not match grafana.example.org, wiki.example.org',
    'skipped rule #1 grafana: host viewers.example.org does not match grafana.example.org',
    'skipped rule #2 viewers: method POST is not GET, HEAD',
    `skipped rule #3 internal: address ${OUTSIDE} is not in 10.0.0.0/8, fd00::/8`,
    'skipped rule #4 off: host viewers.example.org does not match off.example.net',
    'skipped rule #5 wiki: host viewers.example.org does not match wiki.example.org',
    'skipped rule #6 noop: host viewers.example.org does not match noop.example.net',
    'skipped rule #7 mixed: host viewers.example.org does not match mixed.example.net',
    'skipped rule #8 contradiction: host viewers.example.org does not match both.example.net',
  ]);
  // The first matching rule refuses: explain names it, and no later rule appears.
  assert.deepEqual(explain(policy, get('grafana.example.org', '/', '10.1.1.1'), bob), [
    'decision: deny: app grafana does not allow this user',
    'rule: #1 grafana',
    'request: GET grafana.example.org / from 10.1.1.1 as bob (email bob@corp.com, unverified; groups: dev)',
    'passed rule #0 blocked: its deny list {users: mallory} does not name bob, and a deny list decides nothing for anyone else, so the next rule decides',
  ]);
  assert.deepEqual(
    explain(policy, get('grafana.example.org'), id('bob', { email: 'bob@corp.com', emailVerified: false })).at(3),
    'passed rule #0 blocked: its deny list {users: mallory} does not name bob, and a deny list decides nothing for anyone else, so the next rule decides',
  );
  const byEmail = compilePolicy([{ name: 'x', hosts: ['x.example.org'], deny: { emails: ['bob@corp.com'] } }], DEFAULTS);
  assert.deepEqual(
    explain(byEmail, get('x.example.org'), id('bob', { email: 'bob@corp.com', emailVerified: false })).at(3),
    'passed rule #0 x: its deny list {emails: bob@corp.com} does not name bob (email unverified, so emails and emailDomains do not count), and a deny list decides nothing for anyone else, so the next rule decides',
  );
  assert.deepEqual(explain(policy, get('mixed.example.net'), id('erin', { groups: ['contractors'] })).slice(0, 2), [
    'decision: deny: app mixed denies this user',
    'rule: #7 mixed',
  ]);
  assert.deepEqual(explain(policy, get('noop.example.net'), null).slice(0, 2), [
    'decision: deny: app noop has no public, allow or deny',
    'rule: #6 noop',
  ]);
  assert.deepEqual(explain(policy, get('off.example.net', '/x%00y'), null), [
    'decision: deny: malformed path',
    'rule: none',
    `request: GET off.example.net /x%00y from ${OUTSIDE} as anonymous`,
    'path: "/x%00y" is malformed (bad percent escape, control character or double encoding)',
  ]);
  assert.deepEqual(explain(policy, get('grafana.example.org'), null), [
    'decision: authenticate: app blocked requires sign-in',
    'rule: #0 blocked',
    `request: GET grafana.example.org / from ${OUTSIDE} as anonymous`,
  ]);
  const story = compilePolicy(
    [
      { name: 'adsb', hosts: ['api.kub0.io'], paths: ['/adsb/*'], public: true },
      { name: 'api', hosts: ['api.kub0.io'], allow: { groups: ['admins'] } },
    ],
    DEFAULTS,
  );
  assert.deepEqual(explain(story, get('api.kub0.io', '/adsb/x/y'), null), [
    'decision: authenticate: app api requires sign-in',
    'rule: #1 api',
    `request: GET api.kub0.io /adsb/x/y from ${OUTSIDE} as anonymous`,
    'skipped rule #0 adsb: path /adsb/x/y does not match /adsb/*',
  ]);
  // An ambiguous path: every reading with its decision; the strictest decides.
  assert.deepEqual(explain(story, get('api.kub0.io', '/adsb/..%2Fadmin'), null), [
    'decision: authenticate: app api requires sign-in',
    'rule: #1 api',
    `request: GET api.kub0.io /adsb/..%2Fadmin from ${OUTSIDE} as anonymous`,
    'path: /adsb/..%2Fadmin normalizes to /admin',
    'path: backends can read it 2 ways; the strictest decides',
    '  reading /admin: authenticate: app api requires sign-in',
    '  reading /adsb/..%2Fadmin: public: app adsb is public',
    'skipped rule #0 adsb: path /admin does not match /adsb/*',
  ]);
});

test('candidate rules are kept per host as the request names it: the same decisions for each spelling, and after more hosts than the cache holds', () => {
  const p = compilePolicy(apps, DEFAULTS);
  const admin = id('root', { groups: ['admins'] });
  const expect = (host: string) => {
    assert.deepEqual(pick(p.decide(get(host), admin)), ['allow', 'grafana', 1, 'app grafana allows this user']);
    assert.deepEqual(pick(p.decide(get(host), null))[0], 'authenticate');
  };
  for (const host of [
    'grafana.example.org',
    'GRAFANA.example.org',
    'grafana.example.org.',
    'grafana.example.org:8443',
    'grafana.example.org:80',
  ]) {
    expect(host);
    expect(host);
  }
  // Other hosts (2,000 distinct, past the bound) never change what a host gets.
  for (let i = 0; i < 2000; i++) {
    assert.deepEqual(pick(p.decide(get(`h${i}.example.net`), admin)), ['deny', null, null, 'no rule matched (default deny)']);
    if (i % 500 === 0) expect('grafana.example.org');
  }
  expect('grafana.example.org');
  // A host under the wildcard, from the rule's network.
  assert.deepEqual(pick(p.decide(get('x.y.example.org', '/', '10.1.2.3'), id('anyone'))), [
    'allow',
    'internal',
    3,
    'app internal allows this user',
  ]);
  assert.deepEqual(pick(p.decide(get('x..example.org', '/', '10.1.2.3'), id('anyone'))), [
    'deny',
    null,
    null,
    'no rule matched (default deny)',
  ]);
});
