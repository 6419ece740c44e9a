export { createForwardAuth, ownPath, type ForwardAuthDeps } from './forward-auth.ts';
export { decide, passesQueryRestrictions, type Verdict, type BearerGate } from './verdict.ts';
export {
  createTokenVerifier, createAppTokenVerifier, unverifiedIssuer, EXTERNAL_TOKEN_ALGS, type TrustedIssuer, type AppTokenVerifierOptions,
  publicVerificationKeys, bearerToken, accessTokenCredentials, TokenRejected, ACCESS_TOKEN_ALGS,
  type TokenVerifier, type TokenVerifierOptions, type VerifiedToken, type JSONWebKeySet,
} from './bearer.ts';
export { createDpopChecker, normalizeHtu, accessTokenHash, DpopRejected, type DpopChecker, type DpopSettings } from './dpop.ts';
export { compileResources, resourceRegistry, issuerIdentifier, METADATA_PATH, type ProtectedResource, type ProtectedResources } from './resources.ts';
export { createResourceMetadata, type ResourceMetadataDeps } from './resource-metadata.ts';
export {
  isBrowserRequest, portalStartUrl, originalUrl, sendUnauthenticated, sendDenied, sendEmpty, sendChallenge,
  sendPass, identityHeaderValues,
} from './answers.ts';
export { issueTicket, redeemTicket, TICKET_LIFETIME_MS } from './tickets.ts';
export { createTicketRedeemer, type TicketRedeemer } from './ticket-redemption.ts';
export { createReverseProxy } from './reverse-proxy.ts';
export { createProxyMode } from './proxy-mode.ts';
export { sessionFromCookies, type FoundSession } from './session-cookie.ts';
