// Second factors in real Chromium through the shipped proxy configs (docs/proxies): TOTP through
// the real forms with codes the test computes (replayed and off-window codes refused, throttling
// that never holds another account), passkeys with Chromium's virtual authenticator over the
// DevTools protocol (ctap2, internal and usb transports, resident keys, user verification):
// registration, passwordless sign-in through nginx and through Caddy, a passkey as the second
// factor, step-up for a rule with maxAge back to the exact URL, removal; a second browser
// context without the credential cannot use it. axe-core checks the screens. Each flow's
// screens and seconds, from the protected URL to the app, are printed (docs/architecture.md).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generate } from 'otplib';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { HOST_RULES } from '../kit/chromium.ts';
import { addUser } from '../kit/process.ts';
import { startStack, type Stack } from '../kit/stack.ts';

const PASSWORD = 'correct horse battery staple';

const FACTORS = ['factors: { totp: true, passkeys: true, require: { groups: [admins] } }'].join('\n');
const APPS = [
  '  - { name: app, hosts: [app.example.test, app2.other.test], allow: { groups: [admins, staff] } }',
  '  - { name: api, hosts: [api.example.test], allow: { groups: [admins, staff] }, factors: { require: passkey, maxAge: 4s } }',
].join('\n');

async function launch(portalOrigin: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--host-resolver-rules=${HOST_RULES}`,
      '--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,HttpsFirstModeV2ForTypicallySecureUsers',
      // WebAuthn needs a secure context; the test portal is plain http on a test domain.
      `--unsafely-treat-insecure-origin-as-secure=${portalOrigin}`,
    ],
  });
}

/** A virtual authenticator in this page's browser context (CDP WebAuthn domain). */
/**
 * A virtual authenticator in this page's browser context (CDP WebAuthn domain): `internal` is a
 * platform passkey (resident keys, user verification); `usb` a security key with resident keys
 * and no PIN (user presence only).
 */
async function authenticator(page: Page, transport: 'internal' | 'usb'): Promise<{ cdp: CDPSession; id: string }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const uv = transport === 'internal';
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport,
      hasResidentKey: true,
      hasUserVerification: uv,
      isUserVerified: uv,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, id: authenticatorId };
}

async function axe(page: Page, what: string): Promise<void> {
  const r = await new AxeBuilder({ page }).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe on ${what}`,
  );
}

const codeAt = (secret: string, ms: number): Promise<string> =>
  generate({ secret: secret.replace(/\s/g, ''), epoch: Math.floor(ms / 1000) });

/**
 * A code the server will take: for a time step newer than the last one this test used with the
 * secret (each step is accepted once), inside the ±1 step window, waiting for the clock when the
 * next unused step is not yet in the window.
 */
const usedSteps = new Map<string, number>();
async function freshCode(secret: string): Promise<string> {
  const key = secret.replace(/\s/g, '');
  for (;;) {
    const cur = Math.floor(Date.now() / 30_000);
    const step = Math.max((usedSteps.get(key) ?? cur - 1) + 1, cur);
    if (step <= cur + 1) {
      usedSteps.set(key, step);
      return codeAt(key, step * 30_000 + 1_000);
    }
    await new Promise((r) => setTimeout(r, (step - 1) * 30_000 - Date.now() + 50));
  }
}

/** Screens (documents loaded) and seconds from `start` until the browser is at the app. */
interface Measure {
  screens: number;
  ms: number;
}
function measure(page: Page): { done(): Measure } {
  const t0 = Date.now();
  let screens = 0;
  const onNav = (f: { parentFrame(): unknown }) => {
    if (f.parentFrame() === null) screens++;
  };
  page.on('framenavigated', onNav);
  return {
    done: () => {
      page.off('framenavigated', onNav);
      return { screens, ms: Date.now() - t0 };
    },
  };
}

/** What the app (whoami) saw: the URL and the identity header the gate set. */
function whoami(body: string): { path: string; user: string } {
  const j = JSON.parse(body) as { url: string; headers: Array<[string, string]> };
  return { path: j.url, user: j.headers.find(([k]) => k.toLowerCase() === 'x-auth-request-user')?.[1] ?? '' };
}

