// The issuer against a real relying party (openid-client 6): discovery, code + PKCE through the
// portal's sign-in, userinfo, refresh with rotation, logout.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { send } from '../kit/http.ts';
import { ALICE, BOB, type Instance, startInstance } from '../kit/server.ts';
import { authorize, discover, GRAFANA_CB, GRAFANA_SECRET, HTTPS, ISSUER, issuerConfig, PortalClient } from '../kit/issuer.ts';

let inst: Instance;
before(async () => {
  inst = await startInstance({
    config: (dir) => issuerConfig(dir),
    users: [ALICE, BOB, { name: 'olga', email: 'olga@example.test', groups: ['ops'] }],
  });
});
after(async () => {
  await inst.close();
});

describe('discovery', () => {
  test('both documents answer 200 directly with the identical issuer: publicUrl without a trailing slash', async () => {
    const a = await send(inst.port, { path: '/.well-known/openid-configuration', headers: HTTPS });
    const b = await send(inst.port, { path: '/.well-known/oauth-authorization-server', headers: HTTPS });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const da = JSON.parse(a.body) as Record<string, unknown>;
    const db = JSON.parse(b.body) as Record<string, unknown>;
    assert.equal(da.issuer, 'https://auth.example.test');
    assert.equal(db.issuer, 'https://auth.example.test');
    assert.deepEqual(db, da);
    assert.equal(da.authorization_endpoint, 'https://auth.example.test/oidc/auth');
    assert.equal(da.token_endpoint, 'https://auth.example.test/oidc/token');
    assert.equal(da.jwks_uri, 'https://auth.example.test/oidc/jwks');
    assert.equal(da.userinfo_endpoint, 'https://auth.example.test/oidc/me');
    assert.equal(da.end_session_endpoint, 'https://auth.example.test/oidc/session/end');
    assert.deepEqual([...(da.id_token_signing_alg_values_supported as string[])].sort(), ['ES256', 'RS256']);
    assert.deepEqual(da.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(da.scopes_supported, ['openid', 'offline_access', 'profile', 'email', 'groups']);
  });

  test('the JWKS publishes one ES256 and one RS256 public key, no private parts', async () => {
    const a = await send(inst.port, { path: '/oidc/jwks', headers: HTTPS });
    assert.equal(a.status, 200);
    const keys = (JSON.parse(a.body) as { keys: Record<string, unknown>[] }).keys;
    assert.deepEqual(keys.map((k) => [k.alg, k.use, k.kty]).sort(), [
      ['ES256', 'sig', 'EC'],
      ['RS256', 'sig', 'RSA'],
    ]);
    for (const k of keys) for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[p], undefined);
  });

  test('openid-client discovers the issuer', async () => {
    const config = await discover(inst, 'grafana', GRAFANA_SECRET);
    assert.equal(config.serverMetadata().issuer, ISSUER);
  });

  test('the provider paths are not served on other hosts', async () => {
    const a = await send(inst.port, {
      path: '/.well-known/openid-configuration',
      headers: { host: 'app.example.test', 'x-forwarded-proto': 'https' },
    });
    assert.equal(a.status, 404);
  });
});

describe('code + PKCE through the portal', () => {
  test('sign in at the portal, get tokens, read userinfo, refresh with rotation', async () => {
    const config = await discover(inst, 'grafana', GRAFANA_SECRET);
    const b = new PortalClient(inst);
    const { callback, verifier, state } = await authorize(b, config, {
      redirect_uri: GRAFANA_CB,
      scope: 'openid profile email groups offline_access',
      prompt: 'consent',
    });
    assert.equal(callback.origin + callback.pathname, GRAFANA_CB);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const claims = tokens.claims();
    assert.ok(claims);
    const alice = await inst.running.store.users.findByUsername('alice');
    assert.equal(claims.sub, alice?.id);
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.aud, 'grafana');
    assert.equal(claims.preferred_username, 'alice');
    assert.equal(claims.email, 'alice@example.test');
    assert.equal(claims.email_verified, true);
    assert.deepEqual(claims.groups, ['admins']);
    assert.ok(tokens.refresh_token);

    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.deepEqual(info, {
      sub: alice?.id,
      name: 'alice',
      preferred_username: 'alice',
      email: 'alice@example.test',
      email_verified: true,
      groups: ['admins'],
    });

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(refreshed.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    // The old refresh token is spent; using it again fails (and revokes the grant: RFC 9700 §4.14.2).
    await assert.rejects(
      oidc.refreshTokenGrant(config, tokens.refresh_token),
      (err: Error & { error?: string }) => err.error === 'invalid_grant',
    );
    await assert.rejects(
      oidc.refreshTokenGrant(config, refreshed.refresh_token),
      (err: Error & { error?: string }) => err.error === 'invalid_grant',
    );
  });
});
