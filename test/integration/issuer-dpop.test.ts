// DPoP (RFC 9449) end to end: a public MCP client gets a DPoP-bound token from the real issuer
// (proof at /oidc/token), then uses it at the gate for a protected resource, through Traefik/Caddy
// forward auth (X-Forwarded-*) and nginx (X-Original-URL), with proofs built by jose. A bound token
// presented as Bearer is refused; every wrong proof is refused; a replay is refused, also by a
// second Gatehouse sharing the store.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { MemoryLogger } from '../../src/core/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startGatehouse, type Running } from '../../src/app/index.ts';
import { accessTokenHash } from '../../src/gateway/index.ts';
import { send } from '../kit/http.ts';
import { ALICE, type Answer, BOB, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import * as oidc from 'openid-client';
import {
  codeFor,
  ISSUER,
  json,
  LOOPBACK_CB,
  MCP,
  mcpConfig,
  PortalClient,
  type PublicClient,
  register,
  startMcpIssuer,
  token,
} from '../kit/mcp.ts';
import { discover, fetchVia } from '../kit/issuer.ts';

const TOKEN_URL = `${ISSUER}/oidc/token`;
const META = 'https://mcp.example.test/.well-known/oauth-protected-resource/mcp';
const ALGS = 'algs="ES256 EdDSA Ed25519"';
const DPOP_INVALID_PROOF = `DPoP ${ALGS}, error="invalid_dpop_proof", resource_metadata="${META}", scope="mcp:tools mcp:admin"`;
const BEARER_INVALID = `Bearer error="invalid_token", resource_metadata="${META}", scope="mcp:tools mcp:admin", DPoP ${ALGS}`;

interface Key {
  priv: CryptoKey;
  jwk: JWK;
  jkt: string;
}
async function newKey(): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  return { priv: privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

function proof(k: Key, htm: string, htu: string, claims: Record<string, unknown> = {}, signWith?: CryptoKey): Promise<string> {
  return new SignJWT({ jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: k.jwk })
    .sign(signWith ?? k.priv);
}

let inst: Instance;
let client: PublicClient;
before(async () => {
  inst = await startMcpIssuer();
  const r = await register(inst, {
    redirect_uris: [LOOPBACK_CB],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    application_type: 'native',
  });
  assert.equal(r.status, 201, r.body);
  client = { clientId: String(json(r).client_id), redirectUri: LOOPBACK_CB };
});
after(async () => {
  await inst.close();
});

async function boundToken(
  k: Key,
  scope = 'mcp:tools mcp:admin',
): Promise<{ access_token: string; token_type: string; refresh_token?: string }> {
  const { code, verifier } = await codeFor(new PortalClient(inst), client, { scope });
  const t = await token(
    inst,
    {
      grant_type: 'authorization_code',
      code,
      redirect_uri: client.redirectUri,
      code_verifier: verifier,
      client_id: client.clientId,
      resource: MCP,
    },
    { dpop: await proof(k, 'POST', TOKEN_URL) },
  );
  assert.equal(t.status, 200, t.body);
  return json(t) as { access_token: string; token_type: string };
}

/** A forward-auth check as nginx sends it (X-Original-URL). */
function nginxAuth(url: string, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
  return send(inst.port, {
    path: '/oauth2/auth',
    headers: { host: 'gatehouse.internal:4180', 'x-original-url': url, 'x-original-method': method, ...headers },
  });
}

describe('DPoP at the token endpoint', () => {
  test('discovery advertises the proof algorithms; the resource metadata too', async () => {
    const m = json(
      await send(inst.port, {
        path: '/.well-known/oauth-authorization-server',
        headers: { host: 'auth.example.test', 'x-forwarded-proto': 'https' },
      }),
    );
    assert.deepEqual(m.dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'Ed25519']);
    const r = json(
      await send(inst.port, {
        path: '/.well-known/oauth-protected-resource/mcp',
        headers: { host: 'mcp.example.test', 'x-forwarded-proto': 'https' },
      }),
    );
    assert.deepEqual(r.dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'Ed25519']);
  });

  test('a proof at /token gives token_type DPoP and an access token bound to the key (cnf.jkt)', async () => {
    const k = await newKey();
    const t = await boundToken(k);
    assert.equal(t.token_type, 'DPoP');
    assert.deepEqual(decodeJwt(t.access_token).cnf, { jkt: k.jkt });
  });

  test('a proof older than issuer.dpop.proofLifetime (60s) is refused at /token, the code left usable', async () => {
    const k = await newKey();
    const { code, verifier } = await codeFor(new PortalClient(inst), client, { scope: 'mcp:tools mcp:admin' });
    const form = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: client.redirectUri,
      code_verifier: verifier,
      client_id: client.clientId,
      resource: MCP,
    };
    const stale = await token(inst, form, { dpop: await proof(k, 'POST', TOKEN_URL, { iat: Math.floor(Date.now() / 1000) - 120 }) });
    assert.equal(stale.status, 400);
    assert.equal(json(stale).error, 'invalid_dpop_proof');
    const good = await token(inst, form, { dpop: await proof(k, 'POST', TOKEN_URL) });
    assert.equal(good.status, 200, good.body);
  });

  test('a proof for another URL or method, or replayed, is refused at /token', async () => {
    const k = await newKey();
    for (const dpop of [await proof(k, 'GET', TOKEN_URL), await proof(k, 'POST', `${ISSUER}/oidc/other`)]) {
      const { code, verifier } = await codeFor(new PortalClient(inst), client, { scope: 'mcp:tools mcp:admin' });
      const t = await token(
        inst,
        {
          grant_type: 'authorization_code',
          code,
          redirect_uri: client.redirectUri,
          code_verifier: verifier,
          client_id: client.clientId,
          resource: MCP,
        },
        { dpop },
      );
      assert.equal(t.status, 400);
      assert.equal(json(t).error, 'invalid_dpop_proof');
    }
    const once = await proof(k, 'POST', TOKEN_URL);
    const first = await codeFor(new PortalClient(inst), client, { scope: 'mcp:tools mcp:admin' });
    assert.equal(
      (
        await token(
          inst,
          {
            grant_type: 'authorization_code',
            code: first.code,
            redirect_uri: client.redirectUri,
            code_verifier: first.verifier,
            client_id: client.clientId,
            resource: MCP,
          },
          { dpop: once },
        )
      ).status,
      200,
    );
    const second = await codeFor(new PortalClient(inst), client, { scope: 'mcp:tools mcp:admin' });
    const replay = await token(
      inst,
      {
        grant_type: 'authorization_code',
        code: second.code,
        redirect_uri: client.redirectUri,
        code_verifier: second.verifier,
        client_id: client.clientId,
        resource: MCP,
      },
      { dpop: once },
    );
    assert.equal(replay.status, 400);
    assert.equal(json(replay).error, 'invalid_grant');
  });
});

