// The issuer's signing keys: one ES256 (P-256) and one RS256 (2048-bit) key pair, made at first
// start. The private JWKs are sealed by the key ring before they reach the store; the public
// JWKs are published at the JWKS endpoint.
//
// Rotation adds a new pair and retires the old one: it stops signing at once but stays published
// until `retireAfter` (now + the longest token lifetime + the overlap), so every token it signed
// still verifies until it has expired anyway; then it is deleted. RS256 and ES256 only: the
// algorithms the Kubernetes API server accepts (and never HS256, which needs a shared secret).
import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { GatehouseError, type Clock, type Logger } from '../core/index.ts';
import type { KeyRing } from '../crypto/index.ts';
import type { SigningKeyRecord, SigningKeyStore } from '../store/index.ts';

const PURPOSE = 'signing-key';
export const SIGNING_ALGS = ['ES256', 'RS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

export interface PrivateJwk extends JWK {
  kid: string;
  alg: SigningAlg;
  use: 'sig';
}

async function generate(alg: SigningAlg): Promise<{ privateJwk: PrivateJwk; publicJwk: PrivateJwk }> {
  const pair = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub = pair.publicKey.export({ format: 'jwk' }) as JsonWebKey & JWK;
  const priv = pair.privateKey.export({ format: 'jwk' }) as JsonWebKey & JWK;
  // RFC 7638 thumbprint as kid: stable, derived from the public key, never reused by another key.
  const kid = await calculateJwkThumbprint(pub);
  return {
    privateJwk: { ...priv, kid, alg, use: 'sig' } as PrivateJwk,
    publicJwk: { ...pub, kid, alg, use: 'sig' } as PrivateJwk,
  };
}

async function newRecord(alg: SigningAlg, keyring: KeyRing, now: number): Promise<SigningKeyRecord> {
  const { privateJwk, publicJwk } = await generate(alg);
  return {
    kid: privateJwk.kid,
    alg,
    publicJwk: JSON.stringify(publicJwk),
    sealedPrivateJwk: keyring.seal(PURPOSE, JSON.stringify(privateJwk)),
    createdAt: now,
    retiredAt: null,
    retireAfter: null,
  };
}

export interface LoadedKeys {
  /** Private JWKs for oidc-provider: current keys first (they sign), retired ones after (they only verify and are published). */
  jwks: PrivateJwk[];
  /** A fingerprint of the set, to notice a rotation made by another process. */
  version: string;
}

/**
 * The keys to serve now: makes the first pair on an empty table, deletes keys past retireAfter,
 * re-seals private parts under the current root secret (so an old root secret can be dropped).
 */
export async function loadSigningKeys(store: SigningKeyStore, keyring: KeyRing, clock: Clock, logger: Logger): Promise<LoadedKeys> {
  const now = clock.now();
  const gone = await store.deleteExpired(now);
  if (gone.length) logger.info({ kids: gone }, 'deleted signing keys past their retirement');
  let records = await store.list();
  for (const alg of SIGNING_ALGS) {
    if (!records.some((r) => r.alg === alg && r.retiredAt === null)) {
      // Replicas starting together on an empty database all get here: addFirst lets exactly one
      // key per alg in, and every replica then signs with the keys the store holds (re-read
      // below), never with the one it made and lost.
      const r = await newRecord(alg, keyring, now);
      if (await store.addFirst(r)) logger.info({ kid: r.kid, alg }, 'generated a signing key');
      else logger.info({ alg }, 'another replica generated the signing key; using it');
    }
  }
  records = await store.list();
  const current: PrivateJwk[] = [];
  const retired: PrivateJwk[] = [];
  for (const r of records) {
    const opened = keyring.unseal(PURPOSE, r.sealedPrivateJwk);
    if (!opened) {
      throw new GatehouseError(
        'internal',
        `cannot open signing key ${r.kid}: it was sealed under a root secret that is not among this process's secrets. Replicas on one database must share secrets.session (a replica without it generates a secret of its own); after a rotation, keep the old secret after the new one; or run \`gatehouse keys rotate --signing\``,
      );
    }
    const jwk = JSON.parse(opened.toString('utf8')) as PrivateJwk;
    if (!sealedUnderCurrent(keyring, r.sealedPrivateJwk)) await store.reseal(r.kid, keyring.seal(PURPOSE, opened));
    // Newest first within each group: the newest current key of an alg is the one that signs.
    (r.retiredAt === null ? current : retired).unshift(jwk);
  }
  return { jwks: [...current, ...retired], version: records.map((r) => `${r.kid}:${r.retiredAt ?? ''}`).join(',') };
}

/** Whether a sealed value names the key ring's current root key (bytes 1..4 of the token). */
function sealedUnderCurrent(keyring: KeyRing, sealed: string): boolean {
  const header = Buffer.from(sealed.slice(0, 8), 'base64url');
  return header.subarray(1, 5).toString('hex') === keyring.currentKeyId;
}

/** `gatehouse keys rotate --signing`: a new pair signs from now on; the old pair is published until retireAfter. */
export async function rotateSigningKeys(
  store: SigningKeyStore,
  keyring: KeyRing,
  clock: Clock,
  keepPublishedMs: number,
): Promise<{ added: string[]; retired: string[]; retireAfter: number }> {
  const now = clock.now();
  const old = (await store.list()).filter((r) => r.retiredAt === null).map((r) => r.kid);
  const added: string[] = [];
  for (const alg of SIGNING_ALGS) {
    const r = await newRecord(alg, keyring, now);
    await store.add(r);
    added.push(r.kid);
  }
  const retireAfter = now + keepPublishedMs;
  const retired = await store.retire(old, now, retireAfter);
  return { added, retired, retireAfter };
}
