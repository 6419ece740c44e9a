// One instance, two cookie domains: sign-in at the portal on example.test, and the session
// carried to other.test by a one-time ticket, redeemed either at the /oauth2/ticket route
// (nginx, reverse-proxy mode) or through forward auth (Traefik, Caddy).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/index.ts';
import { cookieValue, send, setCookieFor } from '../kit/http.ts';
import {
  ALICE,
  type Answer,
  baseConfig,
  BROWSER,
  cookieHeader,
  forwardAuth,
  type Instance,
  openForm,
  PASSWORD,
  postSignIn,
  startInstance,
} from '../kit/server.ts';

const RD = 'https://app.other.test/x?y=1';

function config(dir: string) {
  return baseConfig(dir, {
    domains: [{ domain: 'example.test' }, { domain: 'other.test' }],
    apps: [
      { name: 'app', hosts: ['app.example.test'], allow: { groups: ['admins'] } },
      { name: 'other', hosts: ['app.other.test', 'evil.other.test'], allow: { groups: ['admins'] } },
    ],
  });
}

describe('cross-domain sign-in with tickets', () => {
  let inst: Instance;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  before(async () => {
    inst = await startInstance({ users: [ALICE], clock, config });
  });
  after(async () => {
    await inst.close();
  });

  /** Sign in at the portal with rd on other.test; returns the ticket hop URL and the portal cookie. */
  async function signInForOther(rd = RD): Promise<{ hop: URL; portalCookie: string; answer: Answer }> {
    const form = await openForm(inst, rd);
    const answer = await postSignIn(inst, form, { username: 'alice', password: PASSWORD });
    assert.equal(answer.status, 303);
    const portalCookie = cookieValue(answer.setCookies, inst.running.settings().cookieName);
    assert.ok(portalCookie);
    return { hop: new URL(String(answer.headers.location)), portalCookie, answer };
  }

  const redeemAtRoute = (hop: URL, host = hop.host) =>
    send(inst.port, { path: hop.pathname + hop.search, headers: { host, 'x-forwarded-proto': 'https', ...BROWSER } });

  test('the sign-in answers 303 to the ticket hop on the other domain, carrying rd', async () => {
    const { hop, answer } = await signInForOther();
    assert.equal(hop.origin, 'https://app.other.test');
    assert.equal(hop.pathname, '/oauth2/ticket');
    assert.deepEqual([...hop.searchParams.keys()], ['t', 'rd']);
    assert.match(hop.searchParams.get('t')!, /^[A-Za-z0-9_-]{16,64}$/);
    assert.equal(hop.searchParams.get('rd'), RD);
    assert.equal(
      String(answer.headers.location),
      `https://app.other.test/oauth2/ticket?t=${hop.searchParams.get('t')}&rd=${encodeURIComponent(RD)}`,
    );
    // The portal's own cookie is on the portal's domain.
    assert.match(String(setCookieFor(answer.setCookies, inst.running.settings().cookieName)), /; Domain=example\.test; /);
  });

  test('redeemed at /oauth2/ticket on app.other.test: 302 to rd with a cookie for other.test, which then passes forward auth', async () => {
    const { hop } = await signInForOther();
    const a = await redeemAtRoute(hop);
    const name = inst.running.settings().cookieName;
    assert.equal(a.status, 302);
    assert.equal(a.headers.location, RD);
    assert.equal(a.headers['cache-control'], 'no-store');
    const set = setCookieFor(a.setCookies, name);
    assert.match(
      String(set),
      new RegExp(`^${name}=[A-Za-z0-9_-]+; Domain=other\\.test; Path=/; Max-Age=604800; Secure; HttpOnly; SameSite=Lax$`),
    );
    const cookie = cookieValue(a.setCookies, name)!;
    const fa = await forwardAuth(inst.port, RD, { cookie: cookieHeader(inst, cookie) });
    assert.equal(fa.status, 202);
    assert.equal(fa.headers['x-auth-request-user'], 'alice');
  });

  test('redeemed through forward auth (X-Forwarded-Uri: /oauth2/ticket?…): the same 302 and cookie', async () => {
    const { hop } = await signInForOther();
    const a = await forwardAuth(inst.port, hop.href);
    assert.equal(a.status, 302);
    assert.equal(a.headers.location, RD);
    assert.match(
      String(setCookieFor(a.setCookies, inst.running.settings().cookieName)),
      /; Domain=other\.test; Path=\/; Max-Age=604800; Secure; HttpOnly; SameSite=Lax$/,
    );
  });

  test('a ticket is single-use: the second redemption is 400, at the route or through forward auth', async () => {
    const { hop } = await signInForOther();
    assert.equal((await redeemAtRoute(hop)).status, 302);
    const again = await redeemAtRoute(hop);
    assert.equal(again.status, 400);
    assert.equal(again.setCookies.length, 0);
    assert.match(again.body, /This sign-in link has expired or was already used\./);
    assert.equal((await forwardAuth(inst.port, hop.href)).status, 400);
  });

  test('a ticket made for app.other.test is refused at evil.other.test (even with rd there), and is spent', async () => {
    const { hop } = await signInForOther();
    const stolen = new URL(hop);
    stolen.host = 'evil.other.test';
    stolen.searchParams.set('rd', 'https://evil.other.test/');
    const a = await redeemAtRoute(stolen);
    assert.equal(a.status, 400);
    assert.equal(a.setCookies.length, 0);
    const viaGate = await forwardAuth(inst.port, hop.href.replace('app.other.test', 'evil.other.test'));
    assert.equal(viaGate.status, 400);
  });

  test('a ticket whose rd points at another host than its own is refused', async () => {
    const { hop } = await signInForOther();
    const moved = new URL(hop);
    moved.searchParams.set('rd', 'https://app.example.test/');
    assert.equal((await redeemAtRoute(moved)).status, 400);
  });

  test('a ticket older than a minute is refused', async () => {
    const { hop } = await signInForOther();
    clock.advance(60_001);
    assert.equal((await redeemAtRoute(hop)).status, 400);
  });

  test('a forged ticket is refused', async () => {
    const forged = new URL(`https://app.other.test/oauth2/ticket?t=${'A'.repeat(32)}&rd=${encodeURIComponent(RD)}`);
    assert.equal((await redeemAtRoute(forged)).status, 400);
  });

  test('an already signed-in browser starting at the portal for other.test gets a ticket hop at once', async () => {
    const { portalCookie } = await signInForOther();
    const a = await send(inst.port, {
      path: `/oauth2/start?rd=${encodeURIComponent(RD)}`,
      headers: { host: 'auth.example.test', cookie: cookieHeader(inst, portalCookie), ...BROWSER },
    });
    assert.equal(a.status, 302);
    const hop = new URL(String(a.headers.location));
    assert.equal(hop.origin + hop.pathname, 'https://app.other.test/oauth2/ticket');
    assert.equal((await redeemAtRoute(hop)).status, 302);
  });

  test('sign-out at the portal ends the session on both domains', async () => {
    const { hop, portalCookie } = await signInForOther();
    const otherCookie = cookieValue((await redeemAtRoute(hop)).setCookies, inst.running.settings().cookieName)!;
    assert.equal((await forwardAuth(inst.port, RD, { cookie: cookieHeader(inst, otherCookie) })).status, 202);
    const out = await send(inst.port, {
      method: 'POST',
      path: '/oauth2/sign_out',
      headers: { host: 'auth.example.test', cookie: cookieHeader(inst, portalCookie), ...BROWSER },
    });
    assert.equal(out.status, 200);
    assert.equal((await forwardAuth(inst.port, RD, { cookie: cookieHeader(inst, otherCookie) })).status, 302);
    assert.equal((await forwardAuth(inst.port, 'https://app.example.test/', { cookie: cookieHeader(inst, portalCookie) })).status, 302);
  });

  test("sign-out on an app host of the other domain clears that domain's cookie and ends the session everywhere", async () => {
    const { hop, portalCookie } = await signInForOther();
    const otherCookie = cookieValue((await redeemAtRoute(hop)).setCookies, inst.running.settings().cookieName)!;
    const name = inst.running.settings().cookieName;
    const out = await send(inst.port, {
      path: `/oauth2/sign_out?rd=${encodeURIComponent('https://app.other.test/bye')}`,
      headers: { host: 'app.other.test', 'x-forwarded-proto': 'https', cookie: cookieHeader(inst, otherCookie) },
    });
    assert.equal(out.status, 302);
    assert.equal(out.headers.location, 'https://app.other.test/bye');
    assert.equal(setCookieFor(out.setCookies, name), `${name}=; Domain=other.test; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax`);
    assert.equal((await forwardAuth(inst.port, 'https://app.example.test/', { cookie: cookieHeader(inst, portalCookie) })).status, 302);
  });
});
