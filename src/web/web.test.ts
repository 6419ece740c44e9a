// The web shell's builders: cookies (attributes byte for byte), portal URLs under publicUrl's
// path, the layout with its assets, pages with their CSP, redirects and exact answers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KeyRing } from '../crypto/index.ts';
import {
  answer,
  ASSETS,
  clearLoginCookie,
  clearSessionCookie,
  defineAsset,
  formGuard,
  layout,
  loginCookie,
  messagePage,
  newSessionCookie,
  portalBase,
  portalPath,
  portalUrl,
  redirectTo,
  sendPage,
  serveAsset,
  sessionCookie,
  underPortalBase,
} from './index.ts';
import { STYLESHEET } from './assets.ts';

const ring = KeyRing.fromSecrets(['a'.repeat(64)]);
const at = (publicUrl: string) => ({
  publicUrl: new URL(publicUrl),
  portalHost: new URL(publicUrl).host,
  cookieName: '_gatehouse',
  secureCookies: true,
  domains: [{ domain: 'example.org', allowHttp: false }],
  keyring: ring,
  loginStateMs: 600_000,
  sessionLifetimeMs: 86_400_000,
});
const ROOT = at('https://auth.example.org/');
const UNDER = at('https://www.example.org/auth');

test("portal URLs: every address under publicUrl's path, with or without a trailing slash", () => {
  for (const [s, base] of [
    [ROOT, ''],
    [UNDER, '/auth'],
    [at('https://www.example.org/auth/'), '/auth'],
  ] as const) {
    assert.equal(portalBase(s), base);
    assert.equal(portalPath(s, '/oauth2/sign_in'), `${base}/oauth2/sign_in`);
    assert.equal(
      portalPath(s, '/oauth2/start', { rd: 'https://a.example.org/?x=1&y', provider: 'gh' }),
      `${base}/oauth2/start?rd=https%3A%2F%2Fa.example.org%2F%3Fx%3D1%26y&provider=gh`,
    );
    assert.equal(portalUrl(s, '/'), `${s.publicUrl.origin}${base}/`);
  }
  assert.ok(
    underPortalBase(UNDER, '/auth/oauth2/x') &&
      underPortalBase(UNDER, '/auth') &&
      !underPortalBase(UNDER, '/authx') &&
      !underPortalBase(UNDER, '/oauth2/x'),
  );
});

test('the session cookie: the configured domain, path /, Secure, HttpOnly, SameSite=Lax; host-only outside the domains', () => {
  assert.equal(
    sessionCookie(ROOT, 'app.example.org', 'v', 60),
    '_gatehouse=v; Domain=example.org; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax',
  );
  assert.equal(
    newSessionCookie(ROOT, 'app.example.org', 'v'),
    '_gatehouse=v; Domain=example.org; Path=/; Max-Age=86400; Secure; HttpOnly; SameSite=Lax',
  );
  assert.equal(clearSessionCookie(ROOT, 'other.test'), '_gatehouse=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax');
});

test("the login cookie and the form cookie: only under the portal's path", () => {
  assert.equal(loginCookie(UNDER, 's'), '_gatehouse_login=s; Path=/auth/oauth2/; Max-Age=600; Secure; HttpOnly; SameSite=Lax');
  assert.equal(clearLoginCookie(ROOT), '_gatehouse_login=; Path=/oauth2/; Max-Age=0; Secure; HttpOnly; SameSite=Lax');
  assert.equal(formGuard(UNDER, 0).path, '/auth/');
  assert.equal(formGuard(ROOT, 0).path, '/');
});

test('assets: a content-hashed path; the layout links the stylesheet and scripts under the base path, never inline script', () => {
  const a = defineAsset('passkey.js', 'document.body.dataset.ready = "1";');
  const b = defineAsset('passkey.js', 'document.body.dataset.ready = "2";');
  assert.match(a.path, /^\/oauth2\/static\/[0-9a-f]{12}\/passkey\.js$/);
  assert.notEqual(a.path, b.path, 'a changed script is a new path (cached forever)');
  assert.equal(a.contentType, 'text/javascript; charset=utf-8');
  assert.throws(() => defineAsset('../x.js', ''), /asset name/);
  assert.throws(() => defineAsset('x.html', ''), /asset name/);
  assert.ok(ASSETS.includes(STYLESHEET));
  const html = layout(UNDER, 'T', '<p>x</p>', { scripts: [a] });
  assert.ok(html.includes(`<link rel="stylesheet" href="/auth${STYLESHEET.path}">`), html);
  assert.ok(html.includes(`<script src="/auth${a.path}" defer></script>`), html);
  assert.equal(html.match(/<script/g)?.length, 1);
  assert.ok(messagePage(UNDER, 'T', 'm', undefined, { absolute: true }).includes(`href="https://www.example.org/auth${STYLESHEET.path}"`));
});

const SCRIPT = defineAsset('probe.js', 'void 0;');
const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  '/page': (_q, r) =>
    sendPage(r, ROOT, 200, '<p>x</p>', {
      formTargets: ['https://app.example.org', 'https://auth.example.org', 'https://app.example.org'],
      setCookie: 'a=1',
    }),
  '/script-page': (_q, r) =>
    sendPage(r, at('http://auth.example.org/'), 400, '<p>x</p>', { scripts: true, headers: { 'retry-after': '3' } }),
  '/redirect': (_q, r) => redirectTo(r, 303, 'https://app.example.org/', ['a=1', 'b=2']),
  '/answer': (_q, r) => answer(r, 202, { 'x-user': 'alice', 'cache-control': 'no-store' }),
  '/asset': serveAsset(SCRIPT),
};
const server = createServer((req, res) => (routes[req.url ?? ''] ?? ((_q, r) => answer(r, 404, {})))(req, res));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
after(() => new Promise<void>((r) => server.close(() => r())));

function get(path: string): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    request({ port: (server.address() as AddressInfo).port, path, agent: false }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (c: string) => {
          body += c;
        })
        .on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}

test('sendPage: html, no-store, the security headers (HSTS on https), form-action with the other origins once', async () => {
  const r = await get('/page');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.equal(
    r.headers['content-security-policy'],
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self' https://app.example.org",
  );
  assert.equal(r.headers['strict-transport-security'], 'max-age=31536000');
  assert.equal(r.headers['x-frame-options'], 'DENY');
  assert.equal(r.headers['referrer-policy'], 'same-origin');
  assert.deepEqual(r.headers['set-cookie'], ['a=1']);
});

test("sendPage with scripts: script-src 'self' (no inline, no nonce needed); no HSTS on http", async () => {
  const r = await get('/script-page');
  assert.equal(r.status, 400);
  assert.equal(
    r.headers['content-security-policy'],
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; script-src 'self'; form-action 'self'",
  );
  assert.equal(r.headers['strict-transport-security'], undefined);
  assert.equal(r.headers['retry-after'], '3');
});

test('redirectTo: location, no-store, every cookie; answer: exactly the headers given', async () => {
  const r = await get('/redirect');
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, 'https://app.example.org/');
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
  const a = await get('/answer');
  assert.equal(a.status, 202);
  assert.equal(a.headers['x-user'], 'alice');
  assert.equal(a.body, '');
});

test('a script asset: its type, nosniff, cached forever', async () => {
  const r = await get('/asset');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(r.body, 'void 0;');
});
