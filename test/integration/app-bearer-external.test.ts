// Bearer tokens from other issuers at apps with apps[].audience (issue 5, tokens.trustedIssuers).
// Two real JWKS servers on loopback (an RS256 IdP and an EdDSA IdP); tokens are signed by their
// keys. Each refusal asserts the logged reason, so a test fails if the token is refused for
// another cause than the defence it is about. The clock is frozen; jose verifies with it.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { ManualClock } from '../../src/core/index.ts';
import { configSchema } from '../../src/config/schema.ts';
import { type Answer, baseConfig, forwardAuth, type Instance, startInstance } from '../kit/server.ts';

const GRAFANA = 'https://grafana.example.test';
const WIKI = 'https://wiki.example.test';
const IDP = 'https://idp.example.test/realms/main';
const IDP2 = 'https://login.example.test';
const clock = new ManualClock(Date.now());
const now = () => Math.floor(clock.now() / 1000);

interface Idp {
  server: Server;
  url: string;
  key: CryptoKey;
  fetches: number;
}
let rsa: Idp;
let ed: Idp;
let stranger: CryptoKey;
let inst: Instance;

async function jwksServer(alg: 'RS256' | 'EdDSA', kid: string): Promise<Idp> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const idp: Idp = { server: createServer(), url: '', key: privateKey, fetches: 0 };
  idp.server.on('request', (req, res) => {
    idp.fetches++;
    if (req.url !== '/jwks') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => idp.server.listen(0, '127.0.0.1', resolve));
  idp.url = `http://127.0.0.1:${(idp.server.address() as AddressInfo).port}/jwks`;
  return idp;
}

before(async () => {
  rsa = await jwksServer('RS256', 'rsa-1');
  ed = await jwksServer('EdDSA', 'ed-1');
  stranger = (await generateKeyPair('RS256')).privateKey;
  inst = await startInstance({
    unwatched: true,
    clock,
    config: (dir) =>
      baseConfig(dir, {
        apps: [
          { name: 'grafana', hosts: ['grafana.example.test'], allow: { groups: ['ci'] }, audience: GRAFANA },
          { name: 'wiki', hosts: ['wiki.example.test'], allow: { anyUser: true }, audience: WIKI },
          { name: 'plain', hosts: ['plain.example.test'], allow: { anyUser: true } },
        ],
        tokens: {
          trustedIssuers: [
            { issuer: IDP, jwksUri: rsa.url, usernameClaim: 'preferred_username', groupsClaim: 'groups' },
            { issuer: IDP2, jwksUri: ed.url, audiences: [WIKI], usernameClaim: 'email' },
          ],
        },
      }),
  });
});
after(async () => {
  await inst.close();
  rsa.server.close();
  ed.server.close();
});

const CAROL: JWTPayload = {
  sub: 'u-123',
  preferred_username: 'carol',
  email: 'carol@idp.example.test',
  email_verified: true,
  groups: ['ci'],
};

async function sign(
  claims: JWTPayload,
  opts: { key?: CryptoKey; alg?: string; kid?: string; iss?: string; aud?: string | string[]; exp?: number } = {},
): Promise<string> {
  const alg = opts.alg ?? 'RS256';
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg, typ: 'at+jwt', kid: opts.kid ?? (alg === 'EdDSA' ? 'ed-1' : 'rsa-1') })
    .setIssuer(opts.iss ?? IDP)
    .setAudience(opts.aud ?? [GRAFANA, 'https://other.example.test'])
    .setIssuedAt(now())
    .setExpirationTime(opts.exp ?? now() + 300)
    .sign(opts.key ?? rsa.key);
}

const api = (at: string) => ({ headers: { authorization: `Bearer ${at}`, accept: 'application/json' } });

function lastRefusal(): unknown {
  return inst.logger.lines.filter((x) => x.msg === 'forward auth: bearer token refused').at(-1)?.fields.reason;
}

function assertInvalid(r: Answer, reason: string): void {
  assert.equal(r.status, 401, r.body);
  assert.equal(r.headers['www-authenticate'], 'Bearer error="invalid_token", DPoP algs="ES256 EdDSA Ed25519"');
  assert.equal(r.headers.location, undefined);
  assert.equal(r.body, '{"error":"invalid_token","error_description":"the access token is invalid or expired"}');
  assert.equal(lastRefusal(), reason);
}

