// Protected MCP resources at the gate (/work/shared/MCP.md, the resource-server lines of the
// checklist): the 401 that starts discovery, RFC 9728 metadata, invalid_token and
// insufficient_scope, one resource's token refused at another, the token never forwarded.
// Tokens are signed with the suite's own keys, injected as the instance's access-token keys.
import { after, before, describe, test } from 'node:test';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { accessTokenHash } from '../../src/gateway/index.ts';
import assert from 'node:assert/strict';
import { send } from '../kit/http.ts';
import { ALICE, type Answer, baseConfig, BROWSER, cookieHeader, forwardAuth } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';
import {
  accessToken,
  type Echoed,
  ISSUER,
  type McpInstance,
  signingKey,
  type SigningKey,
  startEcho,
  startMcpInstance,
  T0,
} from '../kit/resource.ts';

const MCP = 'https://mcp.example.test/mcp';
const FILES = 'https://files.example.test/mcp';
const ECHO = 'https://echo.example.test/mcp';
const MCP_META = 'https://mcp.example.test/.well-known/oauth-protected-resource/mcp';
const FILES_META = 'https://files.example.test/.well-known/oauth-protected-resource/mcp';
const ECHO_META = 'https://echo.example.test/.well-known/oauth-protected-resource/mcp';

const CHALLENGE = `Bearer resource_metadata="${MCP_META}", scope="mcp:tools mcp:read", DPoP algs="ES256 EdDSA Ed25519"`;
const INVALID = `Bearer error="invalid_token", resource_metadata="${MCP_META}", scope="mcp:tools mcp:read", DPoP algs="ES256 EdDSA Ed25519"`;
const INSUFFICIENT = `Bearer error="insufficient_scope", scope="mcp:tools mcp:read", resource_metadata="${MCP_META}"`;
const NO_TOKEN_BODY = '{"error":"unauthorized","error_description":"a bearer token is required"}';
const INVALID_BODY = '{"error":"invalid_token","error_description":"the access token is invalid or expired"}';

/** A forward-auth check as nginx sends it (X-Original-URL), from loopback. */
function nginxAuth(port: number, url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return send(port, {
    path: '/oauth2/auth',
    headers: { host: 'gatehouse.internal:4180', 'x-original-url': url, 'x-original-method': 'GET', ...headers },
  });
}

