// crypto: the key ring (HKDF subkeys from root secrets, seal/unseal with rotation), secret
// decoding, constant-time comparison and token hashing.
export { parseSecret, generateSecret } from './secret.ts';
export { KeyRing } from './keyring.ts';
export { timingSafeEqualString, hashToken } from './digest.ts';
