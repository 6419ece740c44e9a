// A publicUrl with a path (https://www.example.test/auth, the portal sharing its host with an
// app): the portal, the issuer, the well-known documents, cookie paths, interactions, the banner
// and the gate's redirects all live under /auth, driven by openid-client (a certified RP) and a
// cookie jar that follows every redirect the way a browser does (the Chromium run is in
// test/e2e/public-url-path.test.ts).
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import fc from 'fast-check';
import * as oidc from 'openid-client';
import { parse, stringify } from 'yaml';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { CookieJar, jarRequest, send } from '../kit/http.ts';
import { ALICE, type Answer, baseConfig, forwardAuth, type Instance, PASSWORD, startInstance } from '../kit/server.ts';
import { fetchVia as mcpFetchVia, MemoryProvider, startMcpServer } from '../fixtures/mcp-sdk.ts';
import { normalizePath } from '../../src/policy/index.ts';

const ORIGIN = 'https://www.example.test';
const ISSUER = `${ORIGIN}/auth`;
const CB = 'https://grafana.example.test/login/generic_oauth';
const SECRET = 'grafana-secret-0123456789abcdef';
const HOST = { host: 'www.example.test', 'x-forwarded-proto': 'https' };

let inst: Instance;
let upstream: Server;
before(async () => {
  // An app in reverse-proxy mode on another host: its /auth/… paths are its own.
  upstream = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`upstream saw ${req.url}`);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  inst = await startInstance({
    unwatched: true,
    config: (dir) =>
      baseConfig(dir, {
        publicUrl: ISSUER,
        apps: [
          { name: 'site', hosts: ['www.example.test'], allow: { groups: ['admins'] } },
          { name: 'app', hosts: ['app.example.test'], allow: { groups: ['admins'] } },
          {
            name: 'proxied',
            hosts: ['proxied.example.test'],
            public: true,
            upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
          },
        ],
        clients: [{ id: 'grafana', secret: SECRET, redirectUris: [CB], firstParty: true }],
      }),
    users: [ALICE],
  });
});
after(async () => {
  await inst.close();
  await new Promise<void>((r) => {
    upstream.closeAllConnections();
    upstream.close(() => r());
  });
});

/** The kit's cookie jar (it honours Path) on www.example.test, following redirects like a browser. */
class Jar {
  readonly jar = new CookieJar();
  readonly setCookies: string[] = [];
  readonly #port: () => number;
  constructor(port: () => number = () => inst.port) {
    this.#port = port;
  }

  async request(url: string, opts: { method?: string; body?: string } = {}): Promise<Answer> {
    const u = new URL(url);
    assert.equal(u.origin, ORIGIN, `the browser stays on the portal origin (asked for ${url})`);
    const a = await jarRequest(this.jar, url, {
      method: opts.method ?? 'GET',
      connectTo: { host: '127.0.0.1', port: this.#port() },
      headers: {
        connection: 'close',
        ...HOST,
        accept: 'text/html',
        ...(opts.body ? { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN } : {}),
      },
      ...(opts.body === undefined ? {} : { body: opts.body }),
    });
    this.setCookies.push(...a.setCookies);
    return a;
  }

  /** Follows redirects while they stay on the portal origin; returns the last answer and its URL. */
  async go(url: string): Promise<{ answer: Answer; url: string; leaving: string | undefined; visited: string[] }> {
    const visited: string[] = [];
    let next: string | undefined = url;
    let answer: Answer | undefined;
    let at = url;
    while (next !== undefined && new URL(next).origin === ORIGIN) {
      assert.ok(visited.length < 12, `redirect loop: ${visited.join(' -> ')}`);
      at = next;
      visited.push(next);
      answer = await this.request(next);
      next = answer.headers.location === undefined ? undefined : new URL(answer.headers.location, next).href;
    }
    assert.ok(answer);
    return { answer, url: at, leaving: next, visited };
  }
}

function field(html: string, name: string): string {
  const v = new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
  assert.ok(v !== undefined, `the form has ${name}`);
  return v.replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>');
}

/** Fills and posts the sign-in form found at `page`, then follows on. */
async function signInAt(jar: Jar, page: { answer: Answer; url: string }) {
  assert.equal(page.answer.status, 200, page.answer.body.slice(0, 300));
  const action = /<form[^>]*action="([^"]*)"/.exec(page.answer.body)?.[1];
  assert.equal(action, '/auth/oauth2/sign_in');
  const body = new URLSearchParams({
    csrf: field(page.answer.body, 'csrf'),
    rd: field(page.answer.body, 'rd'),
    username: 'alice',
    password: PASSWORD,
  }).toString();
  const posted = await jar.request(new URL(action, page.url).href, { method: 'POST', body });
  assert.equal(posted.status, 303, posted.body.slice(0, 300));
  return posted;
}

