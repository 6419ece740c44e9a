import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath } from './index.ts';

// [attack or case, raw, expected path or false for ok:false]
const rows: [string, string, string | false][] = [
  ['plain', '/a/b', '/a/b'],
  ['root', '/', '/'],
  ['trailing slash kept', '/a/', '/a/'],
  ['dot-dot segment', '/a/../b', '/b'],
  ['encoded dot-dot', '/a/%2e%2e/b', '/b'],
  ['encoded dot-dot, upper case', '/a/%2E%2E/b', '/b'],
  ['half-encoded dot-dot', '/a/.%2e/b', '/b'],
  ['encoded dot-dot at root', '/%2e%2e/admin', '/admin'],
  ['dot-dot never above root', '/../../admin', '/admin'],
  ['encoded slashes around dot-dot', '/api%2F..%2Fadmin', '/admin'],
  ['encoded slash is a separator', '/a%2fb', '/a/b'],
  ['double slash', '//x', '/x'],
  ['many slashes', '/a//b///c//', '/a/b/c/'],
  ['backslashes', '\\\\x', '/x'],
  ['backslash dot-dot', '/public\\..\\admin', '/admin'],
  ['encoded backslash dot-dot', '/public%5C..%5Cadmin', '/admin'],
  ['dot segment', '/a/./b', '/a/b'],
  ['encoded dot segment', '/a/%2e/b', '/a/b'],
  ['final dot-dot leaves a slash', '/a/b/..', '/a/'],
  ['final dot leaves a slash', '/a/.', '/a/'],
  ['only dot-dot', '/..', '/'],
  ['query cut', '/a?x=/public/', '/a'],
  ['query with dot-dot cut', '/a?/../admin', '/a'],
  ['fragment cut', '/public#/../admin', '/public'],
  ['encoded "?" stays in the path', '/a%3Fb', '/a?b'],
  ['junk after the query is not inspected', '/x?%zz%00', '/x'],
  ['utf-8 decoded', '/caf%C3%A9', '/café'],
  ['dotted name is not a dot segment', '/.well-known/openid-configuration', '/.well-known/openid-configuration'],
  ['dots inside a segment', '/a/..b/c..', '/a/..b/c..'],
  ['encoded NUL', '/a%00', false],
  ['encoded newline', '/a%0a', false],
  ['encoded CRLF', '/a%0D%0ASet-Cookie:x', false],
  ['encoded tab', '/%09/admin', false],
  ['encoded DEL', '/a%7f', false],
  ['raw NUL', '/a\u0000b', false],
  ['raw tab', '/a\tb', false],
  ['raw newline', '/a\nb', false],
  ['bad escape: lone %', '/a%', false],
  ['bad escape: one digit', '/a%2', false],
  ['bad escape: not hex', '/a%zz', false],
  ['overlong UTF-8 dot', '/a/%C0%AE%C0%AE/admin', false],
  ['truncated UTF-8', '/a%E2%82', false],
  ['double encoding', '/a/%252e%252e/admin', false],
  ['double-encoded slash', '/api%252F..%252Fadmin', false],
  ['empty', '', false],
  ['query only', '?x=1', false],
  ['no leading slash', 'admin', false],
  ['asterisk form', '*', false],
  ['encoded leading slash', '%2Fadmin', '/admin'],
];

for (const [name, raw, expected] of rows) {
  test(`normalizePath: ${name}: ${JSON.stringify(raw)}`, () => {
    const got = normalizePath(raw);
    if (expected === false) assert.equal(got.ok, false);
    else assert.deepEqual(got, { path: expected, ok: true });
  });
}

test('normalizePath: a failure reports the raw path without query for logs', () => {
  assert.deepEqual(normalizePath('/a%zz?q=1'), { path: '/a%zz', ok: false });
  assert.deepEqual(normalizePath('/a%00'), { path: '/a%00', ok: false });
});
