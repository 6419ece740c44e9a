// resources[].factors (issue 12) with openid-client 6 as the client: it gets access tokens from
// the real issuer through the real portal, calls the protected resource behind the gate
// (fetchProtectedResource, reaching the gate as a forward-auth subrequest), reads RFC 9470's
// challenge from the gate's WWW-Authenticate, and follows it (acr_values, max_age) to the step-up:
//   - maxAge is measured from when the second factor was last used (the token's acr and
//     auth_time): a fresh step-up admits, one older than maxAge is refused with max_age and
//     acr_values in the challenge, and following it asks the person only for the factor
//   - a DPoP-bound token (a real proof from the library) short of the requirement gets the
//     challenge in the DPoP scheme, at a resource and at an app with an audience
//   - explain shows a resource's requirement; `gatehouse check` refuses impossible ones by path
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import { ManualClock } from '../../src/core/index.ts';
import { runCli } from '../../src/cli/index.ts';
import { ALICE, BOB, baseConfig, fakeIO, type Instance, startInstance, writeConfig } from '../kit/server.ts';
import { discover, GRAFANA_CB, GRAFANA_SECRET, gateFetch, ISSUER, issuerConfig, PortalClient } from '../kit/issuer.ts';
import { tempDir } from '../kit/temp.ts';

const VAULT = 'https://vault-api.example.test/v1';
const VAULT_META = 'https://vault-api.example.test/.well-known/oauth-protected-resource/v1';
const WIKI = 'https://wiki-api.example.test/api';
const WIKI_META = 'https://wiki-api.example.test/.well-known/oauth-protected-resource/api';
const BOARD = 'https://board.example.test';
const MFA = 'urn:gatehouse:acr:mfa';
const ALGS = 'algs="ES256 EdDSA Ed25519"';

function config(dir: string): Record<string, unknown> {
  return issuerConfig(dir, {
    factors: { totp: true, require: { groups: [] } },
    resources: [
      { resource: VAULT, name: 'vault-api', factors: { require: 'any', maxAge: '15m' } },
      { resource: WIKI, name: 'wiki-api', factors: 'any' },
    ],
    apps: [{ name: 'board', hosts: ['board.example.test'], allow: { anyUser: true }, audience: BOARD, factors: 'any' }],
  });
}

/** A person's authenticator app, as the test holds it: the secret from the security page. */
class Authenticator {
  secret = '';
  recovery: string[] = [];
  readonly now: () => number;
  constructor(now: () => number) {
    this.now = now;
  }
  code(): Promise<string> {
    return generate({ secret: this.secret, epoch: Math.floor(this.now() / 1000) });
  }
}

/** Enrols an authenticator app for `user` through the security page; keeps its recovery codes. */
async function enrolTotp(inst: Instance, user: string, app: Authenticator): Promise<void> {
  const b = new PortalClient(inst);
  await b.signIn(`${ISSUER}/`, user);
  const page = await b.request('/oauth2/account/security/totp');
  assert.equal(page.status, 200, page.body.slice(0, 300));
  app.secret = (/<code id="secret">([^<]*)<\/code>/.exec(page.body)?.[1] ?? '').replace(/\s/g, '');
  const pending = /name="pending" value="([^"]*)"/.exec(page.body)?.[1] ?? '';
  const confirmed = await b.request('/oauth2/account/security/totp', {
    method: 'POST',
    body: b.form({ pending, code: await app.code() }),
    headers: { origin: ISSUER, 'sec-fetch-site': 'same-origin' },
  });
  assert.equal(confirmed.status, 200, /<main[\s\S]*<\/main>/.exec(confirmed.body)?.[0]);
  app.recovery = [...confirmed.body.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1] ?? '');
  assert.equal(app.recovery.length, 10);
}

interface Flow {
  tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
  /** The portal screens the person saw, by path: what they were asked for. */
  screens: string[];
}

/**
 * Code + PKCE through the portal as `user`, for `resource`, with `extra` (acr_values, max_age);
 * the password form and the factor screens are answered as they come (a factor with `answer`).
 */
