// People's own flows in Chromium through nginx (docs/proxies/nginx as shipped), with a real SMTP
// server (smtp-server on loopback) receiving what Gatehouse mails:
//   - an invitation mailed by `gatehouse invite create`, followed from the mail: one screen to
//     choose credentials, then straight to the app, let in by the rule for the invitation's group;
//   - password reset from the sign-in page: the mailed link, a new password, every other session
//     of the account refused by the gate within a second; the link works once;
//   - the reset request answers the same for an account that exists and one that does not;
//   - the account page: ending one session from another browser locks the first out within 1 s;
//   - axe-core on every page of these flows: no serious or critical violations.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { addUser } from '../kit/process.ts';
import { CookieJar, freePort, jarRequest, request } from '../kit/http.ts';
import { formAction, hiddenInputs } from '../kit/html.ts';
import { headerValues } from '../kit/spoofing.ts';
import { launchChromium } from '../kit/chromium.ts';
import { PORTAL_HOST, startStack, type Stack } from '../kit/stack.ts';
import { startUpstreamOidc, type UpstreamOidc } from '../kit/fake-providers.ts';
import { timeUntil } from '../kit/poll.ts';
import { linkIn, startMailCatcher, type MailCatcher } from '../kit/mail.ts';

const PASSWORD = 'correct horse battery staple';

let browser: Browser;
let mail: MailCatcher;
let s: Stack;

/** axe-core on the page as it is now: no serious or critical violation. */
async function accessible(page: Page, what: string): Promise<void> {
  const r = await new AxeBuilder({ page }).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
    [],
    `${what}: accessibility violations`,
  );
}

/** Every main-frame navigation response of a page, as [status, url]. */
function navigations(page: Page): Array<[number, string]> {
  const docs: Array<[number, string]> = [];
  page.on('response', (r) => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) docs.push([r.status(), r.url()]);
  });
  return docs;
}

/** The gate's answer for a browser context's cookies at an app URL through nginx (no redirects followed). */
async function gateStatus(ctx: BrowserContext, url: string): Promise<number> {
  const cookies = await ctx.cookies(url);
  const r = await request(url, { headers: { Cookie: cookies.map((c) => `${c.name}=${c.value}`).join('; '), Accept: 'text/html' } });
  return r.status;
}

async function signInWith(ctx: BrowserContext, appUrl: string, username: string, password: string): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(appUrl);
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('form button[type="submit"]').first().click();
  await page.waitForURL(appUrl);
  return page;
}

before(async () => {
  browser = await launchChromium();
  mail = await startMailCatcher();
  s = await startStack('nginx', {
    apps: [
      '  - { name: app, hosts: [app.example.test, app2.other.test], allow: { groups: [ops] } }',
      '  - { name: api, hosts: [api.example.test], allow: { groups: [admins] } }',
    ].join('\n'),
    extra: [
      'email:',
      `  smtp: { host: 127.0.0.1, port: ${mail.port}, tls: none }`,
      '  from: "Gatehouse <auth@example.test>"',
      '  notices: { passwordChanged: true }',
      // Generous limits: this suite sends many requests from one address on purpose.
      'passwordReset: { perAccount: 50, perAddress: 500 }',
      'signUp: { enabled: true, emailDomains: [example.org], groups: [ops] }',
    ].join('\n'),
  });
});
after(async () => {
  await s?.stop();
  await mail?.stop();
  await browser?.close();
});

