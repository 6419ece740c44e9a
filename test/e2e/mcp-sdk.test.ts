// The official MCP TypeScript SDK (v1) as the client, through REAL nginx and REAL Caddy run from
// the configs in docs/proxies/ (nginx/mcp.conf with its snippets, caddy/Caddyfile.mcp), the gate
// in front by forward auth, and through Gatehouse's own reverse-proxy mode (resources[].upstream),
// to an MCP server built with the SDK (McpServer + Streamable HTTP) whose `whoami` tool returns
// the identity headers it received. The whole dance goes over the proxy's port: 401 →
// protected-resource metadata (routed to Gatehouse on the MCP host) → authorization-server
// metadata → dynamic registration → /oidc/auth with PKCE and `resource` opened in real Chromium,
// where the user signs in and CLICKS Allow → /oidc/token with `resource` → a real tool call; then
// the access token expires (issuer.accessTokenLifetime 6s) and the SDK refreshes it (rotation)
// and calls the tool again without the browser. The time from the first 401 to the first tool
// call and the number of screens the user sees are printed.
// Negative: a token for another resource, a token without the needed scope (the SDK sees the
// 403 challenge and asks for more), a user the resource does not admit, and the token never
// reaching the MCP server.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  discoverAuthorizationServerMetadata,
  exchangeAuthorization,
  startAuthorization,
  UnauthorizedError,
} from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationFull, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { createHash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { MemoryProvider, serveWhoamiMcp } from '../fixtures/mcp-sdk.ts';
import { launchChromium } from '../kit/chromium.ts';
import { formAction, hiddenInputs, parseInputs } from '../kit/html.ts';
import { CookieJar, freePort, type HttpResponse, jarRequest, request } from '../kit/http.ts';
import { addUser, gateConfig, type GatehouseProcess, startGatehouse } from '../kit/process.ts';
import { type ProxyProcess, startCaddy, startNginx } from '../kit/proxies.ts';
import { nginxSnippets, readDoc, render } from '../kit/proxy-docs.ts';
import { SPOOFED_HEADERS } from '../kit/spoofing.ts';
import { recordRequest, type SeenRequest, startWhoami, type Whoami } from '../kit/whoami.ts';

const PASSWORD = 'correct horse battery staple';
const PORTAL_HOST = 'auth.example.test';
const MCP_HOST = 'mcp.example.test';
const APP_HOST = 'app.example.test';
/** A loopback callback, as a CLI MCP client registers; nothing listens there: the code is read from the redirect. */
const CALLBACK = 'http://127.0.0.1:43219/callback';
const SCOPES = 'mcp:tools mcp:admin';

// ---------------------------------------------------------------------------------------------
// The proxies, from the shipped docs

/** nginx from the shipped docs with an MCP server: gatehouse.conf, app.conf for the apps, and mcp.conf. */
async function startNginxMcpFromDocs(v: {
  port: number;
  gatehouse: string;
  portalName: string;
  apps: { serverName: string; upstream: string };
  mcp: { serverName: string; upstream: string };
}): Promise<ProxyProcess> {
  const gatehouseConf = render(await readDoc('nginx/gatehouse.conf'), {
    GATEHOUSE: v.gatehouse,
    LISTEN: v.port,
    PORTAL_NAME: v.portalName,
  });
  const app = render(await readDoc('nginx/app.conf'), { LISTEN: v.port, SERVER_NAME: v.apps.serverName, APP_UPSTREAM: v.apps.upstream });
  const mcp = render(await readDoc('nginx/mcp.conf'), { LISTEN: v.port, MCP_SERVER_NAME: v.mcp.serverName, MCP_UPSTREAM: v.mcp.upstream });
  const files: Record<string, string> = {};
  Object.assign(files, await nginxSnippets());
  return startNginx([gatehouseConf, app, mcp].join('\n'), { port: v.port, files });
}

/** Caddy from the shipped docs with an MCP server: docs/proxies/caddy/Caddyfile plus Caddyfile.mcp. */
async function startCaddyMcpFromDocs(v: {
  port: number;
  gatehouse: string;
  portalName: string;
  apps: { names: string[]; upstream: string };
  mcp: { name: string; upstream: string };
}): Promise<ProxyProcess> {
  const site = (name: string) => `http://${name}:${v.port}`;
  const main = render(await readDoc('caddy/Caddyfile'), {
    GATEHOUSE: v.gatehouse,
    APP_SITE: v.apps.names.map(site).join(', '),
    APP_UPSTREAM: v.apps.upstream,
    PORTAL_SITE: site(v.portalName),
  });
  const mcp = render(await readDoc('caddy/Caddyfile.mcp'), {
    GATEHOUSE: v.gatehouse,
    MCP_SITE: site(v.mcp.name),
    MCP_UPSTREAM: v.mcp.upstream,
  });
  return startCaddy(`${main}\n${mcp}`, { port: v.port });
}

// ---------------------------------------------------------------------------------------------
// The MCP server

interface McpWhoami {
  address: string;
  seen: SeenRequest[];
  stop(): Promise<void>;
}

/**
 * A stateless Streamable HTTP MCP server with one tool, `whoami`, that returns the identity
 * headers the request carried. Every request is recorded; one with an Authorization header is
 * refused with 500 (and recorded), so a leaked token fails the call as well as the assertions.
 */
async function startMcpWhoami(): Promise<McpWhoami> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(recordRequest(req));
    if (req.headers.authorization !== undefined) {
      req.resume();
      res.writeHead(500, { 'content-type': 'text/plain' }).end('an Authorization header reached the MCP server');
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => serveWhoamiMcp(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// The SDK's side: fetch over the proxy's port, an in-memory provider, the browser step

interface Exchange {
  method: string;
  url: string;
  status: number;
  at: number;
}

/**
 * The SDK's fetch: every test host name goes to the proxy on 127.0.0.1 (harness `request`,
 * Host header from the URL); redirects are returned, never followed. Records every exchange.
 */
function proxyFetch(log: Exchange[], testCase?: string) {
  return async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    const headers: Array<[string, string]> = [];
    new Headers(init?.headers).forEach((v, k) => {
      headers.push([k, v]);
    });
    if (testCase !== undefined) headers.push([TEST_CASE, testCase]);
    const b = init?.body;
    const body = typeof b === 'string' ? b : b instanceof URLSearchParams ? b.toString() : undefined;
    if (b !== undefined && b !== null && body === undefined) throw new Error(`proxyFetch: unsupported body type for ${method} ${url}`);
    const res = await request(url, { method, headers, ...(body === undefined ? {} : { body }) });
    log.push({ method, url, status: res.status, at: performance.now() });
    const h = new Headers();
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
    const empty = res.status === 204 || res.status === 304 || method === 'HEAD';
    return new Response(empty ? null : res.body, { status: res.status, headers: h });
  };
}

interface Authorized {
  callback: URL;
  signInPage: boolean;
  consentPage: string | undefined;
  hops: string[];
}

/**
 * What the user's browser does with the SDK's authorization URL: follow redirects on the
 * portal host, post the sign-in form when it shows, allow on the consent page, and stop at the
 * redirect to the client's callback (read, not visited).
 */
async function authorizeInBrowser(jar: CookieJar, authorizationUrl: URL, username: string): Promise<Authorized> {
  const hops: string[] = [];
  let signInPage = false;
  let consentPage: string | undefined;
  let next: { url: string; method: 'GET' | 'POST'; body?: string } = { url: authorizationUrl.href, method: 'GET' };
  for (let i = 0; i < 20; i++) {
    hops.push(`${next.method} ${new URL(next.url).pathname}`);
    const res: HttpResponse = await jarRequest(jar, next.url, {
      method: next.method,
      headers:
        next.method === 'POST'
          ? { Accept: 'text/html', 'Content-Type': 'application/x-www-form-urlencoded', Origin: new URL(next.url).origin }
          : { Accept: 'text/html' },
      ...(next.body === undefined ? {} : { body: next.body }),
    });
    const loc = res.headers.location;
    if (res.status >= 300 && res.status < 400 && loc !== undefined) {
      const target = new URL(loc, next.url);
      if (target.href.startsWith(`${CALLBACK}?`)) return { callback: target, signInPage, consentPage, hops };
      if (target.host !== new URL(next.url).host) throw new Error(`authorization left for ${target.origin}: ${JSON.stringify(hops)}`);
      next = { url: target.href, method: 'GET' };
      continue;
    }
    if (res.status === 200 && parseInputs(res.body).some((x) => x.type === 'password')) {
      signInPage = true;
      next = {
        url: formAction(res.body, next.url),
        method: 'POST',
        body: new URLSearchParams({ ...hiddenInputs(res.body), username, password: PASSWORD }).toString(),
      };
      continue;
    }
    if (res.status === 200 && /<button[^>]*name="decision"[^>]*value="allow"/.test(res.body)) {
      consentPage = res.body;
      next = {
        url: formAction(res.body, next.url),
        method: 'POST',
        body: new URLSearchParams({ ...hiddenInputs(res.body), decision: 'allow' }).toString(),
      };
      continue;
    }
    throw new Error(
      `authorization stopped at ${next.method} ${next.url} with ${res.status}: ${res.body.slice(0, 400)}; hops ${JSON.stringify(hops)}`,
    );
  }
  throw new Error(`authorization did not end: ${JSON.stringify(hops)}`);
}

function jwtPayload(jwt: string): Record<string, unknown> {
  const part = jwt.split('.')[1];
  if (part === undefined) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});
const MCP_POST_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

/**
 * Marks a test's requests, so "the MCP server never saw it" is asked of that test's requests
 * only (the SDK opens its optional SSE GET without awaiting it: it may land during a later test).
 */
const TEST_CASE = 'X-Test-Case';
function seenIn(server: McpWhoami, testCase: string): SeenRequest[] {
  return server.seen.filter((r) => r.headers.some(([k, v]) => k.toLowerCase() === TEST_CASE.toLowerCase() && v === testCase));
}

/**
 * The user's real browser with the SDK's authorization URL: Chromium signs in at the portal and
 * clicks Allow. The client's loopback callback is answered by the browser's route (as the MCP
 * client's own listener would). Returns the callback URL and the screens (HTML documents) seen.
 */
async function authorizeInChromium(
  browser: Browser,
  authorizationUrl: URL,
  username: string,
): Promise<{ callback: URL; screens: string[] }> {
  const ctx = await browser.newContext();
  try {
    ctx.setDefaultTimeout(15_000);
    await ctx.route(`${CALLBACK}**`, (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>done</title><p>You can close this window.</p>' }),
    );
    const page = await ctx.newPage();
    const screens: string[] = [];
    page.on('response', (r) => {
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame() && r.status() === 200 && !r.url().startsWith(CALLBACK))
        screens.push(new URL(r.url()).pathname);
    });
    await page.goto(authorizationUrl.href);
    await page.locator('input[name="username"]').fill(username);
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.locator('form button[type="submit"]').first().click();
    // The consent page, unless the user already allowed this client these scopes.
    await page.waitForURL((u) => u.pathname.startsWith('/oidc/interaction/') || u.href.startsWith(CALLBACK));
    if (!page.url().startsWith(CALLBACK)) {
      await page.locator('button[value="allow"]').click();
      await page.waitForURL((u) => u.href.startsWith(CALLBACK));
    }
    return { callback: new URL(page.url()), screens };
  } finally {
    await ctx.close();
  }
}

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

// ---------------------------------------------------------------------------------------------

const WHERE = {
  nginx: 'nginx (docs/proxies: nginx/mcp.conf) with the gate in front',
  caddy: 'Caddy (docs/proxies: caddy/Caddyfile.mcp) with the gate in front',
  'reverse-proxy': "Gatehouse's reverse-proxy mode (resources[].upstream)",
};
for (const kind of ['nginx', 'caddy', 'reverse-proxy'] as const) {
  describe(`the MCP SDK through ${WHERE[kind]}`, () => {
    let port: number;
    let gh: GatehouseProcess;
    let mcp: McpWhoami;
    let app: Whoami;
    let proxy: ProxyProcess;
    let portal: string;
    let resource: string;
    let otherResource: string;
    let metadataUrl: string;
    /** The client the SDK registered in the first test; the negative tests reuse it. */
    let registered: OAuthClientInformationFull;

    const mcpUrl = (p: string) => `http://${MCP_HOST}:${port}${p}`;

    before(async () => {
      port = await freePort();
      portal = `http://${PORTAL_HOST}:${port}`;
      resource = mcpUrl('/mcp');
      otherResource = `http://other-mcp.example.test:${port}/mcp`;
      metadataUrl = mcpUrl('/.well-known/oauth-protected-resource/mcp');
      mcp = await startMcpWhoami();
      app = await startWhoami();
      const direct = kind === 'reverse-proxy';
      gh = await startGatehouse(
        gateConfig({
          publicUrl: portal,
          ...(direct ? { listenPort: port } : {}),
          extra: [
            'resources:',
            `  - { resource: ${resource}, name: whoami, scopes: [mcp:tools, mcp:admin], allow: { groups: [admins] }${direct ? `, upstream: 'http://${mcp.address}'` : ''} }`,
            `  - { resource: ${otherResource}, name: other, scopes: [mcp:tools] }`,
            // Short-lived access tokens: the refresh step waits for one to expire.
            `issuer: { defaultResource: ${resource}, accessTokenLifetime: 6s }`,
          ].join('\n'),
        }),
      );
      await addUser(gh, 'alice', PASSWORD, ['admins']);
      await addUser(gh, 'bob', PASSWORD, []);
      const gatehouse = `127.0.0.1:${gh.port}`;
      proxy =
        kind === 'nginx'
          ? await startNginxMcpFromDocs({
              port,
              gatehouse,
              portalName: PORTAL_HOST,
              apps: { serverName: APP_HOST, upstream: app.address },
              mcp: { serverName: MCP_HOST, upstream: mcp.address },
            })
          : kind === 'caddy'
            ? await startCaddyMcpFromDocs({
                port,
                gatehouse,
                portalName: PORTAL_HOST,
                apps: { names: [APP_HOST], upstream: app.address },
                mcp: { name: MCP_HOST, upstream: mcp.address },
              })
            : ({ port, pid: 0, stop: async () => {} } as unknown as ProxyProcess);
    });
    after(async () => {
      await proxy?.stop();
      await gh?.stop();
      await mcp?.stop();
      await app?.stop();
    });

    /** A token through the SDK's own functions for the registered client: any user, scope and resource. */
    async function tokenFor(username: string, scope: string, forResource: string): Promise<OAuthTokens> {
      const fetchFn = proxyFetch([]);
      const metadata = await discoverAuthorizationServerMetadata(portal, { fetchFn });
      const { authorizationUrl, codeVerifier } = await startAuthorization(portal, {
        metadata,
        clientInformation: registered,
        redirectUrl: CALLBACK,
        scope,
        state: 'st',
        resource: forResource,
      });
      const { callback } = await authorizeInBrowser(new CookieJar(), authorizationUrl, username);
      return exchangeAuthorization(portal, {
        metadata,
        clientInformation: registered,
        authorizationCode: callback.searchParams.get('code') ?? '',
        codeVerifier,
        redirectUri: CALLBACK,
        resource: forResource,
        fetchFn,
      });
    }

    test('401 → metadata → discovery → registration → sign-in and consent clicked in Chromium → token → a tool call; the expired token is refreshed and the tool called again', async () => {
      const log: Exchange[] = [];
      const fetch = proxyFetch(log);
      const provider = new MemoryProvider(CALLBACK, 'SDK E2E Client');

      // 1. First connect: 401 through the proxy; the SDK discovers, registers, and hands over
      //    the authorization URL.
      const first = new StreamableHTTPClientTransport(new URL(resource), { fetch, authProvider: provider });
      await assert.rejects(new Client({ name: 'e2e', version: '1' }).connect(first), UnauthorizedError);
      const firstUnauthorized = log.find((e) => e.status === 401);
      assert.ok(firstUnauthorized, JSON.stringify(log));
      assert.deepEqual(
        log.map((e) => `${e.method} ${e.url} ${e.status}`),
        [
          `POST ${resource} 401`,
          `GET ${metadataUrl} 200`,
          `GET ${portal}/.well-known/oauth-authorization-server 200`,
          `POST ${portal}/oidc/reg 201`,
        ],
      );
      const url = provider.authorizationUrl;
      assert.ok(url, 'no authorization URL');
      assert.equal(url.origin + url.pathname, `${portal}/oidc/auth`);
      const clientId = String((provider.info as { client_id: string }).client_id);
      assert.deepEqual(Object.fromEntries(url.searchParams), {
        response_type: 'code',
        client_id: clientId,
        code_challenge: url.searchParams.get('code_challenge'),
        code_challenge_method: 'S256',
        redirect_uri: CALLBACK,
        state: 'sdk-state',
        scope: SCOPES,
        resource,
      });
      registered = provider.info as OAuthClientInformationFull;

      // 2. The user's browser (real Chromium): sign in at the portal (through the proxy) and
      //    click Allow. Two screens: the sign-in form and the consent page.
      const { callback, screens } = await authorizeInChromium(browser, url, 'alice');
      assert.equal(screens.length, 2, JSON.stringify(screens));
      assert.match(screens[0] ?? '', /^\/oauth2\/(start|sign_in)$/);
      assert.match(screens[1] ?? '', /^\/oidc\/interaction\//);
      assert.equal(callback.origin + callback.pathname, CALLBACK);
      assert.equal(callback.searchParams.get('iss'), portal);
      assert.equal(callback.searchParams.get('state'), 'sdk-state');

      // 3. The SDK exchanges the code with `resource`, reconnects, and calls the tool.
      const before3 = log.length;
      await first.finishAuth(callback.searchParams.get('code') ?? '');
      assert.equal(provider.saved?.token_type, 'Bearer');
      const claims = jwtPayload(provider.saved?.access_token ?? '');
      assert.equal(claims.aud, resource);
      assert.equal(claims.iss, portal);
      assert.equal(claims.scope, SCOPES);
      const client = new Client({ name: 'e2e', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(resource), { fetch, authProvider: provider }));
      let elapsed: number;
      let after3: string[];
      const whoami = [
        {
          type: 'text',
          text: JSON.stringify({
            user: 'alice',
            email: 'alice@example.org',
            groups: 'admins',
            preferredUsername: 'alice',
            authorization: null,
          }),
        },
      ];
      try {
        const r = await client.callTool({ name: 'whoami', arguments: {} });
        elapsed = performance.now() - firstUnauthorized.at;
        assert.deepEqual(r.content, whoami);
        after3 = log.slice(before3).map((e) => `${e.method} ${e.url} ${e.status}`);

        // 4. The access token expires (6 s); the next call gets a 401, the SDK refreshes (the
        //    refresh token rotates) and calls again: no browser, no new authorization.
        const first = provider.saved;
        assert.equal(typeof first?.refresh_token, 'string', 'the SDK got a refresh token');
        const exp = Number(claims.exp) * 1000;
        await new Promise((res) => setTimeout(res, Math.max(0, exp - Date.now() + 100)));
        const expired = await request(resource, {
          method: 'POST',
          headers: { ...MCP_POST_HEADERS, Authorization: `Bearer ${first?.access_token ?? ''}` },
          body: INITIALIZE,
        });
        assert.equal(expired.status, 401, 'the old token is refused at its exp');
        provider.authorizationUrl = undefined;
        const beforeRefresh = log.length;
        const again = await client.callTool({ name: 'whoami', arguments: {} });
        assert.deepEqual(again.content, whoami);
        const refreshLog = log.slice(beforeRefresh).map((e) => `${e.method} ${e.url} ${e.status}`);
        assert.equal(refreshLog[0], `POST ${resource} 401`);
        assert.ok(refreshLog.includes(`POST ${portal}/oidc/token 200`), JSON.stringify(refreshLog));
        assert.equal(refreshLog.at(-1), `POST ${resource} 200`);
        assert.equal(provider.authorizationUrl, undefined, 'no new authorization');
        assert.notEqual(provider.saved?.access_token, first?.access_token);
        assert.notEqual(provider.saved?.refresh_token, first?.refresh_token, 'the refresh token rotated');
      } finally {
        await client.close();
      }
      assert.deepEqual(after3.slice(0, 3), [
        `GET ${metadataUrl} 200`,
        `GET ${portal}/.well-known/oauth-authorization-server 200`,
        `POST ${portal}/oidc/token 200`,
      ]);
      // initialize, notifications/initialized, (the optional SSE GET, refused by this stateless
      // server), tools/call: all through the proxy with the token, all answered by the server.
      const mcpCalls = after3.slice(3);
      assert.ok(
        mcpCalls.every((c) => c.startsWith(`POST ${resource} 20`) || c === `GET ${resource} 405`),
        JSON.stringify(mcpCalls),
      );
      assert.deepEqual(
        mcpCalls.filter((c) => c.startsWith('POST')),
        [`POST ${resource} 200`, `POST ${resource} 202`, `POST ${resource} 200`],
      );
      // The MCP server saw every call, and never an Authorization header.
      assert.ok(mcp.seen.length >= 3);
      assert.deepEqual(
        mcp.seen.flatMap((s) => s.headers.filter(([k]) => k.toLowerCase() === 'authorization')),
        [],
      );
      process.stdout.write(
        `# ${kind}: first 401 to first successful tool call (real Chromium, ${screens.length} screens: ${screens.join(', ')}): ${elapsed.toFixed(0)} ms\n`,
      );
    });

    test('the same client from a fresh browser (a new session): one screen, the sign-in; the consent is remembered', async () => {
      const log: Exchange[] = [];
      const fetch = proxyFetch(log);
      const provider = new MemoryProvider(CALLBACK, 'SDK E2E Client');
      provider.info = registered;
      const first = new StreamableHTTPClientTransport(new URL(resource), { fetch, authProvider: provider });
      await assert.rejects(new Client({ name: 'e2e', version: '1' }).connect(first), UnauthorizedError);
      const started = log.find((e) => e.status === 401)?.at ?? performance.now();
      const url = provider.authorizationUrl;
      assert.ok(url);
      const { callback, screens } = await authorizeInChromium(browser, url, 'alice');
      assert.equal(screens.length, 1, JSON.stringify(screens));
      assert.match(screens[0] ?? '', /^\/oauth2\/(start|sign_in)$/);
      await first.finishAuth(callback.searchParams.get('code') ?? '');
      const client = new Client({ name: 'e2e', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(resource), { fetch, authProvider: provider }));
      try {
        const r = await client.callTool({ name: 'whoami', arguments: {} });
        assert.match(JSON.stringify(r.content), /\\"user\\":\\"alice\\"/);
      } finally {
        await client.close();
      }
      process.stdout.write(
        `# ${kind}: a fresh browser, consent remembered: ${screens.length} screen (${screens.join(', ')}), first 401 to tool call ${(performance.now() - started).toFixed(0)} ms\n`,
      );
    });

    test('no token: 401 through the proxy with resource_metadata and scope; the MCP server never sees it', async () => {
      const res = await request(resource, { method: 'POST', headers: { ...MCP_POST_HEADERS, [TEST_CASE]: 'no-token' }, body: INITIALIZE });
      assert.equal(res.status, 401);
      assert.equal(
        res.headers['www-authenticate'],
        `Bearer resource_metadata="${metadataUrl}", scope="${SCOPES}", DPoP algs="ES256 EdDSA Ed25519"`,
      );
      assert.equal(res.headers.location, undefined);
      assert.deepEqual(seenIn(mcp, 'no-token'), []);
    });

    test('protected-resource metadata through the proxy: the path-suffixed and the root form, CORS-open', async () => {
      const expected = {
        resource,
        authorization_servers: [portal],
        scopes_supported: ['mcp:tools', 'mcp:admin'],
        bearer_methods_supported: ['header'],
        dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'Ed25519'],
        resource_name: 'whoami',
      };
      for (const u of [metadataUrl, mcpUrl('/.well-known/oauth-protected-resource')]) {
        const res = await request(u, { headers: { Accept: 'application/json', Origin: 'https://claude.ai' } });
        assert.equal(res.status, 200, u);
        assert.deepEqual(JSON.parse(res.body), expected, u);
        assert.equal(res.headers['access-control-allow-origin'], '*', u);
      }
      const pre = await request(metadataUrl, {
        method: 'OPTIONS',
        headers: {
          Origin: 'https://claude.ai',
          'Access-Control-Request-Method': 'GET',
          'Access-Control-Request-Headers': 'mcp-protocol-version',
        },
      });
      assert.equal(pre.status, 204);
      assert.match(String(pre.headers['access-control-allow-headers']), /(^|, *)mcp-protocol-version(,|$)/i);
    });

    test('a token for another resource is refused here: 401 invalid_token through the proxy, the MCP server never sees it', async () => {
      const other = await tokenFor('alice', 'mcp:tools', otherResource);
      assert.equal(jwtPayload(other.access_token).aud, otherResource);
      const res = await request(resource, {
        method: 'POST',
        headers: { ...MCP_POST_HEADERS, Authorization: `Bearer ${other.access_token}`, [TEST_CASE]: 'other-aud' },
        body: INITIALIZE,
      });
      assert.equal(res.status, 401);
      assert.equal(
        res.headers['www-authenticate'],
        `Bearer error="invalid_token", resource_metadata="${metadataUrl}", scope="${SCOPES}", DPoP algs="ES256 EdDSA Ed25519"`,
      );

      // The SDK holding that token: the 401 sends it back to authorization for this resource
      // (the stored tokens without their refresh token: with one, the SDK first tries a refresh for
      // this resource, which the issuer refuses with invalid_target, RFC 8707 §2, and the SDK
      // surfaces that error instead of authorizing again).
      const log: Exchange[] = [];
      const provider = new MemoryProvider(CALLBACK, 'SDK E2E Client');
      provider.info = registered;
      provider.saved = { ...other, refresh_token: undefined };
      const transport = new StreamableHTTPClientTransport(new URL(resource), {
        fetch: proxyFetch(log, 'other-aud'),
        authProvider: provider,
      });
      await assert.rejects(new Client({ name: 'e2e', version: '1' }).connect(transport), UnauthorizedError);
      assert.equal(log[0] && `${log[0].method} ${log[0].url} ${log[0].status}`, `POST ${resource} 401`);
      assert.equal(provider.authorizationUrl?.searchParams.get('resource'), resource);
      assert.equal(provider.authorizationUrl?.searchParams.get('scope'), SCOPES);
      assert.deepEqual(seenIn(mcp, 'other-aud'), []);
    });

    test('insufficient scope: 403 with the scope challenge through the proxy, and the SDK asks for every scope it names', async () => {
      const narrow = await tokenFor('alice', 'mcp:tools', resource);
      assert.equal(jwtPayload(narrow.access_token).scope, 'mcp:tools');
      const res = await request(resource, {
        method: 'POST',
        headers: { ...MCP_POST_HEADERS, Authorization: `Bearer ${narrow.access_token}`, [TEST_CASE]: 'narrow' },
        body: INITIALIZE,
      });
      assert.equal(res.status, 403);
      assert.equal(
        res.headers['www-authenticate'],
        `Bearer error="insufficient_scope", scope="${SCOPES}", resource_metadata="${metadataUrl}"`,
      );

      const log: Exchange[] = [];
      const provider = new MemoryProvider(CALLBACK, 'SDK E2E Client');
      provider.info = registered;
      // Without the refresh token: with one, this SDK version refreshes (same scope) instead of
      // authorizing for more, and gives up with "403 after trying upscoping".
      provider.saved = { ...narrow, refresh_token: undefined };
      const transport = new StreamableHTTPClientTransport(new URL(resource), { fetch: proxyFetch(log, 'narrow'), authProvider: provider });
      await assert.rejects(new Client({ name: 'e2e', version: '1' }).connect(transport), UnauthorizedError);
      assert.deepEqual(log.map((e) => `${e.method} ${e.url} ${e.status}`).slice(0, 2), [`POST ${resource} 403`, `GET ${metadataUrl} 200`]);
      assert.equal(provider.authorizationUrl?.searchParams.get('scope'), SCOPES);
      assert.deepEqual(seenIn(mcp, 'narrow'), []);
    });

    test('a valid token of a user the resource does not admit: 403 without a challenge (more scope would not help)', async () => {
      const bobs = await tokenFor('bob', SCOPES, resource);
      assert.equal(jwtPayload(bobs.access_token).aud, resource);
      const res = await request(resource, {
        method: 'POST',
        headers: { ...MCP_POST_HEADERS, Authorization: `Bearer ${bobs.access_token}`, [TEST_CASE]: 'bob' },
        body: INITIALIZE,
      });
      assert.equal(res.status, 403);
      assert.equal(res.headers['www-authenticate'], undefined);
      assert.deepEqual(seenIn(mcp, 'bob'), []);
    });

    test('DPoP (RFC 9449): the SDK exchanges the code with a proof, calls the tool with proofs through the proxy; the bound token as Bearer and a replayed proof are 401', async () => {
      // A DPoP-capable client: every request gets a fresh proof of one ES256 key (jose), and the
      // access token goes as `Authorization: DPoP` (the SDK itself sends Bearer; its fetch is ours).
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = await exportJWK(publicKey);
      const proof = (htm: string, htu: string, token?: string) =>
        new SignJWT({
          jti: randomUUID(),
          htm,
          htu,
          iat: Math.floor(Date.now() / 1000),
          ...(token ? { ath: createHash('sha256').update(token).digest('base64url') } : {}),
        })
          .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
          .sign(privateKey);
      const log: Exchange[] = [];
      const inner = proxyFetch(log, 'dpop');
      const dpopFetch = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
        const u = new URL(String(input));
        const headers = new Headers(init.headers);
        const method = init.method ?? 'GET';
        const auth = headers.get('authorization');
        if (u.pathname === '/oidc/token') headers.set('DPoP', await proof(method, `${u.origin}${u.pathname}`));
        else if (auth?.startsWith('Bearer ')) {
          const token = auth.slice('Bearer '.length);
          headers.set('Authorization', `DPoP ${token}`);
          headers.set('DPoP', await proof(method, `${u.origin}${u.pathname}`, token));
        }
        return inner(input, { ...init, headers });
      };
      const metadata = await discoverAuthorizationServerMetadata(portal, { fetchFn: dpopFetch });
      assert.deepEqual((metadata as { dpop_signing_alg_values_supported?: string[] } | undefined)?.dpop_signing_alg_values_supported, [
        'ES256',
        'EdDSA',
        'Ed25519',
      ]);
      const { authorizationUrl, codeVerifier } = await startAuthorization(portal, {
        metadata,
        clientInformation: registered,
        redirectUrl: CALLBACK,
        scope: SCOPES,
        state: 'st',
        resource: new URL(resource),
      });
      const { callback } = await authorizeInBrowser(new CookieJar(), authorizationUrl, 'alice');
      const tokens = await exchangeAuthorization(portal, {
        metadata,
        clientInformation: registered,
        authorizationCode: callback.searchParams.get('code') ?? '',
        codeVerifier,
        redirectUri: CALLBACK,
        resource: new URL(resource),
        fetchFn: dpopFetch,
      });
      assert.equal(tokens.token_type, 'DPoP');
      assert.deepEqual(jwtPayload(tokens.access_token).cnf, { jkt: await calculateJwkThumbprint(jwk) });

      const provider = new MemoryProvider(CALLBACK, 'SDK DPoP Client');
      provider.info = registered;
      provider.saved = tokens;
      const client = new Client({ name: 'e2e-dpop', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(resource), { fetch: dpopFetch, authProvider: provider }));
      try {
        const r = await client.callTool({ name: 'whoami', arguments: {} });
        assert.deepEqual(r.content, [
          {
            type: 'text',
            text: JSON.stringify({
              user: 'alice',
              email: 'alice@example.org',
              groups: 'admins',
              preferredUsername: 'alice',
              authorization: null,
            }),
          },
        ]);
      } finally {
        await client.close();
      }

      // The same token as a Bearer token: 401 invalid_token, never reaching the MCP server.
      const bearer = await request(resource, {
        method: 'POST',
        headers: [...Object.entries(MCP_POST_HEADERS), ['Authorization', `Bearer ${tokens.access_token}`], [TEST_CASE, 'dpop-bearer']],
        body: INITIALIZE,
      });
      assert.equal(bearer.status, 401);
      assert.equal(
        bearer.headers['www-authenticate'],
        `Bearer error="invalid_token", resource_metadata="${metadataUrl}", scope="${SCOPES}", DPoP algs="ES256 EdDSA Ed25519"`,
      );
      // A proof used once, then replayed: the second is 401 invalid_dpop_proof.
      const once = await proof('POST', resource, tokens.access_token);
      const headers: Array<[string, string]> = [
        ...Object.entries(MCP_POST_HEADERS),
        ['Authorization', `DPoP ${tokens.access_token}`],
        ['DPoP', once],
        [TEST_CASE, 'dpop-replay'],
      ];
      assert.equal((await request(resource, { method: 'POST', headers, body: INITIALIZE })).status, 200);
      const replay = await request(resource, { method: 'POST', headers, body: INITIALIZE });
      assert.equal(replay.status, 401);
      assert.equal(
        replay.headers['www-authenticate'],
        `DPoP algs="ES256 EdDSA Ed25519", error="invalid_dpop_proof", resource_metadata="${metadataUrl}", scope="${SCOPES}"`,
      );
      assert.equal(seenIn(mcp, 'dpop-bearer').length, 0);
      assert.equal(seenIn(mcp, 'dpop-replay').length, 1);
    });

    test("a valid token: the MCP server gets the gate's identity, neither the token nor a spoofed identity header", async () => {
      const full = await tokenFor('alice', SCOPES, resource);
      const res = await request(resource, {
        method: 'POST',
        headers: [
          ...Object.entries(MCP_POST_HEADERS),
          ['Authorization', `Bearer ${full.access_token}`],
          [TEST_CASE, 'spoof'],
          ...SPOOFED_HEADERS,
        ],
        body: INITIALIZE,
      });
      assert.equal(res.status, 200, res.body);
      const seen = seenIn(mcp, 'spoof');
      assert.equal(seen.length, 1);
      const hdrs = seen[0]!.headers;
      assert.deepEqual(
        hdrs.filter(([k]) => k.toLowerCase() === 'authorization'),
        [],
      );
      assert.deepEqual(
        hdrs.filter(([, v]) => v.includes('mallory')),
        [],
      );
      for (const [name, value] of [
        ['X-Auth-Request-User', 'alice'],
        ['X-Auth-Request-Email', 'alice@example.org'],
        ['X-Auth-Request-Groups', 'admins'],
      ]) {
        assert.deepEqual(
          hdrs.filter(([k]) => k.toLowerCase() === name!.toLowerCase()).map(([, v]) => v),
          [value],
          name,
        );
      }
    });
  });
}
