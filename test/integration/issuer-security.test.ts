// The issuer's refusals and the Kubernetes API server's rules: error pages without redirects,
// code replay, PKCE, consent, allowed groups, claim filtering, logout both ways, key rotation.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oidc from 'openid-client';
import { send } from '../kit/http.ts';
import { ALICE, BOB, fakeIO, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { runCli } from '../../src/cli/index.ts';
import {
  authorize,
  CLI_CB,
  discover,
  GRAFANA_CB,
  GRAFANA_SECRET,
  HTTPS,
  ISSUER,
  issuerConfig,
  PortalClient,
  THIRD_CB,
  THIRD_SECRET,
} from '../kit/issuer.ts';

let inst: Instance;
before(async () => {
  inst = await startInstance({
    unwatched: true,
    config: (dir) => issuerConfig(dir),
    users: [ALICE, BOB, { name: 'olga', email: 'olga@example.test', groups: ['ops'] }],
  });
});
after(async () => {
  await inst.close();
});

const errorOf = (err: unknown) => (err as { error?: string }).error;

/** The kube-apiserver's JWT authenticator rules (structured AuthenticationConfiguration). */
async function kubeValidate(idToken: string, audience: string): Promise<Record<string, unknown>> {
  const disc = JSON.parse((await send(inst.port, { path: '/.well-known/openid-configuration', headers: HTTPS })).body) as {
    issuer: string;
    jwks_uri: string;
  };
  if (disc.issuer !== ISSUER || !disc.issuer.startsWith('https://')) throw new Error('issuer must be https and match exactly');
  const { alg } = decodeProtectedHeader(idToken);
  if (alg !== 'RS256' && alg !== 'ES256') throw new Error(`unsupported alg ${String(alg)}`);
  const jwks = JSON.parse((await send(inst.port, { path: new URL(disc.jwks_uri).pathname, headers: HTTPS })).body) as JSONWebKeySet;
  const { payload } = await jwtVerify(idToken, createLocalJWKSet(jwks), { issuer: ISSUER, audience, algorithms: ['RS256', 'ES256'] });
  if (payload.email !== undefined && payload.email_verified !== true)
    throw new Error('email_verified must be true when the email claim is used');
  const groups = payload.groups;
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) throw new Error('groups must be a string array');
  return payload;
}

async function grafanaTokens(username = 'alice') {
  const config = await discover(inst, 'grafana', GRAFANA_SECRET);
  const b = new PortalClient(inst);
  const { callback, verifier, state } = await authorize(b, config, { redirect_uri: GRAFANA_CB }, username);
  return { config, b, tokens: await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }) };
}

describe('refusals shown to the user, never redirected', () => {
  test('an unknown client gets an error page and no Location', async () => {
    const a = await send(inst.port, {
      path: `/oidc/auth?client_id=nope&redirect_uri=${encodeURIComponent('https://evil.example/cb')}&response_type=code&scope=openid`,
      headers: { ...HTTPS, accept: 'text/html' },
    });
    assert.equal(a.status, 400);
    assert.equal(a.headers.location, undefined);
    assert.match(a.body, /invalid_client/);
  });

  test('a redirect_uri that is not registered exactly gets an error page and no Location', async () => {
    for (const uri of [`${GRAFANA_CB}/`, `${GRAFANA_CB}?x=1`, 'https://evil.example/login/generic_oauth']) {
      const a = await send(inst.port, {
        path: `/oidc/auth?client_id=grafana&redirect_uri=${encodeURIComponent(uri)}&response_type=code&scope=openid`,
        headers: { ...HTTPS, accept: 'text/html' },
      });
      assert.equal(a.status, 400, uri);
      assert.equal(a.headers.location, undefined, uri);
      assert.match(
        a.body,
        /redirect_uri did not match any of the client&#39;s registered redirect_uris|redirect_uri did not match any of the client's registered redirect_uris/,
        uri,
      );
    }
  });
});