describe('an invitation, from the mail to the app', () => {
  test("one screen to choose credentials, then straight to the app, in the invitation's group", async () => {
    const appUrl = s.url('app.example.test', '/welcome');
    const made = await s.gh.run(['invite', 'create', '--groups', 'ops', '--email', 'dana@example.org', '--rd', appUrl]);
    assert.equal(made.code, 0, made.stdout + made.stderr);
    const mailed = await mail.next('dana@example.org');
    assert.equal(mailed.subject, `You are invited to auth.example.test:${s.port}`);
    const link = linkIn(mailed, `${s.portal}/oauth2/invite?t=`);
    assert.ok(made.stdout.includes(link), 'the CLI printed the same link');

    const ctx = await browser.newContext();
    ctx.setDefaultTimeout(10_000);
    try {
      const page = await ctx.newPage();
      const docs = navigations(page);
      const started = performance.now();
      await page.goto(link);
      await accessible(page, 'the enrolment screen');
      assert.equal(await page.locator('h1').innerText(), 'Create your account');
      await page.getByLabel('Username').fill('dana');
      await page.getByLabel('New password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Create account and continue' }).click();
      await page.waitForURL(appUrl);
      const ms = Math.round(performance.now() - started);
      const seen = s.app.seen.filter((r) => r.url === '/welcome').at(-1);
      assert.ok(seen, 'the app got the request');
      assert.deepEqual(headerValues(seen, 'X-Auth-Request-User'), ['dana']);
      assert.deepEqual(headerValues(seen, 'X-Auth-Request-Groups'), ['ops']);
      assert.deepEqual(headerValues(seen, 'X-Auth-Request-Email'), ['dana@example.org']);
      // Screens: the enrolment page (200), then the app (200); in between only redirects.
      const pages = docs.filter(([st]) => st === 200).map(([, u]) => new URL(u).origin + new URL(u).pathname);
      assert.deepEqual(pages, [`${s.portal}/oauth2/invite`, s.url('app.example.test', '/welcome')], JSON.stringify(docs));
      console.log(
        `# invitation link to the first protected app: ${pages.length - 1} screen to choose credentials, ${docs.length} documents, ${ms} ms`,
      );

      // The link made its one account: opened again it says so and makes nothing.
      const again = await browser.newContext();
      try {
        const p2 = await again.newPage();
        const r = await p2.goto(link);
        assert.equal(r?.status(), 410);
        assert.equal(await p2.locator('h1').innerText(), 'This invitation has been used');
        await accessible(p2, 'a used invitation');
      } finally {
        await again.close();
      }
    } finally {
      await ctx.close();
    }
    const listed = await s.gh.run(['invite', 'list']);
    assert.match(listed.stdout, /\tgroups=ops\temail=dana@example\.org\tuses=1\/1\tused\tby cli\t/);
  });
});

describe('self sign-up', () => {
  test('the sign-in page offers it; the address gets a link; the link is the enrolment screen', async () => {
    const ctx = await browser.newContext();
    ctx.setDefaultTimeout(10_000);
    try {
      const page = await ctx.newPage();
      await page.goto(s.url('app.example.test', '/signed-up'));
      await page.getByRole('link', { name: 'Sign up' }).click();
      await accessible(page, 'the sign-up page');
      await page.getByLabel('Email address').fill('kim@example.org');
      await page.getByRole('button', { name: 'Send me the link' }).click();
      assert.equal(await page.locator('h1').innerText(), 'Check your mail');
      await accessible(page, 'the sign-up answer');
      const mailed = await mail.next('kim@example.org');
      await page.goto(linkIn(mailed, `${s.portal}/oauth2/invite?t=`));
      await page.getByLabel('Username').fill('kim');
      await page.getByLabel('New password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Create account and continue' }).click();
      await page.waitForURL(`${s.portal}/`);
      assert.match(await page.locator('main').innerText(), /You are signed in as kim \(kim@example\.org\)/);
      await accessible(page, 'the portal home');
    } finally {
      await ctx.close();
    }
  });
});