describe('protected MCP resources', () => {
  let inst: McpInstance;
  let key: SigningKey;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const token = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) => accessToken(key, claims, header);
  const good = () =>
    token({ aud: MCP, scope: 'mcp:tools mcp:read', preferred_username: 'alice', groups: ['admins'], email: 'alice@example.test' });

  before(async () => {
    key = await signingKey('ES256', 'k1');
    echo = await startEcho();
    inst = await startMcpInstance(
      (dir) =>
        baseConfig(dir, {
          resources: [
            { resource: MCP, name: 'Example MCP', scopes: ['mcp:tools', 'mcp:read', 'offline_access'] },
            { resource: FILES, scopes: ['files:read', 'files:write'], requiredScopes: ['files:read'], allow: { groups: ['admins'] } },
            { resource: ECHO, scopes: ['echo'], upstream: echo.url },
          ],
          apps: [
            // A public app on the resource's host: the resource path stays bearer-only (resources
            // are decided first), the rest of the host is the app's.
            { name: 'mcp-site', hosts: ['mcp.example.test'], public: true },
            { name: 'app', hosts: ['app.example.test'], allow: { groups: ['admins'] } },
          ],
        }),
      [ALICE],
      { keys: [key.pub] },
    );
  });
  after(async () => {
    await inst.close();
    await echo.close();
  });

  describe('the 401 that starts discovery', () => {
    test('no token: 401 with resource_metadata (absolute) and scope; JSON body; never a redirect, even for a browser', async () => {
      const a = await forwardAuth(inst.port, MCP, { headers: BROWSER });
      assert.equal(a.status, 401);
      assert.equal(a.headers['www-authenticate'], CHALLENGE);
      assert.equal(a.headers.location, undefined);
      assert.equal(a.headers['content-type'], 'application/json');
      assert.equal(a.headers['cache-control'], 'no-store');
      assert.equal(a.body, NO_TOKEN_BODY);
    });

    test('nginx: the same 401 with an empty body and Content-Length 0', async () => {
      const a = await nginxAuth(inst.port, MCP, BROWSER);
      assert.equal(a.status, 401);
      assert.equal(a.headers['www-authenticate'], CHALLENGE);
      assert.equal(a.headers['content-length'], '0');
      assert.equal(a.headers.location, undefined);
      assert.equal(a.body, '');
    });

    test("paths below the resource are protected; a sibling path is the app's", async () => {
      assert.equal((await forwardAuth(inst.port, `${MCP}/sse?session=1`)).headers['www-authenticate'], CHALLENGE);
      assert.equal((await forwardAuth(inst.port, 'https://mcp.example.test/mcp/../mcp/x')).status, 401);
      assert.equal((await forwardAuth(inst.port, 'https://mcp.example.test/mcpx')).status, 202);
      assert.equal((await forwardAuth(inst.port, 'https://mcp.example.test/')).status, 202);
    });

    test('a session cookie does not open a resource; a Basic header counts as no token', async () => {
      const { value: cookie } = await signIn(inst, 'alice');
      const a = await forwardAuth(inst.port, MCP, { cookie: cookieHeader(inst, cookie), headers: { accept: 'application/json' } });
      assert.equal(a.status, 401);
      assert.equal(a.headers['www-authenticate'], CHALLENGE);
      const basic = await forwardAuth(inst.port, MCP, { headers: { authorization: 'Basic YWxpY2U6cHc=' } });
      assert.equal(basic.headers['www-authenticate'], CHALLENGE);
    });

    test('a resource without scopes has no scope parameter', async () => {
      // files has scopes; a resource with none is covered by the compile step: build one here.
      const { compileResources } = await import('../../src/gateway/index.ts');
      const r = compileResources(
        [{ resource: 'https://x.example.test/', scopes: [] }],
        new URL(ISSUER),
        inst.running.settings().defaultHeaders,
      );
      assert.equal(r.list[0]?.challenge.missing, 'Bearer resource_metadata="https://x.example.test/.well-known/oauth-protected-resource"');
    });
  });

  describe('RFC 9728 metadata', () => {
    const meta = (host: string, path: string, extra: Record<string, string> = {}) =>
      send(inst.port, { path, headers: { host, 'x-forwarded-proto': 'https', ...extra } });

    test('path-suffixed form: the canonical resource, our issuer exactly, scopes without offline_access, header only', async () => {
      const a = await meta('mcp.example.test', '/.well-known/oauth-protected-resource/mcp');
      assert.equal(a.status, 200);
      assert.equal(a.headers['content-type'], 'application/json');
      assert.equal(a.headers['access-control-allow-origin'], '*');
      assert.equal(
        a.body,
        JSON.stringify({
          resource: MCP,
          authorization_servers: [ISSUER],
          scopes_supported: ['mcp:tools', 'mcp:read'],
          bearer_methods_supported: ['header'],
          dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'Ed25519'],
          resource_name: 'Example MCP',
        }),
      );
    });

    test('root form on a host with one resource; the URL in the challenge is the one that answers', async () => {
      const root = await meta('mcp.example.test', '/.well-known/oauth-protected-resource');
      assert.equal(root.status, 200);
      assert.equal((JSON.parse(root.body) as { resource: string }).resource, MCP);
      const url = new URL(MCP_META);
      const viaChallenge = await meta(url.host, url.pathname);
      assert.equal(viaChallenge.body, root.body);
    });

    test('authorization_servers[0] is byte-identical to the issuer in our discovery documents', async () => {
      const doc = await send(inst.port, {
        path: '/.well-known/openid-configuration',
        headers: { host: 'auth.example.test', 'x-forwarded-proto': 'https' },
      });
      assert.equal(doc.status, 200);
      const issuer = (JSON.parse(doc.body) as { issuer: string }).issuer;
      const m = JSON.parse((await meta('mcp.example.test', '/.well-known/oauth-protected-resource/mcp')).body) as {
        authorization_servers: string[];
      };
      assert.equal(m.authorization_servers[0], issuer);
      const as = await send(inst.port, {
        path: '/.well-known/oauth-authorization-server',
        headers: { host: 'auth.example.test', 'x-forwarded-proto': 'https' },
      });
      assert.equal((JSON.parse(as.body) as { issuer: string }).issuer, m.authorization_servers[0]);
    });

    test('CORS preflight allows MCP-Protocol-Version and Authorization', async () => {
      const a = await send(inst.port, {
        method: 'OPTIONS',
        path: '/.well-known/oauth-protected-resource/mcp',
        headers: {
          host: 'mcp.example.test',
          origin: 'https://inspector.example',
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'mcp-protocol-version',
        },
      });
      assert.equal(a.status, 204);
      assert.equal(a.headers['access-control-allow-origin'], '*');
      assert.equal(a.headers['access-control-allow-methods'], 'GET, HEAD, OPTIONS');
      assert.equal(a.headers['access-control-allow-headers'], 'Authorization, MCP-Protocol-Version, Content-Type');
    });

    test('unknown paths and hosts without resources: 404', async () => {
      assert.equal((await meta('mcp.example.test', '/.well-known/oauth-protected-resource/other')).status, 404);
      assert.equal((await meta('app.example.test', '/.well-known/oauth-protected-resource')).status, 404);
      assert.equal((await meta('mcp.example.test', '/.well-known/oauth-protected-resourcex')).status, 404);
    });

    test("the host comes from a trusted proxy's X-Forwarded-Host (the proxy routes the path to Gatehouse)", async () => {
      const a = await send(inst.port, {
        path: '/.well-known/oauth-protected-resource/mcp',
        headers: { host: 'gatehouse.internal', 'x-forwarded-host': 'files.example.test', 'x-forwarded-proto': 'https' },
      });
      assert.equal((JSON.parse(a.body) as { resource: string }).resource, FILES);
    });

    test('forward auth lets the metadata path through on a resource host, not elsewhere', async () => {
      const a = await forwardAuth(inst.port, MCP_META);
      assert.equal(a.status, 202);
      assert.equal(a.headers['x-auth-request-user'], '');
      assert.equal((await nginxAuth(inst.port, MCP_META)).status, 202);
      assert.equal(
        (
          await forwardAuth(inst.port, 'https://app.example.test/.well-known/oauth-protected-resource', {
            headers: { accept: 'application/json' },
          })
        ).status,
        401,
      );
    });
  });

  describe('tokens', () => {
    test('a valid token passes with the identity from the token', async () => {
      const a = await forwardAuth(inst.port, MCP, { headers: bearer(await good()) });
      assert.equal(a.status, 202);
      assert.equal(a.headers['x-auth-request-user'], 'alice');
      assert.equal(a.headers['x-auth-request-email'], 'alice@example.test');
      assert.equal(a.headers['x-auth-request-groups'], 'admins');
      assert.equal(a.headers['x-auth-request-preferred-username'], 'alice');
      assert.equal(a.headers['content-length'], '0');
      assert.equal(a.body, '');
    });

    test('malformed tokens: 401 invalid_token', async () => {
      for (const authorization of ['Bearer', 'Bearer a b', 'Bearer not-a-jwt', 'Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA']) {
        const a = await forwardAuth(inst.port, MCP, { headers: { authorization } });
        assert.equal(a.status, 401, authorization);
        assert.equal(a.headers['www-authenticate'], INVALID, authorization);
        assert.equal(a.body, INVALID_BODY);
      }
    });

    test('expired: 401 invalid_token at exp, no leeway for our own issuer (on the instance clock)', async () => {
      const t = await token({ aud: MCP, scope: 'mcp:tools mcp:read', exp: Math.floor(T0 / 1000) + 60 });
      assert.equal((await forwardAuth(inst.port, MCP, { headers: bearer(t) })).status, 202);
      inst.clock.set(T0 + 60_000);
      try {
        const a = await forwardAuth(inst.port, MCP, { headers: bearer(t) });
        assert.equal(a.status, 401);
        assert.equal(a.headers['www-authenticate'], INVALID);
      } finally {
        inst.clock.set(T0);
      }
    });

    test('a token for resource A is refused at resource B (401 invalid_token), and the reverse', async () => {
      const forFiles = await token({ aud: FILES, scope: 'files:read mcp:tools mcp:read', groups: ['admins'] });
      assert.equal((await forwardAuth(inst.port, FILES, { headers: bearer(forFiles) })).status, 202);
      const a = await forwardAuth(inst.port, MCP, { headers: bearer(forFiles) });
      assert.equal(a.status, 401);
      assert.equal(a.headers['www-authenticate'], INVALID);
      const b = await forwardAuth(inst.port, FILES, { headers: bearer(await good()) });
      assert.equal(b.status, 401);
      assert.equal(
        b.headers['www-authenticate'],
        `Bearer error="invalid_token", resource_metadata="${FILES_META}", scope="files:read files:write", DPoP algs="ES256 EdDSA Ed25519"`,
      );
    });

    test('another issuer, a trailing-slash issuer, an unknown key, an ID token (typ JWT): 401 invalid_token', async () => {
      const stranger = await signingKey('ES256', 'k1');
      const cases = [
        await token({ aud: MCP, scope: 'mcp:tools mcp:read', iss: `${ISSUER}/` }),
        await token({ aud: MCP, scope: 'mcp:tools mcp:read', iss: 'https://evil.example' }),
        await accessToken(stranger, { aud: MCP, scope: 'mcp:tools mcp:read' }),
        await token({ aud: MCP, scope: 'mcp:tools mcp:read' }, { typ: 'JWT' }),
      ];
      for (const [i, t] of cases.entries()) {
        const a = await forwardAuth(inst.port, MCP, { headers: bearer(t) });
        assert.equal(a.status, 401, `case ${i}`);
        assert.equal(a.headers['www-authenticate'], INVALID, `case ${i}`);
      }
    });

    test('a missing scope: 403 insufficient_scope naming every needed scope; nginx gets it with an empty body', async () => {
      const t = await token({ aud: MCP, scope: 'mcp:read' });
      const a = await forwardAuth(inst.port, MCP, { headers: bearer(t) });
      assert.equal(a.status, 403);
      assert.equal(a.headers['www-authenticate'], INSUFFICIENT);
      assert.equal(a.body, '{"error":"insufficient_scope","error_description":"the access token lacks a required scope"}');
      const n = await nginxAuth(inst.port, MCP, bearer(t));
      assert.equal(n.status, 403);
      assert.equal(n.headers['www-authenticate'], INSUFFICIENT);
      assert.equal(n.headers['content-length'], '0');
      assert.equal(n.body, '');
      // requiredScopes narrows what is needed: files needs files:read only.
      const f = await forwardAuth(inst.port, FILES, {
        headers: bearer(await token({ aud: FILES, scope: 'files:write', groups: ['admins'] })),
      });
      assert.equal(f.status, 403);
      assert.equal(
        f.headers['www-authenticate'],
        `Bearer error="insufficient_scope", scope="files:read", resource_metadata="${FILES_META}"`,
      );
    });

    test('a valid token of a user the resource does not allow: 403 without a scope challenge', async () => {
      const t = await token({ aud: FILES, scope: 'files:read', preferred_username: 'bob', groups: ['staff'] });
      const a = await forwardAuth(inst.port, FILES, { headers: { ...bearer(t), accept: 'application/json' } });
      assert.equal(a.status, 403);
      assert.equal(a.headers['www-authenticate'], undefined);
      assert.equal(a.body, '{"error":"access_denied","error_description":"access is denied"}');
    });

    test('a bearer token on an app URL changes nothing (cookie rules as before)', async () => {
      const a = await forwardAuth(inst.port, 'https://app.example.test/', {
        headers: { ...bearer(await good()), accept: 'application/json' },
      });
      assert.equal(a.status, 401);
      assert.equal(a.headers['www-authenticate'], 'Bearer realm="gatehouse"');
    });
  });

  describe('reverse-proxy mode', () => {
    const viaGatehouse = (path: string, headers: Record<string, string> = {}) =>
      send(inst.port, { path, headers: { host: 'echo.example.test', 'x-forwarded-proto': 'https', ...headers } });

    test('the token is never forwarded upstream; identity headers are', async () => {
      const t = await token({ aud: ECHO, scope: 'echo', preferred_username: 'alice', groups: ['admins'] });
      const a = await viaGatehouse('/mcp', { ...bearer(t), 'x-auth-request-user': 'mallory' });
      assert.equal(a.status, 200);
      assert.equal(a.headers['x-upstream'], 'echo');
      const e = JSON.parse(a.body) as Echoed;
      assert.equal(e.url, '/mcp');
      assert.equal(e.headers.authorization, undefined);
      assert.equal(e.headers['x-auth-request-user'], 'alice');
      assert.equal(e.headers['x-auth-request-groups'], 'admins');
    });

    test('DPoP: a bound token with a proof of the original URL passes; neither the token nor the proof goes upstream; as Bearer it is 401', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = await exportJWK(publicKey);
      const t = await token({
        aud: ECHO,
        scope: 'echo',
        preferred_username: 'alice',
        groups: ['admins'],
        cnf: { jkt: await calculateJwkThumbprint(jwk) },
      });
      const proof = await new SignJWT({
        jti: 'rp-1',
        htm: 'GET',
        htu: 'https://echo.example.test/mcp',
        iat: Math.floor(T0 / 1000),
        ath: accessTokenHash(t),
      })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .sign(privateKey);
      const a = await viaGatehouse('/mcp?x=1', { authorization: `DPoP ${t}`, dpop: proof });
      assert.equal(a.status, 200, a.body);
      const e = JSON.parse(a.body) as Echoed;
      assert.equal(e.headers.authorization, undefined);
      assert.equal(e.headers.dpop, undefined);
      assert.equal(e.headers['x-auth-request-user'], 'alice');
      const b = await viaGatehouse('/mcp', bearer(t));
      assert.equal(b.status, 401);
      assert.equal(b.headers['x-upstream'], undefined);
    });

    test('no token: the challenge, from Gatehouse (the upstream never sees the request)', async () => {
      const a = await viaGatehouse('/mcp', { accept: 'text/html' });
      assert.equal(a.status, 401);
      assert.equal(a.headers['www-authenticate'], `Bearer resource_metadata="${ECHO_META}", scope="echo", DPoP algs="ES256 EdDSA Ed25519"`);
      assert.equal(a.headers['x-upstream'], undefined);
      assert.equal(a.body, NO_TOKEN_BODY);
    });

    test('Gatehouse answers the metadata itself on a proxied resource host', async () => {
      const a = await viaGatehouse('/.well-known/oauth-protected-resource/mcp');
      assert.equal(a.status, 200);
      assert.equal(a.headers['x-upstream'], undefined);
      assert.equal(
        a.body,
        JSON.stringify({
          resource: ECHO,
          authorization_servers: [ISSUER],
          scopes_supported: ['echo'],
          bearer_methods_supported: ['header'],
          dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'Ed25519'],
        }),
      );
    });
  });
});