const discover = () =>
  oidc.discovery(new URL(ISSUER), 'grafana', SECRET, undefined, {
    [oidc.customFetch]: async (url, options) => {
      const u = new URL(url);
      assert.equal(u.origin, ORIGIN);
      const headers: Record<string, string> = { ...HOST };
      new Headers(options.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => {
        headers[k] = v;
      });
      const a = await send(inst.port, {
        method: options.method,
        path: u.pathname + u.search,
        headers,
        ...(options.body ? { body: String(options.body) } : {}),
      });
      const h = new Headers();
      for (const [k, v] of Object.entries(a.headers)) if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
      return new Response(a.status === 204 ? null : a.body, { status: a.status, headers: h });
    },
  });

describe('publicUrl https://www.example.test/auth', () => {
  test('openid-client discovers the issuer under the path; every endpoint is under it', async () => {
    const config = await discover();
    const m = config.serverMetadata();
    assert.equal(m.issuer, ISSUER);
    for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'end_session_endpoint'] as const) {
      assert.ok(String(m[k]).startsWith(`${ISSUER}/oidc/`), `${k}: ${String(m[k])}`);
    }
    // RFC 8414 §3.1: the path-inserted form at the host's root is the same document.
    const inserted = await send(inst.port, { path: '/.well-known/oauth-authorization-server/auth', headers: HOST });
    assert.equal(inserted.status, 200);
    assert.equal((JSON.parse(inserted.body) as { issuer: string }).issuer, ISSUER);
  });

  test('code + PKCE: the interaction sends the browser to /auth/oauth2/start, sign-in there, tokens for the client', async () => {
    const config = await discover();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: CB,
      scope: 'openid profile groups',
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const jar = new Jar();
    const first = await jar.go(url.href);
    assert.equal(new URL(first.url).pathname, '/auth/oauth2/start', first.visited.join(' -> '));
    assert.match(first.visited[1] ?? '', /^https:\/\/www\.example\.test\/auth\/oidc\/interaction\/[\w-]+$/);
    // The page's stylesheet answers under the path too.
    const css = /<link rel="stylesheet" href="([^"]+)"/.exec(first.answer.body)?.[1];
    assert.ok(css?.startsWith('/auth/oauth2/static/'), css);
    assert.equal((await jar.request(`${ORIGIN}${css}`)).status, 200);
    const posted = await signInAt(jar, first);
    const back = await jar.go(new URL(posted.headers.location ?? '', first.url).href);
    assert.ok(back.leaving?.startsWith(`${CB}?`), back.visited.join(' -> '));
    const tokens = await oidc.authorizationCodeGrant(config, new URL(back.leaving ?? ''), {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    assert.equal(tokens.claims()?.iss, ISSUER);
    assert.equal(tokens.claims()?.preferred_username, 'alice');

    // Cookie paths: the login state only under /auth/oauth2/, the session for every path of
    // every host (apps share it), the provider's under /auth/oidc/.
    const paths = Object.fromEntries(jar.setCookies.map((c) => [c.slice(0, c.indexOf('=')), /;\s*path=([^;]*)/i.exec(c)?.[1]]));
    const name = inst.running.settings().cookieName;
    assert.equal(paths[`${name}_login`], '/auth/oauth2/');
    assert.equal(paths[name], '/');
    assert.equal(paths._gh_oidc_session, '/auth/oidc/');
    assert.match(paths._gh_oidc_interaction ?? '', /^\/auth\/oidc\/interaction\/[\w-]+$/);
  });

  test('the gate sends browsers to /auth/oauth2/start, from another host and from the shared host itself', async () => {
    for (const target of ['https://app.example.test/x?y=1', 'https://www.example.test/private']) {
      const a = await forwardAuth(inst.port, target);
      assert.equal(a.status, 302);
      assert.equal(a.headers.location, `${ISSUER}/oauth2/start?rd=${encodeURIComponent(target)}`);
    }
  });

  test("the portal's paths pass forward auth on the shared host; the app's paths, dot segments and look-alikes do not", async () => {
    const cases: Array<[string, number]> = [
      ['/auth/oauth2/sign_in', 202],
      ['/auth/', 202],
      ['/auth', 202],
      ['/auth/oidc/auth?client_id=grafana', 202],
      ['/auth/.well-known/openid-configuration', 202],
      ['/oauth2/start', 202],
      ['/private', 302],
      ['/authors', 302],
      ['/auth/../private', 302],
      ['/auth/%2e%2e/private', 302],
      ['/oauth2/../private', 302],
      ['/auth%2F..%2Fprivate', 302],
      // A servlet container reads "..;" as "..": these are its /private (ambiguous, never public).
      ['/auth/..;/private', 302],
      ['/auth/x/..;/../private', 302],
      ['/oauth2/..;/private', 302],
      ['/oauth2/start/..;/..;/private', 302],
      ['/', 302],
    ];
    for (const [path, status] of cases) {
      // The raw path as the proxy sends it (a URL object would resolve the dot segments first).
      const a = await forwardAuth(inst.port, ORIGIN, { headers: { 'x-forwarded-uri': path } });
      assert.equal(a.status, status, path);
    }
  });

  test("property: forward auth passes a path as the portal's only when Express (raw paths) routes it to the portal too, and nginx's normalized reading agrees", async () => {
    // The app on the shared host as a real framework routes it: /auth and /oauth2 are the
    // portal's mounts (as the proxy would send them to Gatehouse), everything else the site's.
    const app = express();
    app.use('/auth', (_req, res) => {
      res.send('portal');
    });
    app.use('/oauth2', (_req, res) => {
      res.send('portal');
    });
    app.use((_req, res) => {
      res.send('site');
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      const SEGMENTS = [
        'auth',
        'oauth2',
        '..',
        '.',
        '%2e%2e',
        '%2E',
        'private',
        'x',
        '',
        'auth%2Fx',
        '%2fauth',
        'auth;x',
        'AUTH',
        '%61uth',
      ];
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 5 }),
          fc.constantFrom('/', '\\'),
          async (segs, sep) => {
            const path = `/${segs.join(sep)}`;
            const gate = await forwardAuth(inst.port, ORIGIN, { headers: { 'x-forwarded-uri': path } });
            const routed = await new Promise<string>((resolve, reject) => {
              const r = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
                let b = '';
                res.on('data', (c: Buffer) => {
                  b += c.toString();
                });
                res.on('end', () => resolve(b));
              });
              r.on('error', reject);
              r.end();
            });
            const n = normalizePath(path);
            const nginxPortal = n.ok && (n.path.startsWith('/oauth2/') || n.path === '/auth' || n.path.startsWith('/auth/'));
            if (gate.status === 202) {
              assert.equal(routed, 'portal', `${path}: passed as the portal's, but Express routes it to the site`);
              assert.ok(nginxPortal, `${path}: passed as the portal's, but it normalizes to ${n.path}`);
            } else {
              // /oauth2/auth itself names no original request to judge: refused (forward-auth.ts ownPath).
              assert.equal(gate.status, path === '/oauth2/auth' ? 403 : 302, path);
            }
            if (routed === 'site' || !nginxPortal) assert.notEqual(gate.status, 202, path);
          },
        ),
        { numRuns: 300 },
      );
    } finally {
      server.close();
    }
  });

  test('/oauth2/start at the root of the portal host, or on an app host, goes on to /auth/oauth2/start with rd, provider and prompt', async () => {
    for (const host of ['www.example.test', 'app.example.test']) {
      const a = await send(inst.port, {
        path: '/oauth2/start?rd=https%3A%2F%2Fapp.example.test%2Fz&provider=gh&prompt=login',
        headers: { host, 'x-forwarded-proto': 'https', accept: 'text/html' },
      });
      assert.equal(a.status, 302, host);
      assert.equal(
        a.headers.location,
        `${ISSUER}/oauth2/start?rd=${encodeURIComponent('https://app.example.test/z')}&provider=gh&prompt=login`,
      );
    }
  });

  test('the home page is /auth/ (and /auth); the root of a portal-only host goes there', async () => {
    for (const path of ['/auth/', '/auth']) {
      const a = await send(inst.port, { path, headers: { ...HOST, accept: 'text/html' } });
      assert.equal(a.status, 302, path);
      assert.equal(a.headers.location, '/auth/oauth2/sign_in');
    }
    const root = await send(inst.port, { path: '/', headers: { ...HOST, accept: 'text/html' } });
    assert.equal(root.status, 302);
    assert.equal(root.headers.location, '/auth/');
  });

  test("on another host served in reverse-proxy mode, /auth/… is the app's (the portal's pages are only on its host)", async () => {
    for (const path of ['/auth/oauth2/sign_in', '/auth/', '/auth/oidc/auth']) {
      const a = await send(inst.port, {
        path,
        headers: { host: 'proxied.example.test', 'x-forwarded-proto': 'https', accept: 'text/html' },
      });
      assert.equal(a.status, 200, path);
      assert.equal(a.body, `upstream saw ${path}`);
    }
  });

  test('an expired ticket offers "Sign in again" under the path', async () => {
    const a = await send(inst.port, {
      path: `/oauth2/ticket?t=nope&rd=${encodeURIComponent('https://app.example.test/p')}`,
      headers: { host: 'app.example.test', 'x-forwarded-proto': 'https' },
    });
    assert.equal(a.status, 400);
    assert.ok(a.body.includes(`href="${ISSUER}/oauth2/start?rd=${encodeURIComponent('https://app.example.test/p')}"`), a.body);
    // The page is on the app's host, whose paths under /auth are the app's: its stylesheet is the
    // portal's, by its full URL under the path, and the page's CSP lets exactly that origin in.
    const href = /<link rel="stylesheet" href="([^"]+)">/.exec(a.body)?.[1] ?? '';
    assert.match(href, new RegExp(`^${ISSUER.replaceAll('.', '\\.')}/oauth2/static/[0-9a-f]{12}/gatehouse\\.css$`));
    assert.match(String(a.headers['content-security-policy']), new RegExp(`(^|; )style-src 'self' ${ORIGIN.replaceAll('.', '\\.')}(;|$)`));
    const css = await send(inst.port, { path: new URL(href).pathname, headers: HOST });
    assert.equal(css.status, 200);
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  });

  test('the first-run banner prints the sign-in URL under the path, and that URL answers the form', async () => {
    const line = inst.announced.find((l) => l.includes('sign in at'));
    assert.equal(line?.trim(), `sign in at ${ISSUER}/oauth2/sign_in`);
    const a = await send(inst.port, { path: '/auth/oauth2/sign_in', headers: { ...HOST, accept: 'text/html' } });
    assert.equal(a.status, 200);
    assert.ok(a.body.includes('action="/auth/oauth2/sign_in"'));
  });

  test('a reload that changes the path is refused with the reason; the old settings keep serving', async () => {
    const raw = parse(await readFile(inst.realConfigPath, 'utf8')) as Record<string, unknown>;
    await writeFile(inst.realConfigPath, stringify({ ...raw, publicUrl: `${ORIGIN}/sso` }));
    try {
      assert.equal(await inst.running.reload('manual'), false);
      assert.ok(
        inst.logger.lines.some((l) =>
          String(l.msg).includes('publicUrl\'s path changed from "/auth" to "/sso": restart gatehouse to apply it'),
        ),
        JSON.stringify(inst.logger.lines.slice(-3)),
      );
      assert.equal(inst.running.settings().publicUrl.href, ISSUER);
    } finally {
      await writeFile(inst.realConfigPath, stringify(raw));
    }
  });
});

