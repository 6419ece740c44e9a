import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { GatehouseError } from '../core/index.ts';
import { isValidHostname, parseHost, parsePort } from './host.ts';

const refusedWith = (detail: string) => (e: unknown) =>
  e instanceof GatehouseError && e.kind === 'invalid_request' && e.detail === `Host: ${detail}`;

test('accepted hosts, normalized (lower case, default port dropped, no leading zeros)', () => {
  for (const [raw, proto, want] of [
    ['App.Example.ORG', 'https', 'app.example.org'],
    ['app.example.org:443', 'https', 'app.example.org'],
    ['app.example.org:80', 'http', 'app.example.org'],
    ['app.example.org:80', 'https', 'app.example.org:80'],
    ['app.example.org:08080', 'https', 'app.example.org:8080'],
    ['app.example.org:65535', 'https', 'app.example.org:65535'],
    ['xn--bcher-kva.example.org', 'https', 'xn--bcher-kva.example.org'],
    ['localhost', 'http', 'localhost'],
    ['10.0.0.1:8080', 'http', '10.0.0.1:8080'],
    ['[::1]:443', 'https', '[::1]'],
    ['[2001:DB8::1]:8443', 'https', '[2001:db8::1]:8443'],
    [`${'a'.repeat(63)}.example.org`, 'https', `${'a'.repeat(63)}.example.org`],
  ] as const) {
    assert.equal(parseHost(raw, proto, 'Host'), want, raw);
  }
});

// Every crasher of issue 9 that came through a host, and the grammar's other edges.
const REFUSED: [string, string][] = [
  ['', 'the host is empty or too long'],
  ['a'.repeat(262), 'the host is empty or too long'],
  ['auth.ex\u00e4mple.org', 'the host contains a character that is not allowed'],
  ['auth.ex\u00c3\u00a4mple.org', 'the host contains a character that is not allowed'],
  ['auth example.org', 'the host contains a character that is not allowed'],
  ['user@auth.example.org', 'the host contains a character that is not allowed'],
  ['a,b.example.org', 'the host contains a character that is not allowed'],
  ['app{}.example.org', 'the host contains a character that is not allowed'],
  ['app~.example.org', 'the host contains a character that is not allowed'],
  ['my_host.example.org', 'the host contains a character that is not allowed'],
  ['app%2e.example.org', 'the host contains a character that is not allowed'],
  ['auth.example.org:1234567', 'the host has an invalid port'],
  ['auth.example.org:8x', 'the host has an invalid port'],
  ['auth.example.org:0', 'the host has an invalid port'],
  ['auth.example.org:65536', 'the host has an invalid port'],
  ['auth.example.org:', 'the host has an invalid port'],
  ['auth.example.org:1:2', 'the host has an invalid port'],
  [':443', 'the host name is invalid'],
  ['a]b', 'the host name is invalid'],
  ['.example.org', 'the host name has an empty label'],
  ['app..example.org', 'the host name has an empty label'],
  ['app.example.org.', 'the host name has an empty label'],
  [`${'a'.repeat(64)}.example.org`, 'the host name has a label longer than 63 characters'],
  [`${'a.'.repeat(127)}ab`, 'the host name is longer than 253 characters'],
  ['1.2.3', 'the host name ends in a number but is not an IPv4 address'],
  ['0x7f.1', 'the host name ends in a number but is not an IPv4 address'],
  ['256.1.1.1', 'the host name ends in a number but is not an IPv4 address'],
  ['app.example.123', 'the host name ends in a number but is not an IPv4 address'],
  ['[::1', 'the host has an unclosed IPv6 literal'],
  ['[fe80::1%25eth0]', 'the host contains a character that is not allowed'],
  ['[v1.x]', 'the host has an invalid IPv6 literal'],
  ['[::1]x', 'the host has junk after the IPv6 literal'],
];

for (const [raw, detail] of REFUSED) {
  test(`refused: ${JSON.stringify(raw).slice(0, 60)} (${detail})`, () => {
    assert.throws(() => parseHost(raw, 'https', 'Host'), refusedWith(detail));
  });
}

test('parsePort: 1-65535 in at most five digits', () => {
  assert.equal(parsePort('1'), 1);
  assert.equal(parsePort('00443'), 443);
  for (const bad of ['', '0', '65536', '123456', '8x', '-1', '+1', ' 80']) assert.equal(parsePort(bad), undefined, bad);
});

test('isValidHostname takes a name or address without a port', () => {
  assert.equal(isValidHostname('app.example.org'), true);
  assert.equal(isValidHostname('[::1]'), true);
  assert.equal(isValidHostname('app.example.org:8080'), false);
  assert.equal(isValidHostname('a,b.example.org'), false);
});

const HOST_ALPHABET = 'abcXYZ019-_.:[]@ ,{}%\u00e4\t/\\';

test('property: any string is refused with invalid_request or gives a host a browser reads the same way', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: fc.constantFrom(...HOST_ALPHABET), maxLength: 40 }),
        fc.domain().map((d) => d + ''),
        fc.tuple(fc.domain(), fc.integer({ min: 0, max: 99999 })).map(([d, p]) => `${d}:${p}`),
        fc.ipV6().map((ip) => `[${ip}]`),
        fc.string({ maxLength: 30 }),
      ),
      fc.constantFrom('http' as const, 'https' as const),
      (raw, proto) => {
        let host: string;
        try {
          host = parseHost(raw, proto, 'Host');
        } catch (e) {
          assert.ok(e instanceof GatehouseError && e.kind === 'invalid_request', String(e));
          return;
        }
        assert.match(host, /^(?:[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*|\[[0-9a-f:.]+\])(?::[1-9][0-9]{0,4})?$/);
        // The WHATWG URL parser (what the browser used) gives the same host: no disagreement
        // about which host a request was for. (It drops the default port the same way.)
        const url = new URL(`${proto}://${host}/`);
        assert.equal(url.host, host);
      },
    ),
    { seed: 9, numRuns: 3000 },
  );
});
