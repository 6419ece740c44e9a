// Every form Gatehouse serves, in real Chromium through nginx run from docs/proxies/nginx: the
// browser signs in, approves consent for a third-party OpenID client and confirms a logout; then
// pages on another origin post the same forms and are refused. The attacker's pages are real
// pages in the same Chromium: one on a sibling host of the portal (same site, other origin:
// SameSite cookies ARE sent, so only the form guard stands between it and the user) and one on
// another site. The forms they post carry the victim's own token (as if it had leaked), so what
// refuses them is the browser's Sec-Fetch-Site and Origin, not a missing token. The rules a
// browser cannot be made to break (a missing or wrong token, Origin: null with no Fetch
// Metadata, as old browsers and scripts send) are checked by hand-made requests, which model an
// attacker's client rather than stand in for a browser. A second part runs Gatehouse at
// http://localhost, where Chromium sends Fetch Metadata as it does over https.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../kit/chromium.ts';
import { freePort, request } from '../kit/http.ts';
import { addUser, gateConfig, type GatehouseProcess, startGatehouse } from '../kit/process.ts';
import { type Stack, startStack } from '../kit/stack.ts';

const PASSWORD = 'correct horse battery staple';
const SECRET = 'third-party-secret-0123456789';

/** A plain web server on its own port for the relying party's callback and the attacker's pages. */
interface Site {
  port: number;
  pages: Map<string, string>;
  seen: string[];
  stop(): Promise<void>;
}
async function startSite(): Promise<Site> {
  const pages = new Map<string, string>();
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.headers.host}${req.url}`);
    const html = pages.get((req.url ?? '/').split('?')[0] ?? '/');
    res.writeHead(html === undefined ? 200 : 200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html ?? '<!doctype html><title>rp</title><p>ok</p>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    pages,
    seen,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** An attacker's page that posts `fields` to `action` as soon as it loads. */
function autoPost(action: string, fields: Record<string, string>, opts: { sandboxed?: boolean } = {}): string {
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${k}" value="${v.replaceAll('"', '&quot;')}">`)
    .join('');
  if (!opts.sandboxed)
    return `<!doctype html><title>win a prize</title><form method="post" action="${action}">${inputs}</form><script>document.forms[0].submit()</script>`;
  // A sandboxed frame: its origin is opaque, so the browser sends Origin: null. It posts into a
  // new window (our pages may not be framed: frame-ancestors 'none').
  const form = `<form method="post" action="${action}" target="_blank">${inputs}</form><script>document.forms[0].submit()</script>`;
  return `<!doctype html><title>win a prize</title><iframe sandbox="allow-forms allow-scripts allow-popups" srcdoc="${form.replaceAll('"', '&quot;')}"></iframe>`;
}

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