describe('bearer tokens from tokens.trustedIssuers at apps with an audience', () => {
  test("a trusted issuer's RS256 token for the app's audience: 202, identity from the configured claims", async () => {
    const r = await forwardAuth(inst.port, `${GRAFANA}/api/dashboards`, api(await sign(CAROL)));
    assert.equal(r.status, 202, r.body);
    assert.equal(r.headers['x-auth-request-user'], 'carol');
    assert.equal(r.headers['x-auth-request-preferred-username'], 'carol');
    assert.equal(r.headers['x-auth-request-email'], 'carol@idp.example.test');
    assert.equal(r.headers['x-auth-request-groups'], 'ci');
    assert.equal(r.body, '');
  });

  test('an unverified email is never passed on; groups decide as for a cookie (403 without ci)', async () => {
    const r = await forwardAuth(inst.port, `${GRAFANA}/`, api(await sign({ ...CAROL, email_verified: false })));
    assert.equal(r.status, 202);
    assert.equal(r.headers['x-auth-request-email'], '');
    const outsider = await forwardAuth(inst.port, `${GRAFANA}/`, api(await sign({ ...CAROL, groups: ['ops'] })));
    assert.equal(outsider.status, 403);
  });

  test('an EdDSA issuer with usernameClaim email and no groupsClaim: the verified email is the user, its groups are ignored', async () => {
    const claims = { sub: 'x1', email: 'dave@login.example.test', email_verified: true, groups: ['ci'] };
    const r = await forwardAuth(inst.port, `${WIKI}/`, api(await sign(claims, { alg: 'EdDSA', key: ed.key, iss: IDP2, aud: WIKI })));
    assert.equal(r.status, 202, r.body);
    assert.equal(r.headers['x-auth-request-user'], 'dave@login.example.test');
    assert.equal(r.headers['x-auth-request-groups'], '');
    assertInvalid(
      await forwardAuth(
        inst.port,
        `${WIKI}/`,
        api(await sign({ ...claims, email_verified: false }, { alg: 'EdDSA', key: ed.key, iss: IDP2, aud: WIKI })),
      ),
      'the token lacks a usable email claim (with email_verified true) (tokens.trustedIssuers[].usernameClaim)',
    );
  });

  test('an issuer restricted to other audiences (audiences: [wiki]): 401 at grafana even with aud grafana', async () => {
    const at = await sign(
      { sub: 'x1', email: 'dave@login.example.test', email_verified: true },
      { alg: 'EdDSA', key: ed.key, iss: IDP2, aud: GRAFANA },
    );
    assertInvalid(
      await forwardAuth(inst.port, `${GRAFANA}/`, api(at)),
      "the token's issuer may not be used for this audience (tokens.trustedIssuers[].audiences)",
    );
  });

  test('the wrong audience: 401 invalid_token', async () => {
    assertInvalid(await forwardAuth(inst.port, `${WIKI}/`, api(await sign(CAROL))), "the token's aud claim is not acceptable");
  });

  test("an unknown issuer: 401 invalid_token, even signed by a trusted issuer's key", async () => {
    assertInvalid(
      await forwardAuth(inst.port, `${GRAFANA}/`, api(await sign(CAROL, { iss: 'https://evil.example.test' }))),
      "the token's issuer is not trusted (tokens.trustedIssuers)",
    );
    // Exact iss: a trailing slash is another issuer.
    assertInvalid(
      await forwardAuth(inst.port, `${GRAFANA}/`, api(await sign(CAROL, { iss: `${IDP}/` }))),
      "the token's issuer is not trusted (tokens.trustedIssuers)",
    );
  });

  test('a trusted iss signed by another key: 401 (the kid of the IdP, or none matching)', async () => {
    assertInvalid(await forwardAuth(inst.port, `${GRAFANA}/`, api(await sign(CAROL, { key: stranger }))), 'the signature does not verify');
    assertInvalid(
      await forwardAuth(inst.port, `${GRAFANA}/`, api(await sign(CAROL, { key: stranger, kid: 'other' }))),
      'no current signing key matches the token (kid/alg)',
    );
    // Another trusted issuer's key does not sign for this one.
    assertInvalid(
      await forwardAuth(inst.port, `${GRAFANA}/`, api(await sign(CAROL, { alg: 'EdDSA', key: ed.key, kid: 'rsa-1' }))),
      'no current signing key matches the token (kid/alg)',
    );
  });

  test('alg none and HS256: 401', async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const payload = b64({ ...CAROL, iss: IDP, aud: GRAFANA, iat: now(), exp: now() + 300 });
    assertInvalid(
      await forwardAuth(inst.port, `${GRAFANA}/`, api(`${b64({ alg: 'none', typ: 'at+jwt' })}.${payload}.`)),
      "the token's algorithm is not RS256, ES256 or EdDSA",
    );
    const hs = await new SignJWT({ ...CAROL })
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
      .setIssuer(IDP)
      .setAudience(GRAFANA)
      .setIssuedAt(now())
      .setExpirationTime(now() + 300)
      .sign(new TextEncoder().encode('a-shared-secret-of-32-bytes-long!'));
    assertInvalid(await forwardAuth(inst.port, `${GRAFANA}/`, api(hs)), "the token's algorithm is not RS256, ES256 or EdDSA");
  });

  test('expiry and not-before with 5 s leeway', async () => {
    assert.equal((await forwardAuth(inst.port, `${GRAFANA}/`, api(await sign(CAROL, { exp: now() - 4 })))).status, 202);
    assertInvalid(await forwardAuth(inst.port, `${GRAFANA}/`, api(await sign(CAROL, { exp: now() - 6 }))), 'the token has expired');
    assertInvalid(
      await forwardAuth(inst.port, `${GRAFANA}/`, api(await sign({ ...CAROL, nbf: now() + 6 }))),
      "the token's nbf claim is not acceptable",
    );
    // Verified again on every use: a token that was accepted expires with the clock.
    const at = await sign(CAROL, { exp: now() + 60 });
    assert.equal((await forwardAuth(inst.port, `${GRAFANA}/`, api(at))).status, 202);
    clock.advance(66_000);
    assertInvalid(await forwardAuth(inst.port, `${GRAFANA}/`, api(at)), 'the token has expired');
  });

  test('an app without audience ignores the token; the JWKS was fetched once per issuer (cached)', async () => {
    const r = await forwardAuth(inst.port, 'https://plain.example.test/', api(await sign(CAROL)));
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="gatehouse"');
    // Once at first use; the unknown kid "other" came within jose's 30 s cooldown, so no refetch
    // (a flood of made-up kids never turns into a flood of fetches).
    assert.equal(rsa.fetches, 1);
    assert.equal(ed.fetches, 1);
  });
});

