// DPoP proofs at the gate (RFC 9449 §4.3): proofs built with jose, one good path and every way a
// proof can be wrong, each refused with its own reason; the replay record shared by two checkers
// (two replicas) through one store; htu normalization as a property.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { ManualClock } from '../core/index.ts';
import { accessTokenHash, createDpopChecker, DpopRejected, normalizeHtu, type DpopChecker } from './dpop.ts';

const T0 = Date.UTC(2026, 0, 1);
const URL_ = 'https://mcp.example.test/mcp';
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
const SETTINGS = { enabled: true, algorithms: ['ES256', 'EdDSA', 'Ed25519'], proofLifetimeMs: 60_000 };

interface Key {
  priv: CryptoKey;
  jwk: JWK;
  jkt: string;
  alg: string;
}
async function key(alg = 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { priv: privateKey, jwk, jkt: await calculateJwkThumbprint(jwk), alg };
}

interface ProofOpts {
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  signWith?: CryptoKey;
}
function proof(k: Key, o: ProofOpts = {}): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: randomUUID(),
    htm: 'POST',
    htu: URL_,
    iat: Math.floor(T0 / 1000),
    ath: accessTokenHash(TOKEN),
    ...o.claims,
  };
  for (const [n, v] of Object.entries(claims)) if (v === undefined) delete claims[n];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: k.alg, typ: 'dpop+jwt', jwk: k.jwk, ...o.header } as never)
    .sign(o.signWith ?? k.priv);
}

/** A store's replay record in memory, shared by the checkers given it (the store contract covers the real engines). */
function sharedRecord() {
  const rows = new Map<string, number>();
  return {
    rows,
    once: async (k: string, exp: number, now: number) => {
      const e = rows.get(k);
      if (e !== undefined && e > now) return false;
      rows.set(k, exp);
      return true;
    },
  };
}

function checker(clock: ManualClock, record = sharedRecord(), maxRemembered?: number): DpopChecker {
  return createDpopChecker({ settings: () => SETTINGS, clock, once: record.once, ...(maxRemembered ? { maxRemembered } : {}) });
}

async function rejects(p: Promise<unknown>, reason: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DpopRejected, String(err));
    assert.equal(err.reason, reason);
    return true;
  });
}

