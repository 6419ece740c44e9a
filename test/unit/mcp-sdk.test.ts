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
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  discoverAuthorizationServerMetadata, discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { baseConfig } from './helpers.ts';
import { accessToken, ISSUER, signingKey, startMcpInstance, type McpInstance, type SigningKey } from './mcp-helpers.ts';

const MCP = 'https://mcp.example.test/mcp';
const META = 'https://mcp.example.test/.well-known/oauth-protected-resource/mcp';

/** An MCP server (stateless Streamable HTTP) with one tool that reports what reached it. */
async function startMcpServer(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.method !== 'POST') { res.writeHead(405, { allow: 'POST' }).end(); return; }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const mcp = new McpServer({ name: 'whoami', version: '1.0.0' });
      mcp.registerTool('whoami', { description: 'who the gate says the caller is' }, (extra) => {
        const h = (extra.requestInfo?.headers ?? {}) as IncomingMessage['headers'];
        return { content: [{ type: 'text', text: JSON.stringify({ user: h['x-auth-request-user'] ?? null, authorization: h.authorization ?? null }) }] };
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

/**
 * A fetch for the SDK that reaches https://<any host>/… at the instance's port, with the
 * virtual host in Host and the scheme in X-Forwarded-Proto (loopback is a trusted proxy).
 */
function fetchVia(port: number, seen: string[]) {
  return async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const u = new URL(String(input));
    seen.push(`${init?.method ?? 'GET'} ${u.href}`);
    const headers: Record<string, string> = { connection: 'close' };
    new Headers(init?.headers).forEach((v, k) => { headers[k] = v; });
    headers.host = u.host;
    headers['x-forwarded-proto'] = u.protocol.slice(0, -1);
    const body = typeof init?.body === 'string' ? init.body : undefined;
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

describe('MCP SDK client through Gatehouse (reverse-proxy mode)', () => {
  let inst: McpInstance;
  let key: SigningKey;
  let mcp: { url: string; server: Server };

  before(async () => {
    key = await signingKey('RS256', 'rs-1');
    mcp = await startMcpServer();
    inst = await startMcpInstance((dir) => baseConfig(dir, {
      resources: [{ resource: MCP, name: 'whoami', scopes: ['mcp:tools'], upstream: mcp.url }],
    }), [], { keys: [key.pub] });
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
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    assert.equal(first.status, 401);
    const params = extractWWWAuthenticateParams(first);
    assert.equal(params.resourceMetadataUrl?.href, META);
    assert.equal(params.scope, 'mcp:tools');
    assert.equal(params.error, undefined);

    const fromHeader = await discoverOAuthProtectedResourceMetadata(MCP, { resourceMetadataUrl: params.resourceMetadataUrl! }, fetchFn);
    assert.deepEqual(fromHeader, { resource: MCP, authorization_servers: [ISSUER], scopes_supported: ['mcp:tools'], bearer_methods_supported: ['header'], resource_name: 'whoami' });
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
    const transport = new StreamableHTTPClientTransport(new URL(MCP), { fetch: fetchVia(inst.port, seen), requestInit: { headers: { authorization: `Bearer ${token}` } } });
    const client = new Client({ name: 'gatehouse-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const tools = await client.listTools();
      assert.deepEqual(tools.tools.map((t) => t.name), ['whoami']);
      const r = await client.callTool({ name: 'whoami', arguments: {} });
      assert.deepEqual(r.content, [{ type: 'text', text: JSON.stringify({ user: 'alice', authorization: null }) }]);
    } finally {
      await client.close();
    }
  });

  test('a token without the scope: the SDK sees 403 insufficient_scope', async () => {
    const token = await accessToken(key, { aud: MCP, scope: 'other' });
    const res = await fetchVia(inst.port, [])(MCP, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 403);
    assert.deepEqual(extractWWWAuthenticateParams(res), { resourceMetadataUrl: new URL(META), scope: 'mcp:tools', error: 'insufficient_scope' });
  });
});