describe('codes and PKCE', () => {
  test('a replayed code fails and revokes the tokens the first exchange issued', async () => {
    const config = await discover(inst, 'grafana', GRAFANA_SECRET);
    const b = new PortalClient(inst);
    const { callback, verifier, state } = await authorize(b, config, {
      redirect_uri: GRAFANA_CB,
      scope: 'openid groups offline_access',
      prompt: 'consent',
    });
    const first = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const sub = first.claims()?.sub ?? '';
    assert.ok(await oidc.fetchUserInfo(config, first.access_token, sub));
    await assert.rejects(
      oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }),
      (e) => errorOf(e) === 'invalid_grant',
    );
    await assert.rejects(oidc.fetchUserInfo(config, first.access_token, sub), (e) => (e as { status?: number }).status === 401);
    await assert.rejects(oidc.refreshTokenGrant(config, first.refresh_token ?? ''), (e) => errorOf(e) === 'invalid_grant');
  });

  test('a public client without PKCE is refused (redirected with invalid_request, no code)', async () => {
    const config = await discover(inst, 'cli');
    const b = new PortalClient(inst);
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: CLI_CB, scope: 'openid', state: 's1' });
    const r = await b.go(url.href);
    const back = new URL(r.location ?? '');
    assert.equal(back.origin + back.pathname, CLI_CB);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.equal(back.searchParams.get('code'), null);
  });

  test('a public client with the wrong code_verifier gets invalid_grant; the right one works', async () => {
    const config = await discover(inst, 'cli');
    const b = new PortalClient(inst);
    const { callback, state } = await authorize(b, config, { redirect_uri: CLI_CB, scope: 'openid' });
    await assert.rejects(
      oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: state }),
      (e) => errorOf(e) === 'invalid_grant',
    );
    const again = await authorize(b, config, { redirect_uri: CLI_CB, scope: 'openid' });
    const ok = await oidc.authorizationCodeGrant(config, again.callback, { pkceCodeVerifier: again.verifier, expectedState: again.state });
    assert.ok(ok.id_token);
  });
});

describe('consent, groups and claims', () => {
  test('a third-party client shows a consent page; deny returns access_denied, allow returns a code', async () => {
    const config = await discover(inst, 'third', THIRD_SECRET);
    const b = new PortalClient(inst);
    const ask = async () => {
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: THIRD_CB,
        scope: 'openid email',
        state: 's',
        code_challenge: await oidc.calculatePKCECodeChallenge('v'.repeat(43)),
        code_challenge_method: 'S256',
      });
      let r = await b.go(url.href);
      if (!b.jar.has(inst.running.settings().cookieName)) {
        const rd = new URL(r.visited.at(-1) ?? '').searchParams.get('rd') ?? '';
        r = await b.go((await b.signIn(rd, 'alice')).headers.location ?? '');
      }
      return r;
    };
    let r = await ask();
    assert.equal(r.answer.status, 200);
    assert.match(r.answer.body, /<h1>Allow Third App\?<\/h1>/);
    assert.match(String(r.answer.headers['content-security-policy']), /form-action 'self' https:\/\/third\.example\.org/);
    const consentUrl = r.visited.at(-1) ?? '';
    const cross = await b.request(consentUrl, {
      method: 'POST',
      body: b.form({ decision: 'allow' }),
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(cross.status, 403);
    const denied = await b.request(consentUrl, { method: 'POST', body: b.form({ decision: 'deny' }), headers: { origin: ISSUER } });
    assert.equal(denied.status, 303);
    const end = await b.go(denied.headers.location ?? '');
    assert.equal(new URL(end.location ?? '').searchParams.get('error'), 'access_denied');
    r = await ask();
    const allowed = await b.request(r.visited.at(-1) ?? '', { method: 'POST', body: b.form({ decision: 'allow' }) });
    const done = await b.go(allowed.headers.location ?? '');
    assert.ok(new URL(done.location ?? '').searchParams.get('code'));
  });

  test('allowedGroups: a user outside them gets access_denied; a member signs in', async () => {
    const config = await discover(inst, 'ops-only', 'ops-only-secret-0123456789');
    const alice = new PortalClient(inst);
    const url = async (b: PortalClient, user: string) => {
      const u = oidc.buildAuthorizationUrl(config, { redirect_uri: 'https://ops.example.test/cb', scope: 'openid', state: 's' });
      const r = await b.go(u.href);
      const rd = new URL(r.visited.at(-1) ?? '').searchParams.get('rd') ?? '';
      return new URL((await b.go((await b.signIn(rd, user)).headers.location ?? '')).location ?? '');
    };
    const refused = await url(alice, 'alice');
    assert.equal(refused.searchParams.get('error'), 'access_denied');
    assert.equal(refused.searchParams.get('code'), null);
    const ok = await url(new PortalClient(inst), 'olga');
    assert.ok(ok.searchParams.get('code'));
  });

  test('claims: a client limited to groups gets sub and groups only (and acr and amr: how the sign-in went, not who)', async () => {
    const config = await discover(inst, 'slim', 'slim-secret-0123456789abcd');
    const b = new PortalClient(inst);
    const { callback, verifier, state } = await authorize(b, config, { redirect_uri: 'https://slim.example.test/cb' });
    const t = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const c = t.claims() ?? {};
    assert.deepEqual(
      Object.keys(c)
        .filter((k) => !['iss', 'aud', 'exp', 'iat', 'auth_time', 'at_hash', 'sid', 'jti', 'azp'].includes(k))
        .sort(),
      ['acr', 'amr', 'groups', 'sub'],
    );
  });
});

