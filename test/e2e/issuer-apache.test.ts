// A real relying party: Debian's Apache with mod_auth_openidc, configured from nothing but
// Gatehouse's discovery document and a client id and secret, driven by Chromium through a full
// sign-in at the portal's form and an RP-initiated logout that ends the Gatehouse session too.
//
// Names: Chromium maps *.example.test to loopback, but Apache (libcurl) resolves through the
// system resolver, so the issuer is http://localhost:<port>, Gatehouse itself with no proxy in
// front (localhost is in /etc/hosts on every Debian machine), and the relying party is
// http://rp.example.test:<port>, which only the browser visits. mod_auth_openidc needed nothing
// loosened for plain http on loopback: it logs a warning that the metadata URL and the redirect
// URI SHOULD be https, and sets its cookies without Secure on a plain-http request.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../kit/chromium.ts';
import { freePort } from '../kit/http.ts';
import { addUser, gateConfig, type GatehouseProcess, startGatehouse } from '../kit/process.ts';
import { type ProxyProcess, startApache } from '../kit/proxies.ts';

const PASSWORD = 'correct horse battery staple';
const MODULES = '/usr/lib/apache2/modules';
const STEP_MS = 10_000;

/** Prints REMOTE_USER, the ID token's payload and every claim mod_auth_openidc hands the
 * application (ID token and userinfo merged), one per line. */
const CLAIMS_CGI = `#!/bin/sh
printf 'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n'
printf 'REMOTE_USER=%s\\n' "$REMOTE_USER"
printf 'OIDC_id_token_payload=%s\\n' "$OIDC_id_token_payload"
env | grep '^OIDC_CLAIM_' | LC_ALL=C sort
`;

function apacheConf(o: { port: number; issuer: string; rp: string; secret: string }): (root: string) => string {
  return (root) =>
    [
      `Listen 127.0.0.1:${o.port}`,
      `ServerName rp.example.test:${o.port}`,
      // mod_auth_openidc's AuthType needs authn_core; `Require valid-user` is authz_user's.
      ...['authn_core', 'authz_core', 'authz_user', 'mime', 'dir', 'cgi', 'auth_openidc'].map(
        (m) => `LoadModule ${m}_module ${MODULES}/mod_${m}.so`,
      ),
      'TypesConfig /etc/mime.types',
      'LogLevel warn auth_openidc:info',
      `DocumentRoot "${root}/htdocs"`,
      `<Directory "${root}/htdocs">`,
      '  Require all granted',
      '</Directory>',
      `<Directory "${root}/htdocs/protected">`,
      '  Options +ExecCGI',
      '  AddHandler cgi-script .cgi',
      '  DirectoryIndex claims.cgi',
      '</Directory>',
      // Everything else (endpoints, JWKS, signing algorithms, auth methods) comes from discovery.
      `OIDCProviderMetadataURL ${o.issuer}/.well-known/openid-configuration`,
      'OIDCClientID apache',
      `OIDCClientSecret ${o.secret}`,
      `OIDCRedirectURI ${o.rp}/protected/redirect_uri`,
      `OIDCCryptoPassphrase ${randomBytes(32).toString('hex')}`,
      'OIDCScope "openid email profile groups"',
      'OIDCPKCEMethod S256',
      'OIDCRemoteUserClaim preferred_username',
      // The ID token's own payload too, to tell its claims from userinfo's.
      'OIDCPassIDTokenAs claims payload',
      // Bounded: a Gatehouse that does not answer fails the test in seconds, not minutes.
      'OIDCHTTPTimeoutShort 5',
      'OIDCHTTPTimeoutLong 5',
      '<Location /protected>',
      '  AuthType openid-connect',
      '  Require valid-user',
      '</Location>',
    ].join('\n');
}

/** name → value of the claims page's lines. */
function parseLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

