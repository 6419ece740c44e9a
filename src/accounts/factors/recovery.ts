// Recovery codes: ten codes of 16 base32 characters (80 bits each), shown once, stored only as
// SHA-256 hashes bound to the person (a leaked table is neither usable nor guessable: 2^80 per
// code), each accepted once. Typed codes are normalised: case, spaces and dashes do not matter.
import { createHash, randomBytes } from 'node:crypto';

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

function randomCode(): string {
  // 32 symbols, 5 bits each: 16 symbols from 10 random bytes.
  const bytes = randomBytes(10);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `${out.slice(0, 4)}-${out.slice(4, 8)}-${out.slice(8, 12)}-${out.slice(12, 16)}`;
}

export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, randomCode);
}

/** The normalised code, or null when it cannot be one of ours. */
export function normalizeRecoveryCode(raw: string): string | null {
  const c = raw.toLowerCase().replace(/[\s-]/g, '');
  return c.length === 16 && [...c].every((ch) => ALPHABET.includes(ch)) ? c : null;
}

export function hashRecoveryCode(userId: string, normalized: string): string {
  return createHash('sha256').update(`gatehouse-recovery\0${userId}\0${normalized}`).digest('base64url');
}