describe("forms in Chromium through nginx (docs/proxies/nginx): real posts pass, other origins' posts are refused", () => {
  let s: Stack;
  let rp: Site;
  let evil: Site;
  let callback: string;
  let bye: string;
  /** A sibling host of the portal: same site (example.test), another origin. */
  let sameSite: string;
  /** Another site altogether. */
  let crossSite: string;

  before(async () => {
    rp = await startSite();
    evil = await startSite();
    callback = `http://rp.example.net:${rp.port}/cb`;
    bye = `http://rp.example.net:${rp.port}/bye`;
    sameSite = `http://evil.example.test:${evil.port}`;
    crossSite = `http://evil.example.net:${evil.port}`;
    s = await startStack('nginx', {
      extra: [
        'clients:',
        `  - { id: third, name: Third App, secret: ${SECRET}, redirectUris: [${callback}], postLogoutRedirectUris: [${bye}] }`,
      ].join('\n'),
    });
    await addUser(s.gh, 'alice', PASSWORD, ['admins']);
    await addUser(s.gh, 'mallory', PASSWORD, []);
  });
  after(async () => {
    await s?.stop();
    await rp?.stop();
    await evil?.stop();
  });

  const authUrl = (extra: Record<string, string> = {}) =>
    `${s.portal}/oidc/auth?${new URLSearchParams({
      client_id: 'third',
      redirect_uri: callback,
      response_type: 'code',
      scope: 'openid email',
      state: 'st-1',
      ...extra,
    }).toString()}`;

  async function context(): Promise<BrowserContext> {
    const ctx = await browser.newContext();
    ctx.setDefaultTimeout(10_000);
    return ctx;
  }

  async function signInOnPage(page: Page, username: string): Promise<void> {
    await page.locator('input[name="username"]').fill(username);
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.locator('form button[type="submit"]').first().click();
  }

  /** Loads an attacker's page and returns the status of the document its form posted to `target`. */
  async function postFrom(
    ctx: BrowserContext,
    origin: string,
    target: string,
    fields: Record<string, string>,
    opts: { sandboxed?: boolean } = {},
  ): Promise<{ status: number; headers: Record<string, string> }> {
    const path = `/p${Math.random().toString(36).slice(2)}`;
    evil.pages.set(path, autoPost(target, fields, opts));
    const opened: Page[] = [];
    const onPage = (p: Page) => {
      opened.push(p);
    };
    ctx.on('page', onPage);
    const answered = ctx.waitForEvent('response', (r) => r.url() === target && r.request().method() === 'POST');
    const page = await ctx.newPage();
    await page.goto(`${origin}${path}`);
    const res = await answered;
    const headers = await res.request().allHeaders();
    const status = res.status();
    ctx.off('page', onPage);
    for (const p of opened) await p.close();
    return { status, headers };
  }

  test('a real sign-in, a real consent (clicked), and the code reaches the client; the code redeems', async () => {
    const ctx = await context();
    try {
      const page = await ctx.newPage();
      await page.goto(authUrl());
      assert.match(new URL(page.url()).pathname, /^\/oauth2\/(start|sign_in)$/);
      await signInOnPage(page, 'alice');
      await page.waitForURL((u) => u.pathname.startsWith('/oidc/interaction/'));
      assert.equal(await page.locator('h1').innerText(), 'Allow Third App?');
      const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url().includes('/oidc/interaction/'));
      await page.locator('button[value="allow"]').click();
      const sent = await (await posted).allHeaders();
      // What a real browser sends (the old no-referrer policy made it "null"). Chromium sends
      // Fetch Metadata only to secure origins; these test hosts are plain http.
      assert.equal(sent.origin, s.portal);
      await page.waitForURL((u) => u.href.startsWith(callback));
      const cb = new URL(page.url());
      assert.equal(cb.searchParams.get('state'), 'st-1');
      assert.equal(cb.searchParams.get('iss'), s.portal);
      const code = cb.searchParams.get('code') ?? '';
      const t = await request(`${s.portal}/oidc/token`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: `Basic ${Buffer.from(`third:${SECRET}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: callback }).toString(),
      });
      assert.equal(t.status, 200, t.body);
      assert.equal(typeof (JSON.parse(t.body) as { id_token?: unknown }).id_token, 'string');

      // Another browser session of the same user: the consent is remembered, no screen.
      const again = await context();
      try {
        const p2 = await again.newPage();
        await p2.goto(authUrl({ state: 'st-2' }));
        await signInOnPage(p2, 'alice');
        await p2.waitForURL((u) => u.href.startsWith(callback));
        assert.equal(new URL(p2.url()).searchParams.get('state'), 'st-2');
      } finally {
        await again.close();
      }
    } finally {
      await ctx.close();
    }
  });

  test('Deny clicked: the client gets error=access_denied with its state, and nothing is remembered', async () => {
    await addUser(s.gh, 'dora', PASSWORD, []);
    const ctx = await context();
    try {
      const page = await ctx.newPage();
      await page.goto(authUrl({ state: 'no' }));
      await signInOnPage(page, 'dora');
      await page.waitForURL((u) => u.pathname.startsWith('/oidc/interaction/'));
      await page.locator('button[value="deny"]').click();
      await page.waitForURL((u) => u.href.startsWith(callback));
      const cb = new URL(page.url());
      assert.equal(cb.searchParams.get('error'), 'access_denied');
      assert.equal(cb.searchParams.get('state'), 'no');
      assert.equal(cb.searchParams.get('code'), null);
      await page.goto(authUrl({ state: 'again' }));
      await page.waitForURL((u) => u.pathname.startsWith('/oidc/interaction/'));
      assert.equal(await page.locator('h1').innerText(), 'Allow Third App?', 'asked again');
    } finally {
      await ctx.close();
    }
  });

  test('a real logout confirmation (clicked) ends the session and returns to the client', async () => {
    const ctx = await context();
    try {
      const page = await ctx.newPage();
      await page.goto(authUrl());
      await signInOnPage(page, 'alice');
      await page.waitForURL((u) => u.href.startsWith(callback));
      await page.goto(
        `${s.portal}/oidc/session/end?${new URLSearchParams({ client_id: 'third', post_logout_redirect_uri: bye }).toString()}`,
      );
      assert.equal(await page.locator('h1').innerText(), 'Sign out?');
      await page.locator('button[value="yes"]').click();
      await page.waitForURL((u) => u.href.startsWith(bye));
      // The gate session is gone: the app sends the browser to sign in again.
      await page.goto(s.url('app.example.test', '/after-logout'));
      assert.match(new URL(page.url()).pathname, /^\/oauth2\/(start|sign_in)$/);
    } finally {
      await ctx.close();
    }
  });

  test('consent: a page on a sibling host or another site posting "allow" with the victim\'s own token is refused (403); nothing reaches the client', async () => {
    const ctx = await context();
    try {
      const page = await ctx.newPage();
      // prompt=consent: the screen shows even though alice allowed this client before.
      await page.goto(authUrl({ prompt: 'consent', state: 'forged' }));
      if (new URL(page.url()).pathname.startsWith('/oauth2/')) await signInOnPage(page, 'alice');
      await page.waitForURL((u) => u.pathname.startsWith('/oidc/interaction/'));
      const consentUrl = page.url();
      const token = (await page.locator('input[name="csrf"]').getAttribute('value')) ?? '';
      assert.notEqual(token, '');
      const before = rp.seen.filter((x) => x.includes('state=forged')).length;
      const same = await postFrom(ctx, sameSite, consentUrl, { decision: 'allow', csrf: token });
      assert.equal(same.headers.origin, sameSite);
      assert.equal(same.status, 403);
      // An opaque origin counts as another site: the interaction cookie (SameSite=Lax) stays
      // home and the interaction is not found (400); Origin: null alone is refused by hand below.
      const sandboxed = await postFrom(ctx, sameSite, consentUrl, { decision: 'allow', csrf: token }, { sandboxed: true });
      assert.equal(sandboxed.headers.origin, 'null');
      assert.equal(sandboxed.status, 400);
      // From another site the interaction cookie (SameSite=Lax) is not even sent: refused too.
      const cross = await postFrom(ctx, crossSite, consentUrl, { decision: 'allow', csrf: token });
      assert.equal(cross.headers.origin, crossSite);
      assert.notEqual(cross.status, 303);
      assert.equal(rp.seen.filter((x) => x.includes('state=forged')).length, before, 'no code went to the client');
      // The user's own click still works afterwards.
      await page.locator('button[value="allow"]').click();
      await page.waitForURL((u) => u.href.startsWith(callback));
      assert.equal(new URL(page.url()).searchParams.get('state'), 'forged');
    } finally {
      await ctx.close();
    }
  });

  test("sign-in (login CSRF): a sibling host's page posting the attacker's password with the victim's token is refused; the browser stays signed out", async () => {
    const ctx = await context();
    try {
      const page = await ctx.newPage();
      await page.goto(`${s.portal}/oauth2/sign_in`);
      const token = (await page.locator('input[name="csrf"]').getAttribute('value')) ?? '';
      const fields = { csrf: token, rd: '', username: 'mallory', password: PASSWORD };
      for (const origin of [sameSite, crossSite]) {
        const r = await postFrom(ctx, origin, `${s.portal}/oauth2/sign_in`, fields);
        assert.equal(r.headers.origin, origin);
        assert.equal(r.status, 403, origin);
      }
      const framed = await postFrom(ctx, sameSite, `${s.portal}/oauth2/sign_in`, fields, { sandboxed: true });
      assert.equal(framed.headers.origin, 'null');
      assert.equal(framed.status, 403);
      // Only the form guard's cookie: no session was made for mallory.
      const names = (await ctx.cookies(s.portal)).map((c) => c.name);
      assert.deepEqual(
        names.filter((n) => !n.endsWith('_csrf')),
        [],
        JSON.stringify(names),
      );
      // The page's own post, with the same token, signs in.
      await signInOnPage(page, 'alice');
      await page.waitForURL((u) => !u.pathname.startsWith('/oauth2/sign_in'));
    } finally {
      await ctx.close();
    }
  });

  test("logout confirmation: a sibling host's page posting the confirmation with the victim's xsrf is refused (403); the session survives", async () => {
    const ctx = await context();
    try {
      const page = await ctx.newPage();
      await page.goto(authUrl({ state: 'lo' }));
      await signInOnPage(page, 'alice');
      await page.waitForURL((u) => u.href.startsWith(callback));
      await page.goto(`${s.portal}/oidc/session/end?client_id=third`);
      const action = (await page.locator('form#op\\.logoutForm').getAttribute('action')) ?? '';
      const xsrf = (await page.locator('form#op\\.logoutForm input[name="xsrf"]').getAttribute('value')) ?? '';
      const target = new URL(action, s.portal).href;
      const r = await postFrom(ctx, sameSite, target, { xsrf, logout: 'yes' });
      assert.equal(r.headers.origin, sameSite);
      assert.equal(r.status, 403);
      await page.goto(s.url('app.example.test', '/still-signed-in'));
      assert.equal(new URL(page.url()).pathname, '/still-signed-in', 'the session survived');
    } finally {
      await ctx.close();
    }
  });

  test("by hand (an attacker's client): no Fetch Metadata but Origin null or another origin, a missing or a wrong token: refused", async () => {
    // A fresh sign-in form: the form guard's cookie and its token.
    const form = await request(`${s.portal}/oauth2/sign_in`, { headers: { Accept: 'text/html' } });
    const cookie = (form.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
    const token = /name="csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
    assert.notEqual(token, '');
    const post = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
      request(`${s.portal}/oauth2/sign_in`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'text/html', Cookie: cookie, ...headers },
        body: new URLSearchParams({ rd: '', username: 'alice', password: PASSWORD, ...fields }).toString(),
      });
    const cases: Array<[string, Record<string, string>, Record<string, string>, number]> = [
      ['Origin: null', { csrf: token }, { Origin: 'null' }, 403],
      ['another origin', { csrf: token }, { Origin: 'http://evil.example.test' }, 403],
      ['another port of the portal host', { csrf: token }, { Origin: `http://auth.example.test:${evil.port}` }, 403],
      ['https instead of http', { csrf: token }, { Origin: s.portal.replace('http:', 'https:') }, 403],
      ['Sec-Fetch-Site: cross-site', { csrf: token }, { 'Sec-Fetch-Site': 'cross-site' }, 403],
      ['Sec-Fetch-Site: same-site', { csrf: token }, { 'Sec-Fetch-Site': 'same-site' }, 403],
      ['Sec-Fetch-Site: none', { csrf: token }, { 'Sec-Fetch-Site': 'none' }, 403],
      ['the right Origin but Sec-Fetch-Site: cross-site', { csrf: token }, { Origin: s.portal, 'Sec-Fetch-Site': 'cross-site' }, 403],
      ['no token', {}, { Origin: s.portal }, 400],
      ['an empty token', { csrf: '' }, { Origin: s.portal }, 400],
      ['a wrong token', { csrf: `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}` }, { Origin: s.portal }, 400],
      ['no cookie', { csrf: token }, { Origin: s.portal, Cookie: '' }, 400],
    ];
    for (const [what, fields, headers, status] of cases) {
      const r = await post(fields, headers);
      assert.equal(r.status, status, what);
      assert.equal(
        (r.headers['set-cookie'] ?? []).some((c) => !/_csrf=/.test(c.split(';')[0] ?? '')),
        false,
        `${what}: no session cookie`,
      );
      if (status === 403) assert.equal(r.headers['set-cookie'], undefined, `${what}: no new token cookie`);
    }
    // The same request with the token and the page's own origin signs in (the cases above differ by one thing each).
    const ok = await post({ csrf: token }, { Origin: s.portal, 'Sec-Fetch-Site': 'same-origin' });
    assert.equal(ok.status, 303, ok.body.slice(0, 200));
    const noHeaders = await post({ csrf: token });
    assert.equal(noHeaders.status, 303, 'a client without Origin and Fetch Metadata is held by the token alone');
  });
});

