// How much entropy a configured secret carries, whatever its encoding. oauth2-proxy demanded a
// cookie secret of exactly 16, 24 or 32 bytes and crashed on a 44-character base64 one; here any
// encoding works and keys are derived from it (HKDF, in crypto/), so only the amount matters.
//
// Rules, in order (the first that applies decides):
//   1. hex (0-9 a-f, even length, at least 8 distinct digits): length / 2 bytes;
//   2. base64 or base64url (with or without padding, at least 43 characters before padding, at
//      least 16 distinct characters): the decoded length;
//   3. anything else is raw text: its UTF-8 length, capped at twice the number of distinct
//      characters, so a raw secret needs >= 32 bytes AND >= 16 distinct characters to reach 32.
// The distinct-character floors keep "aaaa…" (valid hex and base64 alphabet) from counting as
// random: real random output of these lengths has far more distinct characters than the floors.

export const MIN_SECRET_BYTES = 32;

export type SecretEncoding = 'hex' | 'base64' | 'raw';

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

function distinct(s: string): number {
  return new Set(s).size;
}

/** Estimated bytes of entropy in `s`, and the encoding it was read as. */
export function secretStrength(s: string): { bytes: number; encoding: SecretEncoding } {
  if (HEX.test(s) && distinct(s.toLowerCase()) >= 8) return { bytes: s.length / 2, encoding: 'hex' };
  const body = s.replace(/=+$/, '');
  const padded = body.length !== s.length;
  if (
    (BASE64.test(s) || BASE64URL.test(s)) &&
    body.length >= 43 &&
    body.length % 4 !== 1 &&
    (!padded || s.length % 4 === 0) &&
    distinct(body) >= 16
  ) {
    return { bytes: Math.floor((body.length * 3) / 4), encoding: 'base64' };
  }
  return { bytes: Math.min(Buffer.byteLength(s, 'utf8'), distinct(s) * 2), encoding: 'raw' };
}

/**
 * The problem with a secret, or undefined when it is strong enough. Never contains the secret.
 */
export function weakSecretMessage(s: string): string | undefined {
  const { bytes, encoding } = secretStrength(s);
  if (bytes >= MIN_SECRET_BYTES) return undefined;
  const how = encoding === 'raw' ? 'read as raw text, which needs at least 32 bytes and 16 distinct characters' : `read as ${encoding}`;
  return `the secret has about ${bytes} bytes of entropy (${how}); at least ${MIN_SECRET_BYTES} are needed: generate one with \`openssl rand -base64 32\``;
}
