// Sealed cookies: AES-256-GCM (Web Crypto) under keys derived with HKDF-SHA-256 (RFC 5869) from
// the Worker's secret, one key per purpose, so a sign-in state cookie can never be replayed as a
// session (and the other way round). The cookie's name is the additional authenticated data:
// a value moved to another cookie name does not open.
//
// Format: base64url( 0x01 | 12-byte random IV | ciphertext and 16-byte tag ). With several
// secrets (rotation) the first seals and each is tried in turn to open: a wrong key fails on the
// tag, and the list is short.
// The payload carries its own expiry (`exp`, seconds) and is refused after it, whatever the
// browser does with Max-Age.

export type Purpose = 'session' | 'login';

const VERSION = 1;
const IV_BYTES = 12;
const MIN_SECRET_CHARS = 32;
/** Web Crypto's key type, named the same way under lib.webworker and @types/node. */
type Key = Awaited<ReturnType<typeof crypto.subtle.deriveKey>>;
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export interface Sealer {
  seal(name: string, payload: Record<string, unknown>): Promise<string>;
  /** The payload, or null for anything that does not open, is malformed or has expired. */
  unseal(name: string, value: string, nowSeconds: number): Promise<Record<string, unknown> | null>;
}

/** Problems with the secrets binding, naming it; empty when fine. */
export function secretProblems(name: string, secrets: readonly string[]): string[] {
  if (secrets.length === 0)
    return [`${name}: missing; set it with \`wrangler secret put ${name}\` (32 or more random bytes, e.g. \`openssl rand -base64 32\`)`];
  if (secrets.length > 4) return [`${name}: at most 4 secrets (the current one first, then the ones it replaces)`];
  return secrets.flatMap((s, i) =>
    s.length < MIN_SECRET_CHARS
      ? [`${name}: secret ${i + 1} has ${s.length} characters; use 32 or more (e.g. \`openssl rand -base64 32\`)`]
      : [],
  );
}

export function b64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function fromB64url(s: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return null;
  const bin = atob(s.replaceAll('-', '+').replaceAll('_', '/') + '='.repeat((4 - (s.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function deriveKey(secret: string, purpose: Purpose): Promise<Key> {
  const ikm = await crypto.subtle.importKey('raw', enc.encode(secret), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: enc.encode(`gatehouse-edge ${purpose} cookie v1`) },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** A sealer for one purpose. Throws (naming `bindingName`) when a secret is too short. */
export async function createSealer(
  secrets: readonly string[],
  purpose: Purpose,
  bindingName = 'GATEHOUSE_SESSION_SECRET',
): Promise<Sealer> {
  const problems = secretProblems(bindingName, secrets);
  if (problems.length > 0) throw new TypeError(problems.join('; '));
  const keys = await Promise.all(secrets.map((s) => deriveKey(s, purpose)));
  return {
    async seal(name, payload) {
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const ct = new Uint8Array(
        await crypto.subtle.encrypt(
          { name: 'AES-GCM', iv, additionalData: enc.encode(name) },
          keys[0] as Key,
          enc.encode(JSON.stringify(payload)),
        ),
      );
      const out = new Uint8Array(1 + IV_BYTES + ct.length);
      out[0] = VERSION;
      out.set(iv, 1);
      out.set(ct, 1 + IV_BYTES);
      return b64url(out);
    },
    async unseal(name, value, nowSeconds) {
      const raw = fromB64url(value);
      // version, IV, and at least the 16-byte tag
      if (raw === null || raw.length < 1 + IV_BYTES + 16 || raw[0] !== VERSION) return null;
      const iv = raw.subarray(1, 1 + IV_BYTES);
      const data = raw.subarray(1 + IV_BYTES);
      const aad = enc.encode(name);
      let plain: ArrayBuffer | null = null;
      for (const key of keys) {
        try {
          plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, data);
          break;
        } catch {
          /* not this key */
        }
      }
      if (plain === null) return null;
      let payload: unknown;
      try {
        payload = JSON.parse(dec.decode(plain));
      } catch {
        return null;
      }
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null;
      const exp = (payload as { exp?: unknown }).exp;
      if (typeof exp !== 'number' || !(exp > nowSeconds)) return null;
      return payload as Record<string, unknown>;
    },
  };
}