describe('DPoP-bound tokens at the gate', () => {
  let k: Key;
  let at: string;
  before(async () => {
    k = await newKey();
    at = (await boundToken(k)).access_token;
  });
  const dpopHeaders = async (htm = 'GET', htu = MCP, claims: Record<string, unknown> = {}, signWith?: CryptoKey) => ({
    authorization: `DPoP ${at}`,
    dpop: await proof(k, htm, htu, { ath: accessTokenHash(at), ...claims }, signWith),
  });

  test('Traefik/Caddy and nginx: DPoP scheme with a good proof of the original request passes with the identity', async () => {
    const a = await forwardAuth(inst.port, `${MCP}?session=1`, { headers: await dpopHeaders('GET', MCP) });
    assert.equal(a.status, 202, JSON.stringify(a.headers));
    assert.equal(a.headers['x-auth-request-user'], 'alice');
    const n = await nginxAuth(`${MCP}/sub?x=1`, await dpopHeaders('POST', `${MCP}/sub`), 'POST');
    assert.equal(n.status, 202);
  });

  test('the bound token as a Bearer token is refused: 401 invalid_token (RFC 9449 §7.2)', async () => {
    const a = await forwardAuth(inst.port, MCP, { headers: { authorization: `Bearer ${at}` } });
    assert.equal(a.status, 401);
    assert.equal(a.headers['www-authenticate'], BEARER_INVALID);
    assert.equal(a.body, '{"error":"invalid_token","error_description":"the access token is invalid or expired"}');
    // A proof alongside does not make Bearer acceptable.
    const withProof = await forwardAuth(inst.port, MCP, { headers: { ...(await dpopHeaders()), authorization: `Bearer ${at}` } });
    assert.equal(withProof.status, 401);
    assert.equal(withProof.headers['www-authenticate'], BEARER_INVALID);
  });

  test('every wrong proof: 401 invalid_dpop_proof with the DPoP challenge', async () => {
    const other = await newKey();
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Record<string, string>][] = [
      ['no proof', { authorization: `DPoP ${at}` }],
      ['wrong htm', await dpopHeaders('POST', MCP)],
      ['wrong htu', await dpopHeaders('GET', 'https://mcp.example.test/other')],
      ['htu of the gate itself', await dpopHeaders('GET', 'http://gatehouse.internal:4180/oauth2/auth')],
      ['stale iat', await dpopHeaders('GET', MCP, { iat: now - 120 })],
      ['wrong ath', await dpopHeaders('GET', MCP, { ath: accessTokenHash('another') })],
      ['signed by another key', await dpopHeaders('GET', MCP, {}, other.priv)],
      ['another key entirely', { authorization: `DPoP ${at}`, dpop: await proof(other, 'GET', MCP, { ath: accessTokenHash(at) }) }],
    ];
    for (const [name, headers] of cases) {
      const a = await forwardAuth(inst.port, MCP, { headers });
      assert.equal(a.status, 401, name);
      assert.equal(a.headers['www-authenticate'], DPOP_INVALID_PROOF, name);
      assert.equal(a.body, '{"error":"invalid_dpop_proof","error_description":"the DPoP proof is missing or invalid"}', name);
    }
  });

  test('a bound token without a required scope, with a good proof: 403 insufficient_scope in the DPoP scheme', async () => {
    const narrow = (await boundToken(k, 'mcp:tools')).access_token;
    const a = await forwardAuth(inst.port, MCP, {
      headers: { authorization: `DPoP ${narrow}`, dpop: await proof(k, 'GET', MCP, { ath: accessTokenHash(narrow) }) },
    });
    assert.equal(a.status, 403);
    assert.equal(
      a.headers['www-authenticate'],
      `DPoP ${ALGS}, error="insufficient_scope", scope="mcp:tools mcp:admin", resource_metadata="${META}"`,
    );
  });

  test('a replayed proof is refused at the same instance', async () => {
    const headers = await dpopHeaders();
    assert.equal((await forwardAuth(inst.port, MCP, { headers })).status, 202);
    const again = await forwardAuth(inst.port, MCP, { headers });
    assert.equal(again.status, 401);
    assert.equal(again.headers['www-authenticate'], DPOP_INVALID_PROOF);
  });

  test('an unbound token with the DPoP scheme is refused', async () => {
    const { code, verifier } = await codeFor(new PortalClient(inst), client, { scope: 'mcp:tools mcp:admin' });
    const t = json(
      await token(inst, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: client.redirectUri,
        code_verifier: verifier,
        client_id: client.clientId,
        resource: MCP,
      }),
    );
    assert.equal(t.token_type, 'Bearer');
    const plain = String(t.access_token);
    assert.equal((await forwardAuth(inst.port, MCP, { headers: { authorization: `Bearer ${plain}` } })).status, 202);
    const a = await forwardAuth(inst.port, MCP, {
      headers: { authorization: `DPoP ${plain}`, dpop: await proof(k, 'GET', MCP, { ath: accessTokenHash(plain) }) },
    });
    assert.equal(a.status, 401);
    assert.equal(
      a.headers['www-authenticate'],
      `DPoP ${ALGS}, error="invalid_token", resource_metadata="${META}", scope="mcp:tools mcp:admin"`,
    );
  });

  describe('two Gatehouse instances sharing one store', () => {
    let second: Running;
    before(async () => {
      const loaded = await loadConfig({ path: inst.configPath, env: {} });
      second = await startGatehouse({ loaded, logger: new MemoryLogger(), env: {}, announce: () => {} });
    });
    after(async () => {
      await second.close();
    });

    test('a proof accepted by one is a replay at the other', async () => {
      const headers = await dpopHeaders();
      const fresh = await forwardAuth(second.port, MCP, { headers: await dpopHeaders() });
      assert.equal(fresh.status, 202, 'the second instance verifies the token with the shared keys');
      assert.equal((await forwardAuth(inst.port, MCP, { headers })).status, 202);
      const replay = await forwardAuth(second.port, MCP, { headers });
      assert.equal(replay.status, 401);
      assert.equal(replay.headers['www-authenticate'], DPOP_INVALID_PROOF);
    });
  });
});

