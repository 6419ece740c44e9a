// Pages that tell the truth: an anonymous visitor, a signed-in user who is not allowed, a host no
// app covers, an address closed to everyone and a malformed path each get their own words (with
// the request id that ties the page to the log line, and the `gatehouse explain` to run), in
// forward auth and in reverse-proxy mode. And the first-run banner prints only URLs that work.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { embeddedConfig } from '../../src/config/defaults.ts';
import { startGatehouse } from '../../src/app/index.ts';
import { MemoryLogger } from '../../src/core/index.ts';
import { send } from '../kit/http.ts';
import { ALICE, type Answer, baseConfig, BOB, cookieHeader, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';
import { tempDir } from '../kit/temp.ts';

const SIGNED_IN_WORDS = /You are signed in/;

/** The page's request id, which must be the response's x-request-id and in the log line. */
function pageRequestId(a: Answer): string {
  const m = /Request id: <code>([^<]+)<\/code>/.exec(a.body);
  assert.ok(m, `no request id in ${a.body}`);
  assert.equal(a.headers['x-request-id'], m[1]);
  return m[1] as string;
}

describe('refusal pages say why', () => {
  let upstream: Server;
  let inst: Instance;
  let bob: string;
  let upstreamHits = 0;
  before(async () => {
    upstream = createServer((_req, res) => {
      upstreamHits++;
      res.writeHead(200);
      res.end('app');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    inst = await startInstance({
      users: [ALICE, BOB],
      config: (dir) =>
        baseConfig(dir, {
          apps: [
            { name: 'app', hosts: ['app.example.test'], allow: { groups: ['admins'] } },
            { name: 'closed', hosts: ['closed.example.test'], deny: true },
            { name: 'proxied', hosts: ['proxied.example.test'], allow: { groups: ['admins'] }, upstream: `http://127.0.0.1:${port}` },
            { name: 'proxied-closed', hosts: ['shut.example.test'], deny: true, upstream: `http://127.0.0.1:${port}` },
            { name: 'docs', hosts: ['two.example.test'], paths: ['/docs'], public: true },
            { name: 'www', hosts: ['two.example.test'], public: true },
          ],
        }),
    });
    bob = cookieHeader(inst, (await signIn(inst, 'bob')).value);
  });
  after(async () => {
    await inst.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  const deniedLog = (id: string) =>
    inst.logger.lines.find((l) => (l.msg === 'forward auth: denied' || l.msg === 'reverse proxy: denied') && l.fields.requestId === id);

  test('an anonymous visitor at a host no app covers: "no app here", never "you are signed in"', async () => {
    const a = await forwardAuth(inst.port, 'https://nothing.example.test/x?y=1');
    assert.equal(a.status, 403);
    assert.equal(a.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(a.body, /<h1>No app here<\/h1>/);
    assert.match(a.body, /Gatehouse has no app configured for this address, so nobody can open it, signed in or not\./);
    assert.doesNotMatch(a.body, SIGNED_IN_WORDS);
    assert.match(a.body, /<code>gatehouse explain https:\/\/nothing\.example\.test\/x\?y=1<\/code>/);
    const id = pageRequestId(a);
    assert.equal(deniedLog(id)?.fields.reason, 'no rule matched (default deny)');
    // A signed-in user there reads the same: it is about the address, not the account.
    const signed = await forwardAuth(inst.port, 'https://nothing.example.test/', { cookie: bob });
    assert.match(signed.body, /<h1>No app here<\/h1>/);
    const api = await forwardAuth(inst.port, 'https://nothing.example.test/', { headers: { accept: 'application/json' } });
    assert.equal(api.status, 403);
    assert.equal(api.body, '{"error":"access_denied","error_description":"no app is configured for this address"}');
  });

  test('signed in but not allowed: "access denied" for the account, with the explain command for a user', async () => {
    const a = await forwardAuth(inst.port, 'https://app.example.test/', { cookie: bob });
    assert.equal(a.status, 403);
    assert.match(a.body, /<h1>Access denied<\/h1>/);
    assert.match(a.body, SIGNED_IN_WORDS);
    assert.match(a.body, /<code>gatehouse explain https:\/\/app\.example\.test\/ --user &lt;your username&gt;<\/code>/);
    assert.equal(deniedLog(pageRequestId(a))?.fields.reason, 'app app does not allow this user');
  });

  test('an address closed to everyone: its own words, for anonymous and signed-in alike', async () => {
    for (const cookie of [undefined, bob]) {
      const a = await forwardAuth(inst.port, 'https://closed.example.test/', cookie ? { cookie } : {});
      assert.equal(a.status, 403);
      assert.match(a.body, /<h1>This address is closed<\/h1>/);
      assert.doesNotMatch(a.body, SIGNED_IN_WORDS);
      assert.equal(deniedLog(pageRequestId(a))?.fields.reason, 'app closed denies everyone');
    }
    const api = await forwardAuth(inst.port, 'https://closed.example.test/', { headers: { accept: 'application/json' } });
    assert.equal(api.body, '{"error":"access_denied","error_description":"this address refuses every visitor"}');
  });

  test('a malformed path: 400 with its own words (nginx, which passes only 401/403 on, gets an empty 403)', async () => {
    const a = await forwardAuth(inst.port, 'https://app.example.test/', { headers: { 'x-forwarded-uri': '/a%00b' } });
    assert.equal(a.status, 400);
    assert.match(a.body, /<h1>Address not accepted<\/h1>/);
    pageRequestId(a);
    const api = await forwardAuth(inst.port, 'https://app.example.test/', {
      headers: { 'x-forwarded-uri': '/a%zz', accept: 'application/json' },
    });
    assert.equal(api.status, 400);
    assert.equal(api.body, '{"error":"invalid_request","error_description":"the request path is malformed"}');
    const nginx = await send(inst.port, {
      path: '/oauth2/auth',
      headers: {
        host: 'gatehouse.internal',
        'x-original-url': 'https://app.example.test/a%00b',
        'x-original-method': 'GET',
        accept: 'text/html',
      },
    });
    assert.equal(nginx.status, 403);
    assert.equal(nginx.body, '');
  });

  test('an ambiguous path is never public: 400 with its own words', async () => {
    const a = await forwardAuth(inst.port, 'https://two.example.test/', { headers: { 'x-forwarded-uri': '/docs/..%2Fx' } });
    assert.equal(a.status, 400);
    assert.match(a.body, /Servers would read this address in different ways/);
    assert.equal(deniedLog(pageRequestId(a))?.fields.reason, 'ambiguous path: servers read it differently, and it is never public');
    const api = await forwardAuth(inst.port, 'https://two.example.test/', {
      headers: { 'x-forwarded-uri': '/docs/..%2Fx', accept: 'application/json' },
    });
    assert.equal(
      api.body,
      '{"error":"invalid_request","error_description":"the request path is ambiguous: servers would read it differently"}',
    );
    // Each reading alone is public.
    assert.equal((await forwardAuth(inst.port, 'https://two.example.test/docs/a')).status, 202);
    assert.equal((await forwardAuth(inst.port, 'https://two.example.test/x')).status, 202);
  });

  test('reverse-proxy mode: the same pages, and the upstream never called', async () => {
    const get = (host: string, path: string, cookie?: string) =>
      send(inst.port, { path, headers: { host, accept: 'text/html', ...(cookie ? { cookie } : {}) } });
    const notAllowed = await get('proxied.example.test', '/', bob);
    assert.equal(notAllowed.status, 403);
    assert.match(notAllowed.body, /<h1>Access denied<\/h1>/);
    assert.equal(deniedLog(pageRequestId(notAllowed))?.fields.reason, 'app proxied does not allow this user');
    const closed = await get('shut.example.test', '/');
    assert.equal(closed.status, 403);
    assert.match(closed.body, /<h1>This address is closed<\/h1>/);
    assert.doesNotMatch(closed.body, SIGNED_IN_WORDS);
    pageRequestId(closed);
    assert.equal(upstreamHits, 0);
  });
});

describe('the first-run banner prints only URLs that work', () => {
  test('every URL in the banner of the embedded demo opens a real page (following redirects), never a refusal', async () => {
    const dir = await tempDir();
    const loaded = embeddedConfig(dir);
    const config = { ...loaded.config, listen: { ...loaded.config.listen, port: 0 } };
    const announced: string[] = [];
    const running = await startGatehouse({
      loaded: { ...loaded, config },
      logger: new MemoryLogger(),
      env: {},
      announce: (l) => announced.push(l),
    });
    try {
      const banner = announced.join('\n');
      const urls = [...banner.matchAll(/https?:\/\/[^\s,]+/g)].map((m) => m[0]);
      assert.deepEqual(urls, ['http://localhost:4180/oauth2/sign_in', 'http://localhost:4180/'], banner);
      assert.match(banner, new RegExp(`is ready, listening on 127\\.0\\.0\\.1:${running.port}$`, 'm'));
      for (const start of urls) {
        // The test instance listens on another port than publicUrl's: connect there, keep the Host.
        let url = new URL(start);
        let a: Answer | undefined;
        for (let hop = 0; hop < 5; hop++) {
          a = await send(running.port, { path: url.pathname + url.search, headers: { host: url.host, accept: 'text/html' } });
          if (a.status !== 302 && a.status !== 303) break;
          url = new URL(a.headers.location ?? '', url);
        }
        assert.equal(a?.status, 200, `${start} ends at ${url.href} with ${a?.status}`);
        assert.match(a?.body ?? '', /<form[^>]+method="post"/i, `${start} ends at the sign-in form`);
      }
    } finally {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
