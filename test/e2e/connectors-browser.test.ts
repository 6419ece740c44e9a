// Chromium through nginx (docs/proxies/nginx) signing in with an upstream provider (the fake
// GitHub over real HTTP): protected URL -> the chooser -> GitHub -> back at the original URL.
// Counts the browser's redirects on the way: oauth2-proxy in front of Dex takes six; the target
// is four or fewer. The count is quoted in docs/connectors.md.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../kit/chromium.ts';
import { headerValues } from '../kit/spoofing.ts';
import { type Stack, startStack } from '../kit/stack.ts';
import { type FakeGithub, startFakeGithub } from '../kit/fake-providers.ts';

/** Every main-frame navigation response, as [status, url]. */
function recordNavigations(page: Page): Array<[number, string]> {
  const docs: Array<[number, string]> = [];
  page.on('response', (r) => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) docs.push([r.status(), r.url()]);
  });
  return docs;
}

const redirects = (docs: Array<[number, string]>) => docs.filter(([st]) => st >= 300 && st < 400);

function connectorYaml(gh: FakeGithub, extra = ''): string {
  return [
    'connectors:',
    `  - { id: github, type: github, clientId: ${gh.clientId}, clientSecret: ${gh.clientSecret}, baseUrl: "${gh.url}", apiUrl: "${gh.url}",`,
    '      allow: { orgs: [acme] }, createAccounts: auto, groups: { map: { "acme:admins": admins } } }',
    extra,
  ].join('\n');
}

let browser: Browser;
let gh: FakeGithub;
before(async () => {
  browser = await launchChromium();
  gh = await startFakeGithub();
});
after(async () => {
  await browser?.close();
  await gh?.close();
});

const octocat = {
  id: 583231,
  login: 'octocat',
  name: 'The Octocat',
  emails: [{ email: 'octo@example.test', primary: true, verified: true }],
  orgs: ['acme'],
  teams: [['acme', 'admins']] as [string, string][],
};

describe('Chromium through nginx: sign-in with GitHub', () => {
  let s: Stack;
  let ctx: BrowserContext;
  before(async () => {
    s = await startStack('nginx', { extra: connectorYaml(gh) });
    ctx = await browser.newContext();
    ctx.setDefaultTimeout(10_000);
  });
  after(async () => {
    await ctx?.close();
    await s?.stop();
  });

  test('protected URL -> chooser -> GitHub -> the original URL, in four redirects', async () => {
    gh.next = octocat;
    const page = await ctx.newPage();
    const docs = recordNavigations(page);
    const target = s.url('app.example.test', '/some/path?q=1&x=%2F');
    await page.goto(target);
    assert.equal(new URL(page.url()).host, `auth.example.test:${s.port}`, 'the chooser is on the portal');
    await page.locator('a.provider', { hasText: 'Continue with GitHub' }).click();
    await page.waitForURL(target);
    assert.equal(page.url(), target);
    const body = JSON.parse(await page.locator('body').innerText()) as { url: string };
    assert.equal(body.url, '/some/path?q=1&x=%2F');
    const seen = s.app.seen.filter((r) => r.url === '/some/path?q=1&x=%2F').at(-1);
    assert.ok(seen !== undefined);
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-User'), ['octocat']);
    assert.deepEqual(headerValues(seen, 'X-Auth-Request-Groups'), ['acme,admins']);
    const hops = redirects(docs).map(([st, u]) => `${st} ${new URL(u).host}${new URL(u).pathname}`);
    assert.deepEqual(
      hops,
      [
        `302 app.example.test:${s.port}/some/path`,
        `302 auth.example.test:${s.port}/oauth2/start`,
        `302 ${new URL(gh.url).host}/login/oauth/authorize`,
        `303 auth.example.test:${s.port}/oauth2/callback`,
      ],
      JSON.stringify(docs),
    );
    await page.close();
  });

  test('refused (not in the org): a page with a way out, no loop', async () => {
    const other = await browser.newContext();
    try {
      gh.next = { ...octocat, id: 9, login: 'mallory', orgs: ['evil'], teams: [] };
      const page = await other.newPage();
      const docs = recordNavigations(page);
      await page.goto(s.url('app.example.test', '/x'));
      await page.locator('a.provider').click();
      await page.waitForLoadState('load');
      assert.equal(await page.locator('h1').innerText(), 'Not allowed');
      assert.equal(await page.locator('a', { hasText: 'Try another account' }).count(), 1);
      assert.equal(docs.at(-1)?.[0], 403);
    } finally {
      await other.close();
    }
  });
});

describe('Chromium through nginx: one provider and no local accounts', () => {
  let s: Stack;
  let ctx: BrowserContext;
  before(async () => {
    s = await startStack('nginx', { extra: `${connectorYaml(gh)}\nsignIn: { localAccounts: false }` });
    ctx = await browser.newContext();
    ctx.setDefaultTimeout(10_000);
  });
  after(async () => {
    await ctx?.close();
    await s?.stop();
  });

  test('straight to GitHub without a page in between: four redirects, no click', async () => {
    gh.next = octocat;
    const page = await ctx.newPage();
    const docs = recordNavigations(page);
    const target = s.url('app.example.test', '/y');
    await page.goto(target);
    await page.waitForURL(target);
    assert.equal(redirects(docs).length, 4, JSON.stringify(docs));
    assert.deepEqual(
      docs.filter(([st]) => st === 200).map(([, u]) => u),
      [target],
    );
    await page.close();
  });
});
