// accounts: people. Everything about a person goes through `Accounts`; nothing else reads or
// writes the users, identities or consents tables, or ends someone's sessions.
//
// The shape, and where the next features go (each is additive: a method and, where it keeps
// state, a store port of its own; no caller changes):
//
//   who someone is    find(username) · get(id) · list() · count() · nameOf(id) · identityOf(user)
//                     · isActive(id) · setConfigGroups(groups)
//   proving it        authenticate(username, password, address) · setPassword(username, pw)
//                     next (second factors): factorsOf(userId) listing TOTP secrets, WebAuthn
//                     credentials and recovery codes per person, each in its own store port
//                     (sealed secrets, credential ids, hashed codes); addFactor(userId, factor, by)
//                     · removeFactor(userId, factorId, by) · verifyFactor(userId, proof). A
//                     factor removed or a password reset calls endSessions(userId, reason).
//   making, ending    create({ username, email, name, groups, password }) · enable · disable ·
//                     delete (each with `by`). Invitations (`Invitations`, invitations.ts) enrol
//                     through create({…, groups}); password reset (`PasswordReset`, reset.ts)
//                     sets the password, then ends every session (endAllAccess).
//   sessions          sessionsOf(userId) · endSessions(userId, reason, { except }) ·
//                     endSession(sid, reason) · cutOff(userId, reason, { except }) (sessions +
//                     OpenID grants). "Revoke, then publish on the revocation feed" is written
//                     once, in ending.ts; everything that ends sessions goes through it.
//   grants            grantsOf(userId) · revokeGrant(username, clientId, by)
//   upstream          federation (the portal's providers and callback) · identitiesOf(userId)
//                     · unlink(username, connectorId, by) · upstreamGroups / refreshUpstream
//                     (for Sessions). Connectors only talk to providers and hand back an admitted
//                     external identity; linking, account creation and group refresh are here.
//
// An account page (the person's own sessions, linked identities and grants) is sessionsOf,
// identitiesOf and grantsOf for the signed-in user id, and endSession / unlink / revokeGrant
// with `by` = their own username.
//
// Audit: every operation an administrator or a person performs takes `by: Actor` and writes one
// audit event: actor `cli`, `system` or the acting username; target the username acted on
// (docs/audit.md). Reading never writes the audit log.
export { Accounts, type Federation } from './accounts.ts';
export type { SignInIntent } from './upstream.ts';
export { hashPassword, verifyPassword, setPendingPasswordChecks } from './password.ts';
export { SignInThrottle, type ThrottleLimits } from './throttle.ts';
export { Invitations, invitationState, type InvitationState } from './invitations.ts';
export { PasswordReset, endAllAccess } from './reset.ts';
export { passwordProblem, MIN_PASSWORD, MAX_PASSWORD } from './rules.ts';
export { SignInNotices } from './notices.ts';
export { Factors, upstreamFactors, type FactorSettings, type CheckResult } from './factors/index.ts';
