// The edge's sealed cookies (edge/src/seal.ts) under Node's Web Crypto, the same API workerd has.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { b64url, createSealer, fromB64url } from '../../edge/src/seal.ts';

const A = 'k0w0Xw1v0Hq0tq2m3xkZ6v8z1u4b3a2c1d0e9f8g7h6=';
const B = 'Zq8u2Lw5n1YQm0r7t3s9v6x4z2b1c0d9e8f7g6h5i4j=';
const NOW = 1_800_000_000;

describe('edge seal', () => {
  test('round trip: any JSON object payload opens to itself under the same name, purpose and secret', async () => {
    const s = await createSealer([A], 'session');
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(
          fc.string({ maxLength: 8 }).filter((k) => k !== 'exp' && k !== '__proto__'),
          fc.jsonValue({ maxDepth: 2 }),
          { maxKeys: 5 },
        ),
        fc.integer({ min: 1, max: 10_000 }),
        async (payload, ttl) => {
          const p = { ...payload, exp: NOW + ttl };
          const opened = await s.unseal('gatehouse_edge', await s.seal('gatehouse_edge', p), NOW);
          assert.deepEqual(opened, JSON.parse(JSON.stringify(p)));
        },
      ),
      { numRuns: 200 },
    );
  });

  test('any single changed bit makes it unopenable (AES-GCM tag)', async () => {
    const s = await createSealer([A], 'session');
    const sealed = fromB64url(await s.seal('c', { u: 'alice', g: ['staff'], exp: NOW + 60 }))!;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: sealed.length * 8 - 1 }), async (bit) => {
        const t = sealed.slice();
        t[bit >> 3]! ^= 1 << (bit & 7);
        assert.equal(await s.unseal('c', b64url(t), NOW), null);
      }),
      { numRuns: 300 },
    );
  });

  test('bound to the cookie name, the purpose and the secret', async () => {
    const session = await createSealer([A], 'session');
    const login = await createSealer([A], 'login');
    const other = await createSealer([B], 'session');
    const v = await session.seal('gatehouse_edge', { exp: NOW + 60 });
    assert.deepEqual(await session.unseal('gatehouse_edge', v, NOW), { exp: NOW + 60 });
    assert.equal(await session.unseal('gatehouse_edge_login_x', v, NOW), null, 'another cookie name');
    assert.equal(await login.unseal('gatehouse_edge', v, NOW), null, 'a login-state key never opens a session');
    assert.equal(await other.unseal('gatehouse_edge', v, NOW), null, 'another secret');
  });

  test("expiry is the payload's: refused at exp and after, and without a numeric exp", async () => {
    const s = await createSealer([A], 'session');
    const v = await s.seal('c', { exp: NOW + 10 });
    assert.deepEqual(await s.unseal('c', v, NOW + 9), { exp: NOW + 10 });
    assert.equal(await s.unseal('c', v, NOW + 10), null);
    assert.equal(await s.unseal('c', v, NOW + 11), null);
    assert.equal(await s.unseal('c', await s.seal('c', { u: 'a' }), NOW), null);
    assert.equal(await s.unseal('c', await s.seal('c', { exp: String(NOW + 10) }), NOW), null);
  });

  test('rotation: the first secret seals, every listed secret opens, a dropped one no longer does', async () => {
    const old = await createSealer([A], 'session');
    const both = await createSealer([B, A], 'session');
    const onlyNew = await createSealer([B], 'session');
    const v = await old.seal('c', { exp: NOW + 60 });
    assert.deepEqual(await both.unseal('c', v, NOW), { exp: NOW + 60 });
    assert.equal(await onlyNew.unseal('c', v, NOW), null);
    const w = await both.seal('c', { exp: NOW + 60 });
    assert.deepEqual(await onlyNew.unseal('c', w, NOW), { exp: NOW + 60 });
    assert.equal(await old.unseal('c', w, NOW), null);
  });

  test('a fresh IV each time: the same payload never seals to the same value', async () => {
    const s = await createSealer([A], 'session');
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(await s.seal('c', { exp: NOW + 1 }));
    assert.equal(seen.size, 200);
  });

  test('garbage opens to null, never throws', async () => {
    const s = await createSealer([A], 'session');
    for (const v of ['', 'a', '!!!!', 'AQ', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '%00', 'a'.repeat(5000)])
      assert.equal(await s.unseal('c', v, NOW), null, v);
    const good = fromB64url(await s.seal('c', { exp: NOW + 60 }))!;
    good[0] = 2; // another format version
    assert.equal(await s.unseal('c', b64url(good), NOW), null);
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (v) => {
        assert.equal(await s.unseal('c', v, NOW), null);
      }),
      { numRuns: 200 },
    );
  });

  test('a secret shorter than 32 characters, none, or too many are refused, naming the binding', async () => {
    await assert.rejects(createSealer(['short'], 'session'), {
      message: 'GATEHOUSE_SESSION_SECRET: secret 1 has 5 characters; use 32 or more (e.g. `openssl rand -base64 32`)',
    });
    await assert.rejects(createSealer([], 'session'), {
      message:
        'GATEHOUSE_SESSION_SECRET: missing; set it with `wrangler secret put GATEHOUSE_SESSION_SECRET` (32 or more random bytes, e.g. `openssl rand -base64 32`)',
    });
    await assert.rejects(createSealer([A, B, A, B, A], 'session'), {
      message: 'GATEHOUSE_SESSION_SECRET: at most 4 secrets (the current one first, then the ones it replaces)',
    });
  });
});