describe('the kube-apiserver rules', () => {
  test('an ID token passes: exact https issuer, RS256, audience, groups a string array, email_verified true', async () => {
    const { tokens } = await grafanaTokens();
    assert.equal(decodeProtectedHeader(tokens.id_token ?? '').alg, 'RS256');
    const p = await kubeValidate(tokens.id_token ?? '', 'grafana');
    assert.deepEqual(p.groups, ['admins']);
    assert.equal(p.email_verified, true);
    await assert.rejects(kubeValidate(tokens.id_token ?? '', 'kubernetes'), /unexpected "aud" claim value/);
  });

  test('an unverified email gives email_verified false, which the validator refuses', async () => {
    const bob = await inst.running.store.users.findByUsername('bob');
    await inst.running.store.users.update(bob?.id ?? '', { emailVerified: false });
    const { tokens } = await grafanaTokens('bob');
    assert.equal(tokens.claims()?.email_verified, false);
    await assert.rejects(kubeValidate(tokens.id_token ?? '', 'grafana'), /email_verified must be true/);
  });

  test('keys rotate: old tokens verify until the old key is retired, then fail; new tokens use the new key', async () => {
    const { tokens } = await grafanaTokens();
    const oldKid = decodeProtectedHeader(tokens.id_token ?? '').kid;
    const io = fakeIO('', {});
    assert.equal(await runCli(['keys', 'rotate', '--signing', '--config', inst.configPath], io), 0, io.stderr.join('\n'));
    assert.match(io.stdout[0] ?? '', /^added signing keys \S+, \S+; \S+, \S+ stop signing now and stay published until \d{4}-/);
    await writeFile(inst.realConfigPath, stringify(issuerConfig(inst.dir, { log: { level: 'info' } })));
    assert.equal(await inst.running.reload('manual'), true);
    const jwks = JSON.parse((await send(inst.port, { path: '/oidc/jwks', headers: HTTPS })).body) as { keys: { kid: string }[] };
    assert.equal(jwks.keys.length, 4);
    await kubeValidate(tokens.id_token ?? '', 'grafana');
    const fresh = await grafanaTokens();
    assert.notEqual(decodeProtectedHeader(fresh.tokens.id_token ?? '').kid, oldKid);
    // Time passes beyond retireAfter: the old keys are deleted and no longer published.
    const removed = await inst.running.store.signingKeys.deleteExpired(Date.now() + 3 * 3_600_000);
    assert.equal(removed.length, 2);
    assert.equal(await inst.running.reload('manual'), true);
    const after = JSON.parse((await send(inst.port, { path: '/oidc/jwks', headers: HTTPS })).body) as { keys: { kid: string }[] };
    assert.equal(after.keys.length, 2);
    await assert.rejects(kubeValidate(tokens.id_token ?? '', 'grafana'), /no applicable key found in the JSON Web Key Set/);
    await kubeValidate(fresh.tokens.id_token ?? '', 'grafana');
  });
});

