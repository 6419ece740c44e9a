// Second factors of local accounts: TOTP, passkeys and security keys (WebAuthn), recovery codes,
// and who must have one. No HTTP here: the portal's screens call these, the CLI calls reset().
// Every enrolment, removal, use and failure is written to the audit log (action `factor_*`).
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { GatehouseError, randomId, type Clock, type Logger } from '../../core/index.ts';
import type { KeyRing } from '../../crypto/index.ts';
import type { Identity } from '../../core/index.ts';
import type { PasskeyRecord, Store, UserRecord } from '../../store/index.ts';
import type { SignInThrottle } from '../throttle.ts';
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from './recovery.ts';
import { matchTotp, newTotpSecret, normalizeCode, totpQrSvg, totpUri } from './totp.ts';
import {
  authenticationOptions,
  CeremonyError,
  newAccountRegistrationOptions,
  registrationOptions,
  registrationUser,
  verifyAuthentication,
  verifyRegistration,
  type Asserted,
  type Registered,
  type RelyingParty,
} from './webauthn.ts';

export interface FactorSettings {
  totp: boolean;
  passkeys: boolean;
  /** Everyone must have a second factor. */
  requireEveryone: boolean;
  /** Members of these groups must have a second factor. */
  requireGroups: readonly string[];
  rp: RelyingParty;
  /** The issuer name authenticator apps show next to the code. */
  totpIssuer: string;
}

export interface FactorStatus {
  totp: boolean;
  passkeys: PasskeyRecord[];
  recoveryCodesLeft: number;
}

export type CheckResult = { ok: true } | { ok: false; reason: 'invalid' } | { ok: false; reason: 'throttled'; retryAfterSeconds: number };

const TOTP_PURPOSE = 'totp-enrolment';
/** The stored secret, sealed with its owner's id inside (a row copied to another account does not unseal as theirs). */
const SECRET_PURPOSE = 'totp-secret';
const ENROL_MS = 15 * 60_000;
const NAME = /^[^\p{Cc}]{1,64}$/u;

export class Factors {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #throttle: SignInThrottle;
  readonly #keyring: () => KeyRing;
  readonly #settings: () => FactorSettings;

  constructor(opts: {
    store: Store;
    clock: Clock;
    logger: Logger;
    throttle: SignInThrottle;
    keyring: () => KeyRing;
    settings: () => FactorSettings;
  }) {
    this.#store = opts.store;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#throttle = opts.throttle;
    this.#keyring = opts.keyring;
    this.#settings = opts.settings;
  }

  get settings(): FactorSettings {
    return this.#settings();
  }
  /** Whether any kind of second factor is on. */
  get enabled(): boolean {
    const s = this.#settings();
    return s.totp || s.passkeys;
  }
  get throttle(): SignInThrottle {
    return this.#throttle;
  }

