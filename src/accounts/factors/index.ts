// Second factors: TOTP, passkeys and security keys, recovery codes (no HTTP).
export { Factors, type FactorSettings, type FactorStatus, type CheckResult } from './factors.ts';
export { CeremonyError, CEREMONY_MS, type RelyingParty } from './webauthn.ts';
export { normalizeCode, TOTP_PERIOD_SECONDS } from './totp.ts';
export { normalizeRecoveryCode, RECOVERY_CODE_COUNT } from './recovery.ts';
export { upstreamFactors } from './upstream.ts';
