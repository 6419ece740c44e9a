// http/: plumbing shared by the gateway, portal, issuer and admin — trusted proxies, the
// original request behind X-Forwarded-*/X-Original-*, cookies, responses and errors, request
// ids, metrics and health.
export { TrustedProxies, unmapIPv4 } from './trusted.ts';
export { readOriginal, normalizeHost, type OriginalRequest } from './forwarded.ts';
export { parseCookie, cookieValues, parseCookies, serializeCookie, type CookieOptions } from './cookies.ts';
export {
  sendJson, sendHtml, sendText, sendStatus, sendError, redirect, noStore, NO_STORE, NO_STORE_HEADERS,
  applySecurityHeaders, securityHeaders, contentSecurityPolicy, prefersHtml, escapeHtml, statusPage,
  readBody, readForm, readJson, answerSocket, type ResponseHeaders,
} from './respond.ts';
export { requestId, newRequestId } from './request-id.ts';
export {
  Metrics, ROUTES, OUTCOMES, outcomeOf, routeFor,
  type RouteLabel, type Outcome, type Decision, type SignInResult,
} from './metrics.ts';
export { healthHandlers, type HealthHandlers, type ReadyCheck } from './health.ts';
export { validateRedirect, safeRedirectOr, MAX_REDIRECT_LENGTH, type RedirectContext, type RedirectDomain, type RedirectResult } from './redirect.ts';
export { REFERRER_POLICY, CSRF_FIELD, issueFormToken, checkForm, checkFormHeaders, type FormCheck, type FormGuardOptions } from './form-guard.ts';
