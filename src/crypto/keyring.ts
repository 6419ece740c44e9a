// The key ring: every key Gatehouse uses is derived with HKDF-SHA256 (RFC 5869) from a root
// secret, so an operator manages one secret (or a short list during rotation), never a pile.
//
// Namespaces of HKDF `info`, chosen so they can never collide with each other:
//   "gatehouse:<purpose>"       derive(purpose)            keys handed to other rooms
//   "gatehouse-seal:<purpose>"  seal()/unseal()            AES-256-GCM keys, one per purpose
//   "gatehouse-key-id"          the key id of a root secret
// The salt is empty (RFC 5869 §3.1: optional; the root secret is required to be high-entropy).
//
// Sealed token (base64url, no padding):
//   version (1 byte) | key id (4 bytes) | IV (12 random bytes) | AES-256-GCM ciphertext | tag (16 bytes)
// AAD = version | key id | purpose (UTF-8): the header cannot be swapped and a value sealed for
// one purpose never opens for another, even though the keys already differ per purpose.
// Random 96-bit IVs keep each (key, purpose) well under the 2^32 invocation bound of
// NIST SP 800-38D §8.3 for any plausible lifetime of a root secret.
import { createCipheriv, createDecipheriv, createHash, createSecretKey, hkdfSync, randomFillSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { GatehouseError } from '../core/index.ts';
import { parseSecret } from './secret.ts';

const VERSION = 1;
const ID_LEN = 4;
const IV_LEN = 12;
const TAG_LEN = 16;
const HEADER_LEN = 1 + ID_LEN;
const CT_START = HEADER_LEN + IV_LEN;
const MIN_BYTES = CT_START + TAG_LEN;
/** Characters of the shortest token (empty plaintext): ceil(33 * 4 / 3). */
const MIN_CHARS = Math.ceil((MIN_BYTES * 4) / 3);
const EMPTY_SALT = Buffer.alloc(0);
const GCM = 'aes-256-gcm';
const GCM_OPTIONS = { authTagLength: TAG_LEN } as const;

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** 6-bit value of each base64url character (only read after BASE64URL matched). */
const B64_VALUE = new Uint8Array(128);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').forEach((ch, i) => {
  B64_VALUE[ch.charCodeAt(0)] = i;
});

/**
 * Only the canonical encoding of a byte string is accepted (RFC 4648 §3.5): Node's decoder skips
 * unknown characters and ignores trailing bits, which would let many strings open to one value.
 */
