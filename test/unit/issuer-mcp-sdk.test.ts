// End to end with the official MCP TypeScript SDK (v1): an MCP server (the SDK's McpServer) behind
// Gatehouse in reverse-proxy mode, and the SDK's client with an OAuthClientProvider doing the
// whole dance against the issuer: 401 → protected-resource metadata → authorization-server
// metadata → dynamic registration → /oidc/auth with PKCE and `resource` (a signed-in user
// allows it through the portal's real forms) → /oidc/token → a real tool call whose server sees
// the user's identity headers, never the token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { ALICE, startInstance, type Instance } from './helpers.ts';
import { issuerConfig } from './issuer-helpers.ts';
import { authorizeVia, Browser } from './issuer-mcp-helpers.ts';

const MCP = 'https://mcp.example.test/mcp';
const CALLBACK = 'http://127.0.0.1:43210/callback';

async function startMcpServer(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.method !== 'POST') { res.writeHead(405, { allow: 'POST' }).end(); return; }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const mcp = new McpServer({ name: 'whoami', version: '1.0.0' });
      mcp.registerTool('whoami', { description: 'who the gate says the caller is' }, (extra) => {
        const h = (extra.requestInfo?.headers ?? {}) as IncomingMessage['headers'];
        return { content: [{ type: 'text', text: JSON.stringify({ user: h['x-auth-request-user'] ?? null, groups: h['x-auth-request-groups'] ?? null, authorization: h.authorization ?? null }) }] };
      });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => { void transport.close(); void mcp.close(); });
      mcp.connect(transport)
        .then(() => transport.handleRequest(req, res, JSON.parse(Buffer.concat(chunks).toString('utf8'))))
        .catch(() => { if (!res.headersSent) res.writeHead(500).end(); });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** The SDK's fetch: https://<any host>/… reaches the instance, Host and X-Forwarded-Proto set. */
function fetchVia(port: number, seen: string[]) {
  return async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const u = new URL(String(input));
    seen.push(`${init?.method ?? 'GET'} ${u.origin}${u.pathname}`);
    const headers: Record<string, string> = { connection: 'close' };
    new Headers(init?.headers).forEach((v, k) => { headers[k] = v; });
    headers.host = u.host;
    headers['x-forwarded-proto'] = u.protocol.slice(0, -1);
    const body = typeof init?.body === 'string' ? init.body : init?.body instanceof URLSearchParams ? init.body.toString() : undefined;
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: init?.method ?? 'GET', path: u.pathname + u.search, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          const status = res.statusCode ?? 0;
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: h }));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  };
}

/** An in-memory OAuthClientProvider, as a CLI MCP client keeps one. */
class MemoryProvider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  authorizationUrl: URL | undefined;
  get redirectUrl(): string { return CALLBACK; }
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'SDK Test Client', redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  state(): string { return 'sdk-state'; }
  clientInformation() { return this.info; }
  saveClientInformation(i: OAuthClientInformationMixed) { this.info = i; }
  tokens() { return this.saved; }
  saveTokens(t: OAuthTokens) { this.saved = t; }
  redirectToAuthorization(url: URL) { this.authorizationUrl = url; }
  saveCodeVerifier(v: string) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}

describe('the MCP SDK client through Gatehouse, issuer included', () => {
  let inst: Instance;
  let mcp: { url: string; server: Server };

  before(async () => {
    mcp = await startMcpServer();
    inst = await startInstance({
      config: (dir) => issuerConfig(dir, {
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
    const provider = new MemoryProvider();
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
    const { location, consentPage } = await authorizeVia(new Browser(inst), Object.fromEntries(url.searchParams));
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
      assert.deepEqual(r.content, [{ type: 'text', text: JSON.stringify({ user: 'alice', groups: 'admins', authorization: null }) }]);
      // For the report: from the first 401 to the first successful tool call, in process.
      process.stdout.write(`# first 401 to first tool call: ${elapsed.toFixed(0)} ms\n`);
    } finally {
      await client.close();
    }
    assert.deepEqual(seen.filter((s) => !s.endsWith(' https://mcp.example.test/mcp')), [
      'GET https://mcp.example.test/.well-known/oauth-protected-resource/mcp',
      'GET https://auth.example.test/.well-known/oauth-authorization-server',
      'POST https://auth.example.test/oidc/reg',
      'GET https://mcp.example.test/.well-known/oauth-protected-resource/mcp',
      'GET https://auth.example.test/.well-known/oauth-authorization-server',
      'POST https://auth.example.test/oidc/token',
    ]);
  });
});