// Chromium sends Fetch Metadata (Sec-Fetch-Site) only to potentially trustworthy origins; these
// plain-http test hosts are not, but http://localhost is. Gatehouse itself at localhost (no proxy
// in front), as a production browser over https sees it: the real posts carry
// Sec-Fetch-Site: same-origin and pass; a page on another origin posting with the victim's token
// carries cross-site and is refused.
describe('forms in Chromium at http://localhost (a secure context: Fetch Metadata is sent)', () => {
  let gh: GatehouseProcess;
  let rp: Site;
  let evil: Site;
  let portal: string;
  let callback: string;

  before(async () => {
    rp = await startSite();
    evil = await startSite();
    const port = await freePort();
    portal = `http://localhost:${port}`;
    callback = `http://127.0.0.1:${rp.port}/cb`;
    gh = await startGatehouse(
      gateConfig({
        publicUrl: portal,
        listenPort: port,
        domains: ['localhost'],
        extra: [
          'clients:',
          `  - { id: third, name: Third App, secret: ${SECRET}, redirectUris: [${callback}], postLogoutRedirectUris: [http://127.0.0.1:${rp.port}/bye] }`,
        ].join('\n'),
      }),
    );
    await addUser(gh, 'alice', PASSWORD, ['admins']);
  });
  after(async () => {
    await gh?.stop();
    await rp?.stop();
    await evil?.stop();
  });

  test("sign-in, consent and logout clicked: each post carries Sec-Fetch-Site: same-origin and the page's Origin, and passes", async () => {
    const ctx = await browser.newContext();
    try {
      ctx.setDefaultTimeout(10_000);
      const page = await ctx.newPage();
      const posts: Array<{ path: string; site: string | undefined; origin: string | undefined }> = [];
      page.on('request', (r) => {
        if (r.method() !== 'POST') return;
        void r.allHeaders().then((h) =>
          posts.push({
            path: new URL(r.url()).pathname.replace(/interaction\/.*/, 'interaction/:uid'),
            site: h['sec-fetch-site'],
            origin: h.origin,
          }),
        );
      });
      await page.goto(
        `${portal}/oidc/auth?${new URLSearchParams({ client_id: 'third', redirect_uri: callback, response_type: 'code', scope: 'openid', state: 'ls' }).toString()}`,
      );
      await page.locator('input[name="username"]').fill('alice');
      await page.locator('input[name="password"]').fill(PASSWORD);
      await page.locator('form button[type="submit"]').first().click();
      await page.waitForURL((u) => u.pathname.startsWith('/oidc/interaction/'));
      await page.locator('button[value="allow"]').click();
      await page.waitForURL((u) => u.href.startsWith(callback));
      assert.ok(new URL(page.url()).searchParams.get('code'));
      await page.goto(`${portal}/oidc/session/end?client_id=third`);
      await page.locator('button[value="yes"]').click();
      await page.waitForURL((u) => u.pathname !== '/oidc/session/end');
      assert.equal(await page.locator('h1').innerText(), 'Signed out');
      assert.deepEqual(posts, [
        { path: '/oauth2/sign_in', site: 'same-origin', origin: portal },
        { path: '/oidc/interaction/:uid', site: 'same-origin', origin: portal },
        { path: '/oidc/session/end/confirm', site: 'same-origin', origin: portal },
      ]);
    } finally {
      await ctx.close();
    }
  });

  test("a page on another origin posting the sign-in form with the victim's token: Sec-Fetch-Site: cross-site, refused (403)", async () => {
    const ctx = await browser.newContext();
    try {
      ctx.setDefaultTimeout(10_000);
      const page = await ctx.newPage();
      await page.goto(`${portal}/oauth2/sign_in`);
      const token = (await page.locator('input[name="csrf"]').getAttribute('value')) ?? '';
      const target = `${portal}/oauth2/sign_in`;
      evil.pages.set('/login-csrf', autoPost(target, { csrf: token, rd: '', username: 'alice', password: PASSWORD }));
      const answered = ctx.waitForEvent('response', (r) => r.url() === target && r.request().method() === 'POST');
      const attacker = await ctx.newPage();
      await attacker.goto(`http://127.0.0.1:${evil.port}/login-csrf`);
      const res = await answered;
      const h = await res.request().allHeaders();
      assert.equal(h['sec-fetch-site'], 'cross-site');
      assert.equal(res.status(), 403);
      assert.deepEqual(
        (await ctx.cookies(portal)).map((c) => c.name).filter((n) => !n.endsWith('_csrf')),
        [],
        'no session',
      );
    } finally {
      await ctx.close();
    }
  });
});
