export { Accounts, type AuthResult, type ConfigGroup } from './accounts.ts';
export { hashPassword, verifyPassword, setPendingPasswordChecks, pendingPasswordChecks, DEFAULT_PARAMS, type Argon2Params } from './password.ts';
export { SignInThrottle, type ThrottleLimits } from './throttle.ts';
export { Factors, upstreamFactors, type FactorSettings, type FactorStatus, type CheckResult, type RelyingParty } from './factors/index.ts';
