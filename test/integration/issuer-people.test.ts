// People, consent and refresh tokens on one SQLite instance: remembered consent (per user, client
// and scope set; shown and revoked by the CLI), refresh tokens for MCP clients (offline_access
// kept and allowed, a lifetime and an idle limit), and what disabling or deleting a user ends:
// browser sessions, access tokens (within the 2 s subject check), refresh grants.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { h } from '../../src/issuer/adapter.ts';
import { send } from '../kit/http.ts';
import { addUser, type Instance } from '../kit/server.ts';
import { authorizeVia, HTTPS, json, MCP, OTHER, pkce, PortalClient, type PublicClient, startMcpIssuer, token } from '../kit/mcp.ts';
import { bearerStatus, cli, holder, mcpClient, refreshWith, sessionStatus } from '../kit/people.ts';
import { timeUntil } from '../kit/poll.ts';

let inst: Instance;
before(async () => {
  inst = await startMcpIssuer();
});
after(async () => {
  await inst.close();
});

function params(c: PublicClient, scope: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    client_id: c.clientId,
    redirect_uri: c.redirectUri,
    response_type: 'code',
    scope,
    resource: MCP,
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
    state: 'st',
    ...extra,
  };
}

describe('remembered consent', () => {
  test('asked once per user, client and scope set: a new browser session is not asked again, a new scope is', async () => {
    const c = await mcpClient(inst);
    const first = await authorizeVia(new PortalClient(inst), params(c, 'mcp:tools'));
    assert.match(first.consentPage ?? '', /<h1>Allow MCP Test Client\?<\/h1>/);
    assert.ok(first.location.searchParams.get('code'));

    // Another browser (a new gate session, no OpenID session): no consent screen.
    const second = await authorizeVia(new PortalClient(inst), params(c, 'mcp:tools'));
    assert.equal(second.consentPage, undefined);
    assert.ok(second.location.searchParams.get('code'));

    // A scope not allowed before: asked again; then both are remembered.
    const wider = await authorizeVia(new PortalClient(inst), params(c, 'mcp:tools mcp:admin'));
    assert.ok(wider.consentPage, 'a new scope asks again');
    assert.equal((await authorizeVia(new PortalClient(inst), params(c, 'mcp:admin'))).consentPage, undefined);

    // Another user, or the client's own prompt=consent: asked.
    assert.ok((await authorizeVia(new PortalClient(inst), params(c, 'mcp:tools'), 'bob')).consentPage, 'consent is per user');
    assert.ok(
      (await authorizeVia(new PortalClient(inst), params(c, 'mcp:tools', { prompt: 'consent' }))).consentPage,
      'prompt=consent is honoured',
    );
  });

  test('scopes are remembered per resource: "api" allowed at one and "mcp:tools" at another is not "mcp:tools" at the first', async () => {
    const c = await mcpClient(inst, { scope: 'mcp:tools api' });
    assert.ok((await authorizeVia(new PortalClient(inst), { ...params(c, 'mcp:tools'), resource: MCP })).consentPage);
    assert.ok((await authorizeVia(new PortalClient(inst), { ...params(c, 'api'), resource: OTHER })).consentPage);
    assert.equal((await authorizeVia(new PortalClient(inst), { ...params(c, 'api'), resource: OTHER })).consentPage, undefined);
    assert.ok(
      (await authorizeVia(new PortalClient(inst), { ...params(c, 'mcp:tools'), resource: OTHER })).consentPage,
      'mcp:tools was allowed at MCP only',
    );
  });

  test('a consent post without a live token (expired, other browser) gets the page again (400) with a fresh token; one from another origin gets 403', async () => {
    const c = await mcpClient(inst);
    const b = new PortalClient(inst);
    let r = await b.go(`/oidc/auth?${new URLSearchParams(params(c, 'mcp:tools')).toString()}`);
    r = await b.go((await b.signIn(new URL(r.visited.at(-1) ?? '').searchParams.get('rd') ?? '', 'alice')).headers.location ?? '');
    const url = r.visited.at(-1) ?? '';
    const first = b.lastCsrf;
    for (const name of b.jar.names()) if (name.endsWith('_csrf')) b.jar.delete(name);
    const stale = await b.request(url, { method: 'POST', body: b.form({ decision: 'allow' }) });
    assert.equal(stale.status, 400);
    assert.match(stale.body, /<h1>Allow MCP Test Client\?<\/h1>/);
    assert.notEqual(b.lastCsrf, first, 'a fresh token');
    const foreign = await b.request(url, {
      method: 'POST',
      body: b.form({ decision: 'allow' }),
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers['set-cookie'], undefined, 'no new token for a post from elsewhere');
    const ok = await b.request(url, { method: 'POST', body: b.form({ decision: 'allow' }) });
    assert.equal(ok.status, 303);
  });

  test('a native client is always asked (RFC 8252 §8.6: its identity cannot be assured)', async () => {
    const c = await mcpClient(inst, { application_type: 'native' });
    assert.ok((await authorizeVia(new PortalClient(inst), params(c, 'mcp:tools'))).consentPage);
    assert.ok((await authorizeVia(new PortalClient(inst), params(c, 'mcp:tools'))).consentPage);
  });

  test('a denied consent is not remembered', async () => {
    const c = await mcpClient(inst);
    const b = new PortalClient(inst);
    let r = await b.go(`/oidc/auth?${new URLSearchParams(params(c, 'mcp:tools')).toString()}`);
    r = await b.go((await b.signIn(new URL(r.visited.at(-1) ?? '').searchParams.get('rd') ?? '', 'alice')).headers.location ?? '');
    const denied = await b.request(r.visited.at(-1) ?? '', { method: 'POST', body: b.form({ decision: 'deny' }) });
    assert.equal(denied.status, 303);
    assert.ok((await authorizeVia(new PortalClient(inst), params(c, 'mcp:tools'))).consentPage);
  });

  test('gatehouse user grants lists them; revoke-grant forgets one (asked again) and revokes its refresh tokens', async () => {
    await addUser(inst.configPath, { name: 'gina', email: 'gina@example.test', groups: [] });
    const c = await mcpClient(inst, { client_name: 'Grants Client' });
    const held = await holder(inst, 'gina', c);
    const listed = await cli(inst, 'user', 'grants', 'gina');
    assert.equal(listed.code, 0);
    assert.equal(listed.out.length, 1);
    const mcp = MCP.replaceAll('.', '\\.');
    assert.match(
      listed.out[0] ?? '',
      new RegExp(`^${c.clientId}\\tmcp:admin@${mcp} mcp:tools@${mcp}\\t${mcp}\\tallowed \\d{4}-\\d\\d-\\d\\dT[^\\t]+\\tlast \\d{4}-`),
    );

    const revoked = await cli(inst, 'user', 'revoke-grant', 'gina', c.clientId);
    assert.equal(revoked.code, 0, revoked.err.join('\n'));
    assert.match(
      revoked.out[0] ?? '',
      new RegExp(`^revoked gina's grant for ${c.clientId}: the client asks again; [1-9]\\d* OpenID record\\(s\\) revoked$`),
    );
    assert.deepEqual((await cli(inst, 'user', 'grants', 'gina')).out, ['gina has allowed no client']);
    const r = await refreshWith(inst, held);
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    assert.ok((await authorizeVia(new PortalClient(inst), params(c, 'mcp:tools'), 'gina')).consentPage, 'asked again');

    const again = await cli(inst, 'user', 'revoke-grant', 'gina', 'no-such-client');
    assert.equal(again.code, 1);
    assert.deepEqual(again.err, ['gatehouse: gina has no grant for client "no-such-client"']);
    assert.equal((await cli(inst, 'user', 'revoke-grant', 'gina')).code, 2);
  });
});

test('consentItems: OpenID scopes as they are, other scopes per resource', async () => {
  const { consentItems } = await import('../../src/issuer/issuer.ts');
  assert.deepEqual(consentItems(['openid', 'read', 'offline_access', 'email'], ['https://a.example/x', 'https://b.example/y']), [
    'email',
    'offline_access',
    'openid',
    'read@https://a.example/x',
    'read@https://b.example/y',
  ]);
  assert.deepEqual(consentItems(['read', 'openid'], []), ['openid', 'read']);
});

describe('refresh tokens for MCP clients', () => {
  test('offline_access is advertised', async () => {
    const m = json(await send(inst.port, { path: '/.well-known/oauth-authorization-server', headers: HTTPS }));
    assert.ok((m.scopes_supported as string[]).includes('offline_access'));
  });

  test("offline_access asked without prompt=consent is kept, and allowed to a client registered with only the challenge's scopes", async () => {
    const c = await mcpClient(inst, { scope: 'mcp:tools' });
    const { verifier, challenge } = pkce();
    const { location, consentPage } = await authorizeVia(new PortalClient(inst), {
      ...params(c, 'mcp:tools offline_access'),
      code_challenge: challenge,
    });
    assert.equal(location.searchParams.get('error'), null, location.href);
    assert.match(consentPage ?? '', /Stay signed in when you are away \(refresh tokens\)/);
    const t = await token(inst, {
      grant_type: 'authorization_code',
      code: location.searchParams.get('code') ?? '',
      redirect_uri: c.redirectUri,
      code_verifier: verifier,
      client_id: c.clientId,
      resource: MCP,
    });
    assert.equal(t.status, 200, t.body);
    // The access token is for the resource (its scopes only); the grant behind the refresh token
    // kept offline_access.
    assert.equal(json(t).scope, 'mcp:tools');
    const rt = String(json(t).refresh_token);
    const rec = await inst.running.store.oidc.find('RefreshToken', h('id', rt), Date.now());
    assert.deepEqual(
      String((JSON.parse(rec?.payload ?? '{}') as { scope?: string }).scope)
        .split(' ')
        .sort(),
      ['mcp:tools', 'offline_access'],
    );
    // The next authorization with offline_access: the remembered consent answers it.
    assert.equal((await authorizeVia(new PortalClient(inst), params(c, 'mcp:tools offline_access'))).consentPage, undefined);
  });

  test('a registered client with the refresh_token grant gets a refresh token without offline_access; the consent page says so', async () => {
    const c = await mcpClient(inst);
    const { verifier, challenge } = pkce();
    const { location, consentPage } = await authorizeVia(new PortalClient(inst), { ...params(c, 'mcp:tools'), code_challenge: challenge });
    assert.match(consentPage ?? '', /Stay signed in when you are away \(refresh tokens\)/);
    const t = json(
      await token(inst, {
        grant_type: 'authorization_code',
        code: location.searchParams.get('code') ?? '',
        redirect_uri: c.redirectUri,
        code_verifier: verifier,
        client_id: c.clientId,
        resource: MCP,
      }),
    );
    assert.equal(t.scope, 'mcp:tools');
    assert.equal(typeof t.refresh_token, 'string');
    // Without the refresh_token grant: none, and the page does not promise one.
    const plain = await mcpClient(inst, { grant_types: ['authorization_code'] });
    const p2 = pkce();
    const r2 = await authorizeVia(new PortalClient(inst), { ...params(plain, 'mcp:tools'), code_challenge: p2.challenge });
    assert.doesNotMatch(r2.consentPage ?? '', /refresh tokens/);
    const t2 = json(
      await token(inst, {
        grant_type: 'authorization_code',
        code: r2.location.searchParams.get('code') ?? '',
        redirect_uri: plain.redirectUri,
        code_verifier: p2.verifier,
        client_id: plain.clientId,
        resource: MCP,
      }),
    );
    assert.equal(t2.refresh_token, undefined);
  });
});

describe('refresh token lifetime and idle limit', () => {
  let short: Instance;
  before(async () => {
    short = await startMcpIssuer({ refreshTokenLifetime: '1h', refreshTokenIdle: '10m' });
  });
  after(async () => {
    await short.close();
  });

  const stored = async (i: Instance, rt: string) => {
    const found = await i.running.store.oidc.find('RefreshToken', h('id', rt), Date.now());
    assert.ok(found, 'the refresh token is stored');
    return JSON.parse(found.payload) as { iat: number; exp: number; iiat: number };
  };

  test('a refresh token lives issuer.refreshTokenIdle; each rotation starts it again, never past refreshTokenLifetime from the first', async () => {
    const held = await holder(short, 'alice');
    const first = await stored(short, held.refreshToken);
    assert.equal(first.exp - first.iat, 600);
    const r = await refreshWith(short, held);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const next = await stored(short, String(r.body.refresh_token));
    assert.equal(next.iiat, first.iat, 'the chain keeps its first issue time');
    assert.equal(next.exp - next.iat, 600);
    // Near the end of the lifetime the idle period is cut to what is left: the first issue time
    // moved back 59m55s (the record's own iiat, as a long-lived chain would have it).
    const aged = await holder(short, 'alice');
    const rec = await short.running.store.oidc.find('RefreshToken', h('id', aged.refreshToken), Date.now());
    const payload = JSON.parse(rec?.payload ?? '{}') as Record<string, unknown>;
    payload.iiat = Number(payload.iat) - 3595;
    await short.running.store.oidc.upsert('RefreshToken', h('id', aged.refreshToken), {
      payload: JSON.stringify(payload),
      grantId: h('grant', String(payload.grantId)),
      uid: null,
      userCode: null,
      expiresAt: Number(payload.exp) * 1000,
      accountId: String(payload.accountId),
      clientId: String(payload.clientId),
    });
    const late = await refreshWith(short, aged);
    assert.equal(late.status, 200, JSON.stringify(late.body));
    const last = await stored(short, String(late.body.refresh_token));
    assert.ok(last.exp <= Number(payload.iiat) + 3600, `exp ${last.exp} is past the chain's lifetime ${Number(payload.iiat) + 3600}`);
    assert.ok(last.exp - last.iat < 600);
  });

  test('check refuses refreshTokenIdle longer than refreshTokenLifetime, naming the path', async () => {
    const { issuerSchema } = await import('../../src/config/schema.ts');
    const r = issuerSchema.safeParse({ refreshTokenLifetime: '1h', refreshTokenIdle: '2h' });
    assert.equal(r.success, false);
    assert.deepEqual(
      r.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [['refreshTokenIdle', 'issuer.refreshTokenIdle is longer than issuer.refreshTokenLifetime: it would never apply']],
    );
  });
});

describe('disabling and deleting people', () => {
  for (const action of ['disable', 'delete'] as const) {
    test(`user ${action}: sessions end, access tokens are refused within 2 s, refresh grants are revoked`, async () => {
      const name = `${action}-me`;
      await addUser(inst.configPath, { name, email: `${name}@example.test`, groups: [] });
      const held = await holder(inst, name);
      const userId = (await inst.running.store.users.findByUsername(name))?.id ?? '';
      const other = await holder(inst, 'alice');
      assert.equal(await bearerStatus(inst, held.accessToken), 202);
      assert.equal(await sessionStatus(inst, held.sessionCookie), 200);

      const out = await cli(inst, 'user', action, name);
      assert.equal(out.code, 0, out.err.join('\n'));
      assert.match(
        out.out[0] ?? '',
        new RegExp(
          `^${action === 'disable' ? 'disabled' : 'deleted'} ${name}; ended 1 session\\(s\\), revoked [1-9]\\d* OpenID record\\(s\\)`,
        ),
      );
      const tokenMs = await timeUntil(async () => (await bearerStatus(inst, held.accessToken)) === 401, {
        timeoutMs: 4000,
        what: 'the access token refused',
      });
      const sessionMs = await timeUntil(async () => (await sessionStatus(inst, held.sessionCookie)) === 401, {
        timeoutMs: 4000,
        what: 'the session ended',
      });
      process.stdout.write(
        `# user ${action}: access token refused after ${tokenMs.toFixed(0)} ms, session after ${sessionMs.toFixed(0)} ms\n`,
      );
      assert.ok(tokenMs < 2000, `access token refused after ${tokenMs} ms`);
      const r = await refreshWith(inst, held);
      assert.equal(r.status, 400);
      assert.equal(r.body.error, 'invalid_grant');
      // Nobody else is touched.
      assert.equal(await bearerStatus(inst, other.accessToken), 202);
      assert.equal((await refreshWith(inst, other)).status, 200);
      if (action === 'delete') {
        assert.equal(await inst.running.store.users.findByUsername(name), undefined);
        assert.deepEqual(await inst.running.store.consents.list(userId), []);
        assert.equal(await inst.running.store.oidc.revokeForAccount(userId), 0, 'nothing of the user is left');
      } else {
        assert.equal((await inst.running.store.users.findByUsername(name))?.disabled, true);
        // enable: the user may sign in again; what was ended stays ended.
        const en = await cli(inst, 'user', 'enable', name);
        assert.deepEqual(en.out, [`enabled ${name}: they can sign in again (ended sessions and revoked tokens stay ended)`]);
        assert.equal((await inst.running.store.users.findByUsername(name))?.disabled, false);
        assert.equal(await sessionStatus(inst, held.sessionCookie), 401);
        assert.equal((await refreshWith(inst, held)).status, 400);
        const fresh = await holder(inst, name, held.client);
        // The gate's memory of "inactive" lasts at most the subject check interval (1 s).
        await timeUntil(async () => (await bearerStatus(inst, fresh.accessToken)) === 202, {
          timeoutMs: 2000,
          what: 'the new token accepted',
        });
      }
    });
  }

  test("session revoke --user also revokes the user's refresh tokens", async () => {
    await addUser(inst.configPath, { name: 'sam', email: 'sam@example.test', groups: [] });
    const held = await holder(inst, 'sam');
    const out = await cli(inst, 'session', 'revoke', '--user', 'sam');
    assert.equal(out.code, 0, out.err.join('\n'));
    assert.match(out.out[0] ?? '', /^revoked 1 session\(s\) and [1-9]\d* OpenID record\(s\) \(grants, refresh tokens\)$/);
    assert.equal((await refreshWith(inst, held)).body.error, 'invalid_grant');
  });
});
