import { randomBytes } from 'node:crypto';

// Root secrets arrive "in any encoding" (a file written by `openssl rand -hex 32`, by
// `openssl rand -base64 32`, a Kubernetes secret, a passphrase). Every replica must turn the
// same string into the same bytes, so the decoding order is fixed and documented here:
//
//   0. surrounding whitespace is trimmed (a secret file usually ends with a newline);
//   1. hex: an even number of characters, all 0-9a-fA-F            -> the bytes it spells;
//   2. base64 or base64url (one alphabet, padded or not), and only when the text is the
//      canonical encoding of its bytes (re-encoding gives the same text, so no stray
//      trailing bits and no mixed alphabets)                        -> the bytes it spells;
//   3. anything else                                                -> its UTF-8 bytes.
//
// Hex wins over base64 on purpose: 64 hex characters are also valid base64, and `openssl rand
// -hex` is the most common way to make a secret. Strength (>= 32 bytes of entropy) is checked by
// the config room, not here.

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const TRAILING_PAD = /=+$/;

/** Decode a root secret: hex, else canonical base64/base64url, else UTF-8 (see the order above). */
export function parseSecret(s: string): Buffer {
  const text = s.trim();
  if (HEX.test(text)) return Buffer.from(text, 'hex');
  const b64 = decodeBase64(text);
  if (b64 !== undefined) return b64;
  return Buffer.from(text, 'utf8');
}

function decodeBase64(text: string): Buffer | undefined {
  const alphabet = BASE64.test(text) ? 'base64' : BASE64URL.test(text) ? 'base64url' : undefined;
  if (alphabet === undefined) return undefined;
  const padStart = text.indexOf('=');
  const body = padStart === -1 ? text : text.slice(0, padStart);
  // Padding, when present, must make the length a multiple of 4 (RFC 4648 §4); unpadded text
  // can never leave a single character in the last quantum.
  if (padStart !== -1 && text.length % 4 !== 0) return undefined;
  if (body.length % 4 === 1) return undefined;
  const bytes = Buffer.from(body, alphabet);
  // Canonical only (RFC 4648 §3.5): the unused bits of the last character must be zero.
  const again = bytes.toString(alphabet).replace(TRAILING_PAD, '');
  return again === body ? bytes : undefined;
}

/** A fresh root secret: 32 random bytes, base64url (decodes back to the same 32 bytes above). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}
