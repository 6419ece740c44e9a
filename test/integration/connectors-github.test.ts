// Sign-in with GitHub, in process, against a fake GitHub over real HTTP: the whole flow from the
// portal's button to a session the gate accepts; refusals (wrong org, an unverified email that
// must not link, state mismatch, access_denied); and removal from the org ending the session at
// the next refresh.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/index.ts';
import { cookieValue, send, setCookieFor } from '../kit/http.ts';
import { until } from '../kit/poll.ts';
import { ALICE, type Answer, baseConfig, BROWSER, cookieHeader, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { type FakeGithub, type GithubUser, startFakeGithub } from '../kit/fake-providers.ts';

const CALLBACK = 'https://auth.example.test/oauth2/callback';
const RD = 'https://app.example.test/x?y=1';

const octocat = (over: Partial<GithubUser> = {}): GithubUser => ({
  id: 583231,
  login: 'octocat',
  name: 'The Octocat',
  emails: [
    { email: 'octo@example.test', primary: true, verified: true },
    { email: 'other@example.test', primary: false, verified: true },
  ],
  orgs: ['Acme'],
  teams: [
    ['Acme', 'Admins'],
    ['Acme', 'web'],
  ],
  ...over,
});

describe('GitHub connector', () => {
  let gh: FakeGithub;
  let inst: Instance;
  const clock = new ManualClock(Date.now());
  const portal = (path: string, cookie?: string): Promise<Answer> =>
    send(inst.port, {
      path,
      headers: { host: 'auth.example.test', 'x-forwarded-proto': 'https', ...BROWSER, ...(cookie ? { cookie } : {}) },
    });
  const loginName = () => `${inst.running.settings().cookieName}_login`;

  /** Button -> GitHub -> callback. Returns the callback's answer. */
  async function signInWith(provider: string, opts: { rd?: string; tamper?: (q: URLSearchParams) => void } = {}): Promise<Answer> {
    const start = await portal(`/oauth2/start?provider=${provider}&rd=${encodeURIComponent(opts.rd ?? RD)}`);
    assert.equal(start.status, 302);
    const login = cookieValue(start.setCookies, loginName());
    assert.ok(login, 'the login state cookie is set');
    const upstream = await fetch(String(start.headers.location), { redirect: 'manual' });
    const back = new URL(String(upstream.headers.get('location')));
    assert.equal(`${back.origin}${back.pathname}`, CALLBACK);
    opts.tamper?.(back.searchParams);
    return portal(`/oauth2/callback${back.search}`, `${loginName()}=${login}`);
  }

  before(async () => {
    gh = await startFakeGithub();
    inst = await startInstance({
      clock,
      users: [ALICE],
      config: (dir) =>
        baseConfig(dir, {
          connectors: [
            {
              id: 'github',
              type: 'github',
              clientId: gh.clientId,
              clientSecret: gh.clientSecret,
              baseUrl: gh.url,
              apiUrl: gh.url,
              allow: { orgs: ['acme'] },
              createAccounts: 'auto',
              groups: { map: { 'acme:admins': 'admins' }, prefix: 'gh:' },
              refreshInterval: '5m',
            },
            {
              id: 'gh-invite',
              name: 'GitHub (invited)',
              type: 'github',
              clientId: gh.clientId,
              clientSecret: gh.clientSecret,
              baseUrl: gh.url,
              apiUrl: gh.url,
              createAccounts: 'invite',
              linkByEmail: true,
            },
          ],
        }),
    });
  });
  after(async () => {
    await inst.close();
    await gh.close();
  });
  beforeEach(() => {
    gh.next = octocat();
  });

  test('the sign-in page shows one button per connector, carrying rd', async () => {
    const page = await portal(`/oauth2/start?rd=${encodeURIComponent(RD)}`);
    assert.equal(page.status, 200);
    const rd = encodeURIComponent(RD).replaceAll('&', '&amp;');
    assert.ok(
      page.body.includes(`<a class="button provider" href="/oauth2/start?provider=github&amp;rd=${rd}">Continue with GitHub</a>`),
      page.body,
    );
    assert.ok(
      page.body.includes(
        `<a class="button provider" href="/oauth2/start?provider=gh-invite&amp;rd=${rd}">Continue with GitHub (invited)</a>`,
      ),
    );
    assert.ok(page.body.includes('name="password"'), 'the local form is still there');
  });

  test('start sends the browser to GitHub with state, PKCE S256 and the one callback URL', async () => {
    const start = await portal(`/oauth2/start?provider=github&rd=${encodeURIComponent(RD)}`);
    assert.equal(start.status, 302);
    assert.equal(start.headers['cache-control'], 'no-store');
    const to = new URL(String(start.headers.location));
    assert.equal(`${to.origin}${to.pathname}`, `${gh.url}/login/oauth/authorize`);
    assert.deepEqual([...to.searchParams.keys()].sort(), [
      'allow_signup',
      'client_id',
      'code_challenge',
      'code_challenge_method',
      'redirect_uri',
      'scope',
      'state',
    ]);
    assert.equal(to.searchParams.get('redirect_uri'), CALLBACK);
    assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(to.searchParams.get('scope'), 'read:user user:email read:org');
    assert.match(String(to.searchParams.get('state')), /^[A-Za-z0-9_-]{24}$/);
    assert.match(
      String(setCookieFor(start.setCookies, loginName())),
      new RegExp(`^${loginName()}=[A-Za-z0-9_-]+; Path=/oauth2/; Max-Age=900; Secure; HttpOnly; SameSite=Lax$`),
    );
  });

  test('a full sign-in: account created, teams mapped, back at rd, and the gate lets the user in', async () => {
    const cb = await signInWith('github');
    assert.equal(cb.status, 303, cb.body);
    assert.equal(cb.headers.location, RD);
    assert.equal(setCookieFor(cb.setCookies, loginName()), `${loginName()}=; Path=/oauth2/; Max-Age=0; Secure; HttpOnly; SameSite=Lax`);
    const session = cookieValue(cb.setCookies, inst.running.settings().cookieName)!;
    const user = await inst.running.store.users.findByUsername('octocat');
    assert.deepEqual(
      { email: user?.email, verified: user?.emailVerified, name: user?.name, groups: user?.groups, password: user?.passwordHash },
      { email: 'octo@example.test', verified: true, name: 'The Octocat', groups: [], password: null },
    );
    const link = await inst.running.store.identities.get('github', '583231');
    assert.deepEqual(link?.groups, ['gh:acme', 'admins', 'gh:acme:web']);
    assert.equal(link?.tokens?.includes('gho_'), false, 'the upstream token is stored sealed');
    const gate = await forwardAuth(inst.port, RD, { cookie: cookieHeader(inst, session) });
    assert.equal(gate.status, 202);
    assert.equal(gate.headers['x-auth-request-user'], 'octocat');
    assert.equal(gate.headers['x-auth-request-email'], 'octo@example.test');
    assert.equal(gate.headers['x-auth-request-groups'], 'gh:acme,admins,gh:acme:web');
    const line = inst.logger.lines.find((l) => l.msg === 'signed in' && l.fields.connector === 'github');
    assert.equal(line?.fields.linked, 'created');
  });

  test('a second sign-in finds the same account by the GitHub id, even after a rename', async () => {
    gh.next = octocat({ login: 'octocat-renamed' });
    const cb = await signInWith('github');
    assert.equal(cb.status, 303);
    const link = await inst.running.store.identities.get('github', '583231');
    const user = await inst.running.store.users.get(link!.userId);
    assert.equal(user?.username, 'octocat');
    assert.equal(link?.username, 'octocat-renamed');
  });

  test('not in the org: 403 "Not allowed", a way to try another account, no session, a log line without secrets', async () => {
    gh.next = octocat({ id: 9, login: 'mallory', orgs: ['evil'], teams: [] });
    const cb = await signInWith('github');
    assert.equal(cb.status, 403);
    assert.equal(cb.headers.location, undefined, 'no redirect: never a loop');
    assert.ok(cb.body.includes('<h1>Not allowed</h1>'));
    assert.ok(
      cb.body.includes(
        '<p class="error" role="alert">Your GitHub account is not allowed to sign in here. Ask an administrator for access, or try another account.</p>',
      ),
    );
    assert.ok(
      cb.body.includes(
        `href="/oauth2/start?provider=github&amp;prompt=select_account&amp;rd=${encodeURIComponent(RD).replaceAll('&', '&amp;')}">Try another account</a>`,
      ),
    );
    assert.equal(cookieValue(cb.setCookies, inst.running.settings().cookieName), undefined);
    assert.equal(await inst.running.store.users.findByUsername('mallory'), undefined);
    const line = inst.logger.lines.findLast((l) => l.msg === 'upstream sign-in failed');
    assert.deepEqual(line?.fields, {
      event: 'sign_in_failed',
      connector: 'github',
      failure: 'refused',
      upstreamCode: null,
      user: 'mallory',
      detail: 'not a member of any organization in connectors[github].allow.orgs',
    });
    assert.equal(JSON.stringify(inst.logger.lines).includes('gho_'), false, 'no token in any log line');
  });

  test('an unverified primary email never links to the local account with that address', async () => {
    gh.next = octocat({ id: 77, login: 'not-alice', emails: [{ email: 'alice@example.test', primary: true, verified: false }] });
    const cb = await signInWith('gh-invite');
    assert.equal(cb.status, 403);
    assert.ok(cb.body.includes('<h1>No account</h1>'));
    assert.equal(await inst.running.store.identities.get('gh-invite', '77'), undefined);
  });

  test("a verified one does (linkByEmail), and the session is alice's", async () => {
    gh.next = octocat({ id: 78, login: 'alice-gh', emails: [{ email: 'Alice@Example.test', primary: true, verified: true }] });
    const cb = await signInWith('gh-invite');
    assert.equal(cb.status, 303);
    const session = cookieValue(cb.setCookies, inst.running.settings().cookieName)!;
    const me = await send(inst.port, {
      path: '/oauth2/userinfo',
      headers: { host: 'auth.example.test', cookie: cookieHeader(inst, session) },
    });
    assert.equal(JSON.parse(me.body).user, 'alice');
  });

  test("a state that is not this browser's: 400 with the state message", async () => {
    const cb = await signInWith('github', { tamper: (q) => q.set('state', 'forged-state-value-000000') });
    assert.equal(cb.status, 400);
    assert.ok(cb.body.includes('(state mismatch)'));
    assert.equal(cookieValue(cb.setCookies, inst.running.settings().cookieName), undefined);
  });

  test('a callback without the login cookie (another browser, or expired): 400 "Sign-in expired"', async () => {
    const cb = await portal('/oauth2/callback?code=abc&state=def');
    assert.equal(cb.status, 400);
    assert.ok(cb.body.includes('<h1>Sign-in expired</h1>'));
  });

  test('the user declines at GitHub (error=access_denied): 403 "Sign-in cancelled"', async () => {
    gh.next = null;
    const cb = await signInWith('github');
    assert.equal(cb.status, 403);
    assert.ok(cb.body.includes('<h1>Sign-in cancelled</h1>'));
    assert.ok(cb.body.includes('GitHub did not sign you in (access_denied).'));
    const line = inst.logger.lines.findLast((l) => l.msg === 'upstream sign-in failed');
    assert.equal(line?.fields.failure, 'access_denied');
    assert.equal(line?.fields.upstreamCode, 'access_denied');
  });

  test('an unknown provider: 404, no redirect', async () => {
    const a = await portal('/oauth2/start?provider=nope');
    assert.equal(a.status, 404);
    assert.ok(a.body.includes('<h1>Unknown provider</h1>'));
  });

  test('removal from the org ends the session at the next refresh, not before', async () => {
    gh.next = octocat({ id: 4242, login: 'leaver', emails: [] });
    const cb = await signInWith('github');
    const cookie = cookieHeader(inst, cookieValue(cb.setCookies, inst.running.settings().cookieName)!);
    assert.equal((await forwardAuth(inst.port, RD, { cookie })).status, 202);
    gh.users.set('leaver', octocat({ id: 4242, login: 'leaver', emails: [], orgs: [], teams: [] }));
    // Within refreshInterval (5m): GitHub is not asked, access stays. A session's identity is
    // refreshed in the background once a minute, one refresh at a time, each starting with a read
    // of the user: a second read proves the first refresh (and any upstream call it made) is over.
    const users = inst.running.store.users;
    const read = users.get;
    let reads = 0;
    users.get = (...args) => {
      reads++;
      return read.apply(users, args);
    };
    try {
      clock.advance(3 * 60_000);
      const before = gh.requests.length;
      const readsBefore = reads;
      assert.equal((await forwardAuth(inst.port, RD, { cookie })).status, 202);
      clock.advance(61_000);
      await until(
        async () => {
          assert.equal((await forwardAuth(inst.port, RD, { cookie })).status, 202);
          return reads >= readsBefore + 2;
        },
        { timeoutMs: 5000, what: 'a second identity refresh within the interval (so the first one is over)' },
      );
      assert.equal(gh.requests.slice(before).includes('GET /user'), false, 'no upstream call within the interval');
    } finally {
      users.get = read;
    }
    // Past it: the renewal asks GitHub, which no longer lists the org; the session ends.
    clock.advance(2 * 60_000);
    await forwardAuth(inst.port, RD, { cookie });
    await until(async () => (await forwardAuth(inst.port, RD, { cookie })).status === 302, { timeoutMs: 2000, what: 'the session ends' });
    const line = inst.logger.lines.find((l) => l.msg === 'upstream access ended');
    assert.equal(line?.fields.reason, 'not a member of any organization in connectors[github].allow.orgs');
    assert.equal((await inst.running.store.identities.get('github', '4242'))?.tokens, null, 'the upstream token is forgotten');
  });
});
