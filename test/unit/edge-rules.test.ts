// The edge's rules (edge/src/rules.ts): Gatehouse's path normalization and patterns (checked
// against src/policy itself), its rule semantics, and what the edge adds: case-insensitive
// paths and every name the asset server gives one file.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { assetAliases, compilePattern, compilePolicy, normalizePath, ruleProblems, type Identity, type Rule } from '../../edge/src/rules.ts';
import { normalizePath as gateNormalize } from '../../src/policy/path.ts';
import { compilePathPattern as gatePattern } from '../../src/policy/pattern.ts';

const alice: Identity = { sub: '1', username: 'Alice', email: 'alice@example.org', groups: ['staff'] };
const bob: Identity = { sub: '2', username: 'bob', email: null, groups: ['outsiders'] };
const carol: Identity = { sub: '3', username: 'carol', email: 'carol@corp.example', groups: ['admins'] };

const pieces = ['/', '/', '.', '..', '%2e', '%2E', '%2f', '%2F', '%5c', '\\', 'a', 'B', 'secret', '.html', 'index', '%73', '%', '%25', '%00', '?', '#', ';', ' ', 'é', '%c3%a9', '%ff'];
const rawPath = fc.array(fc.constantFrom(...pieces), { maxLength: 10 }).map((xs) => xs.join(''));

describe('edge rules: the same normalization and patterns as the gate', () => {
  test('normalizePath is src/policy/path.ts\'s, lowercased (generated paths)', () => {
    fc.assert(fc.property(rawPath, (p) => {
      const gate = gateNormalize(p);
      const edge = normalizePath(p);
      assert.equal(edge.ok, gate.ok, p);
      if (gate.ok) assert.equal(edge.path, gate.path.toLowerCase(), p);
    }), { numRuns: 3000 });
  });

  test('patterns match as src/policy/pattern.ts\'s on lowercase paths (generated patterns and paths)', () => {
    const seg = fc.constantFrom('a', 'b', 'api', 'x.png', '*', '**', '');
    const pattern = fc.array(seg, { minLength: 1, maxLength: 4 }).map((xs) => `/${xs.join('/')}`);
    const path = fc.array(fc.constantFrom('a', 'b', 'api', 'x.png', 'c', ''), { maxLength: 5 }).map((xs) => `/${xs.join('/')}`);
    fc.assert(fc.property(pattern, path, (pt, p) => {
      assert.equal(compilePattern(pt)(p), gatePattern(pt)(p), `${pt} vs ${p}`);
    }), { numRuns: 3000 });
  });

  test('the exact form "=/path" (edge only) matches that path alone', () => {
    const m = compilePattern('=/');
    assert.deepEqual(['/', '/index.html', '/a', '//'].map(m), [true, false, false, false]);
    assert.equal(compilePattern('=/Docs/A.html')('/docs/a.html'), true);
  });
});

