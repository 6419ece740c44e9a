import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { ManualClock } from '../core/index.ts';
import { accessTokenCredentials, createTokenVerifier, publicVerificationKeys, TokenRejected } from './bearer.ts';

const ISSUER = 'https://auth.example.test';
const MCP = 'https://mcp.example.test/mcp';
const OTHER = 'https://other.example.test/mcp';
const T0 = Date.UTC(2026, 0, 1);

interface Key {
  priv: CryptoKey;
  pub: JWK;
  privJwk: JWK;
  kid: string;
  alg: 'ES256' | 'RS256';
}

async function key(alg: 'ES256' | 'RS256', kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    priv: privateKey,
    pub: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
    privJwk: { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' },
    kid,
    alg,
  };
}

function sign(k: Key, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(T0 / 1000);
  return new SignJWT({
    iss: ISSUER,
    sub: 'user-1',
    aud: MCP,
    client_id: 'client-1',
    scope: 'mcp:tools mcp:read',
    iat: now,
    exp: now + 3600,
    jti: 'j1',
    ...claims,
  })
    .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'at+jwt', ...header })
    .sign(k.priv);
}

async function rejected(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TokenRejected, `expected TokenRejected, got ${String(err)}`);
    return err.reason;
  }
  assert.fail('the token was accepted');
}

async function setup(opts: { maxCached?: number } = {}) {
  const es = await key('ES256', 'es-1');
  const rs = await key('RS256', 'rs-1');
  const clock = new ManualClock(T0);
  let jwks: JSONWebKeySet = { keys: [es.pub, rs.pub] };
  const verifier = createTokenVerifier({ issuer: () => ISSUER, keys: () => jwks, clock, ...opts });
  return {
    es,
    rs,
    clock,
    verifier,
    setKeys: (k: JSONWebKeySet) => {
      jwks = k;
    },
  };
}

test('a valid ES256 and a valid RS256 token verify; claims become the verified token', async () => {
  const { es, rs, verifier } = await setup();
  const t = await verifier.verify(
    await sign(es, { preferred_username: 'alice', groups: ['admins', 'ops'], email: 'alice@example.test', email_verified: true }),
    MCP,
  );
  assert.deepEqual(t, {
    sub: 'user-1',
    username: 'alice',
    email: 'alice@example.test',
    emailVerified: true,
    groups: ['admins', 'ops'],
    scopes: ['mcp:tools', 'mcp:read'],
    clientId: 'client-1',
    exp: T0 + 3_600_000,
    audiences: [MCP],
  });
  const r = await verifier.verify(await sign(rs), MCP);
  assert.deepEqual(r, {
    sub: 'user-1',
    email: null,
    emailVerified: false,
    groups: [],
    scopes: ['mcp:tools', 'mcp:read'],
    clientId: 'client-1',
    exp: T0 + 3_600_000,
    audiences: [MCP],
  });
});

test('typ must be at+jwt (RFC 9068 §4); application/at+jwt is the same type', async () => {
  const { es, verifier } = await setup();
  assert.equal(await rejected(verifier.verify(await sign(es, {}, { typ: 'JWT' }), MCP)), "the token's typ claim is not acceptable");
  assert.equal((await verifier.verify(await sign(es, {}, { typ: 'application/at+jwt' }), MCP)).sub, 'user-1');
});

test('the audience must include the resource: a token for another resource is refused; a multi-audience token serves both', async () => {
  const { es, verifier } = await setup();
  const forOther = await sign(es, { aud: OTHER });
  assert.equal(await rejected(verifier.verify(forOther, MCP)), 'the token is not for this resource (aud)');
  assert.equal((await verifier.verify(forOther, OTHER)).sub, 'user-1');
  // The cached result is checked per audience too.
  assert.equal(await rejected(verifier.verify(forOther, MCP)), 'the token is not for this resource (aud)');
  const both = await sign(es, { aud: [MCP, OTHER] });
  assert.deepEqual((await verifier.verify(both, MCP)).audiences, [MCP, OTHER]);
  assert.equal((await verifier.verify(both, OTHER)).sub, 'user-1');
  // No trailing-slash drift: the aud is compared byte for byte.
  assert.equal(await rejected(verifier.verify(await sign(es, { aud: `${MCP}/` }), MCP)), 'the token is not for this resource (aud)');
});

test('the issuer must match exactly (a trailing slash is another issuer)', async () => {
  const { es, verifier } = await setup();
  assert.equal(await rejected(verifier.verify(await sign(es, { iss: `${ISSUER}/` }), MCP)), "the token's iss claim is not acceptable");
  assert.equal(
    await rejected(verifier.verify(await sign(es, { iss: 'https://evil.example' }), MCP)),
    "the token's iss claim is not acceptable",
  );
});

