// Passkeys and security keys in real Chromium through the shipped proxy configs (docs/proxies):
// nginx and Caddy, each with a ctap2 virtual authenticator of both transports (internal: a
// platform passkey; usb: a security key), resident keys and user verification. For each: a
// passkey added during step-up (an app asking for a passkey, the person having none) lands on
// the exact URL; passwordless sign-in; the passkey as the second factor; step-up for a rule with
// maxAge; another browser profile without the credential cannot use it; removal, then adding
// one again on the security page. And a security key without a PIN: Chromium will not make a
// discoverable credential on it without setting a PIN, so it registers as a key for the second
// step only, and serves as that.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generate } from 'otplib';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { addUser } from '../kit/process.ts';
import { startStack, type Stack } from '../kit/stack.ts';
import { launchForWebAuthn, virtualAuthenticator, type VirtualAuthenticator } from '../kit/webauthn.ts';

const PASSWORD = 'correct horse battery staple';
const KEYS_HOST = 'keys.example.test';
const MAX_AGE_MS = 4_000;

// staff need no second factor; `keys` asks for a passkey (any age), `api` for one used within 4 s.
const APPS = [
  '  - { name: app, hosts: [app.example.test, app2.other.test], allow: { groups: [staff] } }',
  `  - { name: keys, hosts: [${KEYS_HOST}], allow: { groups: [staff] }, factors: passkey }`,
  `  - { name: api, hosts: [api.example.test], allow: { groups: [staff] }, factors: { require: passkey, maxAge: ${MAX_AGE_MS / 1000}s } }`,
].join('\n');
const FACTORS = 'factors: { totp: true, passkeys: true }';

/** What the app (whoami) saw: the URL and the identity header the gate set. */
function whoami(body: string): { path: string; user: string } {
  const j = JSON.parse(body) as { url: string; headers: Array<[string, string]> };
  return { path: j.url, user: j.headers.find(([k]) => k.toLowerCase() === 'x-auth-request-user')?.[1] ?? '' };
}

async function appSaw(page: Page, host: string): Promise<{ path: string; user: string }> {
  await page.waitForURL((u) => u.hostname === host);
  return whoami((await page.textContent('body')) ?? '');
}