describe('DPoP at an app with an audience, refresh, and DPoP switched off', () => {
  const API = 'https://api.example.test';
  let app: Instance;
  let appClient: PublicClient;
  before(async () => {
    app = await startInstance({
      unwatched: true,
      users: [ALICE, BOB],
      config: (dir) => {
        const c = mcpConfig(dir);
        return {
          ...c,
          apps: [...(c.apps as unknown[]), { name: 'api', hosts: ['api.example.test'], allow: { anyUser: true }, audience: API }],
        };
      },
    });
    const r = await register(app, {
      redirect_uris: [LOOPBACK_CB],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      application_type: 'native',
    });
    appClient = { clientId: String(json(r).client_id), redirectUri: LOOPBACK_CB };
  });
  after(async () => {
    await app.close();
  });

  async function exchange(k: Key, resource: string, scope: string): Promise<Record<string, unknown>> {
    const { code, verifier } = await codeFor(new PortalClient(app), appClient, { resource, scope });
    const t = await token(
      app,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: LOOPBACK_CB,
        code_verifier: verifier,
        client_id: appClient.clientId,
        resource,
      },
      { dpop: await proof(k, 'POST', TOKEN_URL) },
    );
    assert.equal(t.status, 200, t.body);
    return json(t);
  }

  test('an app with audience: DPoP with a proof passes; Bearer is 401 with the DPoP offer; a bad proof is 401 invalid_dpop_proof', async () => {
    const k = await newKey();
    const at = String((await exchange(k, API, 'openid')).access_token);
    assert.deepEqual(decodeJwt(at).cnf, { jkt: k.jkt });
    const url = `${API}/v1/things?page=2`;
    const ok = await forwardAuth(app.port, url, {
      headers: { authorization: `DPoP ${at}`, dpop: await proof(k, 'GET', `${API}/v1/things`, { ath: accessTokenHash(at) }) },
    });
    assert.equal(ok.status, 202);
    assert.equal(ok.headers['x-auth-request-user'], 'alice');
    const bearer = await forwardAuth(app.port, url, { headers: { authorization: `Bearer ${at}` } });
    assert.equal(bearer.status, 401);
    assert.equal(bearer.headers['www-authenticate'], `Bearer error="invalid_token", DPoP ${ALGS}`);
    const wrong = await forwardAuth(app.port, url, {
      headers: { authorization: `DPoP ${at}`, dpop: await proof(k, 'POST', `${API}/v1/things`, { ath: accessTokenHash(at) }) },
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers['www-authenticate'], `DPoP ${ALGS}, error="invalid_dpop_proof"`);
  });

  test('a bound refresh token: refreshed with a proof of the same key (still bound); without a proof or with another key, refused', async () => {
    const k = await newKey();
    const first = await exchange(k, MCP, 'mcp:tools mcp:admin offline_access');
    const rt = String(first.refresh_token);
    assert.ok(rt.length > 10, JSON.stringify(first));
    const refresh = (headers: Record<string, string>) =>
      token(app, { grant_type: 'refresh_token', refresh_token: rt, client_id: appClient.clientId }, headers);
    const none = await refresh({});
    assert.equal(none.status, 400);
    const other = await refresh({ dpop: await proof(await newKey(), 'POST', TOKEN_URL) });
    assert.equal(other.status, 400);
    const ok = await refresh({ dpop: await proof(k, 'POST', TOKEN_URL) });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(json(ok).token_type, 'DPoP');
    assert.deepEqual(decodeJwt(String(json(ok).access_token)).cnf, { jkt: k.jkt });
  });

  test('issuer.dpop.enabled: false: not advertised, challenges without DPoP, a proof at /token ignored (a plain bearer token)', async () => {
    const off = await startInstance({
      unwatched: true,
      users: [ALICE, BOB],
      config: (dir) => mcpConfig(dir, { dpop: { enabled: false } }),
    });
    try {
      const m = json(
        await send(off.port, {
          path: '/.well-known/oauth-authorization-server',
          headers: { host: 'auth.example.test', 'x-forwarded-proto': 'https' },
        }),
      );
      assert.equal(m.dpop_signing_alg_values_supported, undefined);
      const challenge = await forwardAuth(off.port, MCP);
      assert.equal(challenge.headers['www-authenticate'], `Bearer resource_metadata="${META}", scope="mcp:tools mcp:admin"`);
      const r = await register(off, { redirect_uris: [LOOPBACK_CB], token_endpoint_auth_method: 'none', application_type: 'native' });
      const c = { clientId: String(json(r).client_id), redirectUri: LOOPBACK_CB };
      const k = await newKey();
      const { code, verifier } = await codeFor(new PortalClient(off), c, { scope: 'mcp:tools mcp:admin' });
      const t = json(
        await token(
          off,
          {
            grant_type: 'authorization_code',
            code,
            redirect_uri: LOOPBACK_CB,
            code_verifier: verifier,
            client_id: c.clientId,
            resource: MCP,
          },
          { dpop: await proof(k, 'POST', TOKEN_URL) },
        ),
      );
      assert.equal(t.token_type, 'Bearer');
      assert.equal(decodeJwt(String(t.access_token)).cnf, undefined);
      assert.equal((await forwardAuth(off.port, MCP, { headers: { authorization: `Bearer ${String(t.access_token)}` } })).status, 202);
    } finally {
      await off.close();
    }
  });
});

