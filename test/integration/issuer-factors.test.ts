// The issuer and second factors, with a certified relying party (openid-client 6): the ID token's
// amr and acr say what the sign-in had; acr_values sends a session short of it through the
// factor step; max_age past asks for a fresh sign-in; access tokens carry acr, amr, auth_time.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import { ALICE, BOB, type Instance, startInstance } from '../kit/server.ts';
import { discover, GRAFANA_CB, GRAFANA_SECRET, ISSUER, issuerConfig, PortalClient } from '../kit/issuer.ts';

let inst: Instance;
before(async () => {
  inst = await startInstance({
    config: (dir) => issuerConfig(dir, { factors: { totp: true, passkeys: true, require: { groups: [] } } }),
    users: [ALICE, BOB],
  });
});
after(async () => {
  await inst.close();
});

const MFA = 'urn:gatehouse:acr:mfa';
const PHR = 'urn:gatehouse:acr:phr';
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

/** Starts code + PKCE with these parameters and follows the portal until it asks for something. */
async function begin(b: PortalClient, config: oidc.Configuration, params: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: GRAFANA_CB,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...params,
  });
  const r = await b.go(url.href);
  return { r, verifier, state };
}

async function finish(b: PortalClient, config: oidc.Configuration, location: string, verifier: string, state: string) {
  const r = await b.go(location);
  const cb = r.location ?? '';
  assert.ok(cb.startsWith(GRAFANA_CB), `ended at ${r.visited.at(-1)} (${r.answer.status})`);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(cb), { pkceCodeVerifier: verifier, expectedState: state });
  return { claims: tokens.claims() as Record<string, unknown> };
}

describe('amr and acr in ID tokens', () => {
  test('a password only: amr [pwd], acr 1fa; discovery lists the acr values', async () => {
    const config = await discover(inst, 'grafana', GRAFANA_SECRET);
    assert.deepEqual(config.serverMetadata().acr_values_supported, ['urn:gatehouse:acr:1fa', MFA, PHR]);
    const b = new PortalClient(inst);
    const { r, verifier, state } = await begin(b, config);
    const signed = await b.signIn(new URL(r.visited.at(-1) ?? '').searchParams.get('rd') ?? '', 'alice');
    const { claims } = await finish(b, config, signed.headers.location ?? '', verifier, state);
    assert.deepEqual([claims.amr, claims.acr], [['pwd'], 'urn:gatehouse:acr:1fa']);
  });

  test('alice sets up an authenticator app; acr_values=mfa then takes her through the code, and the tokens say so', async () => {
    const config = await discover(inst, 'grafana', GRAFANA_SECRET);
    // Set up on the security page (a session, no factor yet).
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
    assert.match(confirmed.body, /Your recovery codes/);

    // A new browser: password, then the factor step, then the client.
    const b = new PortalClient(inst);
    const { r, verifier, state } = await begin(b, config, { acr_values: MFA });
    const signed = await b.signIn(new URL(r.visited.at(-1) ?? '').searchParams.get('rd') ?? '', 'alice');
    assert.equal(signed.headers.location, '/oauth2/factor');
    await b.request('/oauth2/factor');
    const posted = await b.request('/oauth2/factor/totp', {
      method: 'POST',
      body: b.form({ code: await code() }),
      headers: { origin: ISSUER, 'sec-fetch-site': 'same-origin' },
    });
    assert.equal(posted.status, 303, posted.body.slice(0, 300));
    const { claims } = await finish(b, config, posted.headers.location ?? '', verifier, state);
    assert.deepEqual([claims.amr, claims.acr], [['pwd', 'otp', 'mfa'], MFA]);
    assert.equal(typeof claims.auth_time, 'number');

    // The same browser asking for phishing-resistant: the step-up wants a passkey she has not got.
    const again = await begin(b, config, { acr_values: PHR });
    const stepUp = again.r.visited.find((u) => u.includes('/oauth2/step_up'));
    assert.ok(stepUp, again.r.visited.join('\n'));
    assert.equal(new URL(stepUp).searchParams.get('need'), 'passkey');
    assert.match(again.r.visited.at(-1) ?? '', /\/oauth2\/account\/security\?enrol=passkey&rd=/);
  });

  test('max_age past: the interaction asks for a fresh sign-in (the form, even with a session)', async () => {
    const config = await discover(inst, 'grafana', GRAFANA_SECRET);
    const b = new PortalClient(inst);
    const first = await begin(b, config);
    const signed = await b.signIn(new URL(first.r.visited.at(-1) ?? '').searchParams.get('rd') ?? '', 'bob');
    await finish(b, config, signed.headers.location ?? '', first.verifier, first.state);
    await new Promise((r) => setTimeout(r, 2_100));
    const { r } = await begin(b, config, { max_age: '1' });
    const last = r.visited.at(-1) ?? '';
    assert.match(last, /\/oauth2\/start\?.*prompt=login/);
    assert.equal(r.answer.status, 200);
    assert.match(r.answer.body, /<h1>Sign in<\/h1>/);
  });
});
