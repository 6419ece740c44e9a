import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, hkdfSync } from 'node:crypto';
import { KeyRing, parseSecret, generateSecret, timingSafeEqualString, hashToken } from './index.ts';
import { GatehouseError } from '../core/index.ts';

const A = 'a'.repeat(64); // hex: 32 bytes of 0xaa
const B = 'Yk9OlQPSFPYuC6dOAxgmNYVr_HJbz0bB-3kd6HtW0uA'; // base64url, 32 bytes
const C = 'correct horse battery staple and some more words';

test('parseSecret: hex before base64, canonical base64/base64url, else UTF-8', () => {
  assert.deepEqual(parseSecret('00ff10'), Buffer.from([0x00, 0xff, 0x10]));
  assert.deepEqual(parseSecret('DEADbeef'), Buffer.from([0xde, 0xad, 0xbe, 0xef]));
  assert.equal(parseSecret(A).length, 32);
  // 64 hex characters are also valid base64: hex wins.
  assert.deepEqual(parseSecret(A), Buffer.alloc(32, 0xaa));
  const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 250));
  const std = bytes.toString('base64');
  assert.equal(std.length, 44);
  assert.ok(std.includes('+') || std.includes('/'), 'sample uses the standard alphabet');
  assert.deepEqual(parseSecret(std), bytes);
  assert.deepEqual(parseSecret(std.replace(/=+$/, '')), bytes);
  assert.deepEqual(parseSecret(bytes.toString('base64url')), bytes);
  assert.deepEqual(parseSecret(`${bytes.toString('base64url')}=`), bytes);
  assert.equal(parseSecret(B).length, 32);
  // A 44-character `openssl rand -base64 32` value with its trailing newline.
  assert.deepEqual(parseSecret(`${std}\n`), bytes);
  // "abc" is canonical base64 of 2 bytes; "abd" leaves a trailing bit set, so it is text.
  assert.deepEqual(parseSecret('abc'), Buffer.from([0x69, 0xb7]));
  assert.deepEqual(parseSecret('abd'), Buffer.from('abd'));
  assert.deepEqual(parseSecret('abcdef1'), Buffer.from('abcdef1')); // odd-length hex, length % 4 === 3, trailing bits
  assert.deepEqual(parseSecret('abcde'), Buffer.from('abcde')); // length % 4 === 1
  assert.deepEqual(parseSecret('ab+c_d'), Buffer.from('ab+c_d')); // mixed alphabets
  assert.deepEqual(parseSecret('abc=='), Buffer.from('abc==')); // bad padding length
  assert.deepEqual(parseSecret(C), Buffer.from(C, 'utf8'));
  assert.deepEqual(parseSecret('pässwört'), Buffer.from('pässwört', 'utf8'));
  assert.deepEqual(parseSecret(generateSecret()).length, 32);
});

test('seal/unseal round trip, strings and buffers, empty plaintext', () => {
  const ring = KeyRing.fromSecrets([A]);
  assert.equal(ring.unseal('session', ring.seal('session', 'hello'))?.toString(), 'hello');
  const bin = Buffer.from([0, 1, 2, 255]);
  assert.deepEqual(ring.unseal('session', ring.seal('session', bin)), bin);
  assert.deepEqual(ring.unseal('session', ring.seal('session', '')), Buffer.alloc(0));
  // Fresh IV each time.
  assert.notEqual(ring.seal('session', 'x'), ring.seal('session', 'x'));
  // Layout: 1 + 4 + 12 + n + 16 bytes, base64url without padding, version 1, current key id.
  const raw = Buffer.from(ring.seal('session', 'hello'), 'base64url');
  assert.equal(raw.length, 1 + 4 + 12 + 5 + 16);
  assert.equal(raw[0], 1);
  assert.equal(raw.subarray(1, 5).toString('hex'), ring.currentKeyId);
  assert.match(ring.seal('session', 'hello'), /^[A-Za-z0-9_-]+$/);
});

test('a value sealed for one purpose never opens for another', () => {
  const ring = KeyRing.fromSecrets([A]);
  const token = ring.seal('session', 'alice');
  assert.equal(ring.unseal('login-state', token), undefined);
  assert.equal(ring.unseal('session ', token), undefined);
  assert.equal(ring.unseal('session', token)?.toString(), 'alice');
});

test('rotation: old secrets still open old values; a ring without them does not', () => {
  const old = KeyRing.fromSecrets([A]);
  const token = old.seal('session', 'alice');
  const rotated = KeyRing.fromSecrets([B, A]);
  assert.equal(rotated.unseal('session', token)?.toString(), 'alice');
  assert.equal(KeyRing.fromSecrets([B]).unseal('session', token), undefined);
  // New values are sealed with the new current key, which the old ring cannot open.
  const fresh = rotated.seal('session', 'bob');
  assert.equal(Buffer.from(fresh, 'base64url').subarray(1, 5).toString('hex'), KeyRing.fromSecrets([B]).currentKeyId);
  assert.equal(old.unseal('session', fresh), undefined);
  assert.equal(KeyRing.fromSecrets([B]).unseal('session', fresh)?.toString(), 'bob');
});

test('key ids: 8 hex chars, deterministic, independent of encoding and position', () => {
  const r1 = KeyRing.fromSecrets([A, B]);
  const r2 = KeyRing.fromSecrets([B, A]);
  assert.match(r1.currentKeyId, /^[0-9a-f]{8}$/);
  assert.deepEqual(r1.keyIds, [...r2.keyIds].reverse());
  assert.notEqual(r1.keyIds[0], r1.keyIds[1]);
  // The same bytes written as base64 give the same id as hex.
  assert.equal(KeyRing.fromSecrets([Buffer.alloc(32, 0xaa).toString('base64')]).currentKeyId, r1.currentKeyId);
  // First 4 bytes of SHA-256 of HKDF(root, info "gatehouse-key-id").
  const material = Buffer.from(hkdfSync('sha256', Buffer.alloc(32, 0xaa), Buffer.alloc(0), 'gatehouse-key-id', 32));
  assert.equal(r1.currentKeyId, createHash('sha256').update(material).digest('hex').slice(0, 8));
  // Listing the same secret twice is harmless.
  assert.deepEqual(KeyRing.fromSecrets([A, A]).keyIds, [r1.currentKeyId]);
});

