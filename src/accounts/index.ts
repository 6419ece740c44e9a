export { Accounts, type AuthResult, type ConfigGroup } from './accounts.ts';
export { hashPassword, verifyPassword, setPendingPasswordChecks, pendingPasswordChecks, DEFAULT_PARAMS, type Argon2Params } from './password.ts';
export { SignInThrottle, type ThrottleLimits } from './throttle.ts';
export { Invitations, invitationState, invitationTarget, MAX_INVITATION_MS, MAX_USES, type AccountCreator, type EnrolResult, type InvitationState } from './invitations.ts';
export { PasswordReset, endAllAccess, type CompleteResult, type ResetOptions } from './reset.ts';
export { passwordProblem, usernameProblem, MIN_PASSWORD, MAX_PASSWORD, type CredentialProblem } from './rules.ts';
export { SignInNotices, type NoticeOptions } from './notices.ts';