function isCanonicalBase64url(s: string): boolean {
  const rest = s.length % 4;
  if (rest === 1 || !BASE64URL.test(s)) return false;
  if (rest === 0) return true;
  const last = B64_VALUE[s.charCodeAt(s.length - 1)] ?? 0;
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

interface SealKey {
  readonly key: KeyObject;
  readonly aad: Buffer;
}

interface RootKey {
  readonly id: string;
  readonly idNum: number;
  readonly header: Buffer;
  readonly root: Buffer;
  readonly sealKeys: Map<string, SealKey>;
}

function hkdf(root: Buffer, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', root, EMPTY_SALT, info, length));
}

function rootKey(root: Buffer): RootKey {
  const idBytes = createHash('sha256')
    .update(hkdf(root, 'gatehouse-key-id', 32))
    .digest()
    .subarray(0, ID_LEN);
  const header = Buffer.alloc(HEADER_LEN);
  header[0] = VERSION;
  idBytes.copy(header, 1);
  return { id: idBytes.toString('hex'), idNum: idBytes.readUInt32BE(0), header, root, sealKeys: new Map() };
}

export class KeyRing {
  readonly #keys: readonly RootKey[];
  readonly #byId: ReadonlyMap<number, RootKey>;
  readonly #derived = new Map<string, Buffer>();

  private constructor(keys: readonly RootKey[]) {
    this.#keys = keys;
    this.#byId = new Map(keys.map((k) => [k.idNum, k]));
  }

  /**
   * Build a ring from root secrets in any encoding (see parseSecret). The first is current: it
   * seals and derives. The rest only unseal, so values sealed before a rotation still open.
   */
  static fromSecrets(secrets: readonly string[]): KeyRing {
    if (secrets.length === 0) throw new GatehouseError('secret_invalid', 'key ring: at least one root secret is required');
    const keys: RootKey[] = [];
    secrets.forEach((s, i) => {
      const root = parseSecret(s);
      if (root.length === 0) throw new GatehouseError('secret_invalid', `key ring: root secret ${i + 1} is empty`);
      const key = rootKey(root);
      const same = keys.find((k) => k.idNum === key.idNum);
      if (same === undefined) {
        keys.push(key);
        return;
      }
      // The same secret listed twice is harmless; two secrets sharing 32 bits of id is not.
      if (!same.root.equals(root)) {
        throw new GatehouseError(
          'secret_invalid',
          `key ring: root secret ${i + 1} has the same key id ${key.id} as an earlier one; replace it`,
        );
      }
    });
    return new KeyRing(keys);
  }

  /** Key id of the current root secret (8 hex characters; the same on every replica and restart). */
  get currentKeyId(): string {
    return this.#current().id;
  }

  /** Key ids of every root secret, current first. */
  get keyIds(): readonly string[] {
    return this.#keys.map((k) => k.id);
  }

  /** HKDF-SHA256 from the current root secret, info "gatehouse:<purpose>". Cached; returns a copy. */
  derive(purpose: string, length = 32): Buffer {
    const cacheKey = `${length}:${purpose}`;
    let key = this.#derived.get(cacheKey);
    if (key === undefined) {
      key = hkdf(this.#current().root, `gatehouse:${purpose}`, length);
      this.#derived.set(cacheKey, key);
    }
    return Buffer.from(key);
  }

  /** Encrypt and authenticate with the current key for this purpose; a compact base64url token. */
  seal(purpose: string, plaintext: Buffer | string): string {
    const root = this.#current();
    const { key, aad } = sealKey(root, purpose);
    const pt = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    const out = Buffer.allocUnsafe(MIN_BYTES + pt.length);
    root.header.copy(out, 0);
    const iv = out.subarray(HEADER_LEN, CT_START);
    randomFillSync(iv);
    const cipher = createCipheriv(GCM, key, iv, GCM_OPTIONS);
    cipher.setAAD(aad);
    cipher.update(pt).copy(out, CT_START);
    cipher.final();
    cipher.getAuthTag().copy(out, CT_START + pt.length);
    return out.toString('base64url');
  }

  /**
   * Open a token sealed for this purpose by any root secret in the ring. Never throws: garbage,
   * a truncated or tampered token, another purpose or an unknown key id all give undefined.
   */
  unseal(purpose: string, token: string): Buffer | undefined {
    if (typeof token !== 'string' || token.length < MIN_CHARS || !isCanonicalBase64url(token)) return undefined;
    const raw = Buffer.from(token, 'base64url');
    if (raw.length < MIN_BYTES || raw[0] !== VERSION) return undefined;
    const root = this.#byId.get(raw.readUInt32BE(1));
    if (root === undefined) return undefined;
    const { key, aad } = sealKey(root, purpose);
    try {
      const decipher = createDecipheriv(GCM, key, raw.subarray(HEADER_LEN, CT_START), GCM_OPTIONS);
      decipher.setAAD(aad);
      decipher.setAuthTag(raw.subarray(raw.length - TAG_LEN));
      const plaintext = decipher.update(raw.subarray(CT_START, raw.length - TAG_LEN));
      decipher.final(); // throws when the tag does not verify
      return plaintext;
    } catch {
      return undefined;
    }
  }

  #current(): RootKey {
    // fromSecrets guarantees at least one key.
    return this.#keys[0] as RootKey;
  }
}

function sealKey(root: RootKey, purpose: string): SealKey {
  let sk = root.sealKeys.get(purpose);
  if (sk === undefined) {
    sk = {
      key: createSecretKey(hkdf(root.root, `gatehouse-seal:${purpose}`, 32)),
      aad: Buffer.concat([root.header, Buffer.from(purpose, 'utf8')]),
    };
    root.sealKeys.set(purpose, sk);
  }
  return sk;
}
