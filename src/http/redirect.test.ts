import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateRedirect, safeRedirectOr, MAX_REDIRECT_LENGTH } from './redirect.ts';

const ctx = {
  domains: [
    { domain: 'example.org', allowHttp: false },
    { domain: 'dev.example.net', allowHttp: true },
  ],
  publicUrl: new URL('https://auth.example.org'),
};

// [attack, raw, reason]
const refused: [string, string | null | undefined, string][] = [
  ['missing (null)', null, 'missing'],
  ['missing (undefined)', undefined, 'missing'],
  ['missing (empty)', '', 'missing'],
  ['over-long', `https://app.example.org/${'a'.repeat(MAX_REDIRECT_LENGTH)}`, 'longer than 2048 characters'],
  ['protocol-relative', '//evil.com', 'protocol-relative URL'],
  ['protocol-relative to an allowed-looking host', '//evil.com/app.example.org', 'protocol-relative URL'],
  ['slash-backslash (oauth2-proxy open redirect)', '/\\evil.com', 'backslash'],
  ['backslash-backslash', '\\\\evil.com', 'backslash'],
  ['slash-backslash-slash', '/\\/evil.com', 'backslash'],
  ['encoded backslash', '/%5Cevil.com', 'encoded backslash'],
  ['encoded backslash, lower case', '/%5cevil.com', 'encoded backslash'],
  ['encoded slash after the leading slash', '/%2F/evil.com', 'encoded slash after the leading slash'],
  ['encoded slash, lower case', '/%2fevil.com', 'encoded slash after the leading slash'],
  ['backslash in scheme separator', 'https:\\\\evil.com', 'backslash'],
  ['backslash before userinfo', 'https://evil.com\\@app.example.org', 'backslash'],
  ['backslash in the path of an allowed host', 'https://app.example.org/a\\..\\b', 'backslash'],
  ['encoded tab (oauth2-proxy /%09/)', '/%09/evil.com', 'encoded control character'],
  ['encoded newline (oauth2-proxy /%0a/)', '/%0a/evil.com', 'encoded control character'],
  ['encoded CR', '/%0d/evil.com', 'encoded control character'],
  ['header injection', '/x%0D%0ASet-Cookie:%20a=b', 'encoded control character'],
  ['encoded NUL', 'https://app.example.org/%00', 'encoded control character'],
  ['encoded DEL', '/x%7F', 'encoded control character'],
  ['encoded space before the host', 'https://%20evil.com', 'percent-encoding in the host'],
  ['encoded space before the scheme', '%20https://app.example.org', 'not an absolute http(s) URL nor a path starting with "/"'],
  ['raw tab in scheme', 'java\tscript:alert(1)', 'whitespace or control character'],
  ['raw tab after slash', '/\t/evil.com', 'whitespace or control character'],
  ['raw newline after slash', '/\n/evil.com', 'whitespace or control character'],
  ['raw CR', '/\r/evil.com', 'whitespace or control character'],
  ['raw NUL', '/\u0000/evil.com', 'whitespace or control character'],
  ['leading space', ' https://app.example.org/', 'whitespace or control character'],
  ['trailing space', 'https://app.example.org/ ', 'whitespace or control character'],
  ['trailing newline', 'https://app.example.org/\n', 'whitespace or control character'],
  ['space then slashes', '/ /evil.com', 'whitespace or control character'],
  ['userinfo', 'https://a@evil.com', 'userinfo'],
  ['allowed host as userinfo', 'https://app.example.org@evil.com', 'userinfo'],
  ['allowed host as userinfo with port', 'https://app.example.org:443@evil.com', 'userinfo'],
  ['allowed host as password', 'https://x:app.example.org@evil.com', 'userinfo'],
  ['empty userinfo', 'https://@app.example.org/', 'userinfo'],
  ['encoded slash before "@"', 'https://app.example.org%2F@evil.com', 'userinfo'],
  ['fullwidth slash before "@"', 'https://evil.com\uFF0F@app.example.org', 'userinfo'],
  ['encoded "#" in host', 'https://evil.com%23.example.org', 'percent-encoding in the host'],
  ['encoded dot in host', 'https://app%2eexample.org', 'percent-encoding in the host'],
  ['fragment that looks like a host', 'https://evil.com#.example.org', 'host evil.com is not under a configured domain'],
  ['fragment with "@" after a foreign host', 'https://evil.com#@app.example.org', 'host evil.com is not under a configured domain'],
  ['query that looks like a host', 'https://evil.com?.example.org', 'host evil.com is not under a configured domain'],
  ['dot-dot in path', 'https://app.example.org/a/../b', 'dot segment in the path'],
  ['dot in path', 'https://app.example.org/./b', 'dot segment in the path'],
  ['final dot-dot', 'https://app.example.org/a/..', 'dot segment in the path'],
  ['encoded dot-dot', 'https://app.example.org/%2e%2e/admin', 'dot segment in the path'],
  ['half-encoded dot-dot', 'https://app.example.org/.%2E/admin', 'dot segment in the path'],
  ['dot-dot in a path-only target', '/../admin', 'dot segment in the path'],
  ['encoded dot-dot in a path-only target', '/%2e%2e/admin', 'dot segment in the path'],
  ['javascript:', 'javascript:alert(1)', 'scheme javascript: not allowed'],
  ['JavaScript: mixed case', 'JaVaScRiPt:alert(1)', 'scheme javascript: not allowed'],
  ['javascript: with slashes', 'javascript://app.example.org/%0aalert(1)', 'encoded control character'],
  ['data:', 'data:text/html,<script>alert(1)</script>', 'scheme data: not allowed'],
  ['vbscript:', 'vbscript:msgbox(1)', 'scheme vbscript: not allowed'],
  ['ftp', 'ftp://app.example.org/', 'scheme ftp: not allowed'],
  ['ws', 'wss://app.example.org/', 'scheme wss: not allowed'],
  ['scheme without slashes', 'https:evil.com', 'expected exactly "//" after the scheme'],
  ['scheme with one slash', 'https:/evil.com', 'expected exactly "//" after the scheme'],
  ['scheme with three slashes', 'https:///evil.com', 'expected exactly "//" after the scheme'],
  ['host without scheme', 'evil.com', 'not an absolute http(s) URL nor a path starting with "/"'],
  ['encoded protocol-relative', '%2F%2Fevil.com', 'not an absolute http(s) URL nor a path starting with "/"'],
  ['host:port without scheme', 'app.example.org:443/x', 'scheme app.example.org: not allowed'],
  ['suffix domain', 'https://evilexample.org/', 'host evilexample.org is not under a configured domain'],
  ['allowed domain as a subdomain of evil', 'https://example.org.evil.com/', 'host example.org.evil.com is not under a configured domain'],
  [
    'allowed host as a subdomain of evil',
    'https://app.example.org.evil.com/',
    'host app.example.org.evil.com is not under a configured domain',
  ],
  ['ideographic full stop', 'https://app.example.org\u3002evil.com/', 'host app.example.org.evil.com is not under a configured domain'],
  ['homograph (Cyrillic a)', 'https://app.ex\u0430mple.org/', 'host app.xn--exmple-4nf.org is not under a configured domain'],
  ['trailing dot', 'https://app.example.org./', 'the host is not a valid host name'],
  // The WHATWG parser accepts these; the sign-in page answered 500 for them (issue 9).
  ['comma in the host (issue 9: was a 500)', 'http://a,b.example.org/', 'the host is not a valid host name'],
  ['braces in the host (issue 9: was a 500)', 'http://app{}.example.org/', 'the host is not a valid host name'],
  ['comma in an https host', 'https://app.example.org,evil.com/', 'the host is not a valid host name'],
  [
    'underscore in the host (no CSP form-action source can name it: was a 500)',
    'https://a_b.example.org/',
    'the host is not a valid host name',
  ],
  ['asterisk in the host', 'https://*.example.org/', 'the host is not a valid host name'],
  ['dollar and quote in the host', "https://a$'.example.org/", 'the host is not a valid host name'],
  ['empty label', 'https://app..example.org/', 'the host is not a valid host name'],
  ['over-long label', `https://${'a'.repeat(64)}.example.org/`, 'the host is not a valid host name'],
  ['parent of a configured domain', 'https://example.net/', 'host example.net is not under a configured domain'],
  ['http on an https-only domain', 'http://app.example.org/', 'http not allowed for app.example.org'],
  ['IPv4 literal', 'https://127.0.0.1/', 'IP address host not configured'],
  ['IPv4 as one number', 'https://2130706433/', 'IP address host not configured'],
  ['IPv4 in hex', 'https://0x7f.1/', 'IP address host not configured'],
  ['IPv6 literal', 'https://[::1]/', 'IP address host not configured'],
  ['invalid port', 'https://app.example.org:99999/', 'not a valid URL'],
  ['port that hides a host', 'https://app.example.org:evil.com/', 'not a valid URL'],
  ['empty host', 'https:///', 'expected exactly "//" after the scheme'],
  ['empty host before query', 'https://?x', 'missing host'],
];

