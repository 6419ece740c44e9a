// A portal under a path, in real Chromium through nginx: publicUrl http://www.example.test:<port>/auth,
// the portal sharing www.example.test with a protected app. The nginx config is the shipped one
// (docs/proxies/nginx) adapted as docs/proxies/README.md says for a path: the portal server's
// `location /` becomes `location /auth/`, here inside the shared host's app server. An OpenID
// client (openid-client, certified) signs a user in through the same browser.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../kit/chromium.ts';
import { freePort, request } from '../kit/http.ts';
import { addUser, gateConfig, type GatehouseProcess, startGatehouse } from '../kit/process.ts';
import { type ProxyProcess, startNginx } from '../kit/proxies.ts';
import { nginxSnippets, readDoc, render } from '../kit/proxy-docs.ts';
import { headerValues } from '../kit/spoofing.ts';
import { startWhoami, type Whoami } from '../kit/whoami.ts';
import { until } from '../kit/poll.ts';

const PASSWORD = 'correct horse battery staple';
const RP_SECRET = 'rp-secret-0123456789abcdef0123456789';

let browser: Browser;
let port: number;
let publicUrl: string;
let app: Whoami;
let rp: Whoami;
let gh: GatehouseProcess;
let nginx: ProxyProcess;

/** The shipped nginx files, adapted for a portal under /auth on a host shared with an app. */
export async function nginxForPath(o: {
  port: number;
  gatehouse: string;
  sharedHost: string;
  otherHost: string;
  upstream: string;
  base: string;
}): Promise<string> {
  const gatehouseConf = render(await readDoc('nginx/gatehouse.conf'), {
    GATEHOUSE: o.gatehouse,
    LISTEN: o.port,
    PORTAL_NAME: o.sharedHost,
  });
  const upstream = /^upstream gatehouse \{[\s\S]*?^\}/m.exec(gatehouseConf)?.[0];
  const portalLocation = /^ {4}location \/ \{[\s\S]*?^ {4}\}/m.exec(gatehouseConf)?.[0];
  assert.ok(upstream && portalLocation, 'docs/proxies/nginx/gatehouse.conf still has the upstream and the portal location');
  const appTemplate = await readDoc('nginx/app.conf');
  const include = '    include snippets/gatehouse-endpoints.conf;\n';
  assert.ok(appTemplate.includes(include));
  const shared = render(appTemplate, { LISTEN: o.port, SERVER_NAME: o.sharedHost, APP_UPSTREAM: o.upstream }).replace(
    include,
    `${include}\n${portalLocation.replace('location / {', `location ${o.base}/ {`)}\n`,
  );
  const other = render(appTemplate, { LISTEN: o.port, SERVER_NAME: o.otherHost, APP_UPSTREAM: o.upstream });
  return [upstream, shared, other].join('\n');
}

before(async () => {
  browser = await launchChromium();
  port = await freePort();
  publicUrl = `http://www.example.test:${port}/auth`;
  app = await startWhoami();
  rp = await startWhoami();
  gh = await startGatehouse(
    gateConfig({
      publicUrl,
      apps: [
        '  - { name: site, hosts: [www.example.test], allow: { groups: [admins] } }',
        '  - { name: app, hosts: [app.example.test], allow: { groups: [admins] } }',
      ].join('\n'),
      extra: `clients:\n  - { id: rp, secret: ${RP_SECRET}, redirectUris: ['http://127.0.0.1:${rp.port}/cb'], firstParty: true }`,
    }),
  );
  // "listening" comes before ready (migrations, keys, the banner): wait for the banner.
  await until(() => gh.logs().includes('sign in at'), { timeoutMs: 30_000, what: 'the banner' }).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}:\n${gh.logs()}`, { cause: e });
  });
  await addUser(gh, 'alice', PASSWORD, ['admins']);
  nginx = await startNginx(
    await nginxForPath({
      port,
      gatehouse: `127.0.0.1:${gh.port}`,
      sharedHost: 'www.example.test',
      otherHost: 'app.example.test',
      upstream: app.address,
      base: '/auth',
    }),
    {
      port,
      files: await nginxSnippets(),
    },
  );
});
after(async () => {
  await browser?.close();
  await nginx?.stop();
  await gh?.stop();
  await app?.stop();
  await rp?.stop();
});

async function fillSignIn(page: Page): Promise<void> {
  await page.locator('input[name="username"]').fill('alice');
  await page.locator('input[name="password"]').fill(PASSWORD);
  await page.locator('form button[type="submit"]').first().click();
}

async function withContext(run: (ctx: BrowserContext) => Promise<void>): Promise<void> {
  const ctx = await browser.newContext();
  ctx.setDefaultTimeout(15_000);
  try {
    await run(ctx);
  } finally {
    await ctx.close();
  }
}

describe(`Chromium, nginx, publicUrl with a path`, () => {
  test("the banner's sign-in URL is under the path and shows the form with its stylesheet", async () => {
    assert.ok(gh.logs().includes(`sign in at ${publicUrl}/oauth2/sign_in`), gh.logs());
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const css: number[] = [];
      page.on('response', (r) => {
        if (r.url().endsWith('.css')) css.push(r.status());
      });
      const res = await page.goto(`${publicUrl}/oauth2/sign_in`);
      assert.equal(res?.status(), 200);
      assert.equal(await page.locator('input[name="password"]').count(), 1);
      assert.deepEqual(css, [200]);
    });
  });

  test("the shared host's app sends the browser to sign-in under /auth and back; then the other host needs no form", async () => {
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const target = `http://www.example.test:${port}/private?x=1`;
      await page.goto(target);
      assert.equal(new URL(page.url()).pathname, '/auth/oauth2/start');
      await fillSignIn(page);
      await page.waitForURL(target);
      const seen = app.seen.filter((r) => r.url === '/private?x=1').at(-1);
      assert.ok(seen);
      assert.deepEqual(headerValues(seen, 'X-Auth-Request-User'), ['alice']);

      const other = `http://app.example.test:${port}/elsewhere`;
      await page.goto(other);
      assert.equal(page.url(), other);
      assert.equal(await page.locator('input[type="password"]').count(), 0);
      assert.deepEqual(headerValues(app.seen.filter((r) => r.url === '/elsewhere').at(-1)!, 'X-Auth-Request-User'), ['alice']);
    });
  });

  test("the sign-in form's csrf cookie expired (gone) before the post: 400 with a fresh form under /auth, and the second post signs in (no loop)", async () => {
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const target = `http://www.example.test:${port}/after-expiry`;
      await page.goto(target);
      assert.equal(new URL(page.url()).pathname, '/auth/oauth2/start');
      const csrfName = (await ctx.cookies(page.url())).find((c) => c.name.endsWith('_csrf'))?.name;
      assert.ok(csrfName);
      await ctx.clearCookies({ name: csrfName });
      const first = page.waitForResponse((r) => r.request().method() === 'POST');
      await fillSignIn(page);
      const refused = await first;
      assert.equal(refused.status(), 400);
      assert.equal(new URL(refused.url()).pathname, '/auth/oauth2/sign_in');
      await page.waitForLoadState();
      assert.match(await page.locator('[role="alert"]').innerText(), /expired/);
      // A fresh cookie came with the page, for the portal's path.
      assert.equal((await ctx.cookies(page.url())).find((c) => c.name === csrfName)?.path, '/auth/');
      await fillSignIn(page);
      await page.waitForURL(target);
      assert.deepEqual(headerValues(app.seen.filter((r) => r.url === '/after-expiry').at(-1)!, 'X-Auth-Request-User'), ['alice']);
    });
  });

  test("RP-initiated logout under /auth/oidc with no OpenID session in the browser: oidc-provider's auto-submitting step runs under our CSP, the gate session ends", async () => {
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const target = `http://www.example.test:${port}/before-logout`;
      await page.goto(target);
      await fillSignIn(page);
      await page.waitForURL(target);
      const blocked: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) blocked.push(m.text());
      });
      const confirmed = page.waitForResponse(
        (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/auth/oidc/session/end/confirm',
      );
      // The page posts itself (an inline script): no click.
      await page.goto(`${publicUrl}/oidc/session/end`);
      const posted = await confirmed;
      assert.ok(posted.status() < 400, `the confirmation post answered ${posted.status()}`);
      await page.waitForLoadState();
      assert.deepEqual(blocked, []);
      await page.goto(`http://www.example.test:${port}/after-logout`);
      assert.equal(new URL(page.url()).pathname, '/auth/oauth2/start');
      assert.equal(app.seen.filter((r) => r.url === '/after-logout').length, 0);
    });
  });

  test("through real nginx, a raw path that dot-segments out of /auth is the site's: sign-in required, the app never reached", async () => {
    // Sent as raw bytes (a browser would resolve the dot segments itself): nginx routes the
    // normalized path to the site's location, and auth_request hands Gatehouse $request_uri raw.
    for (const raw of ['/auth/../private-raw', '/auth/%2e%2e/private-raw', '/auth/./../private-raw', '/oauth2/../private-raw']) {
      // node:http sends the path as given (the harness's request() would parse it as a URL first).
      const r = await new Promise<{ status: number; location: string }>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, path: raw, headers: { host: `www.example.test:${port}`, accept: 'text/html' }, agent: false },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, location: String(res.headers.location ?? '') }));
          },
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(r.status, 302, raw);
      assert.equal(new URL(r.location).pathname, '/auth/oauth2/start', raw);
      assert.equal(new URL(r.location).searchParams.get('rd'), `http://www.example.test:${port}${raw}`, raw);
    }
    assert.equal(app.seen.filter((x) => x.url.includes('private-raw')).length, 0);
    // The portal's own path still answers without a session.
    assert.equal((await request(`http://www.example.test:${port}/auth/oauth2/sign_in`, { headers: { accept: 'text/html' } })).status, 200);
  });

  test('an OpenID client (openid-client) signs alice in through the browser: interaction, /auth/oauth2/start, code, tokens', async () => {
    const connect = { host: '127.0.0.1', port };
    const config = await oidc.discovery(new URL(publicUrl), 'rp', RP_SECRET, undefined, {
      execute: [oidc.allowInsecureRequests],
      [oidc.customFetch]: async (url, options) => {
        const headers: Record<string, string> = {};
        new Headers(options.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => {
          headers[k] = v;
        });
        const r = await request(url, {
          method: options.method ?? 'GET',
          headers,
          connectTo: connect,
          ...(options.body ? { body: String(options.body) } : {}),
        });
        const h = new Headers();
        for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
        return new Response(r.status === 204 ? null : r.body, { status: r.status, headers: h });
      },
    });
    assert.equal(config.serverMetadata().issuer, publicUrl);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const authUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `http://127.0.0.1:${rp.port}/cb`,
      scope: 'openid profile',
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const documents: string[] = [];
      page.on('response', (r) => {
        if (r.request().isNavigationRequest()) documents.push(`${r.status()} ${new URL(r.url()).pathname}`);
      });
      await page.goto(authUrl.href);
      assert.equal(new URL(page.url()).pathname, '/auth/oauth2/start', documents.join('\n'));
      await fillSignIn(page);
      await page.waitForURL((u) => u.origin === `http://127.0.0.1:${rp.port}`);
      assert.ok(
        documents.some((d) => /^302 \/auth\/oidc\/interaction\/[\w-]+$/.test(d)),
        documents.join('\n'),
      );
      assert.ok(!documents.some((d) => d.startsWith('404')), documents.join('\n'));
      const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
      assert.equal(tokens.claims()?.iss, publicUrl);
      assert.equal(tokens.claims()?.preferred_username, 'alice');
    });
  });
  test("response_mode=form_post (advertised): Chromium runs oidc-provider's auto-submitting page under our CSP and posts the code to the client; openid-client redeems it", async () => {
    const connect = { host: '127.0.0.1', port };
    const config = await oidc.discovery(new URL(publicUrl), 'rp', RP_SECRET, undefined, {
      execute: [oidc.allowInsecureRequests],
      [oidc.customFetch]: async (url, options) => {
        const headers: Record<string, string> = {};
        new Headers(options.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => {
          headers[k] = v;
        });
        const r = await request(url, {
          method: options.method ?? 'GET',
          headers,
          connectTo: connect,
          ...(options.body ? { body: String(options.body) } : {}),
        });
        const h = new Headers();
        for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
        return new Response(r.status === 204 ? null : r.body, { status: r.status, headers: h });
      },
    });
    assert.ok((config.serverMetadata().response_modes_supported ?? []).includes('form_post'));
    const callback = `http://127.0.0.1:${rp.port}/cb`;
    const verifier = oidc.randomPKCECodeVerifier();
    const authUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: callback,
      scope: 'openid profile',
      state: 'fp-1',
      response_mode: 'form_post',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const blocked: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) blocked.push(m.text());
      });
      const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url() === callback);
      await page.goto(authUrl.href);
      await fillSignIn(page);
      const cb = await posted;
      assert.deepEqual(blocked, []);
      const body = new URLSearchParams(cb.postData() ?? '');
      assert.equal(body.get('state'), 'fp-1');
      const tokens = await oidc.authorizationCodeGrant(
        config,
        new Request(callback, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: body.toString(),
        }),
        { pkceCodeVerifier: verifier, expectedState: 'fp-1' },
      );
      assert.equal(tokens.claims()?.preferred_username, 'alice');
    });
  });

  test('a dynamically registered public client (RFC 7591 at /auth/oidc/reg): consent shown under /auth, Allow clicked, the code redeems', async () => {
    const connect = { host: '127.0.0.1', port };
    const customFetch: oidc.CustomFetch = async (url, options) => {
      const headers: Record<string, string> = {};
      new Headers(options.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => {
        headers[k] = v;
      });
      const r = await request(url, {
        method: options.method ?? 'GET',
        headers,
        connectTo: connect,
        ...(options.body ? { body: String(options.body) } : {}),
      });
      const h = new Headers();
      for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
      return new Response(r.status === 204 ? null : r.body, { status: r.status, headers: h });
    };
    const redirectUri = `http://127.0.0.1:${rp.port}/dcr-cb`;
    const config = await oidc.dynamicClientRegistration(
      new URL(publicUrl),
      {
        redirect_uris: [redirectUri],
        client_name: 'Path Tool',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
      oidc.None(),
      { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: customFetch },
    );
    const verifier = oidc.randomPKCECodeVerifier();
    const authUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile',
      state: 'dcr-1',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const statuses: string[] = [];
      page.on('response', (r) => {
        statuses.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
      });
      await page.goto(authUrl.href);
      assert.equal(new URL(page.url()).pathname, '/auth/oauth2/start');
      await fillSignIn(page);
      await page.waitForURL((u) => u.pathname.startsWith('/auth/oidc/interaction/'));
      assert.match(await page.locator('h1').innerText(), /Path Tool/);
      // The form guard's cookie is scoped to the portal's path, and the browser sends it back.
      const csrf = (await ctx.cookies(page.url())).find((c) => c.name.endsWith('_csrf'));
      assert.equal(csrf?.path, '/auth/');
      await page.locator('button[value="allow"]').click();
      await page
        .waitForURL((u) => u.href.startsWith(redirectUri), { timeout: 15_000 })
        .catch(() => {
          throw new Error(`consent did not reach the client:\n${statuses.join('\n')}`);
        });
      assert.ok(!statuses.some((x) => /^(4|5)\d\d /.test(x)), statuses.join('\n'));
      const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: 'dcr-1' });
      assert.equal(tokens.claims()?.iss, publicUrl);
      assert.equal(tokens.claims()?.preferred_username, 'alice');
    });
  });
});

