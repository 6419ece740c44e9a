// http/: plumbing shared by the gateway, portal, issuer and admin — trusted proxies, the
// original request behind X-Forwarded-*/X-Original-*, cookies, redirect validation, request
// ids, metrics and health. Answers are written by the web shell (web/).
export { TrustedProxies, unmapIPv4 } from './trusted.ts';
export { readOriginal, normalizeHost, type OriginalRequest } from './forwarded.ts';
export { parseCookie, cookieValues, parseCookies, serializeCookie, type CookieOptions } from './cookies.ts';
export { requestId, newRequestId } from './request-id.ts';
export {
  Metrics, ROUTES, OUTCOMES, outcomeOf, routeFor,
  type RouteLabel, type Outcome, type Decision, type SignInResult,
} from './metrics.ts';
export { healthHandlers, type HealthHandlers, type ReadyCheck } from './health.ts';
export { validateRedirect, safeRedirectOr, MAX_REDIRECT_LENGTH, type RedirectContext, type RedirectDomain, type RedirectResult } from './redirect.ts';