describe('openid-client (a certified relying party) as the DPoP client', () => {
  test('its DPoP handle gets a bound token at /token and uses it at the gate (fetchProtectedResource through forward auth); refresh keeps the binding', async () => {
    const config = await discover(inst, client.clientId);
    // Requests to the issuer go to the instance; requests to the resource become the forward-auth
    // subrequest Traefik/Caddy would make, carrying the client's Authorization and DPoP headers.
    const toIssuer = fetchVia(inst);
    const seen: { authorization: string | null; dpop: string | null; status: number }[] = [];
    config[oidc.customFetch] = async (url, options) => {
      const u = new URL(url);
      if (u.origin === ISSUER) return toIssuer(url, options);
      const h = new Headers(options.headers as ConstructorParameters<typeof Headers>[0]);
      const a = await forwardAuth(inst.port, u.href, {
        method: options.method ?? 'GET',
        headers: { authorization: h.get('authorization') ?? '', dpop: h.get('dpop') ?? '', accept: 'application/json' },
      });
      seen.push({ authorization: h.get('authorization'), dpop: h.get('dpop'), status: a.status });
      const out = new Headers();
      for (const [k, v] of Object.entries(a.headers)) if (typeof v === 'string') out.set(k, v);
      return new Response(a.status === 202 ? null : a.body, { status: a.status, headers: out });
    };
    const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    const { location, verifier } = await codeFor(new PortalClient(inst), client, { scope: 'mcp:tools mcp:admin offline_access' });
    const tokens = await oidc.authorizationCodeGrant(
      config,
      location,
      { pkceCodeVerifier: verifier, expectedState: 'st-1' },
      { resource: MCP },
      { DPoP },
    );
    assert.equal(tokens.token_type, 'dpop');
    const jkt = (decodeJwt(tokens.access_token).cnf as { jkt?: string } | undefined)?.jkt;
    assert.equal(typeof jkt, 'string');

    const r = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(`${MCP}?call=1`), 'POST', undefined, undefined, {
      DPoP,
    });
    assert.equal(r.status, 202);
    assert.match(seen.at(-1)?.authorization ?? '', /^DPoP /);
    assert.ok(seen.at(-1)?.dpop);
    // Without the handle the same token goes as Bearer: refused.
    await assert.rejects(
      oidc.fetchProtectedResource(config, tokens.access_token, new URL(MCP), 'GET'),
      (e: unknown) => (e as { status?: number }).status === 401 || (e as Error).name === 'WWWAuthenticateChallengeError',
    );
    assert.equal(seen.at(-1)?.status, 401);

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token ?? '', { resource: MCP }, { DPoP });
    assert.equal(refreshed.token_type, 'dpop');
    assert.equal((decodeJwt(refreshed.access_token).cnf as { jkt?: string }).jkt, jkt);
    assert.equal(
      (await oidc.fetchProtectedResource(config, refreshed.access_token, new URL(MCP), 'GET', undefined, undefined, { DPoP })).status,
      202,
    );
  });
});