describe('publicUrl https://www.example.test/auth on a host served in reverse-proxy mode', () => {
  let rp: Instance;
  before(async () => {
    rp = await startInstance({
      config: (dir) =>
        baseConfig(dir, {
          publicUrl: ISSUER,
          apps: [
            {
              name: 'site',
              hosts: ['www.example.test'],
              allow: { groups: ['admins'] },
              upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
            },
          ],
        }),
      users: [ALICE],
    });
  });
  after(async () => {
    await rp.close();
  });

  test("the site's paths are proxied after sign-in at /auth/oauth2/…; the portal's pages and the issuer answer under /auth", async () => {
    const page = await send(rp.port, { path: '/private?x=1', headers: { ...HOST, accept: 'text/html' } });
    assert.equal(page.status, 302);
    assert.equal(page.headers.location, `${ISSUER}/oauth2/start?rd=${encodeURIComponent(`${ORIGIN}/private?x=1`)}`);
    const jar = new Jar(() => rp.port);
    const form = await jar.go(page.headers.location ?? '');
    assert.equal(new URL(form.url).pathname, '/auth/oauth2/start');
    const posted = await signInAt(jar, form);
    assert.equal(posted.headers.location, `${ORIGIN}/private?x=1`);
    const cookie = posted.setCookies.find((c) => c.startsWith(`${rp.running.settings().cookieName}=`))?.split(';')[0] ?? '';
    const proxied = await send(rp.port, { path: '/private?x=1', headers: { ...HOST, accept: 'text/html', cookie } });
    assert.equal(proxied.status, 200);
    assert.equal(proxied.body, 'upstream saw /private?x=1');
    const home = await send(rp.port, { path: '/auth/', headers: { ...HOST, accept: 'text/html', cookie } });
    assert.equal(home.status, 200);
    assert.match(home.body, /action="\/auth\/oauth2\/sign_out"/);
    const discovery = await send(rp.port, { path: '/auth/.well-known/openid-configuration', headers: HOST });
    assert.equal(discovery.status, 200);
    assert.equal((JSON.parse(discovery.body) as { issuer: string }).issuer, ISSUER);
  });
});

