// The official MCP TypeScript SDK (v1) against Gatehouse in reverse-proxy mode, in front of an
// MCP server built with the same SDK:
//   - discovery as the SDK's client does it: 401 -> resource_metadata -> protected-resource
//     metadata (from the header, and by the well-known fallback) -> authorization-server
//     metadata of authorization_servers[0], whose issuer must be byte-identical;
//   - with a valid access token (signed by the suite's keys, as the issuer will sign them), a
//     real tool call through the gate; the MCP server sees identity headers, never the token.
// The middle of the flow (registration, /authorize with a signed-in user, /token with
// `resource`) belongs to the issuer and is not exercised here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { baseConfig } from '../kit/server.ts';
import { accessToken, ISSUER, type McpInstance, signingKey, type SigningKey, startMcpInstance } from '../kit/resource.ts';
import { fetchVia, startMcpServer } from '../fixtures/mcp-sdk.ts';

const MCP = 'https://mcp.example.test/mcp';
const META = 'https://mcp.example.test/.well-known/oauth-protected-resource/mcp';

/**
 * A fetch for the SDK that reaches https://<any host>/… at the instance's port, with the
 * virtual host in Host and the scheme in X-Forwarded-Proto (loopback is a trusted proxy).
 */

describe('MCP SDK client through Gatehouse (reverse-proxy mode)', () => {
  let inst: McpInstance;
  let key: SigningKey;
  let mcp: { url: string; server: Server };

  before(async () => {
    key = await signingKey('RS256', 'rs-1');
    mcp = await startMcpServer();
    inst = await startMcpInstance(
      (dir) =>
        baseConfig(dir, {
          resources: [{ resource: MCP, name: 'whoami', scopes: ['mcp:tools'], upstream: mcp.url }],
        }),
      [],
      { keys: [key.pub] },
    );
  });
  after(async () => {
    await inst.close();
    await new Promise<void>((r) => mcp.server.close(() => r()));
  });

  test('discovery: 401 -> resource metadata (header and well-known fallback) -> authorization-server metadata with the same issuer', async () => {
    const seen: string[] = [];
    const fetchFn = fetchVia(inst.port, seen);
    const first = await fetchFn(MCP, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
    });
    assert.equal(first.status, 401);
    const params = extractWWWAuthenticateParams(first);
    assert.equal(params.resourceMetadataUrl?.href, META);
    assert.equal(params.scope, 'mcp:tools');
    assert.equal(params.error, undefined);

    const fromHeader = await discoverOAuthProtectedResourceMetadata(MCP, { resourceMetadataUrl: params.resourceMetadataUrl! }, fetchFn);
    assert.deepEqual(fromHeader, {
      resource: MCP,
      authorization_servers: [ISSUER],
      scopes_supported: ['mcp:tools'],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'Ed25519'],
      resource_name: 'whoami',
    });
    const byWellKnown = await discoverOAuthProtectedResourceMetadata(MCP, {}, fetchFn);
    assert.deepEqual(byWellKnown, fromHeader);

    const as = await discoverAuthorizationServerMetadata(fromHeader.authorization_servers![0]!, { fetchFn });
    assert.ok(as, 'no authorization-server metadata');
    assert.equal(as.issuer, fromHeader.authorization_servers![0]);
    assert.deepEqual(seen, [
      `POST ${MCP}`,
      `GET ${META}`,
      `GET ${META}`,
      'GET https://auth.example.test/.well-known/oauth-authorization-server',
    ]);
  });

  test('with a valid token: initialize and a real tool call; the MCP server gets the identity, not the token', async () => {
    const token = await accessToken(key, { aud: MCP, scope: 'mcp:tools', preferred_username: 'alice', groups: ['admins'] });
    const seen: string[] = [];
    const transport = new StreamableHTTPClientTransport(new URL(MCP), {
      fetch: fetchVia(inst.port, seen),
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    const client = new Client({ name: 'gatehouse-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const tools = await client.listTools();
      assert.deepEqual(
        tools.tools.map((t) => t.name),
        ['whoami'],
      );
      const r = await client.callTool({ name: 'whoami', arguments: {} });
      assert.deepEqual(r.content, [
        {
          type: 'text',
          text: JSON.stringify({ user: 'alice', email: '', groups: 'admins', preferredUsername: 'alice', authorization: null }),
        },
      ]);
    } finally {
      await client.close();
    }
  });

  test('a token without the scope: the SDK sees 403 insufficient_scope', async () => {
    const token = await accessToken(key, { aud: MCP, scope: 'other' });
    const res = await fetchVia(inst.port, [])(MCP, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 403);
    assert.deepEqual(extractWWWAuthenticateParams(res), {
      resourceMetadataUrl: new URL(META),
      scope: 'mcp:tools',
      error: 'insufficient_scope',
    });
  });
});
