import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError } from '../core/index.ts';
import { parseCookie, parseCookies, serializeCookie } from './cookies.ts';

test('parseCookie finds one cookie by exact name', () => {
  const h = 'a=1; gatehouse=abc.def; b="quoted"; empty=; spaced = v ;last=z';
  assert.equal(parseCookie(h, 'gatehouse'), 'abc.def');
  assert.equal(parseCookie(h, 'a'), '1');
  assert.equal(parseCookie(h, 'b'), 'quoted');
  assert.equal(parseCookie(h, 'empty'), '');
  assert.equal(parseCookie(h, 'spaced'), 'v');
  assert.equal(parseCookie(h, 'last'), 'z');
  assert.equal(parseCookie(h, 'gate'), undefined);
  assert.equal(parseCookie(h, 'house'), undefined);
  assert.equal(parseCookie(h, 'gatehouse.x'), undefined);
  assert.equal(parseCookie(undefined, 'a'), undefined);
  assert.equal(parseCookie('', 'a'), undefined);
});

test('a name that appears inside another cookie or a value does not match', () => {
  assert.equal(parseCookie('xgatehouse=evil; gatehouse=good', 'gatehouse'), 'good');
  assert.equal(parseCookie('other=gatehouse=evil; gatehouse=good', 'gatehouse'), 'good');
  assert.equal(parseCookie('flag; gatehouse=good', 'gatehouse'), 'good');
  assert.equal(parseCookie('gatehouse', 'gatehouse'), undefined);
  assert.equal(parseCookie('Gatehouse=upper', 'gatehouse'), undefined);
});

test('with a repeated name the first cookie wins', () => {
  assert.equal(parseCookie('s=first; s=second', 's'), 'first');
  assert.deepEqual(
    [...parseCookies('s=first; t=2; s=second')],
    [
      ['s', 'first'],
      ['t', '2'],
    ],
  );
});

test('parseCookies returns every cookie', () => {
  assert.deepEqual(
    [...parseCookies('a=1;b = 2 ; c="3"; ;novalue; =x')],
    [
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ],
  );
  assert.equal(parseCookies(undefined).size, 0);
});

test('serializeCookie writes every attribute', () => {
  assert.equal(
    serializeCookie('__Host-gh', 'v.1', { path: '/', maxAgeSeconds: 3600, secure: true, httpOnly: true, sameSite: 'Lax' }),
    '__Host-gh=v.1; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax',
  );
  assert.equal(
    serializeCookie('gh', '', {
      domain: 'example.org',
      path: '/oauth2/',
      maxAgeSeconds: 0,
      expires: new Date(0),
      secure: false,
      httpOnly: false,
      sameSite: 'Strict',
    }),
    'gh=; Domain=example.org; Path=/oauth2/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Strict',
  );
  assert.equal(serializeCookie('x', 'y', { secure: true, httpOnly: true, sameSite: 'None' }), 'x=y; Secure; HttpOnly; SameSite=None');
});

test('serializeCookie refuses what would break the header or be dropped by a browser', () => {
  const base = { secure: true, httpOnly: true, sameSite: 'Lax' } as const;
  const refused = (fn: () => unknown, detail: string) =>
    assert.throws(fn, (e: unknown) => e instanceof GatehouseError && e.detail === detail);
  refused(() => serializeCookie('a b', 'v', base), 'cookie name "a b" contains a character that is not allowed');
  refused(() => serializeCookie('a=b', 'v', base), 'cookie name "a=b" contains a character that is not allowed');
  refused(() => serializeCookie('', 'v', base), 'cookie name is empty');
  // The value is never echoed: it may be a session.
  for (const v of ['a;b', 'a b', 'a,b', 'a"b', 'a\\b', 'a\r\nSet-Cookie: x=y', 'é']) {
    refused(() => serializeCookie('s', v, base), 'the value of cookie "s" contains a character that is not allowed');
  }
  refused(
    () => serializeCookie('s', 'v', { ...base, domain: 'example.org; Secure' }),
    'cookie "s" domain contains a character that is not allowed',
  );
  refused(() => serializeCookie('s', 'v', { ...base, path: '/\n' }), 'cookie "s" path contains a character that is not allowed');
  refused(() => serializeCookie('s', 'v', { ...base, maxAgeSeconds: 1.5 }), 'cookie "s" max-age must be an integer');
  refused(() => serializeCookie('s', 'v', { ...base, expires: new Date(NaN) }), 'cookie "s" expires is an invalid date');
  refused(() => serializeCookie('s', 'v', { ...base, secure: false, sameSite: 'None' }), 'cookie "s" has SameSite=None without Secure');
  refused(
    () => serializeCookie('__Secure-s', 'v', { ...base, secure: false }),
    'cookie "__Secure-s" needs Secure for its __Secure- prefix',
  );
  refused(
    () => serializeCookie('__Host-s', 'v', { ...base, path: '/', domain: 'example.org' }),
    'cookie "__Host-s" needs Secure, Path=/ and no Domain for its __Host- prefix',
  );
  refused(
    () => serializeCookie('__Host-s', 'v', { ...base }),
    'cookie "__Host-s" needs Secure, Path=/ and no Domain for its __Host- prefix',
  );
});
