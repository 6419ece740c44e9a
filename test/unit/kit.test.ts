// The test kit's own pieces that every suite leans on: the poller, the cookie jar, the HTML
// readers. A wrong jar or a poller that hides a failure would make other suites pass for the
// wrong reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEntities, formAction, hiddenInputs } from '../kit/html.ts';
import { CookieJar } from '../kit/http.ts';
import { timeUntil, until } from '../kit/poll.ts';

const setCookies = (...lines: string[]) => ({ headers: { 'set-cookie': lines } });

test('until returns the first value the probe gives that is not undefined, null or false', async () => {
  let n = 0;
  assert.equal(
    await until(() => (++n === 3 ? 'third' : n === 1 ? null : false), { timeoutMs: 5000, what: 'three calls', intervalMs: 1 }),
    'third',
  );
  assert.equal(n, 3);
  assert.equal(await until(() => 0, { timeoutMs: 5000, what: 'zero counts as a value' }), 0);
});

test('until fails naming what it waited for once the deadline passes, and at once when the probe throws', async () => {
  await assert.rejects(
    until(() => false, { timeoutMs: 30, what: 'the moon', intervalMs: 5 }),
    { message: 'not within 30 ms: the moon' },
  );
  let calls = 0;
  await assert.rejects(
    until(
      () => {
        calls++;
        throw new Error('broken probe');
      },
      { timeoutMs: 5000, what: 'x' },
    ),
    { message: 'broken probe' },
  );
  assert.equal(calls, 1);
});

test('timeUntil measures how long the condition took', async () => {
  let n = 0;
  const ms = await timeUntil(() => ++n >= 2, { timeoutMs: 5000, what: 'two calls', intervalMs: 20 });
  assert.ok(ms >= 15, `${ms} ms`);
});

test('the cookie jar matches domains and paths as RFC 6265 §5.1.3-5.1.4 say', () => {
  const jar = new CookieJar();
  jar.store(
    'http://auth.example.test/oauth2/sign_in',
    setCookies('host=1; Path=/', 'shared=2; Domain=.example.test; Path=/', 'scoped=3; Path=/auth', 'dir=4'),
  );
  assert.equal(jar.header('http://auth.example.test/'), 'host=1; shared=2');
  assert.equal(jar.header('http://app.example.test/x'), 'shared=2', 'a Domain cookie reaches subdomains, a host-only one does not');
  assert.equal(jar.header('http://example.test.evil/x'), undefined);
  assert.equal(jar.header('http://auth.example.test/auth/x'), 'host=1; shared=2; scoped=3');
  assert.equal(jar.header('http://auth.example.test/authx'), 'host=1; shared=2', '/auth does not match /authx');
  assert.equal(jar.header('http://auth.example.test/oauth2/start'), 'host=1; shared=2; dir=4', 'no Path: the directory of the request');
  assert.equal(jar.get('scoped'), '3');
  assert.deepEqual(jar.names(), ['host', 'shared', 'scoped', 'dir']);
});

test('the cookie jar forgets a cookie on Max-Age=0, a past Expires or an empty value, and replaces one of the same name, domain and path', () => {
  const jar = new CookieJar();
  const url = 'http://auth.example.test/';
  jar.store(url, setCookies('a=1; Path=/', 'b=2; Path=/', 'c=3; Path=/', 'd=4; Path=/'));
  jar.store(url, setCookies('a=; Path=/', 'b=x; Path=/; Max-Age=0', 'c=x; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'd=5; Path=/'));
  assert.equal(jar.header(url), 'd=5');
  assert.equal(jar.has('a'), false);
  jar.delete('d');
  assert.equal(jar.header(url), undefined);
});

test('the HTML readers decode entities and find hidden inputs and the form action as a browser would', () => {
  assert.equal(decodeEntities('&lt;a&gt; &amp;amp; &quot;&#39;&#x41;&nbsp;'), '<a> &amp; "\'A\u00a0');
  const html = `<form method="post" action='/auth/oauth2/sign_in?x=1&amp;y=2'><input type=hidden name=csrf value="t&amp;k">
    <input name="rd" type="hidden" value='https://app.example.test/?a=1&amp;b=2'><input name="username"></form>`;
  assert.deepEqual(hiddenInputs(html), { csrf: 't&k', rd: 'https://app.example.test/?a=1&b=2' });
  assert.equal(formAction(html, 'https://www.example.test/auth/oauth2/start'), 'https://www.example.test/auth/oauth2/sign_in?x=1&y=2');
  assert.equal(formAction('<form method="post">', 'https://www.example.test/here?q'), 'https://www.example.test/here?q');
});
