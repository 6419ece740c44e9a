// The issuer as the authorization server of MCP (MCP.md's checklist, authorization-server lines):
// metadata, dynamic registration, PKCE, redirect matching, codes, resource indicators with JWT
// access tokens, refresh rotation with grace, client authentication, deletion, revocation.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { send } from '../kit/http.ts';
import { forwardAuth, type Instance } from '../kit/server.ts';
import {
  authorizeVia,
  basic,
  codeFor,
  HTTPS,
  ISSUER,
  json,
  LOOPBACK_CB,
  MCP,
  OTHER,
  pkce,
  PortalClient,
  type PublicClient,
  register,
  startMcpIssuer,
  token,
} from '../kit/mcp.ts';

let inst: Instance;
before(async () => {
  inst = await startMcpIssuer();
});
after(async () => {
  await inst.close();
});

const NATIVE = {
  redirect_uris: [LOOPBACK_CB],
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  client_name: 'Claude Code',
  application_type: 'native',
};

async function publicClient(redirectUri = 'http://127.0.0.1:5555/callback'): Promise<PublicClient & { reg: Record<string, unknown> }> {
  const r = await register(inst, NATIVE);
  assert.equal(r.status, 201, r.body);
  const reg = json(r);
  return { clientId: String(reg.client_id), redirectUri, reg };
}

async function exchange(c: PublicClient, code: string, verifier: string, extra: Record<string, string> = { resource: MCP }) {
  return token(inst, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: c.redirectUri,
    code_verifier: verifier,
    client_id: c.clientId,
    ...extra,
  });
}

async function tokensFor(c: PublicClient, opts: Parameters<typeof codeFor>[2] = {}) {
  const { code, verifier } = await codeFor(new PortalClient(inst), c, opts);
  const t = await exchange(c, code, verifier, opts.resource === '' ? {} : { resource: opts.resource ?? MCP });
  assert.equal(t.status, 200, t.body);
  return json(t) as { access_token: string; refresh_token?: string; scope: string; expires_in: number; token_type: string };
}

const refresh = (c: PublicClient, rt: string, extra: Record<string, string> = {}) =>
  token(inst, { grant_type: 'refresh_token', refresh_token: rt, client_id: c.clientId, ...extra });

const jwks = async () => JSON.parse((await send(inst.port, { path: '/oidc/jwks', headers: HTTPS })).body) as JSONWebKeySet;

function noNulls(v: unknown, path = '$'): void {
  assert.notEqual(v, null, `${path} is null`);
  if (Array.isArray(v)) {
    assert.ok(v.length > 0, `${path} is empty`);
    v.forEach((x, i) => noNulls(x, `${path}[${i}]`));
  } else if (typeof v === 'object') for (const [k, x] of Object.entries(v as object)) noNulls(x, `${path}.${k}`);
}

describe('authorization-server metadata (RFC 8414)', () => {
  test('both well-known forms answer the same document with the exact issuer and the MCP fields', async () => {
    const as = await send(inst.port, { path: '/.well-known/oauth-authorization-server', headers: HTTPS });
    const oidc = await send(inst.port, { path: '/.well-known/openid-configuration', headers: HTTPS });
    assert.equal(as.status, 200);
    assert.equal(oidc.status, 200);
    assert.deepEqual(json(as), json(oidc));
    const m = json(as);
    assert.equal(m.issuer, ISSUER);
    assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(m.response_types_supported, ['code']);
    assert.deepEqual(m.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'none']);
    assert.equal(m.authorization_response_iss_parameter_supported, true);
    assert.equal(m.client_id_metadata_document_supported, true);
    assert.equal(m.registration_endpoint, `${ISSUER}/oidc/reg`);
    assert.equal(m.revocation_endpoint, `${ISSUER}/oidc/token/revocation`);
    assert.ok((m.grant_types_supported as string[]).includes('client_credentials'));
  });
});

