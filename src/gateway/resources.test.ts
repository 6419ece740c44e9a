import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileResources } from './resources.ts';

const DEFAULTS = {
  user: 'X-Auth-Request-User',
  email: 'X-Auth-Request-Email',
  groups: 'X-Auth-Request-Groups',
  preferredUsername: 'X-Auth-Request-Preferred-Username',
};

test("a path any backend may read as under a resource is that resource's (bearer-only), never the app rules'", () => {
  const r = compileResources([{ resource: 'https://mcp.example.org/mcp', scopes: [] }], new URL('https://auth.example.org'), DEFAULTS);
  for (const uri of ['/mcp', '/mcp/x', '/mcp/..%2Fx', '/MCP', '/mcp;x=1', '/x/..;/mcp', '/x/%2e%2e/mcp']) {
    assert.equal(r.match('mcp.example.org', uri)?.resource, 'https://mcp.example.org/mcp', uri);
  }
  for (const uri of ['/', '/x', '/mcpx', '/other/mcp', '/mcp%2F..%2Fx']) assert.equal(r.match('mcp.example.org', uri), null, uri);
});
