// The people pages over HTTP on one instance, with a real SMTP server on loopback: exact statuses
// and bodies for each state of an invitation and a reset link, the form guard on every form, the
// sign-up page (allowed domains, nothing sent for an address that has an account), and no token
// in any log line or audit row. The browser flows are in test/e2e/people-browser.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../../src/cli/index.ts';
import { startMailCatcher, linkIn, type MailCatcher } from '../kit/mail.ts';
import { ALICE, BROWSER, baseConfig, fakeIO, startInstance, type Answer, type Instance } from '../kit/server.ts';
import { cookieValue, send } from '../kit/http.ts';
import { until } from '../kit/poll.ts';

const PORTAL = 'https://auth.example.test';
const HEADERS = { host: 'auth.example.test', 'x-forwarded-proto': 'https', ...BROWSER };

let mail: MailCatcher;
let inst: Instance;

before(async () => {
  mail = await startMailCatcher();
  inst = await startInstance({
    users: [ALICE],
    config: (d) =>
      baseConfig(d, {
        email: { smtp: { host: '127.0.0.1', port: mail.port, tls: 'none' }, from: 'Gatehouse <auth@example.test>' },
        signUp: { enabled: true, emailDomains: ['example.test'], groups: ['staff'] },
      }),
  });
});
after(async () => {
  await inst?.close();
  await mail?.stop();
});

/** GET a page, then POST its form with these fields (the page's csrf and its cookie), from the portal's origin unless told. */
async function getThenPost(
  path: string,
  fields: Record<string, string>,
  o: { origin?: string; csrf?: string } = {},
): Promise<{ page: Answer; post: Answer }> {
  const page = await send(inst.port, { path, headers: HEADERS });
  const name = `${inst.running.settings().cookieName}_csrf`;
  const csrf = o.csrf ?? /name="csrf" value="([^"]*)"/.exec(page.body)?.[1] ?? '';
  const hidden = Object.fromEntries(
    [...page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
      m[1] ?? '',
      (m[2] ?? '').replaceAll('&amp;', '&'),
    ]),
  );
  const post = await send(inst.port, {
    method: 'POST',
    path: path.split('?')[0] ?? path,
    body: new URLSearchParams({ ...hidden, csrf, ...fields }).toString(),
    headers: {
      ...HEADERS,
      'content-type': 'application/x-www-form-urlencoded',
      origin: o.origin ?? PORTAL,
      cookie: `${name}=${cookieValue(page.setCookies, name) ?? ''}`,
    },
  });
  return { page, post };
}

const h1 = (a: Answer): string | undefined => /<h1>([^<]*)<\/h1>/.exec(a.body)?.[1];

async function invite(args: string[] = []): Promise<{ link: string; id: string }> {
  const io = fakeIO();
  assert.equal(await runCli(['invite', 'create', '--groups', 'ops', ...args, '--config', inst.configPath], io), 0, io.stderr.join('\n'));
  return { link: (io.stdout[1] ?? '').replace(/^ {2}link: /, ''), id: /invitation ([0-9a-f]{10})/.exec(io.stdout[0] ?? '')?.[1] ?? '' };
}

const pathOf = (link: string): string => {
  const u = new URL(link);
  return `${u.pathname}${u.search}`;
};

describe('invitation pages', () => {
  test('each state of a link: its page and status; the form refuses bad input with the reason, then enrols', async () => {
    const { link, id } = await invite(['--uses', '2']);
    const ok = await send(inst.port, { path: pathOf(link), headers: HEADERS });
    assert.equal(ok.status, 200);
    assert.equal(h1(ok), 'Create your account');
    assert.match(ok.body, /Your account will be in: ops\./);
    assert.equal(ok.headers['cache-control'], 'no-store');
    assert.equal(ok.headers['referrer-policy'], 'same-origin');

    const cases: [Record<string, string>, number, RegExp][] = [
      [{ username: '-x', password: 'long enough pass' }, 400, /Choose a username of 1-64 letters/],
      [{ username: 'newbie', password: 'short' }, 400, /Choose a password of at least 8 characters\./],
      [{ username: 'newbienewbie', password: 'NewbieNewbie' }, 400, /Choose a password that is not your username\./],
      [{ username: 'alice', password: 'long enough pass' }, 409, /That username is taken\./],
    ];
    for (const [fields, status, message] of cases) {
      const { post } = await getThenPost(pathOf(link), fields);
      assert.equal(post.status, status, JSON.stringify(fields));
      assert.match(post.body, message);
      assert.match(post.body, /role="alert"/);
    }
    const { post } = await getThenPost(pathOf(link), { username: 'newbie', password: 'long enough pass' });
    assert.equal(post.status, 303);
    assert.equal(post.headers.location, `${PORTAL}/`);
    assert.ok(cookieValue(post.setCookies, inst.running.settings().cookieName), 'signed in');

    const unknown = await send(inst.port, { path: '/oauth2/invite?t=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', headers: HEADERS });
    assert.deepEqual([unknown.status, h1(unknown)], [404, 'This invitation link does not work']);
    const io = fakeIO();
    assert.equal(await runCli(['invite', 'revoke', id, '--config', inst.configPath], io), 0);
    const revoked = await send(inst.port, { path: pathOf(link), headers: HEADERS });
    assert.deepEqual([revoked.status, h1(revoked)], [410, 'This invitation was withdrawn']);
  });

  test('a post from another origin is refused (403) and makes nothing; an expired form is shown again (400)', async () => {
    const { link } = await invite();
    const foreign = await getThenPost(
      pathOf(link),
      { username: 'mallory', password: 'long enough pass' },
      { origin: 'https://evil.example' },
    );
    assert.equal(foreign.post.status, 403);
    assert.equal(foreign.post.headers['set-cookie'], undefined);
    const stale = await getThenPost(pathOf(link), { username: 'mallory', password: 'long enough pass' }, { csrf: 'stale' });
    assert.equal(stale.post.status, 400);
    assert.match(stale.post.body, /This form expired/);
    const page = await send(inst.port, { path: pathOf(link), headers: HEADERS });
    assert.equal(page.status, 200, 'still usable: nothing was made');
  });

  test("the link's token is in no log line and no audit row", async () => {
    const { link } = await invite();
    const token = new URL(link).searchParams.get('t') ?? '';
    await getThenPost(pathOf(link), { username: 'tokencheck', password: 'long enough pass' });
    await send(inst.port, { path: `/oauth2/invite?t=${token}x`, headers: HEADERS });
    const io = fakeIO();
    await runCli(['audit', '--json', '--limit', '1000', '--config', inst.configPath], io);
    assert.ok(io.stdout.length > 0);
    assert.equal(io.stdout.join('\n').includes(token.slice(0, 20)), false, 'audit');
    assert.equal(JSON.stringify(inst.logger.lines).includes(token.slice(0, 20)), false, 'log');
  });
});

