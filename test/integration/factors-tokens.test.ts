// Access tokens and second factors (issue 12), with openid-client 6: a JWT access token for a
// configured resource carries amr, acr and auth_time as the sign-in had them (password only, or
// password + authenticator app), and the gate answers such a token at an app with apps[].factors
// by RFC 9470: short of the factor, 401 `Bearer error="insufficient_user_authentication"` naming
// acr_values and max_age; enough, 202.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import { ALICE, type Answer, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { discover, GRAFANA_CB, GRAFANA_SECRET, ISSUER, issuerConfig, PortalClient } from '../kit/issuer.ts';

const VAULT = 'https://vault.example.test';
const WIKI = 'https://wiki.example.test';
const LEDGER = 'https://ledger.example.test';
const MFA = 'urn:gatehouse:acr:mfa';
let inst: Instance;
before(async () => {
  inst = await startInstance({
    users: [ALICE],
    config: (dir) =>
      issuerConfig(dir, {
        factors: { totp: true, passkeys: true, require: { groups: [] } },
        apps: [
          {
            name: 'vault',
            hosts: ['vault.example.test'],
            allow: { anyUser: true },
            audience: VAULT,
            factors: { require: 'any', maxAge: '15m' },
          },
          { name: 'wiki', hosts: ['wiki.example.test'], allow: { anyUser: true }, audience: WIKI, factors: 'any' },
          {
            name: 'ledger',
            hosts: ['ledger.example.test'],
            allow: { anyUser: true },
            audience: LEDGER,
            factors: { require: 'any', maxAge: '5s' },
          },
        ],
      }),
  });
});
after(async () => {
  await inst.close();
});

let secret = '';
let lastStep = 0;
/** A code for a step newer than the last one used (each step is accepted once). */
async function code(): Promise<string> {
  for (;;) {
    const cur = Math.floor(Date.now() / 30_000);
    const step = Math.max(lastStep + 1, cur);
    if (step <= cur + 1) {
      lastStep = step;
      return generate({ secret, epoch: step * 30 + 1 });
    }
    await new Promise((r) => setTimeout(r, (step - 1) * 30_000 - Date.now() + 50));
  }
}

/** Code + PKCE for `resource`; `withTotp` answers the factor step the sign-in is sent to. */
async function accessToken(
  resource: string,
  withTotp: boolean,
): Promise<{ at: string; claims: Record<string, unknown>; idClaims: Record<string, unknown> }> {
  const config = await discover(inst, 'grafana', GRAFANA_SECRET);
  const b = new PortalClient(inst);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: GRAFANA_CB,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    resource,
  });
  const r = await b.go(url.href);
  const signed = await b.signIn(new URL(r.visited.at(-1) ?? '').searchParams.get('rd') ?? '', 'alice');
  let next = signed.headers.location ?? '';
  if (withTotp) {
    assert.equal(next, '/oauth2/factor');
    await b.request('/oauth2/factor');
    const posted = await b.request('/oauth2/factor/totp', {
      method: 'POST',
      body: b.form({ code: await code() }),
      headers: { origin: ISSUER, 'sec-fetch-site': 'same-origin' },
    });
    assert.equal(posted.status, 303, posted.body.slice(0, 300));
    next = posted.headers.location ?? '';
  }
  const done = await b.go(next);
  const cb = done.location ?? '';
  assert.ok(cb.startsWith(GRAFANA_CB), `ended at ${done.visited.at(-1)} (${done.answer.status})`);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(cb), { pkceCodeVerifier: verifier, expectedState: state }, { resource });
  const parts = tokens.access_token.split('.');
  assert.equal(parts.length, 3, 'a JWT access token');
  const claims = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  return { at: tokens.access_token, claims, idClaims: tokens.claims() as Record<string, unknown> };
}

const bearer = (at: string) => ({ headers: { authorization: `Bearer ${at}`, accept: 'application/json' } });

function assertStepUp(r: Answer, wwwAuthenticate: string): void {
  assert.equal(r.status, 401, r.body);
  assert.equal(r.headers['www-authenticate'], wwwAuthenticate);
  assert.equal(r.headers.location, undefined);
  assert.equal(r.headers['cache-control'], 'no-store');
}