describe('logout', () => {
  test('RP-initiated logout ends the gate session too and returns to the registered URI', async () => {
    const { config, b, tokens } = await grafanaTokens();
    const gate = b.jar.get(inst.running.settings().cookieName) ?? '';
    assert.equal(
      (await forwardAuth(inst.port, 'https://app.example.test/', { cookie: `${inst.running.settings().cookieName}=${gate}` })).status,
      202,
    );
    const url = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token ?? '',
      post_logout_redirect_uri: 'https://grafana.example.test/',
      state: 'bye',
    });
    const page = await b.request(url.href);
    assert.equal(page.status, 200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const done = await b.request('/oidc/session/end/confirm', { method: 'POST', body: `xsrf=${xsrf}&logout=yes` });
    assert.equal(done.status, 303);
    assert.equal(done.headers.location, 'https://grafana.example.test/?state=bye');
    assert.ok(done.setCookies.some((c) => c.startsWith(`${inst.running.settings().cookieName}=;`) && /Max-Age=0/i.test(c)));
    const fa = await forwardAuth(inst.port, 'https://app.example.test/', { cookie: `${inst.running.settings().cookieName}=${gate}` });
    assert.notEqual(fa.status, 202);
  });

  test('signing out at the gate ends single sign-on: prompt=none then answers login_required', async () => {
    const { config, b } = await grafanaTokens();
    const silent = async () => {
      const u = oidc.buildAuthorizationUrl(config, {
        redirect_uri: GRAFANA_CB,
        scope: 'openid',
        prompt: 'none',
        state: 's',
        code_challenge: await oidc.calculatePKCECodeChallenge('v'.repeat(43)),
        code_challenge_method: 'S256',
      });
      return new URL((await b.go(u.href)).location ?? '');
    };
    assert.ok((await silent()).searchParams.get('code'));
    const out = await b.request('/oauth2/sign_out');
    assert.equal(out.status, 200);
    const after = await silent();
    assert.equal(after.searchParams.get('error'), 'login_required');
    assert.equal(after.searchParams.get('code'), null);
  });
});

describe("oidc-provider's auto-submitting page (patches/auto-submit-csp.ts)", () => {
  test("response_mode=form_post: the page's CSP allows exactly its inline script (by hash) and a form post to the client's origin", async () => {
    const config = await discover(inst, 'grafana', GRAFANA_SECRET);
    const b = new PortalClient(inst);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: GRAFANA_CB,
      scope: 'openid',
      response_mode: 'form_post',
      state: 's-1',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    let r = await b.go(url.href);
    const rd = new URL(r.visited.at(-1) ?? '').searchParams.get('rd') ?? '';
    const signed = await b.signIn(rd, 'alice');
    assert.equal(signed.status, 303);
    r = await b.go(signed.headers.location ?? '');
    assert.equal(r.answer.status, 200);
    assert.ok(r.answer.body.includes('<title>Submitting Callback</title>'), r.answer.body.slice(0, 200));
    const script = /<script>([\s\S]*?)<\/script>/.exec(r.answer.body)?.[1] ?? '';
    const digest = createHash('sha256').update(script, 'utf8').digest('base64');
    const csp = String(r.answer.headers['content-security-policy']);
    assert.ok(csp.endsWith(`; script-src 'sha256-${digest}'`), csp);
    assert.ok(csp.includes(`form-action 'self' ${new URL(GRAFANA_CB).origin}`), csp);
  });
});
