// A real browser (Debian's Chromium through playwright-core) signing in through nginx and through
// Caddy, each running the config from docs/proxies/, and crossing to a second registrable domain.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../kit/chromium.ts';
import { addUser } from '../kit/process.ts';
import { headerValues } from '../kit/spoofing.ts';
import { type Stack, startStack } from '../kit/stack.ts';

const PASSWORD = 'correct horse battery staple';

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

/** Every main-frame document the page loaded, as [status, url]. */
function recordDocuments(page: Page): Array<[number, string]> {
  const docs: Array<[number, string]> = [];
  page.on('response', (r) => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) docs.push([r.status(), r.url()]);
  });
  return docs;
}

async function fillSignIn(page: Page, username: string, password: string): Promise<void> {
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('form button[type="submit"], form input[type="submit"]').first().click();
}

for (const kind of ['nginx', 'caddy'] as const) {
  describe(`Chromium through ${kind} (docs/proxies/${kind})`, () => {
    let s: Stack;
    let ctx: BrowserContext;

    before(async () => {
      s = await startStack(kind);
      await addUser(s.gh, 'alice', PASSWORD, ['admins']);
      await addUser(s.gh, 'bob', PASSWORD, []);
      ctx = await browser.newContext();
      ctx.setDefaultTimeout(10_000);
    });
    after(async () => {
      await ctx?.close();
      await s?.stop();
    });

    test(`${kind === 'nginx' ? '(a)' : '(b)'} a protected URL leads to sign-in and back to the exact original URL`, async () => {
      const page = await ctx.newPage();
      const target = s.url('app.example.test', '/some/path?q=1&x=%2F');
      await page.goto(target);
      assert.equal(new URL(page.url()).host, `auth.example.test:${s.port}`, 'the sign-in page is on the portal');
      await fillSignIn(page, 'alice', PASSWORD);
      await page.waitForURL(target);
      assert.equal(page.url(), target);
      const body = JSON.parse(await page.locator('body').innerText()) as { url: string; headers: Array<[string, string]> };
      assert.equal(body.url, '/some/path?q=1&x=%2F');
      const seen = s.app.seen.filter((r) => r.url === '/some/path?q=1&x=%2F').at(-1);
      assert.ok(seen !== undefined);
      assert.deepEqual(headerValues(seen, 'X-Auth-Request-User'), ['alice']);
      assert.deepEqual(headerValues(seen, 'X-Auth-Request-Groups'), ['admins']);
      await page.close();
    });

    test('(c) the second domain signs in through the ticket hop without the password form', async () => {
      const page = await ctx.newPage();
      const docs = recordDocuments(page);
      const target = s.url('app2.other.test', '/other?y=1&z=%2F');
      await page.goto(target);
      await page.waitForURL(target);
      assert.equal(page.url(), target);
      assert.equal(await page.locator('input[type="password"]').count(), 0);
      assert.deepEqual(
        docs.filter(([st]) => st === 200).map(([, u]) => u),
        [target],
        `documents: ${JSON.stringify(docs)}`,
      );
      const seen = s.app.seen.filter((r) => r.url === '/other?y=1&z=%2F').at(-1);
      assert.ok(seen !== undefined);
      assert.deepEqual(headerValues(seen, 'X-Auth-Request-User'), ['alice']);
      await page.close();
    });

    test('(h) a signed-in user outside the group gets 403', async () => {
      const other = await browser.newContext();
      try {
        other.setDefaultTimeout(10_000);
        const page = await other.newPage();
        await page.goto(s.url('app.example.test', '/admin'));
        const answer = page.waitForResponse((r) => r.url() === s.url('app.example.test', '/admin'));
        await fillSignIn(page, 'bob', PASSWORD);
        const res = await answer;
        assert.equal(res.status(), 403);
        if (kind === 'caddy') {
          // Caddy hands Gatehouse's own page to the browser; nginx shows its own 403 page.
          assert.equal(await page.locator('h1').innerText(), 'Access denied');
        }
        assert.equal(s.app.seen.filter((r) => r.url === '/admin').length, 0);
      } finally {
        await other.close();
      }
    });
  });
}
