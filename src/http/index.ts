// http/: plumbing shared by the gateway, portal, issuer and admin — trusted proxies, the
// original request behind X-Forwarded-*/X-Original-*, cookies, redirect validation, request
// ids, metrics and health. Answers are written by the web shell (web/).
export { TrustedProxies } from './trusted.ts';
export { readOriginal, type OriginalRequest } from './forwarded.ts';
export { parseCookie, cookieValues, serializeCookie } from './cookies.ts';
export { requestId, newRequestId } from './request-id.ts';
export { Metrics, outcomeOf, type RouteLabel } from './metrics.ts';
export { mergeExpositions } from './metrics-merge.ts';
export { healthHandlers } from './health.ts';
export { validateRedirect } from './redirect.ts';