describe('tokens.trustedIssuers in config', () => {
  const base = (trustedIssuers: unknown[]) => ({
    publicUrl: 'https://auth.example.test',
    secrets: { session: 'x'.repeat(44) },
    apps: [{ name: 'grafana', hosts: ['grafana.example.test'], allow: { anyUser: true }, audience: GRAFANA }],
    tokens: { trustedIssuers },
  });
  const problems = (trustedIssuers: unknown[]): string[] => {
    const r = configSchema.safeParse(base(trustedIssuers));
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  test('defaults: usernameClaim sub, no groups, every audience', () => {
    const r = configSchema.parse(base([{ issuer: IDP, jwksUri: 'https://idp.example.test/jwks' }]));
    assert.deepEqual(r.tokens.trustedIssuers, [{ issuer: IDP, jwksUri: 'https://idp.example.test/jwks', usernameClaim: 'sub' }]);
    assert.deepEqual(configSchema.parse(base([])).tokens, { trustedIssuers: [] });
  });

  test('refused: http issuer, http JWKS off loopback, our own issuer, a duplicate, an audience no app has, an unknown key', () => {
    assert.deepEqual(problems([{ issuer: 'http://idp.example.test', jwksUri: 'https://idp.example.test/jwks' }]), [
      'tokens.trustedIssuers.0.issuer: expected an https URL without query, fragment or credentials',
    ]);
    assert.deepEqual(problems([{ issuer: IDP, jwksUri: 'http://idp.example.test/jwks' }]), [
      'tokens.trustedIssuers.0.jwksUri: expected an https URL without fragment or credentials (http only on 127.0.0.1, [::1] or localhost)',
    ]);
    assert.deepEqual(problems([{ issuer: 'https://auth.example.test/', jwksUri: 'https://auth.example.test/jwks' }]), [
      'tokens.trustedIssuers.0.issuer: "https://auth.example.test/" is this instance\'s own issuer (publicUrl): its tokens are accepted already',
    ]);
    assert.deepEqual(
      problems([
        { issuer: IDP, jwksUri: 'http://127.0.0.1:1/jwks' },
        { issuer: IDP, jwksUri: 'http://[::1]:1/jwks' },
      ]),
      [`tokens.trustedIssuers.1.issuer: duplicate trusted issuer "${IDP}"`],
    );
    assert.deepEqual(problems([{ issuer: IDP, jwksUri: 'http://localhost/jwks', audiences: [WIKI] }]), [
      `tokens.trustedIssuers.0.audiences.0: "${WIKI}" is not one of apps[].audience`,
    ]);
    assert.deepEqual(problems([{ issuer: IDP, jwksUri: 'http://localhost/jwks', groupsClaim: 'roles' }]).length, 1);
    assert.match(
      problems([{ issuer: IDP, jwksUri: 'http://localhost/jwks', extra: 1 }])[0] ?? '',
      /^tokens\.trustedIssuers\.0: Unrecognized key: "extra"/,
    );
  });
});