describe('dynamic client registration (RFC 7591)', () => {
  test('201 echoes redirect_uris, token_endpoint_auth_method and grant_types, has registration_client_uri, and no null or empty member', async () => {
    const r = await register(inst, NATIVE);
    assert.equal(r.status, 201);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.headers['cache-control'], 'no-store');
    const m = json(r);
    assert.deepEqual(m.redirect_uris, [LOOPBACK_CB]);
    assert.equal(m.token_endpoint_auth_method, 'none');
    assert.deepEqual(m.grant_types, ['authorization_code', 'refresh_token']);
    assert.equal(m.application_type, 'native');
    assert.equal(m.client_name, 'Claude Code');
    assert.equal(m.registration_client_uri, `${ISSUER}/oidc/reg/${String(m.client_id)}`);
    assert.equal(typeof m.registration_access_token, 'string');
    assert.equal(m.client_secret, undefined);
    noNulls(m);
  });

  test('javascript: and data: redirect URIs are refused', async () => {
    for (const uri of ['javascript:alert(1)', 'data:text/html,<script>alert(1)</script>']) {
      const r = await register(inst, { ...NATIVE, redirect_uris: [uri] });
      assert.equal(r.status, 400, uri);
      assert.equal(json(r).error, 'invalid_redirect_uri', uri);
    }
  });

  test('a confidential client gets a secret that the store holds only sealed', async () => {
    const r = await register(inst, {
      redirect_uris: ['https://app.example.org/cb'],
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    });
    assert.equal(r.status, 201);
    const secret = String(json(r).client_secret);
    assert.ok(secret.length >= 43);
    const rows = await inst.running.store.oidc.list('Client', Date.now());
    assert.ok(rows.length > 0);
    for (const row of rows) {
      assert.ok(!row.payload.includes(secret));
      assert.ok(!row.id.includes(String(json(r).client_id)));
    }
  });
});

