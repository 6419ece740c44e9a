// docs/mcp.md, "A static client for Claude": the two client entries of that page, taken from the
// page itself, with registration off. claude.ai's client returns to both of Claude's callbacks
// and exchanges its code with its secret (Basic or in the body); Claude Code's public client
// returns to its pinned loopback port and exchanges with PKCE alone. Each gets a token for the MCP
// resource. The sign-in and consent go through the real portal pages (the cookie-jar browser).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { parseAllDocuments } from 'yaml';
import { ALICE, type Instance, SECRET_A, startInstance } from '../kit/server.ts';
import { authorizeVia, basic, json, MCP, mcpConfig, pkce, PortalClient, register, token } from '../kit/mcp.ts';
import { yamlBlocks } from '../kit/docs.ts';

let inst: Instance;
let docClients: { id: string; secret?: string; redirectUris: string[]; public?: boolean }[];

before(async () => {
  const page = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'mcp.md'), 'utf8');
  const block = yamlBlocks(page)
    .map((b) => parseAllDocuments(b.text))
    .flatMap((d) => (Array.isArray(d) && d.length === 1 ? [d[0]!.toJS() as Record<string, unknown>] : []))
    .find((c) => c !== null && typeof c === 'object' && Array.isArray(c.clients));
  assert.ok(block, 'docs/mcp.md has the static-client block');
  assert.equal((block.issuer as { registration?: string }).registration, 'off');
  // The page's secret is an ${env:} reference; here it is a real 44-character value.
  docClients = (block.clients as typeof docClients).map((c) => (c.secret ? { ...c, secret: SECRET_A } : c));
  inst = await startInstance({
    unwatched: true,
    users: [ALICE],
    config: (d) => ({ ...mcpConfig(d, { registration: 'off' }), clients: docClients }),
  });
});
after(async () => {
  await inst.close();
});

const client = (id: string) => {
  const c = docClients.find((x) => x.id === id);
  assert.ok(c, id);
  return c;
};

async function code(clientId: string, redirectUri: string): Promise<{ code: string; verifier: string; consent: boolean }> {
  const { verifier, challenge } = pkce();
  const { location, consentPage } = await authorizeVia(new PortalClient(inst), {
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'mcp:tools',
    resource: MCP,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st',
  });
  assert.equal(`${location.origin}${location.pathname}`, redirectUri);
  assert.equal(location.searchParams.get('state'), 'st');
  const c = location.searchParams.get('code');
  assert.ok(c, location.href);
  return { code: c, verifier, consent: consentPage !== undefined };
}

describe('the static clients for Claude in docs/mcp.md', () => {
  test('registration is off, as the page says: Claude must use these clients', async () => {
    const r = await register(inst, {
      redirect_uris: ['https://claude.ai/api/mcp/auth_callback'],
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    });
    assert.equal(r.status, 404);
  });

  // Consent is remembered per user and client: asked the first time only.
  let consented = false;
  for (const callback of ['https://claude.ai/api/mcp/auth_callback', 'https://claude.com/api/mcp/auth_callback']) {
    for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
      test(`claude.ai: back to ${callback}, consent asked once, the code exchanged with the secret (${method}) for an MCP token`, async () => {
        const c = client('claude');
        assert.ok(c.redirectUris.includes(callback));
        const got = await code('claude', callback);
        assert.equal(got.consent, !consented);
        consented = true;
        const form = {
          grant_type: 'authorization_code',
          code: got.code,
          redirect_uri: callback,
          code_verifier: got.verifier,
          resource: MCP,
        };
        const r =
          method === 'client_secret_basic'
            ? await token(inst, form, { authorization: basic('claude', c.secret ?? '') })
            : await token(inst, { ...form, client_id: 'claude', client_secret: c.secret ?? '' });
        assert.equal(r.status, 200, r.body);
        const at = decodeJwt(String(json(r).access_token));
        assert.equal(at.aud, MCP);
        assert.equal(at.client_id, 'claude');
      });
    }
  }

  test("claude.ai's client is confidential: its code is worthless without the secret", async () => {
    const got = await code('claude', 'https://claude.ai/api/mcp/auth_callback');
    const r = await token(inst, {
      grant_type: 'authorization_code',
      code: got.code,
      redirect_uri: 'https://claude.ai/api/mcp/auth_callback',
      code_verifier: got.verifier,
      resource: MCP,
      client_id: 'claude',
    });
    assert.equal(r.status, 401);
    assert.equal(json(r).error, 'invalid_client');
  });

  test('Claude Code: back to the pinned loopback port, exchanged with PKCE alone (public client)', async () => {
    const c = client('claude-code');
    assert.equal(c.public, true);
    const [cb] = c.redirectUris;
    assert.equal(cb, 'http://localhost:8976/callback');
    const got = await code('claude-code', cb);
    const r = await token(inst, {
      grant_type: 'authorization_code',
      code: got.code,
      redirect_uri: cb,
      code_verifier: got.verifier,
      resource: MCP,
      client_id: 'claude-code',
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(decodeJwt(String(json(r).access_token)).aud, MCP);
  });

  test('a redirect URI the page does not list is refused (shown to the user, never redirected to)', async () => {
    const { challenge } = pkce();
    const b = new PortalClient(inst);
    const r = await b.go(
      `/oidc/auth?${new URLSearchParams({ client_id: 'claude', redirect_uri: 'https://claude.ai.evil.example/api/mcp/auth_callback', response_type: 'code', scope: 'mcp:tools', code_challenge: challenge, code_challenge_method: 'S256' }).toString()}`,
    );
    assert.equal(r.location, undefined);
    assert.equal(r.answer.status, 400);
    assert.match(r.answer.body, /redirect_uri/);
  });
});
