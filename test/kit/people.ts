// People and their tokens, shared by the SQLite suite (test/integration/issuer-people.test.ts) and the
// two-replica PostgreSQL suite (test/postgres/people.test.ts): a user signed in with a browser
// session, an access token for the MCP resource and a refresh token; then what each still gets.
import assert from 'node:assert/strict';
import { runCli } from '../../src/cli/index.ts';
import { send } from './http.ts';
import { codeFor, HTTPS, json, MCP, PortalClient, register, token, type PublicClient } from './mcp.ts';
import { fakeIO, forwardAuth, type Instance } from './server.ts';

export async function cli(inst: Instance, ...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const io = fakeIO('', {});
  const code = await runCli([...args, '--config', inst.configPath], io);
  return { code, out: io.stdout, err: io.stderr };
}

/** A client as MCP clients register (web, loopback callback, the refresh_token grant, the challenge's scope). */
export async function mcpClient(inst: Instance, over: Record<string, unknown> = {}): Promise<PublicClient> {
  const redirectUri = 'http://127.0.0.1:43219/callback';
  const r = await register(inst, {
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    client_name: 'MCP Test Client',
    scope: 'mcp:tools mcp:admin',
    ...over,
  });
  assert.equal(r.status, 201, r.body);
  return { clientId: String(json(r).client_id), redirectUri };
}

export interface Holder {
  browser: PortalClient;
  sessionCookie: string;
  accessToken: string;
  refreshToken: string;
  client: PublicClient;
}

/** `username` signs in (a browser session), allows the client, and gets an access and a refresh token. */
export async function holder(inst: Instance, username: string, client?: PublicClient): Promise<Holder> {
  const c = client ?? (await mcpClient(inst));
  const browser = new PortalClient(inst);
  const { code, verifier } = await codeFor(browser, c, { scope: 'mcp:tools mcp:admin', username });
  const t = await token(inst, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: c.redirectUri,
    code_verifier: verifier,
    client_id: c.clientId,
    resource: MCP,
  });
  assert.equal(t.status, 200, t.body);
  const body = json(t);
  assert.equal(typeof body.refresh_token, 'string', 'a registered client with the refresh_token grant gets a refresh token');
  const name = inst.running.settings().cookieName;
  const sessionCookie = browser.jar.get(name);
  assert.ok(sessionCookie, 'the browser has a session');
  return { browser, sessionCookie, accessToken: String(body.access_token), refreshToken: String(body.refresh_token), client: c };
}

/** The bearer token at the MCP resource through forward auth: 202 or 401. */
export async function bearerStatus(inst: Instance, accessToken: string): Promise<number> {
  return (await forwardAuth(inst.port, MCP, { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } })).status;
}

/** The browser session at /oauth2/userinfo: 200 or 401. */
export async function sessionStatus(inst: Instance, cookie: string): Promise<number> {
  const name = inst.running.settings().cookieName;
  return (
    await send(inst.port, { path: '/oauth2/userinfo', headers: { ...HTTPS, cookie: `${name}=${cookie}`, accept: 'application/json' } })
  ).status;
}

export async function refreshWith(inst: Instance, h: Holder): Promise<{ status: number; body: Record<string, unknown> }> {
  const a = await token(inst, { grant_type: 'refresh_token', refresh_token: h.refreshToken, client_id: h.client.clientId });
  return { status: a.status, body: json(a) };
}
