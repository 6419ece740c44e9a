import { hash, timingSafeEqual } from 'node:crypto';

/**
 * Compare two strings in time that does not depend on where they differ, nor (beyond the
 * hashing) on their lengths: both sides are hashed to 32 bytes first, so `timingSafeEqual` always
 * compares equal-length buffers and a length mismatch never returns early.
 */
export function timingSafeEqualString(a: string, b: string): boolean {
  return timingSafeEqual(hash('sha256', a, 'buffer'), hash('sha256', b, 'buffer'));
}

/**
 * SHA-256 of a high-entropy value (ticket, code, API token), base64url. The store keeps only this,
 * so a leaked table cannot be replayed. Not for passwords: those are low-entropy and use argon2id.
 */
export function hashToken(value: string): string {
  return hash('sha256', value, 'base64url');
}
