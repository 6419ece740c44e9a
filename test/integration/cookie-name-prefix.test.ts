// session.cookieName with a cookie prefix (RFC 6265bis §4.1.3): `check` accepted "__Host-gh",
// and then every sign-in was a 500, because the session cookie carries a Domain (shared with the
// apps' hosts) and the sign-in cookies a path, which __Host- forbids. A name that cannot work is
// refused by the schema with its path; the names that can work sign in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../src/config/schema.ts';
import { ALICE, baseConfig, PORTAL, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';

const base = { publicUrl: PORTAL, secrets: { session: 'x'.repeat(32) }, domains: [{ domain: 'example.test' }] };

function problems(config: Record<string, unknown>): string[] {
  const r = configSchema.safeParse(config);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

test('a __Host- session cookie name is refused (any case, with or without a path in publicUrl)', () => {
  for (const name of ['__Host-gh', '__host-gh', '__HOST-gatehouse']) {
    for (const publicUrl of [PORTAL, `${PORTAL}/auth`]) {
      const p = problems({ ...base, publicUrl, session: { cookieName: name } });
      assert.equal(p.length, 1, `${name} ${publicUrl}: ${p.join('; ')}`);
      assert.match(p[0] ?? '', /^session\.cookieName: a __Host- name cannot be used/);
    }
  }
});

test('a __Secure- name needs an https publicUrl (http://localhost keeps Secure cookies too)', () => {
  assert.deepEqual(
    problems({
      ...base,
      publicUrl: 'http://auth.example.test',
      domains: [{ domain: 'example.test', allowHttp: true }],
      session: { cookieName: '__Secure-gh' },
    }),
    ['session.cookieName: a __Secure- name needs an https publicUrl: browsers refuse the cookie without Secure'],
  );
  assert.deepEqual(problems({ ...base, session: { cookieName: '__Secure-gh' } }), []);
  assert.deepEqual(
    problems({
      ...base,
      publicUrl: 'http://localhost:4180',
      domains: [{ domain: 'localhost', allowHttp: true }],
      session: { cookieName: '__Secure-gh' },
    }),
    [],
  );
  assert.deepEqual(problems({ ...base, session: { cookieName: 'gh__Host-x' } }), []);
});

test('an accepted prefixed name signs in (no 500): __Secure- with https', async () => {
  for (const publicUrl of [PORTAL]) {
    const inst = await startInstance({
      users: [ALICE],
      config: (dir) => baseConfig(dir, { publicUrl, session: { cookieName: '__Secure-gh' } }),
    });
    try {
      const { value: cookie, res: answer } = await signIn(inst, 'alice');
      assert.ok(cookie, publicUrl);
      assert.ok(
        answer.setCookies.some((c) => c.startsWith('__Secure-gh=') && /; Secure/.test(c)),
        publicUrl,
      );
    } finally {
      await inst.close();
    }
  }
});