describe('edge rules: decisions', () => {
  test('Gatehouse\'s steps: deny:true before public, anonymous -> authenticate, allow, the first matching rule decides (no fall-through past an allow), deny subject, a deny list passes others on, default deny, methods', () => {
    const rules: Rule[] = [
      { name: 'closed', paths: ['/closed'], public: true, deny: true },
      { name: 'health', paths: ['/health'], methods: ['GET'], public: true },
      { name: 'admin', paths: ['/admin'], allow: { groups: ['admins'] } },
      { name: 'admin-fallback', paths: ['/admin'], allow: { anyUser: true } },
      { name: 'nobody', paths: ['/empty'] },
      { name: 'no-eve', paths: ['/members'], deny: { users: ['eve'] } },
      { name: 'members', paths: ['/members', '/empty'], allow: { groups: ['staff'], users: ['CAROL'] }, deny: { users: ['alice'] } },
      { name: 'mail', paths: ['/mail'], allow: { emailDomains: ['corp.example'] } },
    ];
    const p = compilePolicy(rules);
    const d = (m: string, path: string, id: Identity | null) => { const x = p.decide(m, path, id); return `${x.action}:${x.rule}`; };
    assert.equal(d('GET', '/closed', null), 'deny:closed');
    assert.equal(d('GET', '/health', null), 'public:health');
    assert.equal(d('POST', '/health', null), 'deny:null');
    assert.equal(d('GET', '/admin/x', null), 'authenticate:admin');
    assert.equal(d('GET', '/admin/x', carol), 'allow:admin');
    assert.equal(d('GET', '/admin/x', alice), 'deny:admin', 'a later rule never rescues what the first matching rule refused');
    assert.equal(d('GET', '/members', bob), 'deny:members');
    assert.equal(d('GET', '/members', { ...carol, username: 'eve' }), 'deny:no-eve');
    assert.equal(d('GET', '/members', alice), 'deny:members', 'deny subject before allow within a rule');
    assert.equal(d('GET', '/members', carol), 'allow:members', 'users compare case-insensitively');
    assert.equal(d('GET', '/empty', null), 'deny:nobody', 'a rule without public, allow or deny fails closed');
    assert.equal(d('GET', '/mail', carol), 'allow:mail');
    assert.equal(d('GET', '/mail', { ...carol, email: null }), 'deny:mail', 'only a verified email counts (the session keeps it only then)');
    assert.equal(d('GET', '/elsewhere', carol), 'deny:null');
    assert.equal(p.decide('GET', '/a/%2e%2e%2fadmin', null).rule, 'admin');
    assert.deepEqual(p.decide('GET', '/x%252e', null), { action: 'deny', rule: null, reason: 'malformed path' });
  });

  test('a name no rule mentions does not make its file stricter: public /health stays public though /health.html matches nothing', () => {
    const p = compilePolicy([{ paths: ['/health'], public: true }]);
    assert.equal(p.decide('GET', '/health', null).action, 'public');
    assert.equal(p.decide('GET', '/health.html', null).action, 'deny');
  });

  test('every name of a file is decided, the strictest wins: a rule for /secret covers /secret.html, /secret/ and /secret/index.html', () => {
    // Gatehouse's semantics: the first matching rule decides, so a protected area followed by a
    // public catch-all stays protected for a signed-in user its allow does not name.
    const p = compilePolicy([{ paths: ['/secret', '/docs/'], allow: { groups: ['staff'] } }, { public: true }]);
    assert.equal(p.decide('GET', '/secret', bob).action, 'deny');
    for (const path of ['/secret', '/secret.html', '/secret/', '/secret/index.html', '/SECRET.HTML', '/%73ecret.html', '//secret', '/a/../secret.html']) {
      assert.equal(p.decide('GET', path, null).action, 'authenticate', path);
      assert.equal(p.decide('GET', path, bob).action, 'deny', path);
      assert.equal(p.decide('GET', path, alice).action, 'allow', path);
    }
    // /docs/ is a prefix, and /docs and /docs.html are names of the file /docs/ may serve.
    for (const path of ['/docs/index.html', '/docs', '/docs.html']) assert.equal(p.decide('GET', path, null).action, 'authenticate', path);
    assert.equal(p.decide('GET', '/docsx', null).action, 'public');
    assert.equal(p.decide('GET', '/', null).action, 'public');
  });

  test('property: a protected name is never public under another of its names (generated names and rules)', () => {
    const name = fc.array(fc.constantFrom('a', 'b', 'secret', 'x'), { minLength: 1, maxLength: 3 }).map((xs) => `/${xs.join('/')}`);
    fc.assert(fc.property(name, fc.constantFrom('', '.html', '/', '/index.html'), fc.constantFrom('', '.html', '/', '/index.html'), (base, s1, s2) => {
      const p = compilePolicy([{ paths: [`=${base}${s1}`], allow: { groups: ['staff'] } }, { paths: [`=${base}${s1}`], deny: true }, { public: true }]);
      const protectedName = `${base}${s1}`;
      const other = `${base}${s2}`;
      // If the asset server could serve `other` as the same file as `protectedName`, it is not public.
      if (assetAliases(normalizePath(other).path).includes(normalizePath(protectedName).path)) {
        assert.equal(p.decide('GET', other, null).action, 'authenticate', `${other} opens ${protectedName}`);
        assert.equal(p.decide('GET', other, bob).action, 'deny', `${other} opens ${protectedName} to bob`);
      }
    }), { numRuns: 1000 });
  });

  test('assetAliases: the names Cloudflare\'s html_handling modes give one file', () => {
    assert.deepEqual(assetAliases('/secret'), ['/secret', '/secret.html', '/secret/', '/secret/index.html']);
    assert.deepEqual(assetAliases('/secret.html'), ['/secret.html', '/secret', '/secret/']);
    assert.deepEqual(assetAliases('/secret/'), ['/secret/', '/secret/index.html', '/secret', '/secret.html']);
    assert.deepEqual(assetAliases('/secret/index.html'), ['/secret/index.html', '/secret/', '/secret']);
    assert.deepEqual(assetAliases('/'), ['/', '/index.html']);
    assert.deepEqual(assetAliases('/index.html'), ['/index.html', '/']);
    assert.deepEqual(assetAliases('/.html'), ['/.html']);
  });

  test('ruleProblems names each problem\'s path; compilePolicy refuses them all at once', () => {
    const bad = [
      { paths: ['secret', '=/a*'], public: 'yes' },
      { allow: { group: ['x'] }, methods: ['get'] },
      { public: true, allow: { users: ['a'] } },
      'x',
    ];
    const expected = [
      'rules[0].paths: "secret" must start with "/" (or "=/" for one exact path, without "*"), without query, fragment or whitespace',
      'rules[0].paths: "=/a*" must start with "/" (or "=/" for one exact path, without "*"), without query, fragment or whitespace',
      'rules[0].public: expected true',
      'rules[1].methods: "get" is not an upper-case method',
      'rules[1].allow.group: unknown key',
      'rules[2]: public and allow together; a public rule admits everyone',
      'rules[3]: expected an object',
    ];
    assert.deepEqual(ruleProblems(bad), expected);
    assert.throws(() => compilePolicy(bad as Rule[]), { message: expected.join('; ') });
    assert.deepEqual(ruleProblems({}), ['rules: expected an array of rules']);
  });
});