test("our own issuer's tokens: exp and nbf with no leeway, on the injected clock; a cached token expires too", async () => {
  const { es, clock, verifier } = await setup();
  const now = Math.floor(T0 / 1000);
  const token = await sign(es, { exp: now + 60 });
  assert.equal((await verifier.verify(token, MCP)).sub, 'user-1');
  clock.set(T0 + 59_999);
  assert.equal((await verifier.verify(token, MCP)).sub, 'user-1', 'the last millisecond (from the cache)');
  clock.set(T0 + 60_000);
  assert.equal(await rejected(verifier.verify(token, MCP)), 'the token has expired', 'at exp, from the cache');
  assert.equal(
    await rejected(verifier.verify(await sign(es, { exp: now + 60, jti: 'fresh' }), MCP)),
    'the token has expired',
    'at exp, not from the cache',
  );
  clock.set(T0 + 59_999);
  assert.equal(
    (await verifier.verify(await sign(es, { exp: now + 60, jti: 'fresh-2' }), MCP)).sub,
    'user-1',
    'the last millisecond, not from the cache',
  );
  clock.set(T0);
  assert.equal(await rejected(verifier.verify(await sign(es, { nbf: now + 1 }), MCP)), "the token's nbf claim is not acceptable");
  assert.equal((await verifier.verify(await sign(es, { nbf: now }), MCP)).sub, 'user-1');
});

test("a leeway given explicitly (the trusted issuers' verifier keeps 5 s) still applies", async () => {
  const { es, clock } = await setup();
  const verifier = createTokenVerifier({ issuer: () => ISSUER, keys: () => ({ keys: [es.pub] }), clock, leewaySeconds: 5 });
  const now = Math.floor(T0 / 1000);
  const token = await sign(es, { exp: now + 60 });
  clock.set(T0 + 64_999);
  assert.equal((await verifier.verify(token, MCP)).sub, 'user-1');
  clock.set(T0 + 65_000);
  assert.equal(await rejected(verifier.verify(token, MCP)), 'the token has expired');
});