async function authorize(
  b: PortalClient,
  config: oidc.Configuration,
  extra: Record<string, string>,
  user: string,
  answer: () => Promise<Record<string, string> & { path: string }>,
  dpop?: oidc.DPoPHandle,
): Promise<Flow> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: GRAFANA_CB,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...extra,
  });
  const screens: string[] = [];
  let r = await b.go(url.href);
  for (let i = 0; i < 4 && !r.location; i++) {
    const at = new URL(r.visited.at(-1) ?? '');
    assert.equal(r.answer.status, 200, `${at.pathname}: ${r.answer.body.slice(0, 300)}`);
    screens.push(at.pathname);
    if (at.pathname === '/oauth2/start' || at.pathname === '/oauth2/sign_in') {
      const signed = await b.signIn(at.searchParams.get('rd') ?? '', user);
      r = await b.go(signed.headers.location ?? '');
    } else {
      const { path, ...fields } = await answer();
      const posted = await b.request(path, {
        method: 'POST',
        body: b.form(fields),
        headers: { origin: ISSUER, 'sec-fetch-site': 'same-origin' },
      });
      assert.equal(posted.status, 303, posted.body.slice(0, 300));
      r = await b.go(posted.headers.location ?? '');
    }
  }
  const cb = r.location ?? '';
  assert.ok(cb.startsWith(GRAFANA_CB), `ended at ${r.visited.at(-1)} (${r.answer.status})`);
  const maxAge = extra.max_age === undefined ? undefined : Number(extra.max_age);
  const tokens = await oidc.authorizationCodeGrant(
    config,
    new URL(cb),
    { pkceCodeVerifier: verifier, expectedState: state, ...(maxAge === undefined ? {} : { maxAge }) },
    extra.resource === undefined ? undefined : { resource: extra.resource },
    dpop ? { DPoP: dpop } : undefined,
  );
  return { tokens, screens };
}

