// OpenID Connect Back-Channel Logout 1.0 (issue 5): a client with clients[].backchannelLogoutUri
// gets a logout token, POSTed to a receiver on loopback, when the user signs out at the gate
// (/oauth2/sign_out) and at /oidc/session/end. The token is checked with jose (§2.4: iss, aud,
// iat, jti, events, sub and sid; no nonce; typ logout+jwt).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { send } from '../kit/http.ts';
import { until } from '../kit/poll.ts';
import { ALICE, BOB, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { authorize, discover, HTTPS, ISSUER, issuerConfig, PortalClient } from '../kit/issuer.ts';

const RP_SECRET = 'rp-secret-0123456789abcdefgh';
const RP_CB = 'https://rp.example.test/cb';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

interface Received {
  path: string;
  contentType: string | undefined;
  body: URLSearchParams;
}
const received: Received[] = [];
let receiver: Server;
let inst: Instance;

before(async () => {
  // The relying party's back-channel endpoint: records every POST, answers 200.
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        contentType: req.headers['content-type'],
        body: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      });
      res.writeHead(200, { 'cache-control': 'no-store' });
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const port = (receiver.address() as AddressInfo).port;
  inst = await startInstance({
    unwatched: true,
    users: [ALICE, BOB],
    config: (dir) => {
      const c = issuerConfig(dir);
      return {
        ...c,
        clients: [
          ...(c.clients as unknown[]),
          {
            id: 'rp',
            secret: RP_SECRET,
            redirectUris: [RP_CB],
            postLogoutRedirectUris: ['https://rp.example.test/'],
            firstParty: true,
            backchannelLogoutUri: `http://127.0.0.1:${port}/backchannel`,
          },
        ],
      };
    },
  });
});
after(async () => {
  await inst.close();
  await new Promise<void>((r) => receiver.close(() => r()));
});

async function signedInRp(username = 'alice') {
  const config = await discover(inst, 'rp', RP_SECRET);
  const b = new PortalClient(inst);
  const { callback, verifier, state } = await authorize(b, config, { redirect_uri: RP_CB }, username);
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
  const claims = tokens.claims() ?? ({} as Record<string, unknown>);
  return { config, b, tokens, sid: String(claims.sid), sub: String(claims.sub) };
}

/** The logout token with jose, as a relying party checks it (§2.6). */
async function verifyLogoutToken(token: string): Promise<JWTPayload> {
  const jwks = JSON.parse((await send(inst.port, { path: '/oidc/jwks', headers: HTTPS })).body) as JSONWebKeySet;
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: ISSUER,
    audience: 'rp',
    algorithms: ['RS256', 'ES256'],
    typ: 'logout+jwt',
    requiredClaims: ['iat', 'jti', 'events', 'sub', 'sid'],
  });
  assert.equal(protectedHeader.typ, 'logout+jwt');
  return payload;
}

async function nextLogout(count: number): Promise<Received> {
  await until(async () => received.length >= count, { timeoutMs: 4000, what: 'the logout token reached the receiver' });
  const r = received[count - 1];
  if (!r) throw new Error('no logout token');
  return r;
}

describe('back-channel logout', () => {
  test('the ID token carries sid, and discovery says back-channel logout with sessions is supported', async () => {
    const d = JSON.parse((await send(inst.port, { path: '/.well-known/openid-configuration', headers: HTTPS })).body) as Record<
      string,
      unknown
    >;
    assert.equal(d.backchannel_logout_supported, true);
    assert.equal(d.backchannel_logout_session_supported, true);
    const { sid } = await signedInRp();
    assert.match(sid, /^[A-Za-z0-9_-]{10,}$/);
  });

  test('signing out at the gate (/oauth2/sign_out) sends the logout token: iss, aud, events, sub, sid of that sign-in', async () => {
    const before = received.length;
    const { b, sid, sub } = await signedInRp();
    const gate = `${inst.running.settings().cookieName}=${b.jar.get(inst.running.settings().cookieName) ?? ''}`;
    assert.equal((await forwardAuth(inst.port, 'https://app.example.test/', { cookie: gate })).status, 202);
    const out = await b.request('/oauth2/sign_out');
    assert.equal(out.status, 200);
    const r = await nextLogout(before + 1);
    assert.equal(r.path, '/backchannel');
    assert.equal(r.contentType, 'application/x-www-form-urlencoded');
    assert.deepEqual([...r.body.keys()], ['logout_token']);
    const token = r.body.get('logout_token') ?? '';
    assert.equal(decodeProtectedHeader(token).alg, 'RS256');
    const p = await verifyLogoutToken(token);
    assert.equal(p.iss, ISSUER);
    assert.equal(p.aud, 'rp');
    assert.deepEqual(p.events, { [EVENT]: {} });
    assert.equal(p.sid, sid);
    assert.equal(p.sub, sub);
    assert.equal(p.nonce, undefined);
    // Once: the link is gone, a second sign-out sends nothing more.
    await b.request('/oauth2/sign_out');
    assert.equal(received.length, before + 1);
  });

  test("a sign-out at the gate notifies only the clients of that browser's sign-in", async () => {
    const before = received.length;
    const one = await signedInRp('alice');
    const two = await signedInRp('bob');
    assert.equal((await two.b.request('/oauth2/sign_out')).status, 200);
    const r = await nextLogout(before + 1);
    const p = await verifyLogoutToken(r.body.get('logout_token') ?? '');
    assert.equal(p.sid, two.sid);
    assert.notEqual(p.sid, one.sid);
    // alice's sign-in is untouched: a silent authorization still gets a code.
    const u = oidc.buildAuthorizationUrl(one.config, {
      redirect_uri: RP_CB,
      scope: 'openid',
      prompt: 'none',
      state: 's',
      code_challenge: await oidc.calculatePKCECodeChallenge('v'.repeat(43)),
      code_challenge_method: 'S256',
    });
    assert.ok(new URL((await one.b.go(u.href)).location ?? '').searchParams.get('code'));
    assert.equal(received.length, before + 1);
  });

  test('RP-initiated logout at /oidc/session/end sends the logout token too', async () => {
    const before = received.length;
    const { config, b, tokens, sid, sub } = await signedInRp();
    const url = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token ?? '',
      post_logout_redirect_uri: 'https://rp.example.test/',
      state: 'bye',
    });
    const page = await b.request(url.href);
    assert.equal(page.status, 200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const done = await b.request('/oidc/session/end/confirm', { method: 'POST', body: `xsrf=${xsrf}&logout=yes` });
    assert.equal(done.status, 303);
    assert.equal(done.headers.location, 'https://rp.example.test/?state=bye');
    // oidc-provider awaits the back-channel requests before it answers.
    assert.equal(received.length, before + 1);
    const p = await verifyLogoutToken((received[before] as Received).body.get('logout_token') ?? '');
    assert.deepEqual(p.events, { [EVENT]: {} });
    assert.equal(p.sid, sid);
    assert.equal(p.sub, sub);
    assert.equal(p.aud, 'rp');
  });
});