describe('Apache mod_auth_openidc as a relying party, driven by Chromium', { timeout: 90_000 }, () => {
  let gh: GatehouseProcess;
  let apache: ProxyProcess;
  let browser: Browser;
  let ctx: BrowserContext;
  let issuer: string;
  let rp: string;
  /** The console errors of the page last opened (Chromium reports a CSP-blocked redirect only there). */
  let consoleErrors: string[] = [];

  async function newPage(context: BrowserContext = ctx): Promise<Page> {
    const page = await context.newPage();
    const errors: string[] = [];
    consoleErrors = errors;
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    return page;
  }

  /** Waits for the page to reach `url`; on a timeout says where it stopped and why. */
  async function arrive(page: Page, url: string | ((u: URL) => boolean), what: string): Promise<void> {
    try {
      await page.waitForURL(url, { timeout: STEP_MS });
    } catch (e) {
      const log = (await apache.log())
        .split('\n')
        .filter((l) => l.includes(':error]'))
        .join('\n');
      const at = new URL(page.url());
      throw new Error(
        `${what}: the browser stopped at ${at.origin}${at.pathname}; console errors: ${JSON.stringify(consoleErrors)}; apache errors: ${log}`,
        { cause: e },
      );
    }
  }

  async function signInAtPortal(page: Page): Promise<void> {
    await page.locator('input[name="username"]').fill('alice');
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.locator('form button[type="submit"]').click();
  }

  before(async () => {
    const ghPort = await freePort();
    const rpPort = await freePort();
    issuer = `http://localhost:${ghPort}`;
    rp = `http://rp.example.test:${rpPort}`;
    const secret = randomBytes(24).toString('base64url');
    gh = await startGatehouse(
      gateConfig({
        publicUrl: issuer,
        listenPort: ghPort,
        domains: ['localhost'],
        extra: [
          'clients:',
          '  - id: apache',
          '    secret: ${env:APACHE_OIDC_SECRET}',
          `    redirectUris: [${rp}/protected/redirect_uri]`,
          `    postLogoutRedirectUris: [${rp}/signed-out.html]`,
          '    firstParty: true',
        ].join('\n'),
      }),
      { env: { APACHE_OIDC_SECRET: secret } },
    );
    await addUser(gh, 'alice', PASSWORD, ['admins', 'ops']);
    apache = await startApache(apacheConf({ port: rpPort, issuer, rp, secret }), {
      port: rpPort,
      files: {
        'htdocs/protected/claims.cgi': { text: CLAIMS_CGI, mode: 0o755 },
        'htdocs/signed-out.html': '<!doctype html><title>Signed out</title><h1>Signed out of the relying party</h1>\n',
      },
    });
    browser = await launchChromium();
    ctx = await browser.newContext();
    ctx.setDefaultTimeout(STEP_MS);
  });

  after(async () => {
    await ctx?.close();
    await browser?.close();
    await apache?.stop();
    await gh?.stop();
  });

  test("sign-in: /protected/ → Gatehouse's sign-in form → back at Apache with the ID token's claims", async () => {
    const page = await newPage();
    const authRequests: URL[] = [];
    page.on('request', (r) => {
      if (r.isNavigationRequest() && r.url().startsWith(`${issuer}/oidc/auth?`)) authRequests.push(new URL(r.url()));
    });
    await page.goto(`${rp}/protected/`);

    // mod_auth_openidc sent the browser to the authorization endpoint from discovery: code
    // flow with PKCE S256, the scopes asked for, and the redirect URI registered for it.
    assert.equal(authRequests.length, 1);
    const q = authRequests[0]!.searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), 'apache');
    assert.equal(q.get('redirect_uri'), `${rp}/protected/redirect_uri`);
    assert.equal(q.get('scope'), 'openid email profile groups');
    assert.equal(q.get('code_challenge_method'), 'S256');
    // …which sent it on to the portal's own sign-in form.
    const form = new URL(page.url());
    assert.equal(`${form.origin}${form.pathname}`, `${issuer}/oauth2/start`);
    assert.match(form.searchParams.get('rd') ?? '', new RegExp(`^${issuer}/oidc/interaction/[A-Za-z0-9_-]+$`));
    assert.equal(await page.locator('h1').innerText(), 'Sign in');

    await signInAtPortal(page);
    await arrive(page, `${rp}/protected/`, 'after the sign-in form');

    // Apache exchanged the code, validated the ID token (signature from the JWKS, iss, aud,
    // nonce), merged userinfo and handed the claims to the application. The ID token itself
    // carries the profile, email and groups claims.
    const claims = parseLines(await page.locator('body').innerText());
    const idToken = JSON.parse(claims.OIDC_id_token_payload ?? '') as Record<string, unknown>;
    // How the sign-in went: a password only (amr, RFC 8176; acr, the lowest of docs/factors.md).
    assert.equal(typeof idToken.auth_time, 'number');
    assert.deepEqual(idToken, {
      iss: issuer,
      aud: 'apache',
      sub: idToken.sub,
      iat: idToken.iat,
      exp: idToken.exp,
      nonce: idToken.nonce,
      auth_time: idToken.auth_time,
      acr: 'urn:gatehouse:acr:1fa',
      amr: ['pwd'],
      preferred_username: 'alice',
      name: 'alice',
      email: 'alice@example.org',
      email_verified: true,
      groups: ['admins', 'ops'],
    });
    assert.match(String(idToken.sub), /^[A-Za-z0-9_-]{8,}$/);
    assert.equal(Number(idToken.exp) - Number(idToken.iat), 3600, 'issuer.idTokenLifetime defaults to 1h');
    assert.equal(idToken.nonce, authRequests[0]!.searchParams.get('nonce'));
    assert.deepEqual(Object.keys(claims).sort(), [
      'OIDC_CLAIM_acr',
      'OIDC_CLAIM_amr',
      'OIDC_CLAIM_aud',
      'OIDC_CLAIM_auth_time',
      'OIDC_CLAIM_email',
      'OIDC_CLAIM_email_verified',
      'OIDC_CLAIM_exp',
      'OIDC_CLAIM_groups',
      'OIDC_CLAIM_iat',
      'OIDC_CLAIM_iss',
      'OIDC_CLAIM_name',
      'OIDC_CLAIM_nonce',
      'OIDC_CLAIM_preferred_username',
      'OIDC_CLAIM_sub',
      'OIDC_id_token_payload',
      'REMOTE_USER',
    ]);
    assert.equal(claims.REMOTE_USER, 'alice');
    assert.equal(claims.OIDC_CLAIM_preferred_username, 'alice');
    assert.equal(claims.OIDC_CLAIM_name, 'alice');
    assert.equal(claims.OIDC_CLAIM_email, 'alice@example.org');
    // mod_auth_openidc writes JSON true as 1 and joins an array with ",".
    assert.equal(claims.OIDC_CLAIM_email_verified, '1');
    assert.equal(claims.OIDC_CLAIM_groups, 'admins,ops');
    assert.equal(claims.OIDC_CLAIM_iss, issuer);
    assert.equal(claims.OIDC_CLAIM_aud, 'apache');
    assert.equal(claims.OIDC_CLAIM_sub, idToken.sub);

    // One sign-in: the same browser is signed in at the gate as well.
    const info = await ctx.request.get(`${issuer}/oauth2/userinfo`);
    assert.equal(info.status(), 200);
    assert.deepEqual(await info.json(), {
      user: 'alice',
      email: 'alice@example.org',
      groups: ['admins', 'ops'],
      preferredUsername: 'alice',
    });
    await page.close();
  });

  test('single sign-on, then RP-initiated logout through mod_auth_openidc ends the Gatehouse session too', async () => {
    // A browser of its own, already signed in at the portal: Apache signs it in without the form.
    const own = await browser.newContext();
    try {
      own.setDefaultTimeout(STEP_MS);
      const page = await newPage(own);
      const viaPortal = async () => {
        await page.goto(`${issuer}/oauth2/sign_in`);
        await signInAtPortal(page);
        await arrive(page, (u) => u.origin === issuer && u.pathname === '/', 'after signing in at the portal');
        await page.goto(`${rp}/protected/`);
        assert.equal(page.url(), `${rp}/protected/`);
        return parseLines(await page.locator('body').innerText());
      };
      const first = await viaPortal();
      assert.equal(first.REMOTE_USER, 'alice');
      assert.deepEqual(first.OIDC_CLAIM_groups, 'admins,ops');

      const back = `${rp}/signed-out.html`;
      await page.goto(`${rp}/protected/redirect_uri?logout=${encodeURIComponent(back)}`);
      // mod_auth_openidc ended its own session and sent the browser to end_session_endpoint
      // with the ID token as a hint; Gatehouse asks before signing out of everything.
      const ask = new URL(page.url());
      assert.equal(`${ask.origin}${ask.pathname}`, `${issuer}/oidc/session/end`);
      assert.equal(ask.searchParams.get('post_logout_redirect_uri'), back);
      assert.ok((ask.searchParams.get('id_token_hint') ?? '') !== '', 'id_token_hint is sent');
      assert.equal(await page.locator('h1').innerText(), 'Sign out?');
      await page.locator('button[name="logout"]').click();
      await arrive(page, (u) => `${u.origin}${u.pathname}` === back, 'after "Sign out"');
      assert.equal(await page.locator('h1').innerText(), 'Signed out of the relying party');

      // The gate session is gone: the same browser is anonymous at the gate…
      const info = await own.request.get(`${issuer}/oauth2/userinfo`);
      assert.equal(info.status(), 401);
      assert.deepEqual(await info.json(), { error: 'unauthorized', error_description: 'sign-in required' });
      // …and at Apache, which sends it to the password form again.
      await page.goto(`${rp}/protected/`);
      const form = new URL(page.url());
      assert.equal(`${form.origin}${form.pathname}`, `${issuer}/oauth2/start`);
      assert.equal(await page.locator('input[type="password"]').count(), 1);

      // Signing in again gives the same subject (sub is stable) under a new nonce.
      const again = await viaPortal();
      assert.equal(again.REMOTE_USER, 'alice');
      assert.equal(again.OIDC_CLAIM_sub, first.OIDC_CLAIM_sub);
      assert.notEqual(again.OIDC_CLAIM_nonce, first.OIDC_CLAIM_nonce);
    } finally {
      await own.close();
    }
  });
});
