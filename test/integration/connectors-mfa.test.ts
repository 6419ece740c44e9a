// connectors[].mfa (issue 12): an upstream OpenID provider (oidc-provider) that reports amr
// ["pwd","otp"] in its ID token. With `mfa: trust` the Gatehouse session counts as having a
// second factor, so an app with `factors: any` lets the person straight in; with `mfa: ignore`
// (the default) it does not, and the gate sends the person to the step-up screen. Trust without
// an mfa-like amr (["pwd"]) counts for nothing either.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { cookieValue, send } from '../kit/http.ts';
import { type Answer, baseConfig, BROWSER, cookieHeader, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { followUntil, startUpstreamOidc, type UpstreamOidc } from '../kit/fake-providers.ts';

const CALLBACK = 'https://auth.example.test/oauth2/callback';
const VAULT = 'https://vault.example.test/v1/secret';

function portal(inst: Instance, path: string, cookie?: string): Promise<Answer> {
  return send(inst.port, {
    path,
    headers: { host: 'auth.example.test', 'x-forwarded-proto': 'https', ...BROWSER, ...(cookie ? { cookie } : {}) },
  });
}

/** Straight to the provider, its interaction, our callback; returns the session cookie header. */
async function signIn(inst: Instance): Promise<string> {
  const loginName = `${inst.running.settings().cookieName}_login`;
  const start = await portal(inst, `/oauth2/start?provider=keycloak&rd=${encodeURIComponent(VAULT)}`);
  assert.equal(start.status, 302, start.body);
  const login = cookieValue(start.setCookies, loginName)!;
  const { location } = await followUntil(String(start.headers.location), CALLBACK);
  const cb = await portal(inst, `/oauth2/callback${new URL(location).search}`, `${loginName}=${login}`);
  assert.equal(cb.status, 303, cb.body);
  assert.equal(cb.headers.location, VAULT);
  return cookieHeader(inst, cookieValue(cb.setCookies, inst.running.settings().cookieName)!);
}

/** The gate's answer to a session short of `factors: any`: to the portal, which asks for the factor. */
async function assertStepUp(inst: Instance, gate: Answer, cookie: string): Promise<void> {
  assert.equal(gate.status, 302, gate.body);
  assert.equal(gate.headers.location, `https://auth.example.test/oauth2/start?rd=${encodeURIComponent(VAULT)}`);
  assert.deepEqual(inst.logger.lines.findLast((l) => l.msg === 'forward auth: step-up needed')?.fields, {
    host: 'vault.example.test',
    reason: 'app vault requires a second factor (missing)',
  });
  const start = await portal(inst, `/oauth2/start?rd=${encodeURIComponent(VAULT)}`, cookie);
  assert.equal(start.status, 302, start.body);
  assert.equal(start.headers.location, `https://auth.example.test/oauth2/step_up?rd=${encodeURIComponent(VAULT)}&need=any`);
}

describe('connectors[].mfa: trust and ignore with an upstream amr', () => {
  let idp: UpstreamOidc;
  const insts: Partial<Record<'trust' | 'ignore', Instance>> = {};

  before(async () => {
    idp = await startUpstreamOidc({ redirectUri: CALLBACK });
    idp.accounts.set('kc-1', {
      sub: 'kc-1',
      claims: { preferred_username: 'carol', email: 'carol@example.test', email_verified: true, groups: ['admins'] },
    });
    for (const mfa of ['trust', 'ignore'] as const) {
      insts[mfa] = await startInstance({
        users: [],
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
                scopes: ['openid', 'profile', 'email', 'groups'],
                createAccounts: 'auto',
                mfa,
              },
            ],
            signIn: { localAccounts: false },
            factors: { totp: true, passkeys: true, require: { groups: [] } },
            apps: [{ name: 'vault', hosts: ['vault.example.test'], allow: { anyUser: true }, factors: 'any' }],
          }),
      });
    }
  });
  after(async () => {
    await insts.trust?.close();
    await insts.ignore?.close();
    await idp.close();
  });
  beforeEach(() => {
    idp.next = 'kc-1';
    idp.amr = ['pwd', 'otp'];
  });

  test('mfa: trust, upstream amr [pwd, otp]: the app with factors: any admits the session, no step-up', async () => {
    const inst = insts.trust!;
    const cookie = await signIn(inst);
    const gate = await forwardAuth(inst.port, VAULT, { cookie });
    assert.equal(gate.status, 202, gate.body);
    assert.equal(gate.headers['x-auth-request-user'], 'carol');
  });

  test('mfa: ignore, upstream amr [pwd, otp]: the same sign-in is sent to the step-up screen', async () => {
    const inst = insts.ignore!;
    const cookie = await signIn(inst);
    const gate = await forwardAuth(inst.port, VAULT, { cookie });
    await assertStepUp(inst, gate, cookie);
  });

  test('mfa: trust, upstream amr [pwd] only: no second factor, the step-up screen', async () => {
    idp.amr = ['pwd'];
    const inst = insts.trust!;
    const cookie = await signIn(inst);
    const gate = await forwardAuth(inst.port, VAULT, { cookie });
    await assertStepUp(inst, gate, cookie);
  });
});