test('fromSecrets refuses an empty list and empty secrets, with no secret in the message', () => {
  assert.throws(
    () => KeyRing.fromSecrets([]),
    (e: unknown) =>
      e instanceof GatehouseError && e.kind === 'secret_invalid' && e.message === 'key ring: at least one root secret is required',
  );
  assert.throws(
    () => KeyRing.fromSecrets([A, '  ']),
    (e: unknown) => e instanceof GatehouseError && e.kind === 'secret_invalid' && e.message === 'key ring: root secret 2 is empty',
  );
});

test('derive: HKDF-SHA256 of the current root with info gatehouse:<purpose>, cached, copied', () => {
  const ring = KeyRing.fromSecrets([A, B]);
  const expected = Buffer.from(hkdfSync('sha256', Buffer.alloc(32, 0xaa), Buffer.alloc(0), 'gatehouse:csrf', 32));
  const k = ring.derive('csrf');
  assert.deepEqual(k, expected);
  assert.equal(ring.derive('csrf', 64).length, 64);
  assert.notDeepEqual(ring.derive('csrf'), ring.derive('cookie-name'));
  k.fill(0); // a caller scribbling on its copy does not change the cache
  assert.deepEqual(ring.derive('csrf'), expected);
  // Derived keys never equal the sealing key material namespace.
  assert.notDeepEqual(
    ring.derive('seal:session'),
    Buffer.from(hkdfSync('sha256', Buffer.alloc(32, 0xaa), Buffer.alloc(0), 'gatehouse-seal:session', 32)),
  );
});

test('tampering with any region, truncation and garbage give undefined, never a throw', () => {
  const ring = KeyRing.fromSecrets([A]);
  const token = ring.seal('session', 'some session payload');
  const raw = Buffer.from(token, 'base64url');
  const regions: Record<string, number> = { version: 0, 'key id': 2, iv: 10, ciphertext: 20, tag: raw.length - 3 };
  for (const [region, at] of Object.entries(regions)) {
    const bad = Buffer.from(raw);
    bad[at] = (bad[at] ?? 0) ^ 0x01;
    assert.equal(ring.unseal('session', bad.toString('base64url')), undefined, region);
  }
  for (const cut of [1, 16, raw.length - 33, raw.length - 1]) {
    assert.equal(ring.unseal('session', raw.subarray(0, raw.length - cut).toString('base64url')), undefined, `truncated by ${cut}`);
  }
  assert.equal(ring.unseal('session', raw.subarray(0, 33).toString('base64url')), undefined, 'header and tag only');
  // Appended bytes shift the tag.
  assert.equal(ring.unseal('session', Buffer.concat([raw, Buffer.from([0])]).toString('base64url')), undefined);
  // Encodings that Node would decode to the same bytes are refused: stray characters, padding,
  // standard alphabet, non-zero trailing bits.
  assert.equal(ring.unseal('session', `${token.slice(0, 10)}!${token.slice(10)}`), undefined, 'stray character');
  assert.equal(ring.unseal('session', `${token}=`), undefined, 'padding');
  let dashed = token;
  while (!/[-_]/.test(dashed)) dashed = ring.seal('session', 'some session payload');
  assert.notEqual(ring.unseal('session', dashed), undefined);
  assert.equal(ring.unseal('session', dashed.replaceAll('-', '+').replaceAll('_', '/')), undefined, 'standard alphabet');
  // 53 bytes -> 71 characters: the last one carries 2 unused bits, which must be zero.
  assert.equal(token.length, 71);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const sibling = alphabet[alphabet.indexOf(token.at(-1) ?? 'A') ^ 1] ?? 'A';
  assert.deepEqual(Buffer.from(token.slice(0, -1) + sibling, 'base64url'), raw, 'node decodes the sibling to the same bytes');
  assert.equal(ring.unseal('session', token.slice(0, -1) + sibling), undefined, 'trailing bits');
  for (const junk of ['', 'x', '....', 'A'.repeat(44), 'A'.repeat(400), '\u0000'.repeat(50), 'é'.repeat(60)]) {
    assert.equal(ring.unseal('session', junk), undefined, JSON.stringify(junk.slice(0, 8)));
  }
  assert.equal(ring.unseal('session', undefined as unknown as string), undefined);
  // An unknown key id: a token from another ring.
  assert.equal(ring.unseal('session', KeyRing.fromSecrets([C]).seal('session', 'x')), undefined);
  assert.equal(ring.unseal('session', token)?.toString(), 'some session payload');
});

test('timingSafeEqualString compares contents and lengths', () => {
  assert.equal(timingSafeEqualString('abc', 'abc'), true);
  assert.equal(timingSafeEqualString('', ''), true);
  assert.equal(timingSafeEqualString('abc', 'abd'), false);
  assert.equal(timingSafeEqualString('abc', 'abcd'), false);
  assert.equal(timingSafeEqualString('abc', ''), false);
  assert.equal(timingSafeEqualString('é', 'e\u0301'), false);
});

test('hashToken is SHA-256 base64url', () => {
  assert.equal(hashToken('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  assert.equal(hashToken('abc').length, 43);
  assert.notEqual(hashToken('abc'), hashToken('abd'));
});