describe('password reset by mail', () => {
  test('the mailed link sets a new password once; every other session of the account is refused within 1 s', async () => {
    await addUser(s.gh, 'erin', PASSWORD, ['ops']);
    const appUrl = s.url('app.example.test', '/erin');
    const signedIn = await browser.newContext();
    const resetter = await browser.newContext();
    signedIn.setDefaultTimeout(10_000);
    resetter.setDefaultTimeout(10_000);
    try {
      await signInWith(signedIn, appUrl, 'erin', PASSWORD);
      assert.equal(await gateStatus(signedIn, appUrl), 200);

      const page = await resetter.newPage();
      await page.goto(s.url('app.example.test', '/erin'));
      await page.getByRole('link', { name: 'Forgot your password?' }).click();
      await accessible(page, 'the reset request form');
      await page.getByLabel('Username or email address').fill('erin');
      await page.getByRole('button', { name: 'Send the link' }).click();
      assert.equal(await page.locator('h1').innerText(), 'Check your mail');
      await accessible(page, 'the reset request answer');
      const mailed = await mail.next('erin@example.org');
      assert.equal(mailed.subject, `Reset your password at auth.example.test:${s.port}`);
      const link = linkIn(mailed, `${s.portal}/oauth2/reset?t=`);

      await page.goto(link);
      await accessible(page, 'the new-password form');
      await page.getByLabel('New password').fill('a whole new passphrase');
      const setAt = performance.now();
      await page.getByRole('button', { name: 'Set the new password' }).click();
      assert.equal(await page.locator('h1').innerText(), 'Password changed');
      const lockedOut = await timeUntil(async () => (await gateStatus(signedIn, appUrl)) !== 200, {
        timeoutMs: 1000,
        what: 'the other session refused',
      });
      console.log(
        `# reset: the other session refused ${Math.round(performance.now() - setAt)} ms after the new password was set (polled ${lockedOut} ms)`,
      );
      assert.equal(await gateStatus(signedIn, appUrl), 302, 'sent to sign in again');
      await accessible(page, 'the password-changed page');
      const notice = await mail.next('erin@example.org');
      assert.equal(notice.subject, `Your password at auth.example.test:${s.port} was changed`);

      // Once only.
      const again = await page.goto(link);
      assert.equal(again?.status(), 410);
      assert.equal(await page.locator('h1').innerText(), 'This link does not work');
      await accessible(page, 'a used reset link');

      // The new password signs in; the old one does not.
      const fresh = await browser.newContext();
      try {
        await signInWith(fresh, appUrl, 'erin', 'a whole new passphrase');
      } finally {
        await fresh.close();
      }
    } finally {
      await signedIn.close();
      await resetter.close();
    }
  });

  test('the request answers the same status and body, in the same time class, for an account that exists and one that does not', async () => {
    await addUser(s.gh, 'frank', PASSWORD, []);
    const url = `${s.portal}/oauth2/reset`;
    const jar = new CookieJar();
    const ask = async (name: string): Promise<{ status: number; body: string; ms: number }> => {
      const form = await jarRequest(jar, url, { headers: { Accept: 'text/html' } });
      assert.equal(form.status, 200);
      const t0 = performance.now();
      const r = await jarRequest(jar, formAction(form.body, url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'text/html', Origin: s.portal },
        body: new URLSearchParams({ ...hiddenInputs(form.body), name }).toString(),
      });
      return { status: r.status, body: r.body, ms: performance.now() - t0 };
    };
    const known: number[] = [];
    const unknown: number[] = [];
    let first: { status: number; body: string } | undefined;
    for (let i = 0; i < 12; i++) {
      const a = await ask(i % 2 === 0 ? 'frank' : 'frank@example.org');
      const b = await ask(`nobody-${i}`);
      assert.equal(a.status, 200);
      assert.equal(b.status, a.status);
      assert.equal(b.body, a.body, 'the same page, byte for byte');
      first ??= a;
      known.push(a.ms);
      unknown.push(b.ms);
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
    console.log(
      `# reset request: median ${median(known).toFixed(1)} ms for an existing account, ${median(unknown).toFixed(1)} ms for none`,
    );
    // The same class: neither does work the other does not before answering (no hash, no mail).
    assert.ok(Math.abs(median(known) - median(unknown)) < 25, `medians ${median(known)} and ${median(unknown)} ms`);
    assert.match(first?.body ?? '', /If an account matches, a link is on its way to its address\. It works once, for 30 minutes\./);
  });
});