describe('authorization requests', () => {
  test('native: any loopback port works (RFC 8252 §7.3); the answer carries one code, the state and iss', async () => {
    const c = await publicClient('http://127.0.0.1:61234/callback');
    const { location } = await codeFor(new PortalClient(inst), c);
    assert.equal(location.origin + location.pathname, 'http://127.0.0.1:61234/callback');
    assert.deepEqual([...location.searchParams.keys()].sort(), ['code', 'iss', 'state']);
    assert.equal(location.searchParams.get('state'), 'st-1');
    assert.equal(location.searchParams.get('iss'), ISSUER);
  });

  test('web: only the exact redirect URI; another one gets an error page and no Location', async () => {
    const r = await register(inst, {
      redirect_uris: ['https://app.example.org/cb'],
      token_endpoint_auth_method: 'none',
      response_types: ['code'],
      grant_types: ['authorization_code'],
    });
    const id = String(json(r).client_id);
    const { challenge } = pkce();
    for (const uri of ['https://app.example.org:8443/cb', 'https://app.example.org/cb/', 'https://evil.example/cb']) {
      const a = await send(inst.port, {
        path: `/oidc/auth?${new URLSearchParams({ client_id: id, redirect_uri: uri, response_type: 'code', scope: 'mcp:tools', resource: MCP, code_challenge: challenge, code_challenge_method: 'S256' }).toString()}`,
        headers: { ...HTTPS, accept: 'text/html' },
      });
      assert.equal(a.status, 400, uri);
      assert.equal(a.headers.location, undefined, uri);
      assert.match(a.body, /redirect_uri did not match any of the client(&#39;|')s registered redirect_uris/);
    }
  });

  test('a loopback redirect of a native client on another path is refused (only the port may differ)', async () => {
    const c = await publicClient();
    const a = await send(inst.port, {
      path: `/oidc/auth?${new URLSearchParams({ client_id: c.clientId, redirect_uri: 'http://127.0.0.1:5555/other', response_type: 'code', scope: 'mcp:tools', code_challenge: pkce().challenge, code_challenge_method: 'S256' }).toString()}`,
      headers: { ...HTTPS, accept: 'text/html' },
    });
    assert.equal(a.status, 400);
    assert.equal(a.headers.location, undefined);
  });

  test('PKCE: a public client without code_challenge, or with plain, is refused with error, state and iss; no code', async () => {
    const c = await publicClient();
    const base = {
      client_id: c.clientId,
      redirect_uri: c.redirectUri,
      response_type: 'code',
      scope: 'mcp:tools',
      resource: MCP,
      state: 'st-2',
    };
    const b = new PortalClient(inst);
    const variants: Record<string, string>[] = [
      {},
      { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' },
      { code_challenge: 'a'.repeat(43), code_challenge_method: 'S512' },
    ];
    for (const extra of variants) {
      const r = await b.go(`/oidc/auth?${new URLSearchParams({ ...base, ...extra }).toString()}`);
      const back = new URL(r.location ?? '');
      assert.equal(back.origin + back.pathname, c.redirectUri, JSON.stringify(extra));
      assert.equal(back.searchParams.get('error'), 'invalid_request');
      assert.equal(back.searchParams.get('state'), 'st-2');
      assert.equal(back.searchParams.get('iss'), ISSUER);
      assert.equal(back.searchParams.get('code'), null);
    }
  });

  test('the consent screen names the client and its redirect host, and warns about localhost-only redirects', async () => {
    const c = await publicClient();
    const { verifier: _v, challenge } = pkce();
    const { consentPage } = await authorizeVia(new PortalClient(inst), {
      client_id: c.clientId,
      redirect_uri: c.redirectUri,
      response_type: 'code',
      scope: 'mcp:tools',
      resource: MCP,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 's',
    });
    assert.ok(consentPage);
    assert.match(consentPage, /<h1>Allow Claude Code\?<\/h1>/);
    assert.match(consentPage, /You will be sent back to <strong>127\.0\.0\.1:5555<\/strong>\./);
    assert.match(consentPage, /only returns to this computer \(localhost\)/);
  });

  test('a denied consent returns error=access_denied with the state and iss', async () => {
    const c = await publicClient();
    const b = new PortalClient(inst);
    const params = {
      client_id: c.clientId,
      redirect_uri: c.redirectUri,
      response_type: 'code',
      scope: 'mcp:tools',
      resource: MCP,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      state: 'st-3',
    };
    let r = await b.go(`/oidc/auth?${new URLSearchParams(params).toString()}`);
    const rd = new URL(r.visited.at(-1) ?? '').searchParams.get('rd') ?? '';
    r = await b.go((await b.signIn(rd, 'alice')).headers.location ?? '');
    const denied = await b.request(r.visited.at(-1) ?? '', {
      method: 'POST',
      body: b.form({ decision: 'deny' }),
      headers: { origin: ISSUER },
    });
    const end = await b.go(denied.headers.location ?? '');
    const back = new URL(end.location ?? '');
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('state'), 'st-3');
    assert.equal(back.searchParams.get('iss'), ISSUER);
  });
});

describe('the token endpoint', () => {
  test("the answer is JSON with Cache-Control: no-store; the access token is an RFC 9068 JWT for the resource with the user's identity", async () => {
    const c = await publicClient();
    const { code, verifier } = await codeFor(new PortalClient(inst), c);
    const t = await exchange(c, code, verifier);
    assert.equal(t.status, 200);
    assert.equal(t.headers['cache-control'], 'no-store');
    assert.equal(t.headers['content-type'], 'application/json; charset=utf-8');
    const body = json(t);
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 3600);
    assert.equal(body.scope, 'mcp:tools');
    const at = String(body.access_token);
    assert.deepEqual({ ...decodeProtectedHeader(at), kid: undefined }, { alg: 'ES256', typ: 'at+jwt', kid: undefined });
    const { payload } = await jwtVerify(at, createLocalJWKSet(await jwks()), { issuer: ISSUER, audience: MCP, typ: 'at+jwt' });
    const alice = await inst.running.store.users.findByUsername('alice');
    assert.equal(payload.aud, MCP);
    assert.equal(payload.sub, alice?.id);
    assert.equal(payload.client_id, c.clientId);
    assert.equal(payload.scope, 'mcp:tools');
    assert.equal(payload.preferred_username, 'alice');
    assert.deepEqual(payload.groups, ['admins']);
  });

  test('the gate accepts the token at the resource and sets the identity headers', async () => {
    const c = await publicClient();
    const { access_token } = await tokensFor(c, { scope: 'mcp:tools mcp:admin' });
    const fa = await forwardAuth(inst.port, `${MCP}`, { headers: { authorization: `Bearer ${access_token}`, accept: 'application/json' } });
    assert.equal(fa.status, 202, fa.body);
    assert.equal(fa.headers['x-auth-request-user'], 'alice');
    assert.equal(fa.headers['x-auth-request-groups'], 'admins');
    // …and refuses it at the other resource (aud).
    const other = await forwardAuth(inst.port, OTHER, { headers: { authorization: `Bearer ${access_token}`, accept: 'application/json' } });
    assert.equal(other.status, 401);
  });

  test('an unknown or fragment-bearing resource → invalid_target, and the code still works afterwards', async () => {
    const c = await publicClient();
    const { code, verifier } = await codeFor(new PortalClient(inst), c);
    for (const resource of ['https://unknown.example.test/mcp', `${MCP}#frag`, 'not a uri']) {
      const bad = await exchange(c, code, verifier, { resource });
      assert.equal(bad.status, 400, resource);
      assert.equal(json(bad).error, 'invalid_target', resource);
    }
    const ok = await exchange(c, code, verifier);
    assert.equal(ok.status, 200);
  });

  test('an unknown resource at /authorize is refused with invalid_target (redirected, with iss)', async () => {
    const c = await publicClient();
    const b = new PortalClient(inst);
    const r = await b.go(
      `/oidc/auth?${new URLSearchParams({ client_id: c.clientId, redirect_uri: c.redirectUri, response_type: 'code', scope: 'mcp:tools', resource: 'https://unknown.example.test/', code_challenge: pkce().challenge, code_challenge_method: 'S256', state: 's' }).toString()}`,
    );
    const back = new URL(r.location ?? '');
    assert.equal(back.searchParams.get('error'), 'invalid_target');
    assert.equal(back.searchParams.get('iss'), ISSUER);
  });

  test('no resource anywhere: the token is for issuer.defaultResource', async () => {
    const c = await publicClient();
    const t = await tokensFor(c, { resource: '' });
    assert.equal(decodeJwt(t.access_token).aud, MCP);
  });

  test('a token for the other resource has its audience and scopes', async () => {
    const c = await publicClient();
    const t = await tokensFor(c, { resource: OTHER, scope: 'api' });
    const p = decodeJwt(t.access_token);
    assert.equal(p.aud, OTHER);
    assert.equal(p.scope, 'api');
  });

  test('a code is single-use: a replay fails and revokes what the first exchange issued', async () => {
    const c = await publicClient();
    const { code, verifier } = await codeFor(new PortalClient(inst), c);
    const first = await exchange(c, code, verifier);
    assert.equal(first.status, 200);
    const replay = await exchange(c, code, verifier);
    assert.equal(replay.status, 400);
    assert.equal(json(replay).error, 'invalid_grant');
    const r = await refresh(c, String(json(first).refresh_token));
    assert.equal(json(r).error, 'invalid_grant');
  });

  test('a wrong code_verifier → invalid_grant', async () => {
    const c = await publicClient();
    const { code } = await codeFor(new PortalClient(inst), c);
    const t = await exchange(c, code, pkce().verifier);
    assert.equal(t.status, 400);
    assert.equal(json(t).error, 'invalid_grant');
  });
});

describe('refresh tokens of public clients', () => {
  test('rotate; the previous one works once more within the grace; a later reuse revokes the grant', async () => {
    const c = await publicClient();
    const t = await tokensFor(c);
    const rt1 = t.refresh_token ?? '';
    const r2 = await refresh(c, rt1, { resource: MCP });
    assert.equal(r2.status, 200);
    const rt2 = String(json(r2).refresh_token);
    assert.notEqual(rt2, rt1);
    assert.equal(decodeJwt(String(json(r2).access_token)).aud, MCP);
    // The client lost the answer and retries with rt1: once, within issuer.refreshTokenGrace.
    const retry = await refresh(c, rt1);
    assert.equal(retry.status, 200);
    const rt3 = String(json(retry).refresh_token);
    // Reuse again: the grant ends, every refresh token of it with it.
    const reuse = await refresh(c, rt1);
    assert.equal(reuse.status, 400);
    assert.equal(json(reuse).error, 'invalid_grant');
    for (const rt of [rt2, rt3]) assert.equal(json(await refresh(c, rt)).error, 'invalid_grant');
  });

  test('a refresh can narrow the scope, never widen it', async () => {
    const c = await publicClient();
    const t = await tokensFor(c, { scope: 'mcp:tools offline_access' });
    const wide = await refresh(c, t.refresh_token ?? '', { scope: 'mcp:tools mcp:admin' });
    assert.equal(wide.status, 400);
    assert.equal(json(wide).error, 'invalid_scope');
    const t2 = await tokensFor(c, { scope: 'mcp:tools mcp:admin offline_access' });
    const narrow = await refresh(c, t2.refresh_token ?? '', { scope: 'mcp:tools' });
    assert.equal(narrow.status, 200);
    assert.equal(decodeJwt(String(json(narrow).access_token)).scope, 'mcp:tools');
  });
});

describe('client authentication, deletion and revocation', () => {
  async function confidential(method: 'client_secret_basic' | 'client_secret_post') {
    const r = await register(inst, {
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: method,
    });
    assert.equal(r.status, 201, r.body);
    return json(r) as { client_id: string; client_secret: string; registration_client_uri: string; registration_access_token: string };
  }
  const cc = { grant_type: 'client_credentials', resource: OTHER, scope: 'api' };

  test('client_secret_basic and client_secret_post work, each only as registered; failures are 401 invalid_client', async () => {
    const b = await confidential('client_secret_basic');
    const p = await confidential('client_secret_post');
    assert.equal((await token(inst, cc, { authorization: basic(b.client_id, b.client_secret) })).status, 200);
    assert.equal((await token(inst, { ...cc, client_id: p.client_id, client_secret: p.client_secret })).status, 200);
    for (const a of [
      await token(inst, { ...cc, client_id: b.client_id, client_secret: b.client_secret }),
      await token(inst, cc, { authorization: basic(p.client_id, p.client_secret) }),
      await token(inst, cc, { authorization: basic(b.client_id, 'wrong') }),
      await token(inst, { ...cc, client_id: b.client_id }),
    ]) {
      assert.equal(a.status, 401);
      assert.equal(json(a).error, 'invalid_client');
    }
  });

  test('a public client (none) cannot authenticate with a secret it does not have', async () => {
    const c = await publicClient();
    const a = await token(
      inst,
      { grant_type: 'refresh_token', refresh_token: 'x' },
      { authorization: basic(c.clientId, 'made-up-secret') },
    );
    assert.equal(a.status, 401);
    assert.equal(json(a).error, 'invalid_client');
  });

  test('a deleted client (RFC 7592 DELETE) at /token → 401 invalid_client', async () => {
    const b = await confidential('client_secret_basic');
    const del = await send(inst.port, {
      method: 'DELETE',
      path: new URL(b.registration_client_uri).pathname,
      headers: { ...HTTPS, authorization: `Bearer ${b.registration_access_token}` },
    });
    assert.equal(del.status, 204);
    const a = await token(inst, cc, { authorization: basic(b.client_id, b.client_secret) });
    assert.equal(a.status, 401);
    assert.equal(json(a).error, 'invalid_client');
  });

  test('revocation: 200 for an unknown token; only the owning client can revoke; revoking a refresh token ends the grant', async () => {
    const c = await publicClient();
    const other = await publicClient();
    const t = await tokensFor(c);
    const revoke = (clientId: string, tok: string) =>
      send(inst.port, {
        method: 'POST',
        path: '/oidc/token/revocation',
        headers: { ...HTTPS, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: clientId, token: tok, token_type_hint: 'refresh_token' }).toString(),
      });
    assert.equal((await revoke(c.clientId, 'unknown-token-value')).status, 200);
    // Another client's attempt changes nothing (RFC 7009 §2.1: the token was not issued to it).
    await revoke(other.clientId, t.refresh_token ?? '');
    const r = await refresh(c, t.refresh_token ?? '');
    assert.equal(r.status, 200);
    const rt = String(json(r).refresh_token);
    assert.equal((await revoke(c.clientId, rt)).status, 200);
    assert.equal(json(await refresh(c, rt)).error, 'invalid_grant');
  });
});
