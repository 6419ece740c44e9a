import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError } from '../core/index.ts';
import { TrustedProxies, unmapIPv4 } from './trusted.ts';

test('addresses inside the configured ranges are trusted, others are not', () => {
  const t = new TrustedProxies(['127.0.0.0/8', '10.0.0.0/8', '192.168.1.10', '::1/128', 'fd00::/8']);
  assert.equal(t.isTrusted('127.0.0.1'), true);
  assert.equal(t.isTrusted('10.255.0.3'), true);
  assert.equal(t.isTrusted('192.168.1.10'), true);
  assert.equal(t.isTrusted('192.168.1.11'), false);
  assert.equal(t.isTrusted('11.0.0.1'), false);
  assert.equal(t.isTrusted('::1'), true);
  assert.equal(t.isTrusted('fd12:3456::1'), true);
  assert.equal(t.isTrusted('fe80::1'), false);
  assert.equal(t.isTrusted('2001:db8::1'), false);
});

test('an IPv4-mapped IPv6 peer is judged as the IPv4 address it carries', () => {
  const t = new TrustedProxies(['10.0.0.0/8']);
  assert.equal(t.isTrusted('::ffff:10.1.2.3'), true);
  assert.equal(t.isTrusted('::FFFF:10.1.2.3'), true);
  assert.equal(t.isTrusted('::ffff:11.1.2.3'), false);
  // and a range written in mapped form is the IPv4 range
  const m = new TrustedProxies(['::ffff:10.0.0.0/104']);
  assert.equal(m.isTrusted('10.9.9.9'), true);
  assert.equal(m.isTrusted('11.0.0.0'), false);
  assert.equal(unmapIPv4('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(unmapIPv4('::ffff:abcd'), '::ffff:abcd');
  assert.equal(unmapIPv4('2001:db8::1'), '2001:db8::1');
});

test('junk is never trusted, and no list trusts nobody', () => {
  const t = new TrustedProxies(['0.0.0.0/0', '::/0']);
  assert.equal(t.isTrusted(''), false);
  assert.equal(t.isTrusted('unknown'), false);
  assert.equal(t.isTrusted('1.2.3.4.5'), false);
  assert.equal(t.isTrusted('8.8.8.8'), true);
  assert.equal(new TrustedProxies([]).isTrusted('127.0.0.1'), false);
});

test('the verdict cache stays bounded whatever addresses arrive', () => {
  const t = new TrustedProxies(['10.0.0.0/8']);
  for (let i = 0; i < 5000; i++) t.isTrusted(`203.0.${i >> 8}.${i & 255}`);
  assert.equal(t.cacheSize, 1024);
  // cached verdicts stay right
  assert.equal(t.isTrusted('10.0.0.1'), true);
  assert.equal(t.isTrusted('10.0.0.1'), true);
  assert.equal(t.isTrusted('203.0.19.135'), false);
});

test('long client-chosen hops are never cached: the cache holds short keys only (its memory is bounded too)', () => {
  const t = new TrustedProxies(['10.0.0.0/8', '::1/128']);
  for (let i = 0; i < 2000; i++) assert.equal(t.isTrusted(`${i}${'x'.repeat(4000)}`), false);
  assert.equal(t.cacheSize, 0);
  assert.equal(t.isTrusted('0000:0000:0000:0000:0000:0000:0000:0001'), true, 'a 39-character IPv6 address is still read');
  assert.equal(t.isTrusted('::ffff:10.1.2.3'), true);
});

test('a malformed range is a config error naming its index', () => {
  assert.throws(
    () => new TrustedProxies(['10.0.0.0/8', 'nope']),
    (e: unknown) =>
      e instanceof GatehouseError &&
      e.kind === 'config_invalid' &&
      e.detail === 'trustedProxies[1]: "nope" is not an IP address or CIDR range',
  );
  assert.throws(
    () => new TrustedProxies(['10.0.0.0/33']),
    (e: unknown) => e instanceof GatehouseError && e.detail === 'trustedProxies[0]: "10.0.0.0/33" has an invalid prefix length',
  );
  assert.throws(
    () => new TrustedProxies(['::1/129']),
    (e: unknown) => e instanceof GatehouseError && e.detail === 'trustedProxies[0]: "::1/129" has an invalid prefix length',
  );
  assert.throws(
    () => new TrustedProxies(['10.0.0.0/x']),
    (e: unknown) => e instanceof GatehouseError && e.detail === 'trustedProxies[0]: "10.0.0.0/x" has an invalid prefix length',
  );
});