  #audit(
    actor: string,
    action: string,
    outcome: 'ok' | 'denied' | 'error',
    detail: Record<string, unknown> = {},
    target: string | null = null,
  ): void {
    this.#store.audit.append({ at: this.#clock.now(), actor, action, target, outcome, detail }).catch((err: unknown) => {
      this.#logger.warn({ err: (err as Error).message, action }, 'could not write the audit log');
    });
  }

  async status(userId: string): Promise<FactorStatus> {
    const [totp, passkeys, recoveryCodesLeft] = await Promise.all([
      this.#store.factors.totp(userId),
      this.#store.factors.passkeys(userId),
      this.#store.factors.recoveryCodesLeft(userId),
    ]);
    const s = this.#settings();
    // A kind of factor switched off in config is not offered, and does not count.
    return { totp: s.totp && totp?.confirmedAt != null, passkeys: s.passkeys ? passkeys : [], recoveryCodesLeft };
  }

  /** Whether the person has a second factor they can use now. */
  hasAny(st: FactorStatus): boolean {
    return st.totp || st.passkeys.length > 0;
  }

  /** Whether config requires this person to use a second factor (factors.require). */
  mustUse(identity: Identity): boolean {
    const s = this.#settings();
    if (!s.totp && !s.passkeys) return false;
    return s.requireEveryone || identity.groups.some((g) => s.requireGroups.includes(g));
  }

  // ---- TOTP ----

  /** A new secret for enrolment: its URI and QR code for the page, and the sealed secret the form carries back. */
  async beginTotp(user: UserRecord): Promise<{ secret: string; uri: string; svg: string; pending: string }> {
    const secret = await newTotpSecret();
    const uri = await totpUri(secret, this.#settings().totpIssuer, user.username);
    const pending = this.#keyring().seal(TOTP_PURPOSE, JSON.stringify({ u: user.id, s: secret, exp: this.#clock.now() + ENROL_MS }));
    return { secret, uri, svg: await totpQrSvg(uri), pending };
  }

  /** The QR code of a secret being set up (the page shown again after a wrong first code). */
  async totpQr(user: UserRecord, secret: string): Promise<string> {
    return totpQrSvg(await totpUri(secret, this.#settings().totpIssuer, user.username));
  }

  /** The secret of a pending enrolment for this user, or null (expired, another user's, tampered). */
  pendingTotp(userId: string, pending: string): { secret: string } | null {
    const raw = this.#keyring().unseal(TOTP_PURPOSE, pending);
    if (!raw) return null;
    try {
      const p = JSON.parse(raw.toString('utf8')) as { u?: unknown; s?: unknown; exp?: unknown };
      if (p.u !== userId || typeof p.s !== 'string' || typeof p.exp !== 'number' || p.exp <= this.#clock.now()) return null;
      return { secret: p.s };
    } catch {
      return null;
    }
  }

  /** Confirms an enrolment with its first code; the authenticator replaces any earlier one. */
  async confirmTotp(user: UserRecord, pending: string, rawCode: string, address: string): Promise<CheckResult> {
    const retry = this.#throttle.retryAfter(user.username, address);
    if (retry > 0) return { ok: false, reason: 'throttled', retryAfterSeconds: retry };
    const p = this.pendingTotp(user.id, pending);
    const code = normalizeCode(rawCode);
    const now = this.#clock.now();
    const step = p && code ? await matchTotp(p.secret, code, now, null) : null;
    if (!p || step === null) {
      this.#throttle.recordFailure(user.username, address);
      this.#audit(user.username, 'factor_enrol', 'denied', { factor: 'totp', reason: p ? 'wrong code' : 'enrolment expired', ip: address });
      return { ok: false, reason: 'invalid' };
    }
    await this.#store.factors.putTotp({
      userId: user.id,
      sealedSecret: this.#keyring().seal(SECRET_PURPOSE, JSON.stringify({ u: user.id, s: p.secret })),
      confirmedAt: now,
      lastStep: step,
      createdAt: now,
    });
    this.#throttle.recordSuccess(user.username);
    this.#audit(user.username, 'factor_enrol', 'ok', { factor: 'totp', ip: address });
    return { ok: true };
  }

  /** A code at sign-in or step-up: throttled per account and per address like passwords, each step once. */
  async checkTotp(user: UserRecord, rawCode: string, address: string): Promise<CheckResult> {
    const retry = this.#throttle.retryAfter(user.username, address);
    if (retry > 0) {
      this.#audit(user.username, 'factor_use', 'denied', { factor: 'totp', reason: 'throttled', ip: address });
      return { ok: false, reason: 'throttled', retryAfterSeconds: retry };
    }
    const rec = this.#settings().totp ? await this.#store.factors.totp(user.id) : undefined;
    const code = normalizeCode(rawCode);
    const secret = rec && rec.confirmedAt !== null ? this.#unsealSecret(user.id, rec.sealedSecret) : undefined;
    const now = this.#clock.now();
    const step = secret && code ? await matchTotp(secret, code, now, rec?.lastStep ?? null) : null;
    const used = step !== null && (await this.#store.factors.useTotpStep(user.id, step, now, false));
    if (!used) {
      this.#throttle.recordFailure(user.username, address);
      const reason = !rec
        ? 'no authenticator'
        : !secret
          ? 'secret does not unseal'
          : step === null
            ? 'wrong or used code'
            : 'code used already';
      this.#logger.info({ event: 'factor_failed', factor: 'totp', user: user.username, reason, address }, 'second factor refused');
      this.#audit(user.username, 'factor_use', 'denied', { factor: 'totp', reason, ip: address });
      return { ok: false, reason: 'invalid' };
    }
    this.#throttle.recordSuccess(user.username);
    this.#audit(user.username, 'factor_use', 'ok', { factor: 'totp', ip: address });
    return { ok: true };
  }

  #unsealSecret(userId: string, sealed: string): string | undefined {
    const raw = this.#keyring().unseal(SECRET_PURPOSE, sealed);
    if (!raw) return undefined;
    try {
      const p = JSON.parse(raw.toString('utf8')) as { u?: unknown; s?: unknown };
      return p.u === userId && typeof p.s === 'string' ? p.s : undefined;
    } catch {
      return undefined;
    }
  }

  async removeTotp(user: UserRecord, by: string): Promise<boolean> {
    const gone = await this.#store.factors.deleteTotp(user.id);
    if (gone) this.#audit(by, 'factor_remove', 'ok', { factor: 'totp' }, user.username);
    return gone;
  }

  // ---- recovery codes ----

  /** New recovery codes replace the old ones; the codes are returned once and never stored. */
  async newRecoveryCodes(user: UserRecord): Promise<string[]> {
    const codes = newRecoveryCodes();
    await this.#store.factors.setRecoveryCodes(
      user.id,
      codes.map((c) => hashRecoveryCode(user.id, normalizeRecoveryCode(c) as string)),
      this.#clock.now(),
    );
    this.#audit(user.username, 'factor_enrol', 'ok', { factor: 'recovery_codes', count: codes.length });
    return codes;
  }

  async checkRecoveryCode(user: UserRecord, raw: string, address: string): Promise<CheckResult> {
    const retry = this.#throttle.retryAfter(user.username, address);
    if (retry > 0) return { ok: false, reason: 'throttled', retryAfterSeconds: retry };
    const code = normalizeRecoveryCode(raw);
    const ok = code !== null && (await this.#store.factors.useRecoveryCode(user.id, hashRecoveryCode(user.id, code), this.#clock.now()));
    if (!ok) {
      this.#throttle.recordFailure(user.username, address);
      this.#audit(user.username, 'factor_use', 'denied', { factor: 'recovery_code', ip: address });
      return { ok: false, reason: 'invalid' };
    }
    this.#throttle.recordSuccess(user.username);
    this.#audit(user.username, 'factor_use', 'ok', {
      factor: 'recovery_code',
      ip: address,
      left: await this.#store.factors.recoveryCodesLeft(user.id),
    });
    return { ok: true };
  }

  // ---- passkeys and security keys ----

  /**
   * Registration options for a person (their own credentials excluded, so one authenticator is
   * not registered twice). Exported for every screen that registers one (the security page,
   * enrolment after the password, an invitation).
   */
  async passkeyRegistrationOptions(
    user: UserRecord,
  ): Promise<{ options: PublicKeyCredentialCreationOptionsJSON; keyOptions: PublicKeyCredentialCreationOptionsJSON; state: string }> {
    const existing = await this.#store.factors.passkeys(user.id);
    return registrationOptions(this.#keyring(), this.#settings().rp, user, existing, this.#clock.now());
  }

  /**
   * Registration options for an account an invitation is about to make: its id is chosen now
   * (the passkey's user handle) and travels sealed in the state; a discoverable passkey that
   * verifies its user (the account will have no password).
   */
  newAccountPasskeyOptions(): Promise<{ options: PublicKeyCredentialCreationOptionsJSON; state: string }> {
    return newAccountRegistrationOptions(this.#keyring(), this.#settings().rp, randomId(12), this.#clock.now());
  }

  /**
   * Verifies the answer to newAccountPasskeyOptions (user verification required; the challenge
   * is used once): the id the account must be made with, and the credential to keep with
   * storeNewAccountPasskey once it exists. Null when refused (audited, no account named yet).
   */
  async verifyNewAccountPasskey(
    state: string,
    responseJson: string,
    address: string | null,
  ): Promise<{ accountId: string; registered: Registered } | null> {
    const now = this.#clock.now();
    const id = this.#settings().passkeys ? registrationUser(this.#keyring(), state, now) : null;
    try {
      if (id === null) throw new CeremonyError('malformed', 'no registration state for a new account');
      const registered = await verifyRegistration(
        this.#keyring(),
        this.#settings().rp,
        id,
        state,
        parseJson(responseJson) as RegistrationResponseJSON,
        now,
        (key, exp) => this.#store.replays.once(key, exp, now),
        true,
      );
      return { accountId: id, registered };
    } catch (err) {
      const failure = err instanceof CeremonyError ? err.failure : 'not_verified';
      this.#logger.info({ event: 'factor_failed', factor: 'passkey', failure, detail: (err as Error).message }, 'new passkey refused');
      this.#audit('-', 'factor_enrol', 'denied', { factor: 'passkey', reason: failure, ip: address });
      return null;
    }
  }

  /** Keeps a credential verifyNewAccountPasskey accepted, for the account made with its id. */
  async storeNewAccountPasskey(user: UserRecord, registered: Registered, name: string, address: string | null): Promise<PasskeyRecord> {
    const now = this.#clock.now();
    const clean = name.trim();
    const record: PasskeyRecord = {
      ...registered.record,
      userId: user.id,
      name: NAME.test(clean) ? clean : defaultName(now),
      createdAt: now,
      lastUsedAt: null,
    };
    await this.#store.factors.addPasskey(record);
    this.#audit(user.username, 'factor_enrol', 'ok', {
      factor: 'passkey',
      name: record.name,
      discoverable: record.discoverable,
      ip: address,
    });
    return record;
  }

  /**
   * Verifies a registration answer and stores the credential under `name`; whether the
   * authenticator verified its user (a security key without a PIN does not).
   */
  async registerPasskey(
    user: UserRecord,
    state: string,
    responseJson: string,
    name: string,
    address: string | null,
  ): Promise<{ passkey: PasskeyRecord; userVerified: boolean }> {
    const now = this.#clock.now();
    const cleanName = name.trim() === '' ? defaultName(now) : name.trim();
    if (!NAME.test(cleanName)) throw new GatehouseError('invalid_request', 'a passkey name is 1-64 characters without control characters');
    let reg;
    try {
      reg = await verifyRegistration(
        this.#keyring(),
        this.#settings().rp,
        user.id,
        state,
        parseJson(responseJson) as RegistrationResponseJSON,
        now,
        (key, exp) => this.#store.replays.once(key, exp, now),
      );
    } catch (err) {
      const failure = err instanceof CeremonyError ? err.failure : 'not_verified';
      this.#logger.info(
        { event: 'factor_failed', factor: 'passkey', user: user.username, failure, detail: (err as Error).message },
        'passkey registration refused',
      );
      this.#audit(user.username, 'factor_enrol', 'denied', { factor: 'passkey', reason: failure, ip: address });
      throw new GatehouseError('invalid_request', 'the passkey could not be registered', { cause: err });
    }
    const record: PasskeyRecord = { ...reg.record, userId: user.id, name: cleanName, createdAt: now, lastUsedAt: null };
    await this.#store.factors.addPasskey(record);
    this.#audit(user.username, 'factor_enrol', 'ok', {
      factor: 'passkey',
      name: cleanName,
      discoverable: record.discoverable,
      ip: address,
    });
    return { passkey: record, userVerified: reg.userVerified };
  }

  /** Options for a passkey as second factor (this user's credentials), or passwordless (user: null). */
  async passkeyAuthenticationOptions(user: UserRecord | null): Promise<{ options: PublicKeyCredentialRequestOptionsJSON; state: string }> {
    const passkeys = user ? await this.#store.factors.passkeys(user.id) : [];
    return authenticationOptions(this.#keyring(), this.#settings().rp, user ? { id: user.id, passkeys } : null, this.#clock.now());
  }

  /**
   * Verifies an assertion. Passwordless (the state was made without a user) requires user
   * verification and says who signed in. Failures are throttled by address (and by the account
   * when the credential names one).
   */
  async checkPasskey(
    state: string,
    responseJson: string,
    address: string,
  ): Promise<(CheckResult & { ok: false }) | { ok: true; asserted: Asserted }> {
    if (!this.#settings().passkeys) return { ok: false, reason: 'invalid' };
    // No account is named before the answer is checked: failures count against the address.
    const key = `-passkey:${address}`;
    const retry = this.#throttle.retryAfter(key, address);
    if (retry > 0) return { ok: false, reason: 'throttled', retryAfterSeconds: retry };
    const now = this.#clock.now();
    let asserted: Asserted;
    try {
      asserted = await verifyAuthentication(
        this.#keyring(),
        this.#settings().rp,
        state,
        parseJson(responseJson) as AuthenticationResponseJSON,
        now,
        (id) => this.#store.factors.passkey(id),
        (key, exp) => this.#store.replays.once(key, exp, now),
      );
    } catch (err) {
      const failure = err instanceof CeremonyError ? err.failure : 'not_verified';
      this.#throttle.recordFailure(key, address);
      this.#logger.info({ event: 'factor_failed', factor: 'passkey', failure, detail: (err as Error).message, address }, 'passkey refused');
      this.#audit('-', 'factor_use', 'denied', { factor: 'passkey', reason: failure, ip: address });
      return { ok: false, reason: 'invalid' };
    }
    await this.#store.factors.usePasskey(asserted.passkeyId, asserted.counter, now);
    return { ok: true, asserted };
  }

  /** Audit a passkey use once the caller knows the account (its username). */
  auditPasskeyUse(username: string, passkeyId: string, address: string, passwordless: boolean): void {
    this.#audit(username, 'factor_use', 'ok', { factor: 'passkey', credential: passkeyId.slice(0, 8), passwordless, ip: address });
  }

  async renamePasskey(user: UserRecord, id: string, name: string): Promise<boolean> {
    const clean = name.trim();
    if (!NAME.test(clean)) throw new GatehouseError('invalid_request', 'a passkey name is 1-64 characters without control characters');
    const ok = await this.#store.factors.renamePasskey(user.id, id, clean);
    if (ok) this.#audit(user.username, 'factor_rename', 'ok', { factor: 'passkey', credential: id.slice(0, 8), name: clean });
    return ok;
  }

  async removePasskey(user: UserRecord, id: string): Promise<boolean> {
    const ok = await this.#store.factors.deletePasskey(user.id, id);
    if (ok) this.#audit(user.username, 'factor_remove', 'ok', { factor: 'passkey', credential: id.slice(0, 8) });
    return ok;
  }

  /** Operator reset (`gatehouse user reset-factors`): every factor goes; the caller ends the sessions. */
  async reset(user: UserRecord, by: string): Promise<{ totp: boolean; passkeys: number; recoveryCodes: number }> {
    const gone = await this.#store.factors.deleteAll(user.id);
    this.#audit(by, 'factor_reset', 'ok', { ...gone }, user.username);
    return gone;
  }
}

function parseJson(text: string): unknown {
  if (text.length > 64_000) throw new CeremonyError('malformed', 'the answer is too large');
  try {
    return JSON.parse(text);
  } catch {
    throw new CeremonyError('malformed', 'the answer is not JSON');
  }
}

function defaultName(now: number): string {
  return `Passkey added ${new Date(now).toISOString().slice(0, 10)}`;
}