function claimsOf(at: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(at.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** The client's call to the resource behind the gate: the answer, or the challenge the library parsed. */
async function call(
  config: oidc.Configuration,
  at: string,
  url: string,
  dpop?: oidc.DPoPHandle,
): Promise<{ status: number; wwwAuthenticate: string | null; challenge?: oidc.WWWAuthenticateChallenge }> {
  try {
    const r = await oidc.fetchProtectedResource(config, at, new URL(url), 'GET', undefined, undefined, dpop ? { DPoP: dpop } : undefined);
    return { status: r.status, wwwAuthenticate: r.headers.get('www-authenticate') };
  } catch (err) {
    if (!(err instanceof oidc.WWWAuthenticateChallengeError)) throw err;
    const challenge = err.cause[0];
    return {
      status: err.response.status,
      wwwAuthenticate: err.response.headers.get('www-authenticate'),
      ...(challenge ? { challenge } : {}),
    };
  }
}

/**
 * An instance whose clock runs 17 minutes behind the machine's, alice enrolled with an
 * authenticator app. The issuer's own library (oidc-provider) and openid-client keep the
 * machine's time: a suite moves the instance's clock on by 16 minutes once, so a step-up aged
 * past maxAge (15m) on the instance's clock is past max_age for oidc-provider too, and a fresh
 * one is fresh for all three.
 */
function agedInstance() {
  const clock = new ManualClock(Date.now() - 17 * 60_000);
  const app = new Authenticator(() => clock.now());
  const ctx = { clock, app } as {
    clock: ManualClock;
    app: Authenticator;
    inst: Instance;
    client: oidc.Configuration;
    resource: oidc.Configuration;
    totp: () => Promise<{ path: string; code: string }>;
  };
  before(async () => {
    ctx.inst = await startInstance({ users: [ALICE, BOB], clock, config });
    ctx.client = await discover(ctx.inst, 'grafana', GRAFANA_SECRET);
    ctx.resource = await discover(ctx.inst, 'grafana', GRAFANA_SECRET);
    ctx.resource[oidc.customFetch] = gateFetch(ctx.inst);
    await enrolTotp(ctx.inst, 'alice', app);
  });
  after(async () => {
    await ctx.inst.close();
  });
  ctx.totp = async () => {
    clock.advance(30_000); // each code once: the next one is a step later
    return { path: '/oauth2/factor/totp', code: await app.code() };
  };
  return ctx;
}

describe('resources[].factors: maxAge from the last use of the factor, and the client following the challenge', () => {
  const ctx = agedInstance();
  const { clock } = ctx;

  test('a password-only token (bob has no factor) is 401 insufficient_user_authentication, with resource_metadata', async () => {
    const { tokens, screens } = await authorize(new PortalClient(ctx.inst), ctx.client, { resource: WIKI }, 'bob', ctx.totp);
    assert.deepEqual(screens, ['/oauth2/start']);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    const claims = claimsOf(tokens.access_token);
    assert.deepEqual([claims.aud, claims.acr, claims.amr], [WIKI, 'urn:gatehouse:acr:1fa', ['pwd']]);
    const r = await call(ctx.resource, tokens.access_token, `${WIKI}/pages/1`);
    assert.equal(r.status, 401);
    assert.equal(
      r.wwwAuthenticate,
      `Bearer error="insufficient_user_authentication", error_description="a second factor is required", acr_values="${MFA}", resource_metadata="${WIKI_META}"`,
    );
    assert.deepEqual(r.challenge, {
      scheme: 'bearer',
      parameters: {
        error: 'insufficient_user_authentication',
        error_description: 'a second factor is required',
        acr_values: MFA,
        resource_metadata: WIKI_META,
      },
    });
  });

  test('the authenticator app at sign-in: acr mfa dated then; admitted until maxAge, refused after with max_age and acr_values', async () => {
    const b = new PortalClient(ctx.inst);
    const first = await authorize(b, ctx.client, { resource: VAULT }, 'alice', ctx.totp);
    assert.deepEqual(first.screens, ['/oauth2/start', '/oauth2/factor']);
    const claims = claimsOf(first.tokens.access_token);
    assert.deepEqual([claims.acr, claims.amr], [MFA, ['pwd', 'otp', 'mfa']]);
    assert.equal(claims.auth_time, Math.floor(clock.now() / 1000));
    assert.equal((await call(ctx.resource, first.tokens.access_token, `${VAULT}/secret/db`)).status, 202);
    clock.advance(15 * 60_000 - 1_000);
    assert.equal((await call(ctx.resource, first.tokens.access_token, `${VAULT}/secret/db`)).status, 202, 'still within 15m');
    clock.advance(2_000);
    const late = await call(ctx.resource, first.tokens.access_token, `${VAULT}/secret/db`);
    assert.equal(late.status, 401);
    assert.equal(
      late.wwwAuthenticate,
      `Bearer error="insufficient_user_authentication", error_description="a second factor used within 15m is required", acr_values="${MFA}", max_age=900, resource_metadata="${VAULT_META}"`,
    );

    // The ctx.client follows the challenge: the same browser is asked only for the factor (the
    // step-up screen, no password), and the new token's auth_time is the step-up's.
    const params = late.challenge?.parameters ?? {};
    assert.deepEqual([params.acr_values, params.max_age], [MFA, '900']);
    const again = await authorize(
      b,
      ctx.client,
      { resource: VAULT, acr_values: params.acr_values ?? '', max_age: params.max_age ?? '' },
      'alice',
      ctx.totp,
    );
    assert.deepEqual(again.screens, ['/oauth2/step_up']);
    const stepped = claimsOf(again.tokens.access_token);
    assert.deepEqual([stepped.acr, stepped.amr], [MFA, ['pwd', 'otp', 'mfa']]);
    assert.equal(stepped.auth_time, Math.floor(clock.now() / 1000), 'auth_time: the step-up, not the password sign-in');
    assert.equal(again.tokens.claims()?.auth_time, stepped.auth_time, 'the ID token says the same');
    assert.equal((await call(ctx.resource, again.tokens.access_token, `${VAULT}/secret/db`)).status, 202);
    assert.equal((await call(ctx.resource, first.tokens.access_token, `${VAULT}/secret/db`)).status, 401, 'the old token stays short');
  });
});

describe('a step-up the session already made (at the gate) dates the next token', () => {
  const ctx = agedInstance();
  const { clock } = ctx;

  test('a step-up at the gate (the session) is what a new token is dated by: no second prompt', async () => {
    const b = new PortalClient(ctx.inst);
    const first = await authorize(b, ctx.client, { resource: VAULT }, 'alice', ctx.totp);
    clock.advance(16 * 60_000);
    // The session steps up on the portal's own step-up screen (as an app rule would send it)...
    const page = await b.request(`/oauth2/step_up?${new URLSearchParams({ rd: `${ISSUER}/`, need: 'any' })}`);
    assert.equal(page.status, 200);
    const { path, code } = await ctx.totp();
    const posted = await b.request(path, {
      method: 'POST',
      body: b.form({ code }),
      headers: { origin: ISSUER, 'sec-fetch-site': 'same-origin' },
    });
    assert.equal(posted.status, 303, posted.body.slice(0, 300));
    // ...so following the resource's challenge needs no screen at all.
    const late = await call(ctx.resource, first.tokens.access_token, `${VAULT}/x`);
    assert.equal(late.status, 401);
    const again = await authorize(b, ctx.client, { resource: VAULT, acr_values: MFA, max_age: '900' }, 'alice', () => {
      throw new Error('no screen expected');
    });
    assert.deepEqual(again.screens, []);
    assert.equal(claimsOf(again.tokens.access_token).auth_time, Math.floor(clock.now() / 1000));
    assert.equal((await call(ctx.resource, again.tokens.access_token, `${VAULT}/x`)).status, 202);
  });
});

describe('the DPoP form of the challenge (RFC 9470 with RFC 9449), and explain', () => {
  const app = new Authenticator(() => Date.now());
  let inst: Instance;
  let client: oidc.Configuration;
  let resource: oidc.Configuration;
  let keys: oidc.CryptoKeyPair;
  before(async () => {
    inst = await startInstance({ users: [ALICE, BOB], config });
    client = await discover(inst, 'grafana', GRAFANA_SECRET);
    resource = await discover(inst, 'grafana', GRAFANA_SECRET);
    resource[oidc.customFetch] = gateFetch(inst);
    keys = await oidc.randomDPoPKeyPair('ES256');
    await enrolTotp(inst, 'alice', app);
  });
  after(async () => {
    await inst.close();
  });
  // alice's second factor here: a recovery code (no wait for a new TOTP step on the real clock).
  const recovery = async () => ({ path: '/oauth2/factor/recovery', code: app.recovery.shift() ?? '' });
  /** A DPoP-bound token: the proof at /oidc/token made by the library with `keys`. */
  const boundToken = async (user: string, resourceUrl: string): Promise<string> => {
    const { tokens } = await authorize(
      new PortalClient(inst),
      client,
      { resource: resourceUrl },
      user,
      recovery,
      oidc.getDPoPHandle(client, keys),
    );
    assert.equal(tokens.token_type.toLowerCase(), 'dpop');
    assert.equal(typeof (claimsOf(tokens.access_token).cnf as { jkt?: unknown } | undefined)?.jkt, 'string');
    return tokens.access_token;
  };

  test('a DPoP-bound token short of resources[].factors: 401 DPoP error="insufficient_user_authentication" with algs', async () => {
    const at = await boundToken('bob', WIKI);
    const r = await call(resource, at, `${WIKI}/pages/2`, oidc.getDPoPHandle(resource, keys));
    assert.equal(r.status, 401);
    assert.equal(
      r.wwwAuthenticate,
      `DPoP ${ALGS}, error="insufficient_user_authentication", error_description="a second factor is required", acr_values="${MFA}", resource_metadata="${WIKI_META}"`,
    );
    assert.deepEqual(r.challenge, {
      scheme: 'dpop',
      parameters: {
        algs: 'ES256 EdDSA Ed25519',
        error: 'insufficient_user_authentication',
        error_description: 'a second factor is required',
        acr_values: MFA,
        resource_metadata: WIKI_META,
      },
    });
    // The same token presented as a bearer token is no token at all (RFC 9449 §7.2), not a step-up.
    const asBearer = await call(resource, at, `${WIKI}/pages/2`);
    assert.equal(asBearer.status, 401);
    assert.equal(asBearer.challenge?.parameters.error, 'invalid_token');
    // With a second factor the bound token passes, with its proof.
    const good = await boundToken('alice', WIKI);
    assert.equal(claimsOf(good).acr, MFA);
    assert.equal((await call(resource, good, `${WIKI}/pages/2`, oidc.getDPoPHandle(resource, keys))).status, 202);
  });

  test('at an app with an audience and apps[].factors: the same DPoP form (no resource_metadata: an app is no RFC 9728 resource)', async () => {
    const short = await boundToken('bob', BOARD);
    const r = await call(resource, short, `${BOARD}/cards`, oidc.getDPoPHandle(resource, keys));
    assert.equal(r.status, 401);
    assert.equal(
      r.wwwAuthenticate,
      `DPoP ${ALGS}, error="insufficient_user_authentication", error_description="a second factor is required", acr_values="${MFA}"`,
    );
    const good = await boundToken('alice', BOARD);
    assert.equal((await call(resource, good, `${BOARD}/cards`, oidc.getDPoPHandle(resource, keys))).status, 202);
  });

  test('explain: a resource URL is decided by bearer token; its factors, and whether a named session meets them', async () => {
    const explainOut = async (...args: string[]) => {
      const io = fakeIO();
      const code = await runCli(['explain', ...args, '--config', inst.configPath], io);
      return { code, out: io.stdout };
    };
    const anon = await explainOut(`${VAULT}/secret/db`);
    assert.equal(anon.code, 0);
    assert.deepEqual(anon.out, [
      `decision: bearer: under protected resource vault-api (${VAULT}): decided by a bearer token whose aud is ${VAULT}, before any app rule; a session cookie never opens it`,
      'rule: none (resources[] are decided before apps)',
      'request: GET vault-api.example.test /v1/secret/db from 127.0.0.1 as anonymous',
      'scopes: none required',
      'allow: any user holding a valid token (anyone else: 403)',
      'factors: resource vault-api requires a second factor used within 15m',
      'factors: name a session with --session ID to see whether it meets this',
      'factors: a token is judged on its acr and auth_time (the class of its sign-in, and when that was last used); one short of it gets 401',
      `  WWW-Authenticate: Bearer error="insufficient_user_authentication", error_description="a second factor used within 15m is required", acr_values="${MFA}", max_age=900, resource_metadata="${VAULT_META}"`,
    ]);
    const store = inst.running.store;
    const sessionOf = async (name: string) => {
      const u = await store.users.findByUsername(name);
      const [s] = await store.sessions.list({ userId: u?.id ?? '-' });
      assert.ok(s, `a session of ${name}`);
      return s.id;
    };
    const bobs = await sessionOf('bob');
    const bob = await explainOut(`${VAULT}/secret/db`, '--session', bobs);
    assert.deepEqual(
      bob.out.filter((l) => l.startsWith(`factors: session ${bobs.slice(0, 6)}`)),
      [
        `factors: session ${bobs.slice(0, 6)} signed in with pwd; a second factor last used: never`,
        `factors: session ${bobs.slice(0, 6)} does not meet it (never used): its tokens are refused until the client asks the issuer for the missing step`,
      ],
    );
    const alices = await sessionOf('alice');
    const alice = await explainOut(`${VAULT}/secret/db`, '--session', alices);
    assert.ok(alice.out.includes(`factors: session ${alices.slice(0, 6)} meets it`), alice.out.join('\n'));
    // Beside it, an app URL is explained by the rules as before.
    assert.equal((await explainOut(`${BOARD}/cards`)).out[0], 'decision: authenticate: app board requires sign-in');
  });
});

describe('gatehouse explain and check for resources[].factors', () => {
  test('check refuses a requirement no one could meet, naming its path', async () => {
    const dir = await tempDir('resource-factors');
    const path = `${dir}/gatehouse.yaml`;
    await writeConfig(
      path,
      baseConfig(dir, {
        factors: { totp: true },
        resources: [
          { resource: 'https://a.example.test/mcp', factors: { require: 'passkey' } },
          { resource: 'https://b.example.test/mcp', factors: { require: 'any', maxAge: '500ms' } },
        ],
      }),
    );
    const io = fakeIO();
    assert.equal(await runCli(['check', '--config', path], io), 1);
    const out = [...io.stdout, ...io.stderr].join('\n');
    assert.match(out, /resources\[0\]\.factors\.require: resources\[\]\.factors\.require: passkey needs factors\.passkeys: true/);
    assert.match(out, /resources\[1\]\.factors\.maxAge: expected at least 1s/);
  });
});
