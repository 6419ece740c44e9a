// WebAuthn ceremonies (Level 3) with @simplewebauthn/server. The server keeps nothing between
// the options and the answer: the challenge travels sealed (with who it is for and until when)
// and is claimed once in the store's replay table when the answer comes back, so an answer can
// be used once on any replica. The relying party id is publicUrl's host; the origin is
// publicUrl's origin; attestation is `none` (no device data is asked for or kept).
// @simplewebauthn/server (and its ASN.1 and COSE libraries, about 15 MiB resident) is loaded with
// the first ceremony, not at start: a gate whose users never use a passkey never loads it.
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { randomBytes } from 'node:crypto';
import type { KeyRing } from '../../crypto/index.ts';
import { hashToken } from '../../crypto/index.ts';
import type { PasskeyRecord } from '../../store/index.ts';

const simpleWebAuthn = () => import('@simplewebauthn/server');

export interface RelyingParty {
  id: string;
  name: string;
  origin: string;
}

/** A ceremony's sealed state: its kind, the challenge, the user it is for (none: passwordless), its expiry. */
interface Ceremony {
  k: 'reg' | 'auth';
  c: string;
  u: string | null;
  exp: number;
}

const PURPOSE = 'webauthn-ceremony';
/** How long a ceremony may take (the browser's own timeout is the same). */
export const CEREMONY_MS = 5 * 60_000;

export type CeremonyFailure = 'expired' | 'replayed' | 'unknown_credential' | 'wrong_user' | 'not_verified' | 'malformed';

export class CeremonyError extends Error {
  readonly failure: CeremonyFailure;
  constructor(failure: CeremonyFailure, detail: string) {
    super(detail);
    this.failure = failure;
  }
}

function seal(keyring: KeyRing, c: Ceremony): string {
  return keyring.seal(PURPOSE, JSON.stringify(c));
}

function open(keyring: KeyRing, sealed: string, kind: Ceremony['k'], now: number): Ceremony {
  const raw = keyring.unseal(PURPOSE, sealed);
  if (!raw) throw new CeremonyError('malformed', 'the ceremony state does not unseal');
  let c: Ceremony;
  try {
    c = JSON.parse(raw.toString('utf8')) as Ceremony;
  } catch {
    throw new CeremonyError('malformed', 'the ceremony state is not JSON');
  }
  if (c.k !== kind || typeof c.c !== 'string' || typeof c.exp !== 'number')
    throw new CeremonyError('malformed', 'the ceremony state is of another kind');
  if (c.exp <= now) throw new CeremonyError('expired', 'the ceremony took too long');
  return c;
}

/** The user handle: the account id's bytes (never the username, which the person may change). */
export function userHandle(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId, 'utf8'));
}

/**
 * Registration options, in two forms over one challenge (one sealed state serves either):
 *   options     a passkey: a discoverable credential with user verification when the
 *               authenticator can (passwordless sign-in needs both)
 *   keyOptions  a security key for the second step only: no discoverable credential, no user
 *               verification. Chromium asks a security key without a PIN to set one before it
 *               makes a discoverable credential (residentKey preferred or required), and answers
 *               NotAllowedError when that cannot happen; such a key registers with these.
 */
export async function registrationOptions(
  keyring: KeyRing,
  rp: RelyingParty,
  user: { id: string; username: string; name: string | null },
  existing: readonly PasskeyRecord[],
  now: number,
): Promise<{ options: PublicKeyCredentialCreationOptionsJSON; keyOptions: PublicKeyCredentialCreationOptionsJSON; state: string }> {
  const challenge = new Uint8Array(randomBytes(32));
  const common = {
    rpName: rp.name,
    rpID: rp.id,
    userName: user.username,
    userDisplayName: user.name ?? user.username,
    userID: userHandle(user.id),
    challenge,
    timeout: CEREMONY_MS,
    attestationType: 'none',
    excludeCredentials: existing.map((p) => ({ id: p.id, transports: p.transports })),
    extensions: { credProps: true },
  } as const;
  const { generateRegistrationOptions } = await simpleWebAuthn();
  const options = await generateRegistrationOptions({
    ...common,
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
  });
  const keyOptions = await generateRegistrationOptions({
    ...common,
    authenticatorSelection: { residentKey: 'discouraged', userVerification: 'discouraged' },
  });
  return { options, keyOptions, state: seal(keyring, { k: 'reg', c: options.challenge, u: user.id, exp: now + CEREMONY_MS }) };
}

/**
 * Registration options for an account not made yet (an invitation): `id` is the account id it
 * will have (the user handle), sealed in the state. A passkey only, discoverable and verifying
 * its user: the account has no password, so the passkey must sign in on its own. The browser
 * page puts the username the person types into `user.name` (shown by account pickers; not
 * checked here).
 */
export async function newAccountRegistrationOptions(
  keyring: KeyRing,
  rp: RelyingParty,
  id: string,
  now: number,
): Promise<{ options: PublicKeyCredentialCreationOptionsJSON; state: string }> {
  const { generateRegistrationOptions } = await simpleWebAuthn();
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: 'new account',
    userID: userHandle(id),
    challenge: new Uint8Array(randomBytes(32)),
    timeout: CEREMONY_MS,
    attestationType: 'none',
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    extensions: { credProps: true },
  });
  return { options, state: seal(keyring, { k: 'reg', c: options.challenge, u: id, exp: now + CEREMONY_MS }) };
}

