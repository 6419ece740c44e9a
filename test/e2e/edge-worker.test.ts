// The edge package in workerd, against Gatehouse as the issuer, driven by Chromium.
//
// Components: Gatehouse (a real process, its portal's sign-in form, its OpenID provider), the
// example Worker and static files of edge/template/ run by Miniflare (workerd, with Cloudflare's
// asset server routed as the template's wrangler.jsonc says), Chromium, and raw sockets for the
// request-targets an attacker types by hand.
//
// Names: Chromium maps *.example.test to loopback; workerd resolves through the system, so the
// issuer is http://localhost:<port> (Gatehouse itself, no proxy) and the Worker
// http://edge.example.test:<port>, which only Chromium and our raw requests visit.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { checkWranglerConfig } from '../../edge/src/wrangler.ts';
import { addUser, freePort, gateConfig, launchChromium, startGatehouse, type GatehouseProcess } from './harness.ts';
import { buildEdge, rawRequest, readTemplateWrangler, startWorker, type BuiltEdge, type RunningWorker } from './edge-harness.ts';

const PASSWORD = 'correct horse battery staple';
const STEP_MS = 15_000;
const SECRET_MARKER = 'secret-marker-7f3a';
const ADMIN_MARKER = 'admin-marker-91c2';
/** The revocation test's session lifetime (GATEHOUSE_SESSION_LIFETIME), seconds. */
const SHORT_LIFETIME = 6;