describe('publicUrl https://www.example.test/auth: the official MCP SDK client (discovery with the path inserted, registration, consent, a tool call)', () => {
  const RESOURCE = 'https://mcp.example.test/mcp';
  const CALLBACK = 'http://127.0.0.1:43211/callback';
  let mi: Instance;
  let mcp: { url: string; server: Server };
  before(async () => {
    mcp = await startMcpServer();
    mi = await startInstance({
      config: (dir) =>
        baseConfig(dir, {
          publicUrl: ISSUER,
          apps: [],
          resources: [{ resource: RESOURCE, scopes: ['mcp:tools'], upstream: mcp.url }],
          issuer: { defaultResource: RESOURCE },
        }),
      users: [ALICE],
    });
  });
  after(async () => {
    await mi.close();
    await new Promise<void>((r) => {
      mcp.server.closeAllConnections();
      mcp.server.close(() => r());
    });
  });

  test('401 → RFC 9728 → RFC 8414 at /.well-known/oauth-authorization-server/auth → /auth/oidc/reg → sign-in and consent under /auth → token → whoami', async () => {
    const seen: string[] = [];
    const fetch = mcpFetchVia(mi.port, seen);
    const provider = new MemoryProvider(CALLBACK, 'Path Client');
    const first = new StreamableHTTPClientTransport(new URL(RESOURCE), { fetch, authProvider: provider });
    await assert.rejects(new McpClient({ name: 't', version: '1' }).connect(first), UnauthorizedError);
    const url = provider.authorizationUrl;
    assert.ok(url);
    assert.equal(url.origin + url.pathname, `${ISSUER}/oidc/auth`);
    assert.ok(seen.includes(`GET ${ORIGIN}/.well-known/oauth-authorization-server/auth`), seen.join('\n'));
    assert.ok(seen.includes(`POST ${ISSUER}/oidc/reg`), seen.join('\n'));

    const jar = new Jar(() => mi.port);
    const form = await jar.go(url.href);
    assert.equal(new URL(form.url).pathname, '/auth/oauth2/start');
    const posted = await signInAt(jar, form);
    const consent = await jar.go(new URL(posted.headers.location ?? '', form.url).href);
    assert.match(consent.answer.body, /<h1>Allow Path Client\?<\/h1>/);
    const action = /<form method="post" action="([^"]+)"/.exec(consent.answer.body)?.[1] ?? '';
    assert.match(action, /^https:\/\/www\.example\.test\/auth\/oidc\/interaction\/[\w-]+$/);
    const hidden = Object.fromEntries(
      [...consent.answer.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    const allowed = await jar.request(action.replaceAll('&amp;', '&'), {
      method: 'POST',
      body: new URLSearchParams({ ...hidden, decision: 'allow' }).toString(),
    });
    const back = await jar.go(new URL(allowed.headers.location ?? '', action).href);
    assert.ok(back.leaving?.startsWith(`${CALLBACK}?`), back.visited.join(' -> '));
    const location = new URL(back.leaving ?? '');
    assert.equal(location.searchParams.get('iss'), ISSUER);

    await first.finishAuth(location.searchParams.get('code') ?? '');
    const client = new McpClient({ name: 't', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(RESOURCE), { fetch, authProvider: provider }));
    try {
      const r = await client.callTool({ name: 'whoami', arguments: {} });
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
    } finally {
      await client.close();
    }
  });
});