describe('reset pages', () => {
  test('forgot password: the same 200 page for a known and an unknown name; the mail; the link once', async () => {
    const known = await getThenPost('/oauth2/reset', { name: 'alice' });
    const unknown = await getThenPost('/oauth2/reset', { name: 'nobody' });
    assert.equal(known.page.status, 200);
    assert.match(known.page.body, /Forgot your password\?/);
    assert.deepEqual([known.post.status, unknown.post.status], [200, 200]);
    assert.equal(known.post.body, unknown.post.body);
    assert.equal(h1(known.post), 'Check your mail');
    const m = await mail.next('alice@example.test');
    const link = linkIn(m, `${PORTAL}/oauth2/reset?t=`);
    const token = new URL(link).searchParams.get('t') ?? '';
    const form = await send(inst.port, { path: pathOf(link), headers: HEADERS });
    assert.deepEqual([form.status, h1(form)], [200, 'Choose a new password']);
    assert.match(form.body, /For the account alice\./);
    const weak = await getThenPost(pathOf(link), { password: 'short' });
    assert.deepEqual(
      [weak.post.status, /role="alert"[^>]*>([^<]*)/.exec(weak.post.body)?.[1]],
      [400, 'Choose a password of at least 8 characters.'],
    );
    const done = await getThenPost(pathOf(link), { password: 'a whole new passphrase' });
    assert.deepEqual([done.post.status, h1(done.post)], [200, 'Password changed']);
    const again = await send(inst.port, { path: pathOf(link), headers: HEADERS });
    assert.deepEqual([again.status, h1(again)], [410, 'This link does not work']);
    assert.equal(JSON.stringify(inst.logger.lines).includes(token.slice(0, 20)), false, 'the token is in no log line');
    assert.equal(
      mail.mails.every((x) => !x.to.includes('nobody')),
      true,
    );
  });
});

describe('sign-up page', () => {
  test('an allowed address gets a link that enrols into signUp.groups; another domain is refused; an address with an account gets nothing', async () => {
    const page = await send(inst.port, { path: '/oauth2/sign_up', headers: HEADERS });
    assert.deepEqual([page.status, h1(page)], [200, 'Sign up']);
    const other = await getThenPost('/oauth2/sign_up', { email: 'eve@evil.example' });
    assert.equal(other.post.status, 400);
    assert.match(other.post.body, /Sign-up is open to addresses at example\.test only\./);
    const taken = await getThenPost('/oauth2/sign_up', { email: 'alice@example.test' });
    const fresh = await getThenPost('/oauth2/sign_up', { email: 'hana@example.test' });
    assert.deepEqual([taken.post.status, fresh.post.status], [200, 200]);
    assert.equal(h1(taken.post), 'Check your mail');
    const m = await mail.next('hana@example.test');
    assert.equal(m.subject, 'Finish signing up to auth.example.test');
    const link = linkIn(m, `${PORTAL}/oauth2/invite?t=`);
    const { post } = await getThenPost(pathOf(link), { username: 'hana', password: 'long enough pass' });
    assert.equal(post.status, 303);
    const io = fakeIO();
    await runCli(['user', 'list', '--config', inst.configPath], io);
    assert.match(io.stdout.join('\n'), /^hana\thana@example\.test\tstaff\tactive$/m);
    // The decision not to send is in the audit log; wait for it, then look at what arrived.
    await until(
      async () => {
        const a = fakeIO();
        await runCli(['audit', '--json', '--action', 'sign_up', '--config', inst.configPath], a);
        return a.stdout.some((l) => l.includes('"reason":"address_has_account"'));
      },
      { timeoutMs: 5000, what: 'the sign-up for an address with an account is audited' },
    );
    assert.equal(
      mail.mails.filter((x) => x.to.includes('alice@example.test') && x.subject.startsWith('Finish signing up')).length,
      0,
      'nothing sent to an address with an account',
    );
  });
});
