// The refusal pages as a visitor sees them: Chromium through Caddy (docs/proxies/caddy, which
// hands Gatehouse's own page to the browser), anonymous at a host no app covers, anonymous at an
// address closed to everyone, and signed in without the right group. Each page says what
// happened, and its request id leads to the log line with the reason.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../kit/chromium.ts';
import { addUser } from '../kit/process.ts';
import { type Stack, startStack } from '../kit/stack.ts';

const PASSWORD = 'correct horse battery staple';

describe('refusal pages in Chromium through Caddy', () => {
  let browser: Browser;
  let s: Stack;
  let ctx: BrowserContext;

  before(async () => {
    browser = await launchChromium();
    // api.example.test is served by Caddy but no app covers it; app2.other.test is closed.
    s = await startStack('caddy', {
      apps: [
        '  - { name: app, hosts: [app.example.test], allow: { groups: [admins] } }',
        '  - { name: closed, hosts: [app2.other.test], deny: true }',
      ].join('\n'),
    });
    await addUser(s.gh, 'bob', PASSWORD, []);
    ctx = await browser.newContext();
    ctx.setDefaultTimeout(10_000);
  });
  after(async () => {
    await ctx?.close();
    await s?.stop();
    await browser?.close();
  });

  /** The page's request id, checked against the gate's log line and its reason. */
  async function logged(page: Page, reason: string): Promise<void> {
    const id = await page.locator('p code').first().innerText();
    const line = s.gh
      .logs()
      .split('\n')
      .find((l) => l.includes('"forward auth: denied"') && l.includes(`"requestId":"${id}"`));
    assert.ok(line, `no log line for request id ${id}`);
    assert.equal((JSON.parse(line) as { reason: string }).reason, reason);
  }

  test('anonymous at a host no app covers: "No app here", never "you are signed in"', async () => {
    const page = await ctx.newPage();
    const url = s.url('api.example.test', '/x');
    const res = await page.goto(url);
    assert.equal(res?.status(), 403);
    assert.equal(await page.locator('h1').innerText(), 'No app here');
    const text = await page.locator('body').innerText();
    assert.doesNotMatch(text, /signed in, but/);
    assert.match(text, new RegExp(`gatehouse explain ${url.replace(/[.?]/g, '\\$&')}`));
    await logged(page, 'no rule matched (default deny)');
    await page.close();
  });

  test('anonymous at an address closed to everyone: "This address is closed"', async () => {
    const page = await ctx.newPage();
    const res = await page.goto(s.url('app2.other.test', '/'));
    assert.equal(res?.status(), 403);
    assert.equal(await page.locator('h1').innerText(), 'This address is closed');
    await logged(page, 'app closed denies everyone');
    await page.close();
  });

  test('signed in without the group: "Access denied", worded for the account', async () => {
    const page = await ctx.newPage();
    await page.goto(s.url('app.example.test', '/admin'));
    await page.locator('input[name="username"]').fill('bob');
    await page.locator('input[name="password"]').fill(PASSWORD);
    const answer = page.waitForResponse((r) => r.url() === s.url('app.example.test', '/admin'));
    await page.locator('form button[type="submit"], form input[type="submit"]').first().click();
    assert.equal((await answer).status(), 403);
    assert.equal(await page.locator('h1').innerText(), 'Access denied');
    assert.match(await page.locator('body').innerText(), /You are signed in, but your account is not allowed/);
    await logged(page, 'app app does not allow this user');
    await page.close();
  });
});
