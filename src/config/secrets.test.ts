import { test } from 'node:test';
import assert from 'node:assert/strict';
import { secretStrength, weakSecretMessage } from './secrets.ts';

const BASE64_32 = '733ZZX5wL0I/oHNroFNU9523bd6fbVDVVHCK4xJT/R4='; // openssl rand -base64 32
const BASE64URL_32 = '2ovo1NaFuz8f699bkp9JwiOZnJSjBwQ6Dt-BywII3VQ'; // same, base64url without padding
const HEX_32 = '00282866a8ac892dcff6f8a71ff46e133e334e63795929c3406936edb920503a'; // openssl rand -hex 32
const HEX_16 = '551c76b5b41fd0ae17d734e1ee351489'; // openssl rand -hex 16

test('secretStrength reads each encoding', () => {
  const table: [string, { bytes: number; encoding: string }][] = [
    [BASE64_32, { bytes: 32, encoding: 'base64' }],
    [BASE64_32.replace(/=$/, ''), { bytes: 32, encoding: 'base64' }],
    [BASE64URL_32, { bytes: 32, encoding: 'base64' }],
    [HEX_32, { bytes: 32, encoding: 'hex' }],
    [HEX_32.toUpperCase(), { bytes: 32, encoding: 'hex' }],
    [HEX_16, { bytes: 16, encoding: 'hex' }],
    // 64 × "a" is valid hex and valid base64 alphabet, and still worthless.
    ['a'.repeat(64), { bytes: 2, encoding: 'raw' }],
    ['0'.repeat(64), { bytes: 2, encoding: 'raw' }],
    ['é'.repeat(34), { bytes: 2, encoding: 'raw' }],
    ['abcdefgh'.repeat(4), { bytes: 16, encoding: 'raw' }],
    ['correct horse battery staple, then more words!', { bytes: 38, encoding: 'raw' }],
    // Padding in the wrong place: not base64, read as raw text.
    [`${BASE64_32}=`, { bytes: Buffer.byteLength(`${BASE64_32}=`), encoding: 'raw' }],
    ['', { bytes: 0, encoding: 'raw' }],
  ];
  for (const [s, want] of table) assert.deepEqual(secretStrength(s), want, s);
});

test('a 44-character base64 secret passes; 32 hex characters and a repeated character fail with advice', () => {
  assert.equal(weakSecretMessage(BASE64_32), undefined);
  assert.equal(weakSecretMessage(HEX_32), undefined);
  assert.equal(
    weakSecretMessage(HEX_16),
    'the secret has about 16 bytes of entropy (read as hex); at least 32 are needed: generate one with `openssl rand -base64 32`',
  );
  assert.equal(
    weakSecretMessage('a'.repeat(64)),
    'the secret has about 2 bytes of entropy (read as raw text, which needs at least 32 bytes and 16 distinct characters); at least 32 are needed: generate one with `openssl rand -base64 32`',
  );
});