async function signInWithPassword(page: Page, user: string): Promise<void> {
  await page.fill('#username', user);
  await page.fill('#password', PASSWORD);
  await page.click('form[action$="/oauth2/sign_in"] button[type=submit]');
  await page.waitForLoadState();
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

/** How the person's one session signed in, as `gatehouse explain --session` reports it for `url`. */
async function sessionAmr(s: Stack, user: string, url: string): Promise<string> {
  const list = await s.gh.run(['session', 'list', '--user', user]);
  const ids = list.stdout
    .trim()
    .split('\n')
    .map((l) => l.split('\t')[0] ?? '');
  assert.equal(ids.length, 1, list.stdout);
  const r = await s.gh.run(['explain', url, '--session', ids[0] ?? '']);
  const m = /signed in with ([a-z, ]+);/.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  return m[1] ?? '';
}

/** Screens (portal pages shown) and seconds from a protected URL until the app answers. */
function measure(page: Page, appHost: string): { done(): { screens: number; ms: number } } {
  const t0 = Date.now();
  let screens = 0;
  const onNav = (f: { parentFrame(): unknown; url(): string }) => {
    if (f.parentFrame() === null && new URL(f.url()).hostname !== appHost) screens++;
  };
  page.on('framenavigated', onNav);
  return {
    done: () => {
      page.off('framenavigated', onNav);
      return { screens, ms: Date.now() - t0 };
    },
  };
}

for (const kind of ['nginx', 'caddy'] as const) {
  describe(`passkeys in Chromium through ${kind} (docs/proxies/${kind})`, () => {
    let s: Stack;
    let browser: Browser;
    const lines: string[] = [];

    before(async () => {
      s = await startStack(kind, { apps: APPS, extra: FACTORS, moreSites: [KEYS_HOST] });
      browser = await launchForWebAuthn(s.portal);
      for (const u of ['plat', 'key', 'nopin', 'meas']) await addUser(s.gh, u, PASSWORD, ['staff']);
    });
    after(async () => {
      await browser?.close();
      await s?.stop();
      for (const l of lines) process.stdout.write(`# ${kind} ${l}\n`);
    });

    // internal: a person with no factor at all (the first factor brings recovery codes, then
    // Continue); usb: a person with an authenticator app already (straight back to the app).
    for (const [transport, user] of [
      ['internal', 'plat'],
      ['usb', 'key'],
    ] as const) {
      describe(`${transport} authenticator (ctap2, resident keys, user verification)`, () => {
        let ctx: BrowserContext;
        let page: Page;
        let auth: VirtualAuthenticator;
        let passkeyAt = 0;
        let recoveryCodes: string[] = [];

        before(async () => {
          ctx = await browser.newContext();
          page = await ctx.newPage();
          auth = await virtualAuthenticator(page, transport, true);
        });
        after(async () => {
          await ctx?.close();
        });

        test('an app asking for a passkey, the person having none: add one during step-up, land on the exact URL', async () => {
          const target = s.url(KEYS_HOST, '/deep/path?x=1&next=%2Fa%3Fb%3Dc');
          if (transport === 'usb') {
            // An authenticator app first, so the person has a factor but no passkey.
            await page.goto(s.url('app.example.test', '/first'));
            await signInWithPassword(page, user);
            assert.equal((await appSaw(page, 'app.example.test')).user, user);
            await page.goto(`${s.portal}/oauth2/account/security`);
            await page.click('text=Set up an authenticator app');
            const secret = ((await page.textContent('#secret')) ?? '').replace(/\s/g, '');
            await page.fill('#code', await generate({ secret }));
            await page.click('button:has-text("Confirm")');
            recoveryCodes = await page.locator('ul.codes li').allTextContents();
            assert.equal(recoveryCodes.length, 10);
            await page.goto(target);
          } else {
            await page.goto(target);
            await signInWithPassword(page, user);
          }
          const at = new URL(page.url());
          assert.deepEqual(
            [at.host, at.pathname, at.searchParams.get('enrol'), at.searchParams.get('rd')],
            [new URL(s.portal).host, '/oauth2/account/security', 'passkey', target],
          );
          assert.equal(await page.textContent('p[role=status]'), 'This app asks for a passkey or security key. Add one to continue.');
          await axe(page, 'the passkey enrolment screen');
          await page.fill('#passkey-name', `${transport} key`);
          await page.click('button:has-text("Add a passkey or security key")');
          if (transport === 'internal') {
            // The first factor: recovery codes, shown once, then on to the app.
            await page.waitForSelector('ul.codes');
            assert.equal(await page.locator('ul.codes li').count(), 10);
            await page.click('text=Continue');
          }
          passkeyAt = Date.now();
          assert.deepEqual(await appSaw(page, KEYS_HOST), { path: '/deep/path?x=1&next=%2Fa%3Fb%3Dc', user });
          const creds = await auth.credentials();
          assert.equal(creds.length, 1);
          assert.equal(creds[0]?.isResidentCredential, true, 'a discoverable credential');
          // The key verified its user (UV): the session says so.
          assert.equal(await sessionAmr(s, user, target), transport === 'usb' ? 'pwd, otp, hwk, user, mfa' : 'pwd, hwk, user, mfa');
        });

        test('passwordless: one screen, one touch, from a protected URL to the app', async () => {
          await ctx.clearCookies();
          const m = measure(page, 'app.example.test');
          await page.goto(s.url('app.example.test', '/pl?q=%2Fx'));
          // internal: the sign-in screen asks the authenticator on load (conditional mediation,
          // the autofill); it answers at once (automatic presence: the touch), and the form posts
          // itself. usb: Chromium's autofill offers no security key; the button asks it.
          if (transport === 'usb') await page.click('button:has-text("Sign in with a passkey")');
          assert.deepEqual(await appSaw(page, 'app.example.test'), { path: '/pl?q=%2Fx', user });
          passkeyAt = Date.now();
          const r = m.done();
          assert.equal(r.screens, 1, 'the sign-in screen only');
          lines.push(`${transport} passkey passwordless: ${r.screens} screen, ${(r.ms / 1000).toFixed(2)} s`);
        });

        test('as the second factor after the password', async () => {
          await ctx.clearCookies();
          // No touch while the password is typed (the autofill would sign in with the passkey alone).
          await auth.presence(false);
          await page.goto(s.url('app2.other.test', '/second?f=1'));
          await signInWithPassword(page, user);
          assert.match(page.url(), /\/oauth2\/factor$/);
          await auth.presence(true);
          await page.click('button:has-text("Use a passkey or security key")');
          passkeyAt = Date.now();
          assert.deepEqual(await appSaw(page, 'app2.other.test'), { path: '/second?f=1', user });
        });

        test('step-up: a passkey older than the rule’s maxAge is asked for again (only that), back to the exact URL', async () => {
          // The session's passkey is from the last sign-in; wait until it is older than 4 s.
          const wait = passkeyAt + MAX_AGE_MS + 300 - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const m = measure(page, 'api.example.test');
          await page.goto(s.url('api.example.test', '/v1/items?page=3&q=a%2Fb'));
          assert.match(page.url(), /\/oauth2\/step_up\?rd=/);
          assert.equal(await page.locator('#code').count(), 0, 'no authenticator code: the app asks for a passkey');
          await page.click('button:has-text("Use a passkey or security key")');
          assert.deepEqual(await appSaw(page, 'api.example.test'), { path: '/v1/items?page=3&q=a%2Fb', user });
          const r = m.done();
          assert.equal(r.screens, 1, 'the step-up screen only');
          lines.push(`${transport} step-up (passkey): ${r.screens} screen, ${(r.ms / 1000).toFixed(2)} s`);
        });

        test('another browser profile, its authenticator without the credential, cannot use it', async () => {
          const other = await browser.newContext();
          const p2 = await other.newPage();
          const a2 = await virtualAuthenticator(p2, transport, true);
          const posted: string[] = [];
          p2.on('request', (r) => {
            if (r.method() === 'POST') posted.push(new URL(r.url()).pathname);
          });
          await p2.goto(s.url('app.example.test', '/other'));
          await p2.click('button:has-text("Sign in with a passkey")');
          await p2.waitForSelector('[data-webauthn-status]:has-text("The passkey prompt was closed or timed out. Try again.")');
          assert.deepEqual(posted, [], 'no answer was posted');
          assert.deepEqual(await a2.credentials(), []);
          // The same person's password there leads to the factor screen, where the key is not either.
          await signInWithPassword(p2, user);
          assert.match(p2.url(), /\/oauth2\/factor$/);
          await p2.click('button:has-text("Use a passkey or security key")');
          await p2.waitForSelector('[data-webauthn-status]:has-text("The passkey prompt was closed or timed out. Try again.")');
          assert.deepEqual(posted, ['/oauth2/sign_in'], 'no passkey answer was posted');
          await other.close();
        });

        test('removed on the security page it no longer signs in; added again there, it does', async () => {
          await page.goto(`${s.portal}/oauth2/account/security`);
          assert.equal(await page.inputValue('#name-0'), `${transport} key`);
          await page.click('form[action$="/passkey/remove"] button');
          assert.equal(await page.locator('#name-0').count(), 0);
          await ctx.clearCookies();
          // The authenticator still holds it and answers with it (the autofill, or the button for
          // a security key); the server refuses it.
          const refused = page.waitForResponse((r) => r.url().endsWith('/oauth2/passkey'));
          await page.goto(s.url('app.example.test', '/rm'));
          if (transport === 'usb') await page.click('button:has-text("Sign in with a passkey")');
          assert.equal((await refused).status(), 401);
          assert.equal(await page.textContent('p.error'), 'That passkey could not be used to sign in.');
          // Signed in again (the password, and for the person with an authenticator app a
          // recovery code), it is added on the security page.
          await signInWithPassword(page, user);
          if (transport === 'usb') {
            assert.match(page.url(), /\/oauth2\/factor$/);
            assert.equal(await page.locator('form[action$="/oauth2/factor/passkey"]').count(), 0, 'no passkey left to offer');
            await page.click('summary:has-text("Use a recovery code")');
            await page.fill('#recovery', recoveryCodes[0] ?? '');
            await page.click('form[action$="/oauth2/factor/recovery"] button');
          }
          assert.equal((await appSaw(page, 'app.example.test')).user, user);
          await page.goto(`${s.portal}/oauth2/account/security`);
          await page.fill('#passkey-name', 'again');
          await page.click('button:has-text("Add a passkey or security key")');
          await page.waitForURL(/\/oauth2\/account\/security\?added=passkey$/);
          assert.equal(await page.inputValue('#name-0'), 'again');
          await ctx.clearCookies();
          await page.goto(s.url('app.example.test', '/back'));
          if (transport === 'usb') await page.click('button:has-text("Sign in with a passkey")');
          assert.deepEqual(await appSaw(page, 'app.example.test'), { path: '/back', user });
        });
      });
    }

    describe('usb security key without a PIN (user presence only)', () => {
      const user = 'nopin';
      let ctx: BrowserContext;
      let page: Page;
      let auth: VirtualAuthenticator;
      let keyAt = 0;

      before(async () => {
        ctx = await browser.newContext();
        page = await ctx.newPage();
        auth = await virtualAuthenticator(page, 'usb', false);
      });
      after(async () => {
        await ctx?.close();
      });

      test('it cannot hold a passkey without a PIN, so it is added for the second step only, during step-up, to the exact URL', async () => {
        const target = s.url(KEYS_HOST, '/k?y=2');
        await page.goto(target);
        await signInWithPassword(page, user);
        assert.match(page.url(), /\/oauth2\/account\/security\?enrol=passkey&rd=/);
        // A passkey (a discoverable credential): Chromium would first have the key set a PIN,
        // which this key cannot be asked for here; the ceremony ends and nothing is posted.
        const posted: string[] = [];
        page.on('request', (r) => {
          if (r.method() === 'POST') posted.push(new URL(r.url()).pathname);
        });
        await page.click('button:has-text("Add a passkey or security key")');
        await page.waitForSelector('[data-webauthn-status]:has-text("The passkey prompt was closed or timed out. Try again.")');
        assert.deepEqual(posted, []);
        await page.fill('#passkey-name', 'YubiKey');
        await page.click('button:has-text("Add a security key without a PIN")');
        await page.waitForSelector('ul.codes');
        await page.click('text=Continue');
        keyAt = Date.now();
        assert.deepEqual(await appSaw(page, KEYS_HOST), { path: '/k?y=2', user });
        assert.deepEqual(posted, ['/oauth2/account/security/passkey']);
        const creds = await auth.credentials();
        assert.equal(creds.length, 1);
        assert.equal(creds[0]?.isResidentCredential, false, 'not a discoverable credential');
        // Possession only: no user verification claimed for the session.
        assert.equal(await sessionAmr(s, user, target), 'pwd, hwk, mfa');
      });

      test('it is the second factor after the password, and the step-up for maxAge', async () => {
        await ctx.clearCookies();
        await auth.presence(false);
        await page.goto(s.url('app.example.test', '/nopin'));
        await signInWithPassword(page, user);
        assert.match(page.url(), /\/oauth2\/factor$/);
        await auth.presence(true);
        await page.click('button:has-text("Use a passkey or security key")');
        keyAt = Date.now();
        assert.deepEqual(await appSaw(page, 'app.example.test'), { path: '/nopin', user });
        const wait = keyAt + MAX_AGE_MS + 300 - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await page.goto(s.url('api.example.test', '/v1/k'));
        assert.match(page.url(), /\/oauth2\/step_up\?rd=/);
        await page.click('button:has-text("Use a passkey or security key")');
        assert.deepEqual(await appSaw(page, 'api.example.test'), { path: '/v1/k', user });
      });

      test('it does not sign in without the password (no discoverable credential, no user verification)', async () => {
        await ctx.clearCookies();
        const posted: string[] = [];
        page.on('request', (r) => {
          if (r.method() === 'POST') posted.push(new URL(r.url()).pathname);
        });
        await page.goto(s.url('app.example.test', '/nopin2'));
        await page.click('button:has-text("Sign in with a passkey")');
        await page.waitForSelector('[data-webauthn-status]:has-text("The passkey prompt was closed or timed out. Try again.")');
        assert.deepEqual(posted, []);
        assert.match(page.url(), /\/oauth2\/start\?rd=/);
      });
    });

    describe('an invitation: a passkey instead of a password', () => {
      test('from the invitation link to the app with a new passkey (one screen, one touch); it then signs in alone', async () => {
        const appUrl = s.url('app.example.test', '/welcome?from=invite');
        const made = await s.gh.run(['invite', 'create', '--groups', 'staff', '--rd', appUrl]);
        assert.equal(made.code, 0, made.stdout + made.stderr);
        const link = /link: (\S+)/.exec(made.stdout)?.[1] ?? '';
        const ctx = await browser.newContext();
        const page = await ctx.newPage();
        const auth = await virtualAuthenticator(page, 'internal', true);
        const posted: string[] = [];
        page.on('request', (r) => {
          if (r.method() === 'POST') posted.push(new URL(r.url()).pathname);
        });
        const m = measure(page, 'app.example.test');
        await page.goto(link);
        assert.equal(await page.locator('h1').innerText(), 'Create your account');
        await axe(page, 'the invitation screen with a passkey');
        // The passkey is named after the username: none typed yet, no ceremony.
        await page.click('button:has-text("Use a passkey instead of a password")');
        assert.equal(await page.textContent('[data-webauthn-status]'), 'Choose a username first.');
        assert.deepEqual(posted, []);
        assert.deepEqual(await auth.credentials(), []);
        await page.fill('#username', 'erin');
        await page.click('button:has-text("Use a passkey instead of a password")');
        assert.deepEqual(await appSaw(page, 'app.example.test'), { path: '/welcome?from=invite', user: 'erin' });
        assert.equal(m.done().screens, 1, 'the invitation screen only');
        assert.deepEqual(posted, ['/oauth2/invite']);
        const creds = await auth.credentials();
        assert.equal(creds.length, 1);
        assert.equal(creds[0]?.isResidentCredential, true);
        // Signed in by the passkey: it meets an app that asks for one.
        assert.equal(await sessionAmr(s, 'erin', s.url(KEYS_HOST, '/')), 'hwk, user, mfa');
        // The account has no password; the passkey signs in on its own (the autofill).
        await ctx.clearCookies();
        await page.goto(s.url('app.example.test', '/again'));
        assert.deepEqual(await appSaw(page, 'app.example.test'), { path: '/again', user: 'erin' });
        // The link made its one account.
        const r2 = await page.goto(link);
        assert.equal(r2?.status(), 410);
        await ctx.close();
      });

      test('a taken username, or an answer that does not verify, makes nothing: the invitation stays usable', async () => {
        const appUrl = s.url('app.example.test', '/retry');
        const made = await s.gh.run(['invite', 'create', '--groups', 'staff', '--rd', appUrl]);
        const link = /link: (\S+)/.exec(made.stdout)?.[1] ?? '';
        const ctx = await browser.newContext();
        const page = await ctx.newPage();
        const auth = await virtualAuthenticator(page, 'internal', true);
        await page.goto(link);
        // A username someone has: refused before the answer is looked at.
        await page.fill('#username', 'plat');
        let answered = page.waitForResponse((r) => r.url().endsWith('/oauth2/invite') && r.request().method() === 'POST');
        await page.click('button:has-text("Use a passkey instead of a password")');
        assert.equal((await answered).status(), 409);
        assert.equal(await page.textContent('p.error'), 'That username is taken. Please choose another.');
        // A ceremony state that is not the server's (its seal does not open): refused.
        await page.fill('#username', 'gus');
        await page.evaluate("document.querySelector('input[name=state]').value = 'not-a-sealed-state'");
        answered = page.waitForResponse((r) => r.url().endsWith('/oauth2/invite') && r.request().method() === 'POST');
        await page.click('button:has-text("Use a passkey instead of a password")');
        assert.equal((await answered).status(), 400);
        assert.equal(await page.textContent('p.error'), 'The passkey could not be made. Try again, or choose a password.');
        const users = await s.gh.run(['user', 'list']);
        assert.doesNotMatch(users.stdout, /\bgus\b/);
        // The invitation still makes its account, with a fresh ceremony.
        await page.fill('#username', 'gus');
        await page.click('button:has-text("Use a passkey instead of a password")');
        assert.deepEqual(await appSaw(page, 'app.example.test'), { path: '/retry', user: 'gus' });
        // Three ceremonies on the authenticator; the account keeps the one that verified.
        assert.equal((await auth.credentials()).length, 3);
        await ctx.close();
      });

      test('without JavaScript the passkey button says so, and the invitation stays usable', async () => {
        const made = await s.gh.run(['invite', 'create', '--groups', 'staff', '--rd', s.url('app.example.test', '/nojs')]);
        const link = /link: (\S+)/.exec(made.stdout)?.[1] ?? '';
        const ctx = await browser.newContext({ javaScriptEnabled: false });
        const page = await ctx.newPage();
        await page.goto(link);
        await page.fill('#username', 'finn');
        const answered = page.waitForResponse((r) => r.url().endsWith('/oauth2/invite') && r.request().method() === 'POST');
        await page.click('button:has-text("Use a passkey instead of a password")');
        assert.equal((await answered).status(), 400);
        assert.equal(await page.textContent('p.error'), 'Passkeys need JavaScript in this browser. Choose a password instead.');
        assert.equal(await page.inputValue('#username'), 'finn');
        // The same form, with a password, makes the account.
        await page.fill('#password', PASSWORD);
        await page.click('button:has-text("Create account and continue")');
        assert.deepEqual(await appSaw(page, 'app.example.test'), { path: '/nojs', user: 'finn' });
        await ctx.close();
      });
    });

    test('screens and seconds from a protected URL to the app: password only, then password + authenticator app (printed)', async () => {
      // Browser time only (the test types instantly): what the portal and the proxy cost.
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      let m = measure(page, 'app.example.test');
      await page.goto(s.url('app.example.test', '/m1'));
      await signInWithPassword(page, 'meas');
      assert.deepEqual(await appSaw(page, 'app.example.test'), { path: '/m1', user: 'meas' });
      let r = m.done();
      assert.equal(r.screens, 1, 'the sign-in screen');
      lines.push(`password only: ${r.screens} screen, ${(r.ms / 1000).toFixed(2)} s`);
      await page.goto(`${s.portal}/oauth2/account/security`);
      await page.click('text=Set up an authenticator app');
      const secret = ((await page.textContent('#secret')) ?? '').replace(/\s/g, '');
      const step = Math.floor(Date.now() / 30_000);
      await page.fill('#code', await generate({ secret, epoch: step * 30 }));
      await page.click('button:has-text("Confirm")');
      await page.waitForSelector('ul.codes');
      await ctx.clearCookies();
      m = measure(page, 'app.example.test');
      await page.goto(s.url('app.example.test', '/m2'));
      await signInWithPassword(page, 'meas');
      // The next step's code (each step is accepted once; one step either side of now is).
      await page.fill('#code', await generate({ secret, epoch: (step + 1) * 30 }));
      await page.click('form[action$="/oauth2/factor/totp"] button');
      assert.deepEqual(await appSaw(page, 'app.example.test'), { path: '/m2', user: 'meas' });
      r = m.done();
      assert.equal(r.screens, 2, 'the sign-in screen, the factor screen');
      lines.push(`password + authenticator app: ${r.screens} screens, ${(r.ms / 1000).toFixed(2)} s`);
      await ctx.close();
    });
  });
}