describe('the account page', () => {
  test('ending a session from another browser refuses the first within 1 s', async () => {
    await addUser(s.gh, 'gail', PASSWORD, ['ops']);
    const appUrl = s.url('app.example.test', '/gail');
    const laptop = await browser.newContext({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0' });
    const phone = await browser.newContext();
    laptop.setDefaultTimeout(10_000);
    phone.setDefaultTimeout(10_000);
    try {
      await signInWith(laptop, appUrl, 'gail', PASSWORD);
      await signInWith(phone, appUrl, 'gail', PASSWORD);
      const page = await phone.newPage();
      await page.goto(`${s.portal}/oauth2/account`);
      await accessible(page, 'the account page');
      assert.equal(await page.locator('h1').innerText(), 'Your account');
      const rows = page.locator('section[aria-labelledby="h-sessions"] tbody tr');
      assert.equal(await rows.count(), 2);
      const laptopRow = rows.filter({ hasText: 'Firefox on Linux' });
      assert.equal(await laptopRow.count(), 1);
      const endAt = performance.now();
      await laptopRow.getByRole('button', { name: /^End/ }).click();
      await page.waitForURL(/\/oauth2\/account\?done=session$/);
      const ms = await timeUntil(async () => (await gateStatus(laptop, appUrl)) !== 200, { timeoutMs: 1000, what: 'the laptop refused' });
      console.log(
        `# account page: the ended session refused ${Math.round(performance.now() - endAt)} ms after the click (polled ${ms} ms)`,
      );
      assert.equal(await gateStatus(phone, appUrl), 200, 'the browser that ended it stays in');
      assert.equal(await page.locator('[role="status"]').innerText(), 'The session was ended.');
      assert.equal(await rows.count(), 1);
      await accessible(page, 'the account page after a change');
    } finally {
      await laptop.close();
      await phone.close();
    }
  });
});

describe('an invitation taken up through an upstream OpenID provider (oidc-provider)', () => {
  let up: UpstreamOidc;
  let st: Stack;
  before(async () => {
    const port = await freePort();
    up = await startUpstreamOidc({ redirectUri: `http://${PORTAL_HOST}:${port}/oauth2/callback` });
    up.accounts.set('kc-7', {
      sub: 'kc-7',
      claims: { preferred_username: 'ines', email: 'ines@upstream.example', email_verified: true, name: 'Ines' },
    });
    up.next = 'kc-7';
    st = await startStack('nginx', {
      port,
      apps: '  - { name: app, hosts: [app.example.test, app2.other.test], allow: { groups: [ops] } }',
      extra: [
        'connectors:',
        `  - { id: corp, name: Corp SSO, type: oidc, issuer: "${up.issuer}", clientId: ${up.clientId}, clientSecret: "${up.clientSecret}", createAccounts: invite }`,
      ].join('\n'),
    });
  });
  after(async () => {
    await st?.stop();
    await up?.close();
  });

  test('"Continue with Corp SSO" on the invitation makes the account with the invitation\'s groups, then the app', async () => {
    const appUrl = st.url('app.example.test', '/from-sso');
    const made = await st.gh.run(['invite', 'create', '--groups', 'ops', '--rd', appUrl]);
    assert.equal(made.code, 0, made.stdout + made.stderr);
    const link = /link: (\S+)/.exec(made.stdout)?.[1] ?? '';
    const ctx = await browser.newContext();
    ctx.setDefaultTimeout(10_000);
    try {
      const page = await ctx.newPage();
      // Without an invitation the provider's identity has no account here (createAccounts: invite).
      await page.goto(`${st.portal}/oauth2/start?provider=corp`);
      assert.equal(await page.locator('h1').innerText(), 'No account');
      await page.goto(link);
      await accessible(page, 'the enrolment screen with a provider');
      await page.getByRole('link', { name: 'Continue with Corp SSO' }).click();
      await page.waitForURL(appUrl);
      const seen = st.app.seen.filter((r) => r.url === '/from-sso').at(-1);
      assert.ok(seen);
      assert.deepEqual(headerValues(seen, 'X-Auth-Request-User'), ['ines']);
      assert.deepEqual(headerValues(seen, 'X-Auth-Request-Groups'), ['ops']);
    } finally {
      await ctx.close();
    }
    const again = await browser.newContext();
    try {
      const p2 = await again.newPage();
      assert.equal((await p2.goto(link))?.status(), 410, 'the invitation made its one account');
    } finally {
      await again.close();
    }
  });

  test('the account page links another provider (then it signs in too) and unlinks it', async () => {
    await addUser(st.gh, 'jon', PASSWORD, ['ops']);
    up.accounts.set('kc-8', {
      sub: 'kc-8',
      claims: { preferred_username: 'jon-sso', email: 'jon@upstream.example', email_verified: true },
    });
    up.next = 'kc-8';
    const appUrl = st.url('app.example.test', '/jon');
    const ctx = await browser.newContext();
    ctx.setDefaultTimeout(10_000);
    try {
      const page = await signInWith(ctx, appUrl, 'jon', PASSWORD);
      await page.goto(`${st.portal}/oauth2/account`);
      assert.equal(await page.locator('section[aria-labelledby="h-identities"] p').first().innerText(), 'No provider is linked.');
      await page.getByRole('link', { name: 'Link Corp SSO' }).click();
      await page.waitForURL(/\/oauth2\/account\?done=linked/);
      assert.equal(await page.locator('[role="status"]').innerText(), 'Corp SSO is linked: you can sign in with it too.');
      assert.equal(await page.locator('section[aria-labelledby="h-identities"] tbody tr').count(), 1);
      await accessible(page, 'the account page with a linked provider');
      // The provider now signs jon in, in a browser that never saw the password.
      const other = await browser.newContext();
      try {
        const p2 = await other.newPage();
        await p2.goto(`${st.portal}/oauth2/start?provider=corp&rd=${encodeURIComponent(appUrl)}`);
        await p2.waitForURL(appUrl);
        const seen = st.app.seen.filter((r) => r.url === '/jon').at(-1);
        assert.deepEqual(headerValues(seen!, 'X-Auth-Request-User'), ['jon']);
      } finally {
        await other.close();
      }
      await page.getByRole('button', { name: 'Unlink Corp SSO' }).click();
      await page.waitForURL(/\/oauth2\/sign_in/);
      assert.equal(await gateStatus(ctx, appUrl), 302, 'unlinking ends every session of the person');
    } finally {
      await ctx.close();
    }
  });
});
