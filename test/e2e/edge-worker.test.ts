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
import { launchChromium } from '../kit/chromium.ts';
import { freePort } from '../kit/http.ts';
import { addUser, gateConfig, type GatehouseProcess, startGatehouse } from '../kit/process.ts';
import { buildEdge, rawRequest, readTemplateWrangler, startWorker, type BuiltEdge, type RunningWorker } from '../kit/edge.ts';
import { until } from '../kit/poll.ts';

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
    page.on('request', (r) => {
      if (r.isNavigationRequest() && r.frame() === page.mainFrame()) seen.push(new URL(r.url()));
    });
    return seen;
  }

  before(async () => {
    const ghPort = await freePort();
    edgePort = await freePort();
    shortPort = await freePort();
    issuer = `http://localhost:${ghPort}`;
    edge = `http://edge.example.test:${edgePort}`;
    gh = await startGatehouse(
      gateConfig({
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
      }),
      { env: { EDGE_OIDC_SECRET: clientSecret } },
    );
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
    assert.deepEqual([...q.keys()].sort(), [
      'client_id',
      'code_challenge',
      'code_challenge_method',
      'nonce',
      'redirect_uri',
      'response_type',
      'scope',
      'state',
    ]);
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
    assert.deepEqual(
      cookies.map((c) => c.name),
      ['gatehouse_edge'],
    );
    const [c] = cookies;
    assert.equal(c!.httpOnly, true);
    assert.equal(c!.sameSite, 'Lax');
    assert.equal(c!.domain, 'edge.example.test');
    assert.equal(c!.expires, -1);

    // The app sees who it is, and nothing a client sent in those headers, in any spelling.
    const seen = await page.evaluate(async () => {
      const r = await fetch('/whoami', {
        headers: { 'X-Auth-Request-User': 'mallory', 'X-Auth-Request-Groups': 'admins', 'X-Auth-Request-Email': 'm@evil.example' },
      });
      return { status: r.status, body: (await r.json()) as Record<string, string> };
    });
    assert.equal(seen.status, 200);
    assert.deepEqual(seen.body, {
      'x-auth-request-user': 'alice',
      'x-auth-request-preferred-username': 'alice',
      'x-auth-request-email': 'alice@example.org',
      'x-auth-request-groups': 'staff',
    });
    const spoofed = await rawRequest(edgePort, `edge.example.test:${edgePort}`, '/whoami', {
      headers: {
        Cookie: `other=1; gatehouse_edge=${c!.value}`,
        'X-Auth-Request_User': 'mallory',
        'x-auth-request-email': 'm@evil.example',
      },
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
    page.on('request', (r) => {
      if (r.url().startsWith(issuer)) toIssuer.push(r.url());
    });
    const r = await page.goto(`${edge}/`);
    assert.equal(r?.status(), 200);
    assert.equal(page.url(), `${edge}/`);
    assert.equal(await page.locator('h1').innerText(), 'Welcome');
    // The stylesheet the page links is public too.
    assert.equal(await page.evaluate('getComputedStyle(document.body).fontFamily'), 'sans-serif');
    assert.deepEqual(toIssuer, []);
    assert.deepEqual(navs.map(String), [`${edge}/`]);
    assert.deepEqual(await page.context().cookies(edge), []);
  });

  // Every request-target below names /secret.html (or /admin/index.html) to some component:
  // the file name, the clean name, dot segments, doubled slashes, percent-encoding, case, a
  // backslash. Sent byte for byte over a raw socket, as an attacker would, not through a URL
  // parser of ours. "signin": 303 to Gatehouse's authorization endpoint; "deny": 403;
  // "runtime": workerd refuses the request-target itself (500) before any Worker code runs.
  const ATTACKS: Array<[string, 'signin' | 'deny' | 'runtime']> = [
    ['/secret.html', 'signin'],
    ['/secret', 'signin'],
    ['/secret/', 'signin'],
    ['/secret/index.html', 'signin'],
    ['/SECRET.html', 'signin'],
    ['/Secret', 'signin'],
    ['/secret.HTML', 'signin'],
    ['/%73ecret.html', 'signin'],
    ['/%73ecret', 'signin'],
    ['/%53ECRET.html', 'signin'],
    ['/secret%2ehtml', 'signin'],
    ['/./secret.html', 'signin'],
    ['/%2e/secret.html', 'signin'],
    ['//secret.html', 'signin'],
    ['///secret', 'signin'],
    ['/assets/../secret.html', 'signin'],
    ['/assets/%2e%2e/secret.html', 'signin'],
    ['/assets/..%2fsecret.html', 'signin'],
    ['/assets/%2e%2e%2fsecret', 'signin'],
    ['/assets\\..\\secret.html', 'signin'],
    ['/assets/..%5csecret.html', 'signin'],
    ['/secret%2F', 'signin'],
    ['/secret.html;x', 'signin'],
    ['/secret.html?x=1', 'signin'],
    ['/admin/', 'signin'],
    ['/admin/index.html', 'signin'],
    ['/%61dmin/index.html', 'signin'],
    ['/ADMIN', 'signin'],
    ['/secret.html%00', 'deny'],
    ['/%2573ecret.html', 'deny'],
    ['/secret%252ehtml', 'deny'],
    ['/secret.html%0d%0a', 'deny'],
    ['\\secret.html', 'runtime'],
  ];

  const expectedStatus = { signin: 303, deny: 403, runtime: 500 } as const;

  test(`no encoding reaches a protected asset: ${ATTACKS.length} request-targets, anonymous and as the wrong group`, async () => {
    const page = await (await context()).newPage();
    await page.goto(`${edge}/secret`);
    await signInAtPortal(page, 'bob');
    await page.waitForURL(`${edge}/secret`, { timeout: STEP_MS });
    const bob = (await page.context().cookies(edge)).find((c) => c.name === 'gatehouse_edge')!.value;
    const host = `edge.example.test:${edgePort}`;
    for (const [target, expected] of ATTACKS) {
      const anon = await rawRequest(edgePort, host, target, { headers: { Accept: 'text/html' } });
      assert.ok(!anon.body.includes(SECRET_MARKER) && !anon.body.includes(ADMIN_MARKER), `${target}: the protected content leaked`);
      if (expected === 'signin') {
        assert.equal(anon.status, 303, `${target}: ${anon.status} ${anon.body.slice(0, 100)}`);
        assert.ok((anon.headers.location ?? '').startsWith(`${issuer}/oidc/auth?`), `${target}: ${anon.headers.location}`);
      } else {
        assert.equal(anon.status, expected === 'deny' ? 403 : 500, `${target}: ${anon.status}`);
      }
      // An API client (no HTML) is told 401, never redirected.
      const api = await rawRequest(edgePort, host, target, { headers: { Accept: 'application/json' } });
      assert.equal(api.status, expected === 'signin' ? 401 : expected === 'deny' ? 403 : 500, `${target} (API): ${api.status}`);
      // Signed in, but not staff: 403, whatever the spelling.
      const asBob = await rawRequest(edgePort, host, target, { headers: { Accept: 'text/html', Cookie: `gatehouse_edge=${bob}` } });
      assert.equal(asBob.status, expected === 'runtime' ? 500 : 403, `${target} as bob: ${asBob.status}`);
      assert.ok(!asBob.body.includes(SECRET_MARKER) && !asBob.body.includes(ADMIN_MARKER), `${target} as bob: leaked`);
    }
    // The same names through Chromium itself (its URL parser first): each ends at the sign-in form.
    for (const p of ['/secret.html', '/secret', '/%73ecret.html', '/./secret.html', '/SECRET.html', '/secret/']) {
      const fresh = await (await context()).newPage();
      await fresh.goto(`${edge}${p}`);
      const at = new URL(fresh.url());
      assert.equal(`${at.origin}${at.pathname}`, `${issuer}/oauth2/start`, `${p} ended at ${fresh.url()}`);
      await fresh.context().close();
    }
  });

  test('rules that list what is protected and open the rest: no name of /secret.html opens it, under every html_handling of the asset server', async () => {
    // The other way to write rules (the story's: protect /secret, everything else public) is
    // where a file's second name matters: with html_handling "none" the asset server would serve
    // /secret.html itself, so the rule for /secret must cover it (rules.ts, assetAliases).
    const shipped = await readTemplateWrangler();
    for (const mode of ['none', 'drop-trailing-slash', 'force-trailing-slash', 'auto-trailing-slash']) {
      const cfg = structuredClone(shipped);
      (cfg.assets as Record<string, unknown>).html_handling = mode;
      (cfg.vars as Record<string, unknown>).GATEHOUSE_RULES = [
        { name: 'members', paths: ['/secret', '/admin'], allow: { groups: ['staff'] } },
        { name: 'site', public: true },
      ];
      assert.deepEqual(checkWranglerConfig(cfg), { ok: true, problems: [] });
      const port = await freePort();
      const w = await startWorker(built, { port, wrangler: cfg, bindings: bindings() });
      try {
        const host = `edge.example.test:${port}`;
        const css = await rawRequest(port, host, '/assets/site.css');
        assert.equal(css.status, 200, `${mode}: the rest is public`);
        for (const [target] of ATTACKS) {
          const r = await rawRequest(port, host, target, { headers: { Accept: 'text/html' } });
          assert.ok(!r.body.includes(SECRET_MARKER) && !r.body.includes(ADMIN_MARKER), `${mode}: ${target} leaked (${r.status})`);
          // Not a redirect to another name of the page either: that would only move the question.
          if (r.status >= 300 && r.status < 400)
            assert.ok((r.headers.location ?? '').startsWith(`${issuer}/oidc/auth?`), `${mode}: ${target} -> ${r.headers.location}`);
          // Exactly as with the shipped rules: "/secret.html;x" is /secret.html to an app that
          // drops ";parameters", so it is the protected page's, not the public site's.
          const want = expectedStatus[ATTACKS.find(([t]) => t === target)![1]];
          assert.equal(r.status, want, `${mode}: ${target}`);
        }
      } finally {
        await w.stop();
      }
    }
  });

  test('positive control: the same targets do reach the file for a member (so the refusals above are the gate, not a 404)', async () => {
    const page = await (await context()).newPage();
    await page.goto(`${edge}/secret`);
    await signInAtPortal(page, 'alice');
    await page.waitForURL(`${edge}/secret`, { timeout: STEP_MS });
    const alice = (await page.context().cookies(edge)).find((c) => c.name === 'gatehouse_edge')!.value;
    const host = `edge.example.test:${edgePort}`;
    const get = (t: string) => rawRequest(edgePort, host, t, { headers: { Accept: 'text/html', Cookie: `gatehouse_edge=${alice}` } });
    const direct = await get('/secret');
    assert.equal(direct.status, 200);
    assert.ok(direct.body.includes(SECRET_MARKER));
    // The asset server's own answers for the other names: its clean-URL redirect (307 to
    // /secret), or 404 for a name it does not have (case, ";x").
    for (const t of ['/secret.html', '/%73ecret.html', '//secret.html', '/assets/%2e%2e/secret.html', '/secret/']) {
      const r = await get(t);
      assert.equal(r.status, 307, t);
      assert.equal(r.headers.location, '/secret', t);
    }
    for (const t of ['/SECRET.html', '/secret.html;x']) assert.equal((await get(t)).status, 404, t);
  });

  test('the trap: with run_worker_first unset, workerd serves /secret before the Worker runs, and the check refuses that config', async () => {
    const shipped = await readTemplateWrangler();
    assert.deepEqual(checkWranglerConfig(shipped), { ok: true, problems: [] });
    const trap = structuredClone(shipped);
    delete (trap.assets as Record<string, unknown>).run_worker_first;
    assert.deepEqual(checkWranglerConfig(trap), {
      ok: false,
      problems: [
        'assets.run_worker_first: unset (false by default): every file under ./public is served before the Worker runs, without sign-in; set "run_worker_first": true',
      ],
    });
    const port = await freePort();
    const open = await startWorker(built, { port, wrangler: trap, bindings: bindings() });
    try {
      const r = await rawRequest(port, `edge.example.test:${port}`, '/secret', { headers: { Accept: 'text/html' } });
      assert.equal(r.status, 200, 'the runtime really does serve the file without the Worker');
      assert.ok(r.body.includes(SECRET_MARKER));
    } finally {
      await open.stop();
    }
  });

  test('the list form: ["/*", "!/assets/*"] passes only with rules that make every name under /assets public, and then serves them without the Worker', async () => {
    const shipped = await readTemplateWrangler();
    const listed = structuredClone(shipped);
    (listed.assets as Record<string, unknown>).run_worker_first = ['/*', '!/assets/*'];
    assert.deepEqual(checkWranglerConfig(listed).problems, [
      'assets.run_worker_first: "!/assets/*" serves the file of /assets.html (under another of its names) before the Worker, but vars.GATEHOUSE_RULES does not make it public; remove the exception, or put a public rule with "paths": ["=/assets.html"] before any other rule that matches there',
    ]);
    const rules = (listed.vars as Record<string, unknown>).GATEHOUSE_RULES as Array<{ paths?: string[] }>;
    rules[0]!.paths!.push('=/assets.html');
    assert.deepEqual(checkWranglerConfig(listed), { ok: true, problems: [] });
    const port = await freePort();
    const w = await startWorker(built, { port, wrangler: listed, bindings: bindings() });
    try {
      const host = `edge.example.test:${port}`;
      const css = await rawRequest(port, host, '/assets/site.css');
      assert.equal(css.status, 200);
      assert.equal(css.body, 'body { font-family: sans-serif; }\n');
      // Through the Worker: the sign-in. "/assets/..%2fsecret.html" is inside the exception as
      // the router reads it (it does not decode %2F), so the asset server answers it, and has
      // no such file: 404, never the page.
      const expected: Array<[string, number]> = [
        ['/secret', 303],
        ['/secret.html', 303],
        ['/assets/../secret.html', 303],
        ['/assets/%2e%2e/secret.html', 303],
        ['/assets/..%2fsecret.html', 404],
        ['/assets/..%5csecret.html', 404],
      ];
      for (const [t, status] of expected) {
        const r = await rawRequest(port, host, t, { headers: { Accept: 'text/html' } });
        assert.equal(r.status, status, t);
        assert.ok(!r.body.includes(SECRET_MARKER), t);
      }
    } finally {
      await w.stop();
    }
  });

  test('sign-out at the edge clears its cookie and ends the Gatehouse session (RP-initiated logout)', async () => {
    const page = await (await context()).newPage();
    await page.goto(`${edge}/secret`);
    await signInAtPortal(page, 'alice');
    await page.waitForURL(`${edge}/secret`, { timeout: STEP_MS });
    await page.goto(`${edge}/.gatehouse/sign_out`);
    const ask = new URL(page.url());
    assert.equal(`${ask.origin}${ask.pathname}`, `${issuer}/oidc/session/end`);
    assert.equal(ask.searchParams.get('client_id'), 'edge-app');
    assert.deepEqual(
      (await page.context().cookies(edge)).filter((c) => c.name === 'gatehouse_edge'),
      [],
    );
    assert.equal(await page.locator('h1').innerText(), 'Sign out?');
    await page.locator('button[name="logout"]').click();
    await page.waitForURL(`${issuer}/oidc/session/end/success`, { timeout: STEP_MS });
    assert.equal(await page.locator('h1').innerText(), 'Signed out');
    // Gatehouse's own session is over too: the next protected page asks for the password.
    await page.goto(`${edge}/secret`);
    const at = new URL(page.url());
    assert.equal(`${at.origin}${at.pathname}`, `${issuer}/oauth2/start`);
    assert.equal(await page.locator('input[type="password"]').count(), 1);
  });

  test(`revocation: a Gatehouse session revoked loses access at the edge within GATEHOUSE_SESSION_LIFETIME (${SHORT_LIFETIME} s); until then renewal is silent`, async () => {
    const short = `http://edge.example.test:${shortPort}`;
    const w = await startWorker(built, { port: shortPort, bindings: bindings(SHORT_LIFETIME) });
    try {
      const page = await (await context()).newPage();
      const navs = recordNavigations(page);
      await page.goto(`${short}/secret`);
      await signInAtPortal(page, 'alice');
      await page.waitForURL(`${short}/secret`, { timeout: STEP_MS });
      const signedInAt = Date.now();

      // Past half the lifetime, a navigation asks Gatehouse with prompt=none and comes straight
      // back: no form, same URL, a new cookie.
      const before = (await page.context().cookies(short)).find((c) => c.name === 'gatehouse_edge')!.value;
      while (Date.now() - signedInAt < (SHORT_LIFETIME * 1000) / 2 + 200) await new Promise((r) => setTimeout(r, 100));
      navs.length = 0;
      await page.goto(`${short}/secret?again=1`);
      assert.equal(page.url(), `${short}/secret?again=1`);
      assert.ok((await page.content()).includes(SECRET_MARKER));
      const silent = navs.find((u) => `${u.origin}${u.pathname}` === `${issuer}/oidc/auth`);
      assert.equal(silent?.searchParams.get('prompt'), 'none');
      assert.ok(!navs.some((u) => u.pathname === '/oauth2/start'), 'no sign-in form on renewal');
      const renewed = (await page.context().cookies(short)).find((c) => c.name === 'gatehouse_edge')!.value;
      assert.notEqual(renewed, before);

      // Revoke every Gatehouse session of alice (the admin's command, another process).
      const revoked = await gh.run(['session', 'revoke', '--user', 'alice']);
      assert.equal(revoked.code, 0, revoked.stderr);
      const t0 = Date.now();
      const bound = SHORT_LIFETIME * 1000;
      const slack = 4000; // polling, a loaded machine, and the store poll (500 ms)

      // An API request with the renewed cookie: 200 until the cookie's lifetime ends, then 401.
      const host = `edge.example.test:${shortPort}`;
      const apiAt = await until(
        async () => {
          const r = await rawRequest(shortPort, host, '/whoami', {
            headers: { Accept: 'application/json', Cookie: `gatehouse_edge=${renewed}` },
          });
          if (r.status === 401) return { ms: Date.now() - t0 };
          assert.equal(r.status, 200);
          return false;
        },
        { timeoutMs: bound + slack, what: 'the API refuses the renewed cookie after the revocation', intervalMs: 100 },
      ).then((x) => x.ms);
      assert.ok(apiAt <= bound + slack, `API access ended ${apiAt} ms after the revocation`);

      // A navigation: Gatehouse says login_required to prompt=none, so the visitor is at the
      // sign-in form, and the edge's session cookie is gone.
      await page.goto(`${short}/secret`);
      const at = new URL(page.url());
      assert.equal(`${at.origin}${at.pathname}`, `${issuer}/oauth2/start`);
      assert.equal(await page.locator('h1').innerText(), 'Sign in');
      assert.ok(Date.now() - t0 <= bound + slack);
      assert.deepEqual(
        (await page.context().cookies(short)).filter((c) => c.name === 'gatehouse_edge'),
        [],
      );
    } finally {
      await w.stop();
    }
  });
});