describe('access tokens say how the person signed in, and the gate asks for more', () => {
  let pwdToken = '';
  test('password only: the access token for vault has amr [pwd], acr 1fa and auth_time, as the ID token', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { at, claims, idClaims } = await accessToken(VAULT, false);
    assert.equal(claims.aud, VAULT);
    assert.deepEqual(claims.amr, ['pwd']);
    assert.equal(claims.acr, 'urn:gatehouse:acr:1fa');
    assert.equal(typeof claims.auth_time, 'number');
    assert.ok((claims.auth_time as number) >= before - 1 && (claims.auth_time as number) <= Math.floor(Date.now() / 1000));
    assert.equal(claims.auth_time, idClaims.auth_time);
    assert.deepEqual(idClaims.amr, ['pwd']);
    pwdToken = at;
  });

  test('the gate: a password-only token is 401 insufficient_user_authentication with acr_values and max_age (vault) or without max_age (wiki)', async () => {
    assert.ok(pwdToken);
    assertStepUp(
      await forwardAuth(inst.port, `${VAULT}/v1/secret`, bearer(pwdToken)),
      'Bearer error="insufficient_user_authentication", error_description="a second factor used within 15m is required", acr_values="urn:gatehouse:acr:mfa", max_age=900',
    );
    const wiki = await accessToken(WIKI, false);
    assertStepUp(
      await forwardAuth(inst.port, `${WIKI}/page`, bearer(wiki.at)),
      'Bearer error="insufficient_user_authentication", error_description="a second factor is required", acr_values="urn:gatehouse:acr:mfa"',
    );
  });

  test('password + authenticator app: amr [pwd, otp, mfa], acr mfa, auth_time; the gate lets the token through', async () => {
    const setup = new PortalClient(inst);
    await setup.signIn(`${ISSUER}/`, 'alice');
    const page = await setup.request('/oauth2/account/security/totp');
    assert.equal(page.status, 200);
    secret = (/<code id="secret">([^<]*)<\/code>/.exec(page.body)?.[1] ?? '').replace(/\s/g, '');
    const pending = /name="pending" value="([^"]*)"/.exec(page.body)?.[1] ?? '';
    const confirmed = await setup.request('/oauth2/account/security/totp', {
      method: 'POST',
      body: setup.form({ pending, code: await code() }),
      headers: { origin: ISSUER, 'sec-fetch-site': 'same-origin' },
    });
    assert.equal(confirmed.status, 200, confirmed.body.slice(0, 300));

    const before = Math.floor(Date.now() / 1000);
    const { at, claims, idClaims } = await accessToken(VAULT, true);
    assert.equal(claims.aud, VAULT);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(claims.acr, MFA);
    assert.ok((claims.auth_time as number) >= before - 1 && (claims.auth_time as number) <= Math.floor(Date.now() / 1000));
    assert.equal(claims.auth_time, idClaims.auth_time);

    const r = await forwardAuth(inst.port, `${VAULT}/v1/secret`, bearer(at));
    assert.equal(r.status, 202, r.body);
    assert.equal(r.headers['x-auth-request-user'], 'alice');
    // The password-only token is still short, beside it.
    assert.equal((await forwardAuth(inst.port, `${VAULT}/v1/secret`, bearer(pwdToken))).status, 401);
  });

  test('a token whose factor is older than maxAge (ledger: 5s) is 401 with max_age=5; fresh, it passes', async () => {
    const { at, claims } = await accessToken(LEDGER, true);
    const issuedAt = (claims.auth_time as number) * 1000;
    const fresh = await forwardAuth(inst.port, `${LEDGER}/books`, bearer(at));
    // On a busy machine the first answer may already come after 5s; then only the 401 is asserted.
    if (Date.now() - issuedAt < 4_000) assert.equal(fresh.status, 202, fresh.body);
    const deadline = Date.now() + 15_000;
    let r = fresh;
    while (r.status !== 401 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 200));
      r = await forwardAuth(inst.port, `${LEDGER}/books`, bearer(at));
    }
    assertStepUp(
      r,
      'Bearer error="insufficient_user_authentication", error_description="a second factor used within 5s is required", acr_values="urn:gatehouse:acr:mfa", max_age=5',
    );
  });
});
