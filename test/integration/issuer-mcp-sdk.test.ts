// End to end with the official MCP TypeScript SDK (v1): an MCP server (the SDK's McpServer) behind
// Gatehouse in reverse-proxy mode, and the SDK's client with an OAuthClientProvider doing the
// whole dance against the issuer: 401 → protected-resource metadata → authorization-server
// metadata → dynamic registration → /oidc/auth with PKCE and `resource` (a signed-in user
// allows it through the portal's real forms) → /oidc/token → a real tool call whose server sees
// the user's identity headers, never the token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Server } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { ALICE, type Instance, startInstance } from '../kit/server.ts';
import { issuerConfig } from '../kit/issuer.ts';
import { authorizeVia, PortalClient } from '../kit/mcp.ts';
import { fetchVia, MemoryProvider, startMcpServer } from '../fixtures/mcp-sdk.ts';

const MCP = 'https://mcp.example.test/mcp';
const CALLBACK = 'http://127.0.0.1:43210/callback';

describe('the MCP SDK client through Gatehouse, issuer included', () => {
  let inst: Instance;
  let mcp: { url: string; server: Server };

  before(async () => {
    mcp = await startMcpServer();
    inst = await startInstance({
      config: (dir) =>
        issuerConfig(dir, {
          resources: [{ resource: MCP, name: 'whoami', scopes: ['mcp:tools'], upstream: mcp.url }],
          issuer: { defaultResource: MCP },
        }),
      users: [ALICE],
    });
  });
  after(async () => {
    await inst.close();
    await new Promise<void>((r) => mcp.server.close(() => r()));
  });

  test('401 → discovery → registration → authorization (signed-in user) → token with resource → a real tool call', async () => {
    const seen: string[] = [];
    const fetch = fetchVia(inst.port, seen);
    const provider = new MemoryProvider(CALLBACK, 'SDK Test Client');
    const started = performance.now();

    // 1. First connect: 401, the SDK discovers, registers, and wants the user at /oidc/auth.
    const first = new StreamableHTTPClientTransport(new URL(MCP), { fetch, authProvider: provider });
    await assert.rejects(new Client({ name: 't', version: '1' }).connect(first), UnauthorizedError);
    const url = provider.authorizationUrl;
    assert.ok(url, 'no authorization URL');
    assert.equal(url.origin + url.pathname, 'https://auth.example.test/oidc/auth');
    assert.equal(url.searchParams.get('resource'), MCP);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('scope'), 'mcp:tools');
    const clientId = String((provider.info as { client_id: string }).client_id);
    assert.equal(url.searchParams.get('client_id'), clientId);

    // 2. The user signs in and allows it; the browser ends at the client's loopback callback.
    const { location, consentPage } = await authorizeVia(new PortalClient(inst), Object.fromEntries(url.searchParams));
    assert.match(consentPage ?? '', /<h1>Allow SDK Test Client\?<\/h1>/);
    assert.equal(location.origin + location.pathname, CALLBACK);
    assert.equal(location.searchParams.get('iss'), 'https://auth.example.test');
    assert.equal(location.searchParams.get('state'), 'sdk-state');

    // 3. The SDK exchanges the code (with `resource`), then connects and calls the tool.
    await first.finishAuth(location.searchParams.get('code') ?? '');
    assert.equal(provider.saved?.token_type, 'Bearer');
    const transport = new StreamableHTTPClientTransport(new URL(MCP), { fetch, authProvider: provider });
    const client = new Client({ name: 't', version: '1' });
    await client.connect(transport);
    try {
      const r = await client.callTool({ name: 'whoami', arguments: {} });
      const elapsed = performance.now() - started;
      assert.deepEqual(r.content, [
        {
          type: 'text',
          text: JSON.stringify({
            user: 'alice',
            email: 'alice@example.test',
            groups: 'admins',
            preferredUsername: 'alice',
            authorization: null,
          }),
        },
      ]);
      // For the report: from the first 401 to the first successful tool call, in process.
      process.stdout.write(`# first 401 to first tool call: ${elapsed.toFixed(0)} ms\n`);
    } finally {
      await client.close();
    }
    assert.deepEqual(
      seen.filter((s) => !s.endsWith(' https://mcp.example.test/mcp')),
      [
        'GET https://mcp.example.test/.well-known/oauth-protected-resource/mcp',
        'GET https://auth.example.test/.well-known/oauth-authorization-server',
        'POST https://auth.example.test/oidc/reg',
        'GET https://mcp.example.test/.well-known/oauth-protected-resource/mcp',
        'GET https://auth.example.test/.well-known/oauth-authorization-server',
        'POST https://auth.example.test/oidc/token',
      ],
    );
  });
});
