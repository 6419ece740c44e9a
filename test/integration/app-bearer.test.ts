// Bearer tokens at the gate for ordinary apps (issue 5): an app with `apps[].audience` takes the
// issuer's JWT access tokens for that audience at /oauth2/auth, so CLIs and agents reach it
// without cookies; the app's own allow/deny decides with the token's identity. A bad token is
// 401 `WWW-Authenticate: Bearer error="invalid_token"`, never a redirect. The clock is frozen:
// the subject re-check (2 s) and expiry are reached by moving it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../../src/core/index.ts';
import { runCli } from '../../src/cli/index.ts';
import { send } from '../kit/http.ts';
import { ALICE, type Answer, BOB, cookieHeader, fakeIO, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';
import { CLI_CB, issuerConfig } from '../kit/issuer.ts';
import { basic, codeFor, json, PortalClient, token } from '../kit/mcp.ts';

const GRAFANA = 'https://grafana.example.test';
const OTHER_APP = 'https://wiki.example.test';
const clock = new ManualClock(Date.now());
let inst: Instance;

before(async () => {
  inst = await startInstance({
    unwatched: true,
    clock,
    users: [ALICE, BOB],
    config: (dir) =>
      issuerConfig(dir, {
        apps: [
          { name: 'grafana', hosts: ['grafana.example.test'], allow: { groups: ['admins', 'ci'] }, audience: GRAFANA },
          // Same host, no audience: a token for grafana must never open it.
          { name: 'grafana-ops', hosts: ['grafana.example.test'], allow: { groups: ['ops'] } },
          { name: 'wiki', hosts: ['wiki.example.test'], allow: { anyUser: true }, audience: OTHER_APP },
          { name: 'plain', hosts: ['plain.example.test'], allow: { groups: ['ci'] } },
        ],
      }),
  });
});
after(async () => {
  await inst.close();
});

async function agent(name: string, groups: string): Promise<{ id: string; secret: string }> {
  const io = fakeIO('', {});
  const code = await runCli(['agent', 'create', name, '--groups', groups, '--config', inst.configPath], io);
  assert.equal(code, 0, io.stderr.join('\n'));
  const out = io.stdout.join('\n');
  return { id: /client_id: +(\S+)/.exec(out)?.[1] ?? '', secret: /client_secret: +(\S+)/.exec(out)?.[1] ?? '' };
}

async function agentToken(a: { id: string; secret: string }, resource = GRAFANA): Promise<string> {
  const t = await token(inst, { grant_type: 'client_credentials', resource }, { authorization: basic(a.id, a.secret) });
  assert.equal(t.status, 200, t.body);
  return String(json(t).access_token);
}

const api = (at: string, extra: Record<string, string> = {}) => ({
  headers: { authorization: `Bearer ${at}`, accept: 'application/json', ...extra },
});

function assertInvalidToken(r: Answer): void {
  assert.equal(r.status, 401);
  assert.equal(r.headers['www-authenticate'], 'Bearer error="invalid_token", DPoP algs="ES256 EdDSA Ed25519"');
  assert.equal(r.headers.location, undefined);
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.equal(r.body, '{"error":"invalid_token","error_description":"the access token is invalid or expired"}');
}

describe('bearer tokens at apps with apps[].audience', () => {
  test("an agent token for the app's audience: 202 with the identity headers from the token", async () => {
    const at = await agentToken(await agent('deployer', 'ci'));
    const r = await forwardAuth(inst.port, `${GRAFANA}/api/dashboards`, api(at));
    assert.equal(r.status, 202, r.body);
    assert.equal(r.headers['x-auth-request-user'], 'agent:deployer');
    assert.equal(r.headers['x-auth-request-preferred-username'], 'agent:deployer');
    assert.equal(r.headers['x-auth-request-groups'], 'ci');
    assert.equal(r.headers['x-auth-request-email'], '');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.body, '');
  });

  test("a user's token (code + PKCE with resource=<audience>): preferred_username, groups and the verified email", async () => {
    const c = { clientId: 'cli', redirectUri: CLI_CB };
    const { code, verifier } = await codeFor(new PortalClient(inst), c, { scope: 'openid', resource: GRAFANA });
    const t = await token(inst, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: CLI_CB,
      code_verifier: verifier,
      client_id: 'cli',
      resource: GRAFANA,
    });
    assert.equal(t.status, 200, t.body);
    const r = await forwardAuth(inst.port, `${GRAFANA}/`, api(String(json(t).access_token)));
    assert.equal(r.status, 202, r.body);
    assert.equal(r.headers['x-auth-request-user'], 'alice');
    assert.equal(r.headers['x-auth-request-email'], 'alice@example.test');
    assert.equal(r.headers['x-auth-request-groups'], 'admins');
  });

  test('a token for another audience (another app, or none the gate knows): 401 invalid_token, never a redirect', async () => {
    const a = await agent('wanderer', 'ci');
    const wiki = await agentToken(a, OTHER_APP);
    assert.equal((await forwardAuth(inst.port, `${OTHER_APP}/`, api(wiki))).status, 202);
    assertInvalidToken(await forwardAuth(inst.port, `${GRAFANA}/`, api(wiki)));
    // A browser-like Accept changes nothing: a token is never answered with the portal.
    assertInvalidToken(await forwardAuth(inst.port, `${GRAFANA}/`, api(wiki, { accept: 'text/html' })));
  });

  test('a malformed or forged token: 401 invalid_token; nginx gets an empty 401', async () => {
    assertInvalidToken(await forwardAuth(inst.port, `${GRAFANA}/`, api('not-a-jwt')));
    assertInvalidToken(await forwardAuth(inst.port, `${GRAFANA}/`, { headers: { authorization: 'Bearer', accept: 'application/json' } }));
    const at = await agentToken(await agent('forger', 'ci'));
    const [h, p, sig = ''] = at.split('.');
    assertInvalidToken(await forwardAuth(inst.port, `${GRAFANA}/`, api(`${h}.${p}.${sig.slice(0, -4)}AAAA`)));
    const nginx = await sendNginx('not-a-jwt');
    assert.equal(nginx.status, 401);
    assert.equal(nginx.headers['www-authenticate'], 'Bearer error="invalid_token", DPoP algs="ES256 EdDSA Ed25519"');
    assert.equal(nginx.headers['content-length'], '0');
    assert.equal(nginx.body, '');
  });

  test('groups the rule does not allow: 403; a later rule without the audience is never opened by the token', async () => {
    const at = await agentToken(await agent('outsider', 'ops'));
    const r = await forwardAuth(inst.port, `${GRAFANA}/`, api(at));
    assert.equal(r.status, 403);
    assert.equal(r.body, '{"error":"access_denied","error_description":"access is denied"}');
    // grafana is the first rule that matches, so it decides: grafana-ops (same host, groups
    // [ops]) is never reached, by the token or by the same user's cookie.
    const denied = inst.logger.lines.filter((x) => x.msg === 'forward auth: denied').at(-1);
    assert.equal(denied?.fields.reason, 'app grafana does not allow this user');
  });

  test('an app without audience ignores Authorization: the cookie flow decides', async () => {
    const at = await agentToken(await agent('ignored', 'ci'));
    const r = await forwardAuth(inst.port, 'https://plain.example.test/', api(at));
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="gatehouse"');
  });

  test('no token: the cookie flow as before (redirect to sign in, then 202 with the session)', async () => {
    const anon = await forwardAuth(inst.port, `${GRAFANA}/d/1`);
    assert.equal(anon.status, 302);
    assert.equal(anon.headers.location, `https://auth.example.test/oauth2/start?rd=${encodeURIComponent(`${GRAFANA}/d/1`)}`);
    const cookie = cookieHeader(inst, (await signIn(inst, 'alice')).value);
    const r = await forwardAuth(inst.port, `${GRAFANA}/d/1`, { cookie });
    assert.equal(r.status, 202);
    assert.equal(r.headers['x-auth-request-user'], 'alice');
    // Basic credentials (the app's own) leave the cookie path alone too.
    const b = await forwardAuth(inst.port, `${GRAFANA}/d/1`, { cookie, headers: { authorization: basic('u', 'p') } });
    assert.equal(b.status, 202);
  });

  test('a deleted agent: its token is refused within 2 s (the subject re-check interval)', async () => {
    const at = await agentToken(await agent('doomed', 'ci'));
    assert.equal((await forwardAuth(inst.port, `${GRAFANA}/`, api(at))).status, 202);
    const io = fakeIO('', {});
    assert.equal(await runCli(['agent', 'delete', 'doomed', '--config', inst.configPath], io), 0);
    clock.advance(2_000);
    assertInvalidToken(await forwardAuth(inst.port, `${GRAFANA}/`, api(at)));
  });

  test('an expired token: 401 invalid_token (last: moves the clock past the access-token lifetime)', async () => {
    const at = await agentToken(await agent('late', 'ci'));
    assert.equal((await forwardAuth(inst.port, `${GRAFANA}/`, api(at))).status, 202);
    // The token was issued on the real clock, some seconds after the manual one started: a
    // minute past the lifetime is past its expiry whatever the machine's load.
    clock.advance(3_600_000 + 60_000);
    assertInvalidToken(await forwardAuth(inst.port, `${GRAFANA}/`, api(at)));
  });
});

/** An nginx auth_request subrequest (X-Original-URL) from loopback, with a bearer token. */
function sendNginx(at: string): Promise<Answer> {
  return send(inst.port, {
    path: '/oauth2/auth',
    headers: { host: 'gatehouse.internal', 'x-original-url': `${GRAFANA}/`, 'x-original-method': 'GET', authorization: `Bearer ${at}` },
  });
}
