// Rule order, as a property: for random rule lists and random users, the first rule whose host,
// path, method and network match decides. A signed-in user its subject refuses is never let
// through by a later rule; the only rule that hands a request on is a deny list (deny without
// allow) that does not name the user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AppConfig, Subject } from '../config/index.ts';
import { compilePolicy, compilePathPattern, hostMatches } from './index.ts';
import type { Identity } from '../core/index.ts';

const DEFAULTS = {
  user: 'X-Auth-Request-User',
  email: 'X-Auth-Request-Email',
  groups: 'X-Auth-Request-Groups',
  preferredUsername: 'X-Auth-Request-Preferred-Username',
};
const HOSTS = ['a.example.org', 'b.example.org', '*.example.org'];
const PATHS = ['/admin', '/admin/', '/public/*', '/api/**', '/'];
const USERS = ['alice', 'bob', 'carol'];
const GROUPS = ['admins', 'dev'];

const subject: fc.Arbitrary<Subject> = fc.oneof(
  fc.constant({ anyUser: true as const }),
  fc.record({ users: fc.subarray(USERS, { minLength: 1 }) }),
  fc.record({ groups: fc.subarray(GROUPS, { minLength: 1 }) }),
  fc.record({ users: fc.subarray(USERS, { minLength: 1 }), groups: fc.subarray(GROUPS, { minLength: 1 }) }),
);

const rule = (i: number): fc.Arbitrary<AppConfig> =>
  fc
    .record({
      hosts: fc.subarray(HOSTS, { minLength: 1 }),
      paths: fc.option(fc.subarray(PATHS, { minLength: 1 }), { nil: undefined }),
      methods: fc.option(
        fc.constantFrom('GET' as const, 'POST' as const).map((m) => [m]),
        { nil: undefined },
      ),
      networks: fc.option(
        fc.constant('10.0.0.0/8').map((n) => [n]),
        { nil: undefined },
      ),
      decision: fc.oneof(
        fc.constant({ public: true as const }),
        fc.constant({ deny: true as const }),
        subject.map((s) => ({ allow: s })),
        subject.map((s) => ({ deny: s })),
      ),
    })
    .map(({ decision, ...facts }) => {
      const app: AppConfig = { name: `r${i}`, hosts: facts.hosts, ...decision };
      if (facts.paths !== undefined) app.paths = facts.paths;
      if (facts.methods !== undefined) app.methods = facts.methods;
      if (facts.networks !== undefined) app.networks = facts.networks;
      return app;
    });

const rules = fc.integer({ min: 1, max: 8 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => rule(i))));
const identity: fc.Arbitrary<Identity> = fc.record({
  username: fc.constantFrom(...USERS, 'dave'),
  email: fc.constant(null),
  emailVerified: fc.constant(false),
  groups: fc.subarray(GROUPS),
});
const request = fc.record({
  host: fc.constantFrom('a.example.org', 'b.example.org', 'c.example.org', 'example.org'),
  path: fc.constantFrom('/admin', '/admin/x', '/public/x', '/public/x/y', '/api/v1/x', '/', '/other'),
  method: fc.constantFrom('GET', 'POST'),
  ip: fc.constantFrom('10.1.2.3', '203.0.113.9'),
});

function factsMatch(app: AppConfig, req: { host: string; path: string; method: string; ip: string }): boolean {
  return (
    app.hosts.some((h) => hostMatches(h, req.host)) &&
    (app.paths === undefined || app.paths.some((p) => compilePathPattern(p)(req.path))) &&
    (app.methods === undefined || (app.methods as string[]).includes(req.method)) &&
    (app.networks === undefined || req.ip.startsWith('10.'))
  );
}

function names(s: Subject, id: Identity): boolean {
  return s.anyUser === true || (s.users ?? []).includes(id.username) || (s.groups ?? []).some((g) => id.groups.includes(g));
}

test("property: a user who fails the first matching rule's subjects is never allowed (and that rule decides)", () => {
  fc.assert(
    fc.property(rules, identity, request, (apps, id, req) => {
      const policy = compilePolicy(apps, DEFAULTS);
      const d = policy.decide(req, id);
      // The deciding rule by the written semantics: the first whose facts match, passing over
      // deny lists that do not name the user.
      const first = apps.findIndex(
        (a) => factsMatch(a, req) && !(a.deny !== undefined && a.deny !== true && a.allow === undefined && !names(a.deny, id)),
      );
      if (first === -1) {
        assert.equal(d.action, 'deny');
        assert.equal(d.ruleIndex, null);
        return;
      }
      const app = apps[first] as AppConfig;
      assert.equal(d.ruleIndex, first, `rule #${first} decides`);
      if (app.allow !== undefined && !names(app.allow, id)) {
        assert.deepEqual([d.action, d.reason], ['deny', `app r${first} does not allow this user`]);
      }
      const expected =
        app.deny === true
          ? 'deny'
          : app.public === true
            ? 'public'
            : app.deny !== undefined
              ? 'deny'
              : names(app.allow as Subject, id)
                ? 'allow'
                : 'deny';
      assert.equal(d.action, expected);
    }),
    { numRuns: 3000 },
  );
});

test('property: anonymous at the first matching rule with a subject is sent to sign in, never to a later public rule', () => {
  fc.assert(
    fc.property(rules, request, (apps, req) => {
      const d = compilePolicy(apps, DEFAULTS).decide(req, null);
      const first = apps.findIndex((a) => factsMatch(a, req));
      if (first === -1) {
        assert.equal(d.ruleIndex, null);
        return;
      }
      const app = apps[first] as AppConfig;
      assert.equal(d.ruleIndex, first);
      assert.equal(d.action, app.deny === true ? 'deny' : app.public === true ? 'public' : 'authenticate');
    }),
    { numRuns: 2000 },
  );
});