for (const [attack, raw, reason] of refused) {
  test(`refuses ${attack}: ${JSON.stringify(raw)?.slice(0, 80)}`, () => {
    assert.deepEqual(validateRedirect(raw, ctx), { ok: false, reason });
  });
}

// [case, raw, normalized URL]
const accepted: [string, string, string][] = [
  ['exact configured domain', 'https://example.org', 'https://example.org/'],
  ['subdomain', 'https://app.example.org/dashboards', 'https://app.example.org/dashboards'],
  ['deep subdomain', 'https://a.b.example.org/', 'https://a.b.example.org/'],
  [
    'path and query kept, %2F included',
    'https://app.example.org/a%2Fb/c?next=%2Fx%2Fy&q=a+b#frag',
    'https://app.example.org/a%2Fb/c?next=%2Fx%2Fy&q=a+b#frag',
  ],
  ['encoded space in the query', 'https://app.example.org/search?q=a%20b', 'https://app.example.org/search?q=a%20b'],
  ['port', 'https://app.example.org:8443/x', 'https://app.example.org:8443/x'],
  ['default port dropped', 'https://app.example.org:443/x', 'https://app.example.org/x'],
  ['upper-case scheme and host', 'HTTPS://APP.Example.ORG/Path', 'https://app.example.org/Path'],
  ['http where the domain allows it', 'http://dev.example.net:3000/x', 'http://dev.example.net:3000/x'],
  ['http on a subdomain of an http domain', 'http://a.dev.example.net/', 'http://a.dev.example.net/'],
  ['fragment with "@" stays a fragment', 'https://app.example.org#@evil.com', 'https://app.example.org/#@evil.com'],
  ['query with "@" and "//" stays a query', 'https://app.example.org/?u=//evil.com/@x', 'https://app.example.org/?u=//evil.com/@x'],
  ['backslash in the query is data', 'https://app.example.org/?q=a\\b', 'https://app.example.org/?q=a\\b'],
  ['dots inside segments', 'https://app.example.org/a..b/.well-known/x.y', 'https://app.example.org/a..b/.well-known/x.y'],
  ['IDN subdomain', 'https://b\u00fccher.example.org/', 'https://xn--bcher-kva.example.org/'],
  ['path-only', '/', 'https://auth.example.org/'],
  ['path-only with query and fragment', '/x/y?next=%2Fz#top', 'https://auth.example.org/x/y?next=%2Fz#top'],
  ['path-only with encoded slash later', '/a%2Fb', 'https://auth.example.org/a%2Fb'],
  ['path-only with "//" in the query', '/?rd=//evil.com', 'https://auth.example.org/?rd=//evil.com'],
];