/** The account a registration's sealed state is for (null: not a registration state, or expired). */
export function registrationUser(keyring: KeyRing, state: string, now: number): string | null {
  try {
    return open(keyring, state, 'reg', now).u;
  } catch {
    return null;
  }
}

export interface Registered {
  record: Omit<PasskeyRecord, 'name' | 'createdAt' | 'lastUsedAt' | 'userId'>;
  userVerified: boolean;
}

/** Checks a registration answer for `userId`; `claim` marks the challenge used (false: used before). */
export async function verifyRegistration(
  keyring: KeyRing,
  rp: RelyingParty,
  userId: string,
  state: string,
  response: RegistrationResponseJSON,
  now: number,
  claim: (key: string, expiresAt: number) => Promise<boolean>,
  requireUserVerification = false,
): Promise<Registered> {
  const c = open(keyring, state, 'reg', now);
  if (c.u !== userId) throw new CeremonyError('wrong_user', 'the registration was started for another account');
  let v;
  try {
    v = await (
      await simpleWebAuthn()
    ).verifyRegistrationResponse({
      response,
      expectedChallenge: c.c,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification,
    });
  } catch (err) {
    throw new CeremonyError('not_verified', (err as Error).message);
  }
  if (!v.verified) throw new CeremonyError('not_verified', 'the attestation did not verify');
  if (!(await claim(`webauthn:${hashToken(c.c)}`, c.exp))) throw new CeremonyError('replayed', 'this registration answer was used before');
  const info = v.registrationInfo;
  const rk = (response.clientExtensionResults as { credProps?: { rk?: boolean } } | undefined)?.credProps?.rk;
  return {
    record: {
      id: info.credential.id,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: (response.response.transports ?? []).filter((t) => typeof t === 'string').slice(0, 8),
      discoverable: rk === true,
      backedUp: info.credentialBackedUp,
    },
    userVerified: info.userVerified,
  };
}

/**
 * Options for an assertion. With a user (a second factor): that user's credentials, user
 * verification preferred. Without (passwordless, and the autofill of the sign-in form): any
 * discoverable credential, user verification required.
 */
export async function authenticationOptions(
  keyring: KeyRing,
  rp: RelyingParty,
  user: { id: string; passkeys: readonly PasskeyRecord[] } | null,
  now: number,
): Promise<{ options: PublicKeyCredentialRequestOptionsJSON; state: string }> {
  const challenge = randomBytes(32).toString('base64url');
  const options = await (
    await simpleWebAuthn()
  ).generateAuthenticationOptions({
    rpID: rp.id,
    challenge: new Uint8Array(Buffer.from(challenge, 'base64url')),
    timeout: CEREMONY_MS,
    userVerification: user ? 'preferred' : 'required',
    ...(user ? { allowCredentials: user.passkeys.map((p) => ({ id: p.id, transports: p.transports })) } : {}),
  });
  return { options, state: seal(keyring, { k: 'auth', c: options.challenge, u: user?.id ?? null, exp: now + CEREMONY_MS }) };
}

export interface Asserted {
  userId: string;
  passkeyId: string;
  counter: number;
  userVerified: boolean;
}

/**
 * Checks an assertion: the credential exists, belongs to the user the ceremony was for (or,
 * passwordless, to the user its handle names), the signature over this challenge and origin
 * verifies, the user was verified when passwordless, and the challenge was not used before.
 */
export async function verifyAuthentication(
  keyring: KeyRing,
  rp: RelyingParty,
  state: string,
  response: AuthenticationResponseJSON,
  now: number,
  find: (id: string) => Promise<PasskeyRecord | undefined>,
  claim: (key: string, expiresAt: number) => Promise<boolean>,
): Promise<Asserted> {
  const c = open(keyring, state, 'auth', now);
  if (typeof response?.id !== 'string' || typeof response.response !== 'object' || response.response === null)
    throw new CeremonyError('malformed', 'the answer has no credential');
  const cred = await find(response.id);
  if (!cred) throw new CeremonyError('unknown_credential', 'no such credential is registered');
  if (c.u !== null && cred.userId !== c.u) throw new CeremonyError('wrong_user', 'the credential belongs to another account');
  if (c.u === null) {
    const handle = response.response.userHandle;
    if (typeof handle !== 'string' || Buffer.from(handle, 'base64url').toString('utf8') !== cred.userId) {
      throw new CeremonyError('wrong_user', "the credential's user handle does not name its account");
    }
  }
  let v;
  try {
    v = await (
      await simpleWebAuthn()
    ).verifyAuthenticationResponse({
      response,
      expectedChallenge: c.c,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: {
        id: cred.id,
        publicKey: new Uint8Array(Buffer.from(cred.publicKey, 'base64url')),
        counter: cred.counter,
        transports: cred.transports,
      },
      requireUserVerification: c.u === null,
    });
  } catch (err) {
    throw new CeremonyError('not_verified', (err as Error).message);
  }
  if (!v.verified) throw new CeremonyError('not_verified', 'the assertion did not verify');
  if (!(await claim(`webauthn:${hashToken(c.c)}`, c.exp))) throw new CeremonyError('replayed', 'this answer was used before');
  return {
    userId: cred.userId,
    passkeyId: cred.id,
    counter: v.authenticationInfo.newCounter,
    userVerified: v.authenticationInfo.userVerified,
  };
}