describe('DPoP proofs at the gate', () => {
  test('a good proof passes once; the same proof again is a replay', async () => {
    const clock = new ManualClock(T0);
    const c = checker(clock);
    const k = await key();
    const p = await proof(k);
    await c.check(p, { method: 'POST', url: URL_ }, TOKEN, k.jkt);
    await rejects(c.check(p, { method: 'POST', url: URL_ }, TOKEN, k.jkt), 'the DPoP proof jti was used before (replay)');
  });

  test('EdDSA and Ed25519 keys are accepted when listed', async () => {
    const c = checker(new ManualClock(T0));
    for (const alg of ['EdDSA', 'Ed25519']) {
      const k = await key(alg);
      await c.check(await proof(k), { method: 'POST', url: URL_ }, TOKEN, k.jkt);
    }
  });

  test('every wrong proof is refused with its reason', async () => {
    const k = await key();
    const other = await key();
    const rsa = await key('RS256');
    const privateJwk = await exportJWK(k.priv);
    const now = Math.floor(T0 / 1000);
    const cases: [
      string,
      () => Promise<string | string[] | undefined>,
      string,
      { url?: string; method?: string; token?: string; jkt?: string }?,
    ][] = [
      ['no proof', async () => undefined, 'no DPoP proof (a DPoP-bound token needs the DPoP header)'],
      ['two proofs', async () => `${await proof(k)}, ${await proof(k)}`, 'more than one DPoP header'],
      ['two proofs (array)', async () => [await proof(k), await proof(k)], 'more than one DPoP header'],
      ['not a JWS', async () => 'not.a-jws', 'the DPoP proof is not a compact JWS'],
      ['typ JWT', async () => proof(k, { header: { typ: 'JWT' } }), 'the DPoP proof typ is not dpop+jwt'],
      ['alg RS256 (not listed)', async () => proof(rsa), 'the DPoP proof alg is not one of ES256, EdDSA, Ed25519'],
      [
        'alg none',
        async () => {
          const h = Buffer.from(JSON.stringify({ alg: 'none', typ: 'dpop+jwt', jwk: k.jwk })).toString('base64url');
          const b = Buffer.from(JSON.stringify({ jti: 'x', htm: 'POST', htu: URL_, iat: now })).toString('base64url');
          return `${h}.${b}.c2ln`;
        },
        'the DPoP proof alg is not one of ES256, EdDSA, Ed25519',
      ],
      ['no jwk', async () => proof(k, { header: { jwk: undefined } }), 'the DPoP proof has no jwk header'],
      ['private jwk', async () => proof(k, { header: { jwk: privateJwk } }), 'the DPoP proof jwk is not a public key'],
      ['signed by another key', async () => proof(k, { signWith: other.priv }), 'the DPoP proof signature does not verify with its jwk'],
      ['no jti', async () => proof(k, { claims: { jti: undefined } }), 'the DPoP proof jti is missing or not a string'],
      ['wrong htm', async () => proof(k, { claims: { htm: 'GET' } }), 'the DPoP proof htm is not the request method'],
      [
        'wrong htu path',
        async () => proof(k, { claims: { htu: 'https://mcp.example.test/other' } }),
        'the DPoP proof htu is not the request URL',
      ],
      [
        'wrong htu host',
        async () => proof(k, { claims: { htu: 'https://evil.example.test/mcp' } }),
        'the DPoP proof htu is not the request URL',
      ],
      [
        'htu http for https',
        async () => proof(k, { claims: { htu: 'http://mcp.example.test/mcp' } }),
        'the DPoP proof htu is not the request URL',
      ],
      ['no htu', async () => proof(k, { claims: { htu: undefined } }), 'the DPoP proof htu is not the request URL'],
      ['stale iat', async () => proof(k, { claims: { iat: now - 61 } }), 'the DPoP proof iat is outside issuer.dpop.proofLifetime'],
      ['future iat', async () => proof(k, { claims: { iat: now + 61 } }), 'the DPoP proof iat is outside issuer.dpop.proofLifetime'],
      ['no iat', async () => proof(k, { claims: { iat: undefined } }), 'the DPoP proof iat is missing'],
      [
        'wrong ath',
        async () => proof(k, { claims: { ath: accessTokenHash('another-token') } }),
        'the DPoP proof ath is not the hash of the access token',
      ],
      ['no ath', async () => proof(k, { claims: { ath: undefined } }), 'the DPoP proof ath is not the hash of the access token'],
      ['key not the bound one', async () => proof(other), 'the DPoP proof key is not the key the token is bound to (cnf.jkt)'],
    ];
    for (const [name, make, reason, req] of cases) {
      const c = checker(new ManualClock(T0));
      await rejects(
        c.check(await make(), { method: req?.method ?? 'POST', url: req?.url ?? URL_ }, req?.token ?? TOKEN, req?.jkt ?? k.jkt),
        reason,
      ).catch((err: unknown) => {
        throw new Error(`${name}: ${(err as Error).message}`);
      });
    }
  });

  test('iat at either edge of the window (±60 s) passes; 61 s is refused in the table above', async () => {
    const k = await key();
    const now = Math.floor(T0 / 1000);
    await checker(new ManualClock(T0)).check(await proof(k, { claims: { iat: now - 60 } }), { method: 'POST', url: URL_ }, TOKEN, k.jkt);
    await checker(new ManualClock(T0)).check(await proof(k, { claims: { iat: now + 60 } }), { method: 'POST', url: URL_ }, TOKEN, k.jkt);
  });

  test('a replay reaches another replica through the shared record, and is refused there', async () => {
    const record = sharedRecord();
    const a = checker(new ManualClock(T0), record);
    const b = checker(new ManualClock(T0), record);
    const k = await key();
    const p = await proof(k);
    await a.check(p, { method: 'POST', url: URL_ }, TOKEN, k.jkt);
    await rejects(b.check(p, { method: 'POST', url: URL_ }, TOKEN, k.jkt), 'the DPoP proof jti was used before (replay)');
    // Recorded until the proof could no longer pass the iat window.
    const [[rowKey, until]] = [...record.rows.entries()] as [[string, number]];
    assert.equal(
      rowKey,
      createHash('sha256')
        .update(`${k.jkt}\0${(JSON.parse(Buffer.from(p.split('.')[1] ?? '', 'base64url').toString()) as { jti: string }).jti}`)
        .digest('base64url'),
    );
    assert.equal(until, T0 + 60_000 + 1000);
  });

  test('the in-memory front is bounded; a jti it forgot is still refused by the store', async () => {
    const record = sharedRecord();
    const c = checker(new ManualClock(T0), record, 2);
    const k = await key();
    const proofs = [await proof(k), await proof(k), await proof(k)];
    for (const p of proofs) await c.check(p, { method: 'POST', url: URL_ }, TOKEN, k.jkt);
    await rejects(c.check(proofs[0] ?? '', { method: 'POST', url: URL_ }, TOKEN, k.jkt), 'the DPoP proof jti was used before (replay)');
    assert.equal(record.rows.size, 3);
  });

  test('expired proof ids are swept from the store at most once a minute, after an accepted proof', async () => {
    const clock = new ManualClock(T0);
    const sweeps: number[] = [];
    const c = createDpopChecker({
      settings: () => SETTINGS,
      clock,
      once: sharedRecord().once,
      sweep: async (before) => {
        sweeps.push(before);
      },
    });
    const k = await key();
    const at = (ms: number) => proof(k, { claims: { iat: Math.floor(ms / 1000) } });
    await c.check(await at(T0), { method: 'POST', url: URL_ }, TOKEN, k.jkt);
    clock.advance(30_000);
    await c.check(await at(T0 + 30_000), { method: 'POST', url: URL_ }, TOKEN, k.jkt);
    clock.advance(30_000);
    await c.check(await at(T0 + 60_000), { method: 'POST', url: URL_ }, TOKEN, k.jkt);
    assert.deepEqual(sweeps, [T0, T0 + 60_000]);
  });

  test('the request URL is the original one: htu matches after normalization, ignoring query and fragment', async () => {
    const k = await key();
    const pairs: [string, string][] = [
      ['https://MCP.Example.TEST/mcp', 'https://mcp.example.test/mcp'],
      ['HTTPS://mcp.example.test:443/mcp', 'https://mcp.example.test/mcp'],
      ['https://mcp.example.test/a/../mcp', 'https://mcp.example.test/mcp?x=1'],
      ['https://mcp.example.test/%7Euser', 'https://mcp.example.test/~user'],
      ['https://mcp.example.test/a%2fb', 'https://mcp.example.test/a%2Fb'],
      ['https://mcp.example.test/mcp#frag', 'https://mcp.example.test/mcp'],
    ];
    for (const [htu, url] of pairs) {
      await checker(new ManualClock(T0)).check(await proof(k, { claims: { htu } }), { method: 'POST', url }, TOKEN, k.jkt);
    }
    // An encoded slash is not a slash; another port is another URL.
    await rejects(
      checker(new ManualClock(T0)).check(
        await proof(k, { claims: { htu: 'https://mcp.example.test/a%2Fb' } }),
        { method: 'POST', url: 'https://mcp.example.test/a/b' },
        TOKEN,
        k.jkt,
      ),
      'the DPoP proof htu is not the request URL',
    );
    await rejects(
      checker(new ManualClock(T0)).check(
        await proof(k, { claims: { htu: 'https://mcp.example.test:8443/mcp' } }),
        { method: 'POST', url: URL_ },
        TOKEN,
        k.jkt,
      ),
      'the DPoP proof htu is not the request URL',
    );
  });

  test('generated: a proof passes exactly when htm is the method and htu the URL (after normalization); every refusal names htm or htu', async () => {
    const k = await key();
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH');
    const seg = fc.constantFrom('mcp', 'MCP', 'a', '%7Ea', '~a', '.', '..', 'x%2Fy');
    const urlOf = (segs: string[], q: string) => `https://mcp.example.test/${segs.join('/')}${q}`;
    await fc.assert(
      fc.asyncProperty(
        method,
        method,
        fc.array(seg, { maxLength: 3 }),
        fc.array(seg, { maxLength: 3 }),
        fc.constantFrom('', '?a=1', '#f'),
        async (m1, m2, s1, s2, q) => {
          const c = checker(new ManualClock(T0));
          const htu = urlOf(s1, q);
          const url = urlOf(s2, '');
          const p = await proof(k, { claims: { htm: m1, htu } });
          const should = m1 === m2 && normalizeHtu(htu) === normalizeHtu(url);
          try {
            await c.check(p, { method: m2, url }, TOKEN, k.jkt);
            assert.ok(should, `passed: ${m1} ${htu} for ${m2} ${url}`);
          } catch (err) {
            if (!(err instanceof DpopRejected)) throw err;
            assert.ok(!should, `refused: ${m1} ${htu} for ${m2} ${url}: ${err.reason}`);
            assert.ok(/htm|htu/.test(err.reason), err.reason);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  test('normalizeHtu: idempotent, query/fragment-blind, case-blind in scheme and host (generated)', () => {
    const seg = fc.stringMatching(/^[A-Za-z0-9._~-]{1,8}$/);
    fc.assert(
      fc.property(
        fc.constantFrom('http', 'https'),
        fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
        fc.array(seg, { maxLength: 4 }),
        fc.string({ maxLength: 10 }),
        (scheme, host, segs, q) => {
          const base = `${scheme}://${host}.example/${segs.join('/')}`;
          const n = normalizeHtu(base);
          assert.notEqual(n, null);
          assert.equal(normalizeHtu(n ?? ''), n);
          assert.equal(normalizeHtu(`${base}?${encodeURIComponent(q)}#${encodeURIComponent(q)}`), n);
          assert.equal(normalizeHtu(`${scheme.toUpperCase()}://${host.toUpperCase()}.EXAMPLE/${segs.join('/')}`), n);
        },
      ),
    );
    assert.equal(normalizeHtu('ftp://x.example/'), null);
    assert.equal(normalizeHtu('https://user:pw@x.example/'), null);
    assert.equal(normalizeHtu('not a url'), null);
  });
});