describe('@gatehouse/edge in workerd, signing in through Gatehouse, driven by Chromium', { timeout: 180_000 }, () => {
  let gh: GatehouseProcess;
  let built: BuiltEdge;
  let worker: RunningWorker;
  let browser: Browser;
  let issuer: string;
  let edgePort: number;
  let shortPort: number;
  let edge: string;
  const clientSecret = randomBytes(24).toString('base64url');
  const sessionSecret = randomBytes(32).toString('base64');
  const contexts: BrowserContext[] = [];

  const bindings = (lifetime?: number) => ({
    GATEHOUSE_ISSUER: issuer,
    GATEHOUSE_ALLOW_HTTP: 'true',
    GATEHOUSE_CLIENT_SECRET: clientSecret,
    GATEHOUSE_SESSION_SECRET: sessionSecret,
    ...(lifetime !== undefined ? { GATEHOUSE_SESSION_LIFETIME: String(lifetime) } : {}),
  });

  async function context(): Promise<BrowserContext> {
    const c = await browser.newContext();
    c.setDefaultTimeout(STEP_MS);
    contexts.push(c);
    return c;
  }

  async function signInAtPortal(page: Page, user: string): Promise<void> {
    const at = new URL(page.url());
    assert.equal(`${at.origin}${at.pathname}`, `${issuer}/oauth2/start`, `expected Gatehouse's sign-in form, got ${page.url()}`);
    await page.locator('input[name="username"]').fill(user);
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.locator('form button[type="submit"]').click();
  }

  /** The navigations of a page, as URLs. */
  function recordNavigations(page: Page): URL[] {
    const seen: URL[] = [];
    page.on('request', (r) => { if (r.isNavigationRequest() && r.frame() === page.mainFrame()) seen.push(new URL(r.url())); });
    return seen;
  }

  before(async () => {
    const ghPort = await freePort();
    edgePort = await freePort();
    shortPort = await freePort();
    issuer = `http://localhost:${ghPort}`;
    edge = `http://edge.example.test:${edgePort}`;
    gh = await startGatehouse(gateConfig({
      publicUrl: issuer,
      listenPort: ghPort,
      domains: ['localhost'],
      extra: [
        'clients:',
        '  - id: edge-app',
        '    secret: ${env:EDGE_OIDC_SECRET}',
        `    redirectUris: [${edge}/.gatehouse/callback, http://edge.example.test:${shortPort}/.gatehouse/callback]`,
        '    firstParty: true',
      ].join('\n'),
    }), { env: { EDGE_OIDC_SECRET: clientSecret } });
    await addUser(gh, 'alice', PASSWORD, ['staff']);
    await addUser(gh, 'bob', PASSWORD, ['outsiders']);
    await addUser(gh, 'carol', PASSWORD, ['admins']);
    built = await buildEdge();
    worker = await startWorker(built, { port: edgePort, bindings: bindings() });
    browser = await launchChromium();
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await worker?.stop();
    await built?.remove();
    await gh?.stop();
  });

  test('sign-in: a protected page -> Gatehouse (code flow, PKCE S256, nonce, state) -> back at the exact URL, with identity headers the app can trust', async () => {
    const page = await (await context()).newPage();
    const navs = recordNavigations(page);
    await page.goto(`${edge}/secret?from=mail&x=1%202`);
    const auth = navs.find((u) => `${u.origin}${u.pathname}` === `${issuer}/oidc/auth`);
    assert.ok(auth, `no authorization request among ${navs.map(String).join(', ')}`);
    const q = auth.searchParams;
    assert.deepEqual([...q.keys()].sort(), ['client_id', 'code_challenge', 'code_challenge_method', 'nonce', 'redirect_uri', 'response_type', 'scope', 'state']);
    assert.equal(q.get('client_id'), 'edge-app');
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('redirect_uri'), `${edge}/.gatehouse/callback`);
    assert.equal(q.get('scope'), 'openid profile email groups');
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.match(q.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.get('state') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.get('nonce') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(await page.locator('h1').innerText(), 'Sign in');

    await signInAtPortal(page, 'alice');
    await page.waitForURL(`${edge}/secret?from=mail&x=1%202`, { timeout: STEP_MS });
    assert.equal(page.url(), `${edge}/secret?from=mail&x=1%202`);
    assert.equal(await page.locator('h1').innerText(), 'Members only');
    assert.ok((await page.content()).includes(SECRET_MARKER));

    // The session cookie: HttpOnly, Lax, host-only, no Expires (the sealed payload carries the
    // expiry); the sign-in state cookie is gone.
    const cookies = await page.context().cookies(edge);
    assert.deepEqual(cookies.map((c) => c.name), ['gatehouse_edge']);
    const [c] = cookies;
    assert.equal(c!.httpOnly, true);
    assert.equal(c!.sameSite, 'Lax');
    assert.equal(c!.domain, 'edge.example.test');
    assert.equal(c!.expires, -1);

    // The app sees who it is, and nothing a client sent in those headers, in any spelling.
    const seen = await page.evaluate(async () => {
      const r = await fetch('/whoami', { headers: { 'X-Auth-Request-User': 'mallory', 'X-Auth-Request-Groups': 'admins', 'X-Auth-Request-Email': 'm@evil.example' } });
      return { status: r.status, body: await r.json() as Record<string, string> };
    });
    assert.equal(seen.status, 200);
    assert.deepEqual(seen.body, {
      'x-auth-request-user': 'alice',
      'x-auth-request-preferred-username': 'alice',
      'x-auth-request-email': 'alice@example.org',
      'x-auth-request-groups': 'staff',
    });
    const spoofed = await rawRequest(edgePort, `edge.example.test:${edgePort}`, '/whoami', {
      headers: { Cookie: `other=1; gatehouse_edge=${c!.value}`, 'X-Auth-Request_User': 'mallory', 'x-auth-request-email': 'm@evil.example' },
    });
    assert.equal(spoofed.status, 200);
    assert.deepEqual(JSON.parse(spoofed.body), {
      cookie: 'other=1',
      'x-auth-request-user': 'alice',
      'x-auth-request-preferred-username': 'alice',
      'x-auth-request-email': 'alice@example.org',
      'x-auth-request-groups': 'staff',
    });

    // staff is not admins: the admin pages are refused with 403, by every name.
    for (const p of ['/admin', '/admin/', '/admin/index.html', '/ADMIN/']) {
      const r = await page.goto(`${edge}${p}`);
      assert.equal(r?.status(), 403, p);
      assert.equal(await page.locator('p').innerText(), 'Signed in as alice, who is not allowed here.');
      assert.ok(!(await page.content()).includes(ADMIN_MARKER));
    }
  });

  test('the wrong group: bob signs in and is refused (403) everywhere but the public pages', async () => {
    const page = await (await context()).newPage();
    await page.goto(`${edge}/secret`);
    await signInAtPortal(page, 'bob');
    await page.waitForURL(`${edge}/secret`, { timeout: STEP_MS });
    assert.equal(await page.locator('h1').innerText(), 'Forbidden');
    assert.equal(await page.locator('p').innerText(), 'Signed in as bob, who is not allowed here.');
    assert.ok(!(await page.content()).includes(SECRET_MARKER));
    const r = await page.goto(`${edge}/secret.html`);
    assert.equal(r?.status(), 403);
    const home = await page.goto(`${edge}/`);
    assert.equal(home?.status(), 200);
    assert.equal(await page.locator('h1').innerText(), 'Welcome');
  });

  test('a public path without signing in: no request ever goes to Gatehouse', async () => {
    const page = await (await context()).newPage();
    const navs = recordNavigations(page);
    const toIssuer: string[] = [];
    page.on('request', (r) => { if (r.url().startsWith(issuer)) toIssuer.push(r.url()); });
    const r = await page.goto(`${edge}/`);
    assert.equal(r?.status(), 200);
    assert.equal(page.url(), `${edge}/`);
    assert.equal(await page.locator('h1').innerText(), 'Welcome');
    // The stylesheet the page links is public too.
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).fontFamily), 'sans-serif');
    assert.deepEqual(toIssuer, []);
    assert.deepEqual(navs.map(String), [`${edge}/`]);
    assert.deepEqual(await page.context().cookies(edge), []);
  });
});