test('only RS256 and ES256: HS256 and alg none are refused', async () => {
  const { verifier } = await setup();
  const secret = new TextEncoder().encode('a-shared-secret-of-thirty-two-bytes!');
  const hs = await new SignJWT({ iss: ISSUER, sub: 'u', aud: MCP, client_id: 'c', iat: 1, exp: Math.floor(T0 / 1000) + 60 })
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
    .sign(secret);
  assert.equal(await rejected(verifier.verify(hs, MCP)), "the token's algorithm is not RS256 or ES256");
  const payload = Buffer.from(
    JSON.stringify({ iss: ISSUER, sub: 'u', aud: MCP, client_id: 'c', iat: 1, exp: Math.floor(T0 / 1000) + 60 }),
  ).toString('base64url');
  const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${payload}.`;
  assert.equal(await rejected(verifier.verify(none, MCP)), "the token's algorithm is not RS256 or ES256");
});

test('a token signed by a key not in the set, a tampered token and garbage are refused', async () => {
  const { es, verifier } = await setup();
  const stranger = await key('ES256', 'es-1');
  assert.equal(await rejected(verifier.verify(await sign(stranger), MCP)), 'the signature does not verify');
  const unknownKid = await key('ES256', 'es-9');
  assert.equal(await rejected(verifier.verify(await sign(unknownKid), MCP)), 'no current signing key matches the token (kid/alg)');
  const good = await sign(es);
  const [h, p, sig] = good.split('.') as [string, string, string];
  const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), scope: 'admin' })).toString(
    'base64url',
  );
  assert.equal(await rejected(verifier.verify(`${h}.${widened}.${sig}`, MCP)), 'the signature does not verify');
  assert.equal(await rejected(verifier.verify('not-a-jwt', MCP)), 'the token is not a well-formed JWT');
});

test('RFC 9068 §2.2 claims are required: a token without client_id is refused', async () => {
  const { es, verifier } = await setup();
  assert.equal(
    await rejected(verifier.verify(await sign(es, { client_id: undefined }), MCP)),
    "the token's client_id claim is not acceptable",
  );
});

test('key rotation: a new key set empties the cache, so a token of a removed key stops working at once', async () => {
  const { es, rs, verifier, setKeys } = await setup();
  const token = await sign(es);
  assert.equal((await verifier.verify(token, MCP)).sub, 'user-1');
  assert.equal(verifier.cacheSize(), 1);
  setKeys({ keys: [rs.pub] });
  assert.equal(await rejected(verifier.verify(token, MCP)), 'no current signing key matches the token (kid/alg)');
  assert.equal(verifier.cacheSize(), 0);
});

test('private JWKs from the key source are reduced to their public members', async () => {
  const { es, rs, verifier, setKeys } = await setup();
  setKeys({ keys: [es.privJwk, rs.privJwk] });
  assert.equal((await verifier.verify(await sign(es), MCP)).sub, 'user-1');
  assert.equal((await verifier.verify(await sign(rs), MCP)).sub, 'user-1');
  const reduced = publicVerificationKeys({
    keys: [es.privJwk, rs.privJwk, { kty: 'oct', k: 'c2VjcmV0' }, { ...es.pub, alg: 'ES384' }, { ...es.pub, use: 'enc' }],
  });
  assert.deepEqual(
    reduced.keys.map((k) => Object.keys(k).sort()),
    [
      ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'],
      ['alg', 'e', 'kid', 'kty', 'n', 'use'],
    ],
  );
});

test('the cache is bounded', async () => {
  const { es, verifier } = await setup({ maxCached: 2 });
  const a = await sign(es, { jti: 'a' });
  await verifier.verify(a, MCP);
  await verifier.verify(await sign(es, { jti: 'b' }), MCP);
  await verifier.verify(await sign(es, { jti: 'c' }), MCP);
  assert.equal(verifier.cacheSize(), 2);
});

test('unique junk and forged tokens never enter the cache; valid ones past limits.tokenCache stay within it (issue 9)', async () => {
  const { es, verifier } = await setup({ maxCached: 100 });
  const good = await sign(es, { jti: 'good' });
  for (let i = 0; i < 500; i++) {
    await rejected(verifier.verify(`junk.${i}.${'x'.repeat(i % 100)}`, MCP));
    // A real token with its signature changed: well-formed, never cached.
    await rejected(verifier.verify(`${good.slice(0, -6)}${i.toString(36).padStart(6, 'A')}`, MCP));
  }
  assert.equal(verifier.cacheSize(), 0);
  for (let i = 0; i < 300; i++) {
    await verifier.verify(await sign(es, { jti: `t${i}` }), MCP);
    assert.ok(verifier.cacheSize() <= 100);
  }
  assert.equal(verifier.cacheSize(), 100);
});

test('accessTokenCredentials: RFC 6750 §2.1 and RFC 9449 §7.1 syntax', () => {
  const creds = (h: string | undefined) => accessTokenCredentials(h);
  assert.equal(creds(undefined), undefined);
  assert.equal(creds('Basic dXNlcjpwYXNz'), undefined);
  assert.deepEqual(creds('Bearer abc.def-ghi_jkl~+/=='), { scheme: 'bearer', token: 'abc.def-ghi_jkl~+/==' });
  assert.deepEqual(creds('bearer abc'), { scheme: 'bearer', token: 'abc' });
  assert.deepEqual(creds('DPoP abc.def'), { scheme: 'dpop', token: 'abc.def' });
  assert.deepEqual(creds('dpop abc'), { scheme: 'dpop', token: 'abc' });
  for (const malformed of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer a"b', 'Bearer a=b', 'DPoP', 'DPoP ', 'DPoP a b', 'dpop a,b'])
    assert.equal(creds(malformed), null, malformed);
});

test('accessTokenCredentials asks `known` about a Bearer token before its syntax check, never about a DPoP one', () => {
  const asked: string[] = [];
  const known = (t: string) => {
    asked.push(t);
    return false;
  };
  assert.deepEqual(accessTokenCredentials('Bearer abc.def', known), { scheme: 'bearer', token: 'abc.def' });
  assert.equal(accessTokenCredentials('Bearer a b', known), null, 'unknown and malformed');
  assert.deepEqual(accessTokenCredentials('DPoP abc.def', known), { scheme: 'dpop', token: 'abc.def' });
  assert.deepEqual(asked, ['abc.def', 'a b']);
});

test('known: only a token verify accepted, for that audience, unexpired, its subject checked within the interval; new keys forget it', async () => {
  const es = await key('ES256', 'es-1');
  const clock = new ManualClock(T0);
  let jwks: JSONWebKeySet = { keys: [es.pub] };
  let active = true;
  const verifier = createTokenVerifier({
    issuer: () => ISSUER,
    keys: () => jwks,
    clock,
    subjectActive: async () => active,
    subjectCheckMs: 1_000,
  });
  const token = await sign(es);
  assert.equal(verifier.known(token, MCP), undefined, 'never verified');
  const t = await verifier.verify(token, MCP);
  assert.equal(verifier.known(token, MCP), t, 'the same object verify resolved to');
  assert.equal(verifier.known(token, OTHER), undefined, 'another audience');
  assert.equal(verifier.known(`x${token}`, MCP), undefined, 'another string ending the same way');
  clock.advance(1_000);
  assert.equal(verifier.known(token, MCP), undefined, 'the subject is due for its check');
  active = false;
  assert.match(await rejected(verifier.verify(token, MCP)), /disabled or no longer exists/);
  assert.equal(verifier.known(token, MCP), undefined, 'a subject found inactive');
  active = true;
  clock.advance(1_000);
  await verifier.verify(token, MCP);
  assert.equal(verifier.known(token, MCP), t);
  clock.set(T0 + 3_600_000);
  assert.equal(verifier.known(token, MCP), undefined, 'expired');
  clock.set(T0);
  jwks = { keys: [es.pub] };
  assert.equal(verifier.known(token, MCP), undefined, 'a new key set forgets every verified token');
});