for (const [name, raw, url] of accepted) {
  test(`accepts ${name}: ${raw}`, () => {
    assert.deepEqual(validateRedirect(raw, ctx), { ok: true, url });
  });
}

test('IP literal hosts pass only when configured exactly', () => {
  const withIp = { domains: [{ domain: '192.168.1.10', allowHttp: true }], publicUrl: ctx.publicUrl };
  assert.deepEqual(validateRedirect('http://192.168.1.10:8080/x', withIp), { ok: true, url: 'http://192.168.1.10:8080/x' });
  assert.deepEqual(validateRedirect('http://192.168.1.11/', withIp), { ok: false, reason: 'IP address host not configured' });
});

test('no configured domains: only paths on the portal', () => {
  const none = { domains: [], publicUrl: new URL('https://auth.example.org/base/') };
  assert.deepEqual(validateRedirect('https://auth.example.org/', none), {
    ok: false,
    reason: 'host auth.example.org is not under a configured domain',
  });
  assert.deepEqual(validateRedirect('/x', none), { ok: true, url: 'https://auth.example.org/x' });
});

test('exactly 2048 characters is accepted, 2049 is not', () => {
  const base = 'https://app.example.org/';
  const ok = base + 'a'.repeat(MAX_REDIRECT_LENGTH - base.length);
  assert.deepEqual(validateRedirect(ok, ctx), { ok: true, url: ok });
  assert.deepEqual(validateRedirect(`${ok}a`, ctx), { ok: false, reason: 'longer than 2048 characters' });
});

test('safeRedirectOr gives the validated URL or the fallback, never an error', () => {
  const home = 'https://auth.example.org/';
  assert.equal(safeRedirectOr('https://app.example.org/x?y=1', ctx, home), 'https://app.example.org/x?y=1');
  assert.equal(safeRedirectOr('/\\evil.com', ctx, home), home);
  assert.equal(safeRedirectOr(null, ctx, home), home);
  assert.equal(safeRedirectOr(undefined, ctx, home), home);
});