describe('Chromium, reverse-proxy mode, publicUrl with a path (Gatehouse itself on the shared host)', () => {
  test('the site behind Gatehouse sends the browser to /auth/oauth2/start and back with the identity', async () => {
    const rpPort = await freePort();
    const rpUrl = `http://www.example.test:${rpPort}/auth`;
    const rp = await startGatehouse(
      gateConfig({
        publicUrl: rpUrl,
        listenPort: rpPort,
        apps: `  - { name: site, hosts: ['www.example.test:${rpPort}', www.example.test], allow: { groups: [admins] }, upstream: 'http://${app.address}' }`,
      }),
    );
    try {
      await until(() => rp.logs().includes('sign in at'), { timeoutMs: 30_000, what: 'the banner' }).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}:\n${rp.logs()}`, { cause: e });
      });
      await addUser(rp, 'alice', PASSWORD, ['admins']);
      await withContext(async (ctx) => {
        const page = await ctx.newPage();
        const target = `http://www.example.test:${rpPort}/rp-private?y=2`;
        await page.goto(target);
        assert.equal(new URL(page.url()).pathname, '/auth/oauth2/start');
        await fillSignIn(page);
        await page.waitForURL(target);
        const seen = app.seen.filter((r) => r.url === '/rp-private?y=2').at(-1);
        assert.ok(seen);
        assert.deepEqual(headerValues(seen, 'X-Auth-Request-User'), ['alice']);
        // The portal home is under the path too, on the same host as the site.
        await page.goto(`${rpUrl}/`);
        assert.equal(await page.locator('form[action="/auth/oauth2/sign_out"]').count(), 1);
      });
    } finally {
      await rp.stop();
    }
  });
});
