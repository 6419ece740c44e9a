// Sign-in through an OpenID provider (oidc-provider on port 0 as the upstream IdP), in process:
// discovery, PKCE, nonce, claims (nested paths, email_verified), Google's hd, the RFC 9207 iss
// parameter, a replayed ID token nonce, access_denied, straight-to-the-provider sign-in, refresh
// with a refresh token ending the session when the upstream group goes, and Entra (tenant,
// group overage through a Graph endpoint).
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '../../src/core/index.ts';
import { cookieValue, send } from '../kit/http.ts';
import { until } from '../kit/poll.ts';
import { type Answer, baseConfig, BROWSER, cookieHeader, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { followUntil, startUpstreamOidc, type UpstreamOidc } from '../kit/fake-providers.ts';

const CALLBACK = 'https://auth.example.test/oauth2/callback';
const RD = 'https://app.example.test/x?y=1';

function portalOf(inst: Instance) {
  return (path: string, cookie?: string): Promise<Answer> =>
    send(inst.port, {
      path,
      headers: { host: 'auth.example.test', 'x-forwarded-proto': 'https', ...BROWSER, ...(cookie ? { cookie } : {}) },
    });
}

/** Button (or straight start) -> the IdP's authorize and interaction -> our callback. */
async function signInWith(inst: Instance, startPath: string, tamper?: (q: URLSearchParams) => void): Promise<Answer> {
  const portal = portalOf(inst);
  const loginName = `${inst.running.settings().cookieName}_login`;
  const start = await portal(startPath);
  assert.equal(start.status, 302, start.body);
  const login = cookieValue(start.setCookies, loginName)!;
  const { location } = await followUntil(String(start.headers.location), CALLBACK);
  const back = new URL(location);
  tamper?.(back.searchParams);
  return portal(`/oauth2/callback${back.search}`, `${loginName}=${login}`);
}

describe('OpenID Connect connector (oidc-provider upstream)', () => {
  let idp: UpstreamOidc;
  let inst: Instance;
  const clock = new ManualClock(Date.now());

  before(async () => {
    idp = await startUpstreamOidc({ redirectUri: CALLBACK });
    idp.accounts.set('kc-1', {
      sub: 'kc-1',
      claims: {
        preferred_username: 'carol',
        email: 'carol@example.test',
        email_verified: true,
        name: 'Carol',
        realm_access: { roles: ['admins', 'offline'] },
        hd: 'example.test',
      },
    });
    idp.accounts.set('kc-2', {
      sub: 'kc-2',
      claims: {
        preferred_username: 'dave',
        email: 'dave@example.test',
        email_verified: true,
        realm_access: { roles: ['admins'] },
        hd: 'elsewhere.test',
      },
    });
    inst = await startInstance({
      clock,
      users: [{ name: 'erin', email: 'erin@example.test', groups: [] }],
      config: (dir) =>
        baseConfig(dir, {
          connectors: [
            {
              id: 'keycloak',
              name: 'Keycloak',
              type: 'oidc',
              issuer: idp.issuer,
              clientId: idp.clientId,
              clientSecret: idp.clientSecret,
              scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
              claims: { groups: 'realm_access.roles' },
              allow: { hostedDomains: ['example.test'], groups: ['admins'] },
              createAccounts: 'auto',
              linkByEmail: true,
              refreshInterval: '1m',
            },
          ],
          signIn: { localAccounts: false },
        }),
    });
  });
  after(async () => {
    await inst.close();
    await idp.close();
  });
  beforeEach(() => {
    idp.next = 'kc-1';
  });

  test('with one connector and no local accounts, /oauth2/start goes straight to the provider (PKCE, nonce, state)', async () => {
    const a = await portalOf(inst)(`/oauth2/start?rd=${encodeURIComponent(RD)}`);
    assert.equal(a.status, 302);
    const to = new URL(String(a.headers.location));
    assert.equal(`${to.origin}${to.pathname}`, `${idp.issuer}/auth`);
    assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(to.searchParams.get('redirect_uri'), CALLBACK);
    assert.equal(to.searchParams.get('scope'), 'openid profile email groups offline_access');
    assert.match(String(to.searchParams.get('nonce')), /^[A-Za-z0-9_-]{24}$/);
    assert.equal(to.searchParams.get('hd'), 'example.test');
  });

  test('password sign-in is refused when signIn.localAccounts is false', async () => {
    const a = await send(inst.port, {
      method: 'POST',
      path: '/oauth2/sign_in',
      body: 'username=erin&password=x&csrf=x&rd=',
      headers: { host: 'auth.example.test', 'content-type': 'application/x-www-form-urlencoded', ...BROWSER },
    });
    assert.equal(a.status, 403);
    assert.ok(a.body.includes('<h1>Password sign-in is off</h1>'));
  });

  test('a full sign-in: nested groups claim, account created, the gate admits the user', async () => {
    const cb = await signInWith(inst, `/oauth2/start?rd=${encodeURIComponent(RD)}`);
    assert.equal(cb.status, 303, cb.body);
    assert.equal(cb.headers.location, RD);
    const cookie = cookieHeader(inst, cookieValue(cb.setCookies, inst.running.settings().cookieName)!);
    const gate = await forwardAuth(inst.port, RD, { cookie });
    assert.equal(gate.status, 202);
    assert.equal(gate.headers['x-auth-request-user'], 'carol');
    assert.equal(gate.headers['x-auth-request-groups'], 'admins,offline');
    const link = await inst.running.store.identities.get('keycloak', 'kc-1');
    assert.ok(link?.tokens, 'the refresh token is kept, sealed');
  });

  test('the wrong hosted domain (hd) is refused even though the provider signed the user in', async () => {
    idp.next = 'kc-2';
    const cb = await signInWith(inst, '/oauth2/start?provider=keycloak');
    assert.equal(cb.status, 403);
    assert.ok(cb.body.includes('<h1>Not allowed</h1>'));
    // One provider and no form: "try another account", and no link back to a chooser that would bounce.
    assert.ok(cb.body.includes('prompt=select_account'));
    assert.equal(cb.body.includes('Other ways to sign in'), false);
    assert.equal(
      inst.logger.lines.findLast((l) => l.msg === 'upstream sign-in failed')?.fields.detail,
      'hosted domain elsewhere.test is not in connectors[keycloak].allow.hostedDomains',
    );
  });

  test('an unverified email is never linked to the local account with that address', async () => {
    idp.accounts.set('kc-3', {
      sub: 'kc-3',
      claims: {
        preferred_username: 'erin',
        email: 'erin@example.test',
        email_verified: false,
        realm_access: { roles: ['admins'] },
        hd: 'example.test',
      },
    });
    idp.next = 'kc-3';
    const cb = await signInWith(inst, '/oauth2/start?provider=keycloak');
    assert.equal(cb.status, 303);
    const link = await inst.running.store.identities.get('keycloak', 'kc-3');
    const user = await inst.running.store.users.get(link!.userId);
    // Not erin's account: a new one, named apart from the local "erin" (never linked by name).
    assert.equal(user?.username, 'erin@keycloak');
    assert.equal(user?.emailVerified, false);
  });

  test("a replayed ID token (nonce not this sign-in's): 400 with the nonce message", async () => {
    const portal = portalOf(inst);
    const loginName = `${inst.running.settings().cookieName}_login`;
    const start = await portal('/oauth2/start?provider=keycloak');
    const sealed = cookieValue(start.setCookies, loginName)!;
    const { location } = await followUntil(String(start.headers.location), CALLBACK);
    // The same state and PKCE verifier, but another nonce: what a replayed or injected token looks like.
    const keyring = inst.running.settings().keyring;
    const state = JSON.parse(keyring.unseal('login-state', sealed)!.toString('utf8')) as { up: { nonce: string } };
    state.up.nonce = 'another-sign-in-nonce-00';
    const forged = keyring.seal('login-state', JSON.stringify(state));
    const cb = await portal(`/oauth2/callback${new URL(location).search}`, `${loginName}=${forged}`);
    assert.equal(cb.status, 400);
    assert.ok(cb.body.includes('(nonce mismatch)'), cb.body);
    assert.equal(inst.logger.lines.findLast((l) => l.msg === 'upstream sign-in failed')?.fields.failure, 'bad_nonce');
  });

  test('an iss parameter from another issuer (RFC 9207): 502 with the issuer message', async () => {
    const cb = await signInWith(inst, '/oauth2/start?provider=keycloak', (q) => q.set('iss', 'https://evil.example'));
    assert.equal(cb.status, 502);
    assert.ok(cb.body.includes('(wrong iss)'));
  });

  test('the user declines (error=access_denied): 403 "Sign-in cancelled"', async () => {
    idp.next = null;
    const cb = await signInWith(inst, '/oauth2/start?provider=keycloak');
    assert.equal(cb.status, 403);
    assert.ok(cb.body.includes('<h1>Sign-in cancelled</h1>'));
  });

  test('leaving the upstream group ends the session at the next refresh (refresh token grant)', async () => {
    idp.accounts.set('kc-4', {
      sub: 'kc-4',
      claims: {
        preferred_username: 'frank',
        email: 'frank@example.test',
        email_verified: true,
        realm_access: { roles: ['admins'] },
        hd: 'example.test',
      },
    });
    idp.next = 'kc-4';
    const cb = await signInWith(inst, '/oauth2/start?provider=keycloak');
    const cookie = cookieHeader(inst, cookieValue(cb.setCookies, inst.running.settings().cookieName)!);
    assert.equal((await forwardAuth(inst.port, RD, { cookie })).status, 202);
    idp.accounts.set('kc-4', {
      sub: 'kc-4',
      claims: {
        preferred_username: 'frank',
        email: 'frank@example.test',
        email_verified: true,
        realm_access: { roles: [] },
        hd: 'example.test',
      },
    });
    clock.advance(61_000);
    await forwardAuth(inst.port, RD, { cookie });
    await until(async () => (await forwardAuth(inst.port, RD, { cookie })).status === 302, { timeoutMs: 3000, what: 'the session ends' });
    assert.equal(
      inst.logger.lines.findLast((l) => l.msg === 'upstream access ended')?.fields.reason,
      'not in any group of connectors[keycloak].allow.groups',
    );
  });
});

describe('Microsoft Entra ID connector (oidc-provider at /<tenant>/v2.0, a Graph stand-in)', () => {
  const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  let idp: UpstreamOidc;
  let graph: Server;
  let graphUrl: string;
  const graphCalls: string[] = [];
  let inst: Instance;

  before(async () => {
    idp = await startUpstreamOidc({ redirectUri: CALLBACK, path: `/${TENANT}/v2.0` });
    const base = { tid: TENANT, email: 'gina@contoso.test', preferred_username: 'gina@contoso.test', name: 'Gina' };
    idp.accounts.set('e-1', { sub: 'pairwise-1', claims: { ...base, oid: 'oid-1', groups: ['g-admins'] } });
    idp.accounts.set('e-2', {
      sub: 'pairwise-2',
      claims: {
        ...base,
        oid: 'oid-2',
        preferred_username: 'hal@contoso.test',
        email: 'hal@contoso.test',
        _claim_names: { groups: 'src1' },
        _claim_sources: { src1: { endpoint: 'https://graph.windows.net/x/getMemberObjects' } },
      },
    });
    idp.accounts.set('e-3', {
      sub: 'pairwise-3',
      claims: { ...base, oid: 'oid-3', tid: '00000000-0000-0000-0000-000000000000', preferred_username: 'ivy@fabrikam.test' },
    });
    graph = createServer((req, res) => {
      graphCalls.push(`${req.method} ${req.url} ${req.headers.authorization ? 'bearer' : 'none'}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ value: ['g-admins', 'g-ops'] }));
    });
    await new Promise<void>((r) => graph.listen(0, '127.0.0.1', () => r()));
    graphUrl = `http://127.0.0.1:${(graph.address() as AddressInfo).port}`;
    inst = await startInstance({
      users: [],
      config: (dir) =>
        baseConfig(dir, {
          connectors: [
            {
              id: 'entra',
              type: 'entra',
              tenant: TENANT,
              authority: new URL(idp.issuer).origin,
              graphUrl,
              clientId: idp.clientId,
              clientSecret: idp.clientSecret,
              scopes: ['openid', 'profile', 'email', 'groups'],
              createAccounts: 'auto',
              groups: { map: { 'g-admins': 'admins' }, unmapped: 'drop' },
            },
          ],
        }),
    });
  });
  after(async () => {
    await inst.close();
    await idp.close();
    await new Promise((r) => graph.close(r));
  });

  test('groups from the token; subject tid/oid; email unverified without xms_edov', async () => {
    idp.next = 'e-1';
    const cb = await signInWith(inst, '/oauth2/start?provider=entra');
    assert.equal(cb.status, 303, cb.body);
    const link = await inst.running.store.identities.get('entra', `${TENANT}/oid-1`);
    assert.deepEqual(link?.groups, ['admins']);
    const user = await inst.running.store.users.get(link!.userId);
    assert.deepEqual([user?.username, user?.emailVerified], ['gina@contoso.test', false]);
    assert.deepEqual(graphCalls, []);
  });

  test('group overage (_claim_names.groups): the groups are read from Graph with the access token', async () => {
    idp.next = 'e-2';
    const cb = await signInWith(inst, '/oauth2/start?provider=entra');
    assert.equal(cb.status, 303, cb.body);
    assert.deepEqual(graphCalls, ['POST /v1.0/me/getMemberObjects bearer']);
    assert.deepEqual((await inst.running.store.identities.get('entra', `${TENANT}/oid-2`))?.groups, ['admins']);
  });

  test('another tenant is refused', async () => {
    idp.next = 'e-3';
    const cb = await signInWith(inst, '/oauth2/start?provider=entra');
    assert.equal(cb.status, 403);
    assert.equal(
      inst.logger.lines.findLast((l) => l.msg === 'upstream sign-in failed')?.fields.detail,
      'tenant 00000000-0000-0000-0000-000000000000 is not connectors[entra].tenant',
    );
  });
});