for (const kind of ['nginx', 'caddy'] as const) {
  describe(`second factors in Chromium through ${kind} (docs/proxies/${kind})`, () => {
    let s: Stack;
    let browser: Browser;
    const measures: Record<string, Measure> = {};

    before(async () => {
      s = await startStack(kind, { apps: APPS, extra: FACTORS });
      browser = await launch(s.portal);
      await addUser(s.gh, 'alice', PASSWORD, ['admins']);
      await addUser(s.gh, 'bob', PASSWORD, ['staff']);
      await addUser(s.gh, 'carol', PASSWORD, ['admins']);
    });
    after(async () => {
      await browser?.close();
      await s?.stop();
      for (const [k, m] of Object.entries(measures))
        process.stdout.write(`# ${kind} ${k}: ${m.screens} screen(s), ${(m.ms / 1000).toFixed(2)} s\n`);
    });

    async function signInWithPassword(page: Page, user: string): Promise<void> {
      await page.fill('#username', user);
      await page.fill('#password', PASSWORD);
      await page.click('form[action$="/oauth2/sign_in"] button[type=submit]');
      await page.waitForLoadState();
    }

    let aliceSecret = '';

    test('password only (no factor, not required): one screen to the app', async () => {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      const m = measure(page);
      await page.goto(s.url('app.example.test', '/plain?x=1'));
      await axe(page, 'the sign-in screen');
      await signInWithPassword(page, 'bob');
      assert.deepEqual(whoami((await page.textContent('body')) ?? ''), { path: '/plain?x=1', user: 'bob' });
      measures['password only'] = m.done();
      await ctx.close();
    });

    test('enrolment right after the password for an admin: authenticator app, first code, recovery codes, then the app', async () => {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(s.url('app.example.test', '/first?y=2'));
      await signInWithPassword(page, 'alice');
      assert.match(page.url(), /\/oauth2\/account\/security\?enrol=1&rd=/);
      assert.equal(await page.textContent('p[role=status]'), 'Your account needs a second factor. Set one up to continue.');
      await axe(page, 'the enrolment screen');
      // Without a factor, the apps send the session back to the portal.
      const other = await ctx.newPage();
      await other.goto(s.url('app.example.test', '/elsewhere'));
      assert.match(other.url(), /\/oauth2\/account\/security\?enrol=1/);
      await other.close();
      await page.click('text=Set up an authenticator app');
      await axe(page, 'the authenticator set-up screen');
      aliceSecret = (await page.textContent('#secret')) ?? '';
      assert.match(aliceSecret.replace(/\s/g, ''), /^[A-Z2-7]{32}$/);
      assert.equal(await page.locator('figure svg[role=img]').count(), 1, 'the QR code is an SVG drawn by the server');
      await page.fill('#code', await freshCode(aliceSecret));
      await page.click('button:has-text("Confirm")');
      assert.equal(await page.locator('ul.codes li').count(), 10);
      await axe(page, 'the recovery codes screen');
      await page.click('text=Continue');
      await page.waitForLoadState();
      assert.deepEqual(whoami((await page.textContent('body')) ?? ''), { path: '/first?y=2', user: 'alice' });
      await ctx.close();
    });

    test('password + TOTP: the factor screen; a replayed code and an off-window code are refused', async () => {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      const m = measure(page);
      await page.goto(s.url('app.example.test', '/totp?z=3'));
      await signInWithPassword(page, 'alice');
      assert.match(page.url(), /\/oauth2\/factor$/);
      await axe(page, 'the second-factor screen');
      // A code from two steps ago is outside the window.
      await page.fill('#code', await codeAt(aliceSecret, Date.now() - 90_000));
      await page.click('form[action$="/oauth2/factor/totp"] button');
      assert.equal(await page.textContent('p.error'), 'That code is not right, or was used already. Enter the current code.');
      const code = await freshCode(aliceSecret);
      await page.fill('#code', code);
      await page.click('form[action$="/oauth2/factor/totp"] button');
      await page.waitForLoadState();
      assert.deepEqual(whoami((await page.textContent('body')) ?? ''), { path: '/totp?z=3', user: 'alice' });
      measures['password + TOTP'] = m.done();
      // The same code again, in another browser: refused.
      const ctx2 = await browser.newContext();
      const p2 = await ctx2.newPage();
      await p2.goto(s.url('app.example.test', '/again'));
      await signInWithPassword(p2, 'alice');
      await p2.fill('#code', code);
      await p2.click('form[action$="/oauth2/factor/totp"] button');
      assert.equal(await p2.textContent('p.error'), 'That code is not right, or was used already. Enter the current code.');
      assert.match(p2.url(), /\/oauth2\/factor\/totp$/);
      await ctx.close();
      await ctx2.close();
    });

    test('throttling after repeated wrong codes holds that account only, never another', async () => {
      // carol enrols an authenticator first.
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(s.url('app.example.test', '/carol'));
      await signInWithPassword(page, 'carol');
      await page.click('text=Set up an authenticator app');
      const carolSecret = (await page.textContent('#secret')) ?? '';
      await page.fill('#code', await freshCode(carolSecret));
      await page.click('button:has-text("Confirm")');
      await page.click('text=Continue');
      await ctx.close();
      const c2 = await browser.newContext();
      const p2 = await c2.newPage();
      await p2.goto(s.url('app.example.test', '/carol2'));
      await signInWithPassword(p2, 'carol');
      for (let i = 0; i < 5; i++) {
        await p2.fill('#code', '000000');
        await p2.click('form[action$="/oauth2/factor/totp"] button');
      }
      await p2.fill('#code', await freshCode(carolSecret));
      const held = p2.waitForResponse((r) => r.url().endsWith('/oauth2/factor/totp'));
      await p2.click('form[action$="/oauth2/factor/totp"] button');
      assert.equal((await held).status(), 429);
      assert.match((await p2.textContent('p.error')) ?? '', /^Too many failed attempts\. Try again in \d+ seconds\.$/);
      // alice, from the same browser and address, still signs in with her factor.
      const c3 = await browser.newContext();
      const p3 = await c3.newPage();
      await p3.goto(s.url('app.example.test', '/alice-ok'));
      await signInWithPassword(p3, 'alice');
      await p3.fill('#code', await freshCode(aliceSecret));
      await p3.click('form[action$="/oauth2/factor/totp"] button');
      await p3.waitForLoadState();
      assert.deepEqual(whoami((await p3.textContent('body')) ?? ''), { path: '/alice-ok', user: 'alice' });
      await c2.close();
      await c3.close();
    });

    let passkeyCtx: BrowserContext;
    let passkeyPage: Page;

    test('a passkey is added on the security page (internal authenticator, resident key, UV), then used as a second factor', async () => {
      passkeyCtx = await browser.newContext();
      passkeyPage = await passkeyCtx.newPage();
      const page = passkeyPage;
      const auth = await authenticator(page, 'internal');
      // bob (no factor yet) adds one: no step-up needed without a factor.
      await page.goto(s.url('app.example.test', '/bob'));
      await signInWithPassword(page, 'bob');
      await page.goto(`${s.portal}/oauth2/account/security`);
      await page.fill('#passkey-name', 'Laptop');
      await page.click('button:has-text("Add a passkey or security key")');
      // The first factor brings recovery codes.
      await page.waitForSelector('ul.codes');
      assert.equal(await page.locator('ul.codes li').count(), 10);
      await page.click('text=Back to security');
      await axe(page, 'the security page');
      assert.equal(await page.inputValue('#name-0'), 'Laptop');
      const { credentials } = await auth.cdp.send('WebAuthn.getCredentials', { authenticatorId: auth.id });
      assert.equal(credentials.length, 1);
      assert.equal(credentials[0]?.isResidentCredential, true);
      // Rename it.
      await page.fill('#name-0', 'Work laptop');
      await page.click('form[action$="/passkey/rename"] button');
      assert.equal(await page.inputValue('#name-0'), 'Work laptop');
      // As a second factor after the password, in a fresh session of the same browser profile.
      // (No touch while the password is typed: the sign-in screen's autofill would sign in with
      // the passkey alone, the next test.)
      await passkeyCtx.clearCookies();
      await auth.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth.id, enabled: false });
      await page.goto(s.url('app.example.test', '/second?f=1'));
      await signInWithPassword(page, 'bob');
      assert.match(page.url(), /\/oauth2\/factor$/);
      await auth.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth.id, enabled: true });
      await page.click('button:has-text("Use a passkey or security key")');
      await page.waitForURL((u) => u.hostname === 'app.example.test');
      assert.deepEqual(whoami((await page.textContent('body')) ?? ''), { path: '/second?f=1', user: 'bob' });
    });

    test("passwordless: the sign-in screen's autofill (conditional mediation) signs in with the passkey, one screen, one touch", async () => {
      const page = passkeyPage;
      await passkeyCtx.clearCookies();
      const m = measure(page);
      // The authenticator touches itself (automatic presence): the conditional request the
      // sign-in screen starts on load is answered, and the form posts itself.
      await page.goto(s.url('app.example.test', '/pl?q=%2Fx'));
      await page.waitForURL(/app\.example\.test:\d+\/pl/);
      assert.deepEqual(whoami((await page.textContent('body')) ?? ''), { path: '/pl?q=%2Fx', user: 'bob' });
      measures['passkey passwordless'] = m.done();
    });

    test('step-up: an app asking for a passkey used within 4s sends an older session to the step-up screen (only that step) and back to the exact URL', async () => {
      const page = passkeyPage;
      await passkeyCtx.clearCookies();
      // A passkey sign-in (the autofill) meets the api's rule at once.
      await page.goto(s.url('api.example.test', '/v1/items?page=2'));
      await page.waitForURL((u) => u.hostname === 'api.example.test');
      assert.deepEqual(whoami((await page.textContent('body')) ?? ''), { path: '/v1/items?page=2', user: 'bob' });
      // 4 s later the passkey is too old for the api (not for the app).
      await new Promise((r) => setTimeout(r, 4_500));
      await page.goto(s.url('app.example.test', '/still'));
      assert.deepEqual(whoami((await page.textContent('body')) ?? ''), { path: '/still', user: 'bob' });
      const m = measure(page);
      await page.goto(s.url('api.example.test', '/v1/items?page=3&q=a%2Fb'));
      assert.match(page.url(), /\/oauth2\/step_up\?rd=/);
      assert.equal(await page.locator('#code').count(), 0, 'no authenticator code: only the missing step');
      await axe(page, 'the step-up screen');
      await page.click('button:has-text("Use a passkey or security key")');
      await page.waitForURL((u) => u.hostname === 'api.example.test');
      assert.deepEqual(whoami((await page.textContent('body')) ?? ''), { path: '/v1/items?page=3&q=a%2Fb', user: 'bob' });
      measures['step-up (passkey)'] = m.done();
    });

    test('step-up for someone without a passkey goes to adding one, with the way back', async () => {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(s.url('app.example.test', '/a'));
      await signInWithPassword(page, 'alice');
      await page.fill('#code', await freshCode(aliceSecret));
      await page.click('form[action$="/oauth2/factor/totp"] button');
      await page.waitForURL((u) => u.hostname === 'app.example.test');
      await page.goto(s.url('api.example.test', '/v1/x'));
      const u = new URL(page.url());
      assert.deepEqual(
        [u.pathname, u.searchParams.get('enrol'), u.searchParams.get('rd')],
        ['/oauth2/account/security', 'passkey', s.url('api.example.test', '/v1/x')],
      );
      await ctx.close();
    });

    test('a second browser context without the credential cannot use it; a removed passkey no longer signs in', async () => {
      // Another profile, with an authenticator that never saw bob's credential.
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      const other = await authenticator(page, 'internal');
      await page.goto(s.url('app.example.test', '/other'));
      const answered = page
        .waitForResponse((r) => r.url().endsWith('/oauth2/passkey'), { timeout: 3_000 })
        .then(
          () => true,
          () => false,
        );
      await page.click('button:has-text("Sign in with a passkey")');
      await page.waitForSelector('[data-webauthn-status]:has-text("closed or timed out")', { timeout: 20_000 });
      assert.equal(await answered, false, 'nothing was posted');
      assert.deepEqual((await other.cdp.send('WebAuthn.getCredentials', { authenticatorId: other.id })).credentials, []);
      await ctx.close();
      // bob removes his passkey; his authenticator still holds it, the server refuses it.
      const page2 = passkeyPage;
      await passkeyCtx.clearCookies();
      await page2.goto(s.url('app.example.test', '/rm'));
      await page2.waitForURL(/app\.example\.test:\d+\/rm/);
      await page2.goto(`${s.portal}/oauth2/account/security`);
      await page2.click('form[action$="/passkey/remove"] button');
      assert.equal(await page2.locator('#name-0').count(), 0);
      await passkeyCtx.clearCookies();
      // The autofill answers with the removed credential at once; the server refuses it.
      const refused = page2.waitForResponse((r) => r.url().endsWith('/oauth2/passkey'));
      await page2.goto(s.url('app.example.test', '/rm2'));
      assert.equal((await refused).status(), 401);
      assert.equal(await page2.textContent('p.error'), 'That passkey could not be used to sign in.');
      await passkeyCtx.close();
    });
  });
}
