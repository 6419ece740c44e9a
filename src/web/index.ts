// web/: the web shell, every way the product writes a web answer. Responses (pages, redirects,
// JSON errors with RFC codes, no-store, security headers and CSP), the session and login cookies,
// portal URLs (under publicUrl's path), the page layout and its assets, forms with CSRF
// protection. The gateway, the portal and the issuer answer through it; only the reverse proxy
// (an upstream's answer, relayed) and the health and ops endpoints write status lines of their own.
//
// Adding a page with a form (an account page, say), in its feature's folder:
//   1. HTML: `layout(s, 'Title', body)`, every value through escapeHtml, the form posting to
//      `portalPath(s, '/oauth2/account')` with `<input type="hidden" name="csrf" value="…">`
//      holding `formToken(req, s, now).token`.
//   2. GET: `const t = formToken(req, s, now); sendPage(res, s, 200, html, { setCookie: t.setCookie })`.
//   3. POST: `const { form, check } = await readPostedForm(req, s, now)`; when !check.ok, answer
//      403 for `check.rule === 'origin'` (no fresh form), else show the form again (expired);
//      on success `redirectTo(res, 303, portalPath(s, '/…'))`. A form whose submission ends in a
//      redirect to another origin names that origin in sendPage's `formTargets`.
//   4. Route: one line in the route table (app/routes.ts), mounted under the base path.
//
// Adding a script (progressive enhancement, e.g. a WebAuthn ceremony):
//   1. Its source in `web/scripts/<name>.ts` (`export const SOURCE = \`…\``), no inline handlers,
//      data passed through `data-*` attributes of the page, never through inline script.
//   2. `export const PASSKEY = defineAsset('passkey.js', SOURCE)` and list it in ASSETS
//      (assets.ts): the route table serves it at its content-hashed path, cached forever.
//   3. The page: `layout(s, title, body, { scripts: [PASSKEY] })` and
//      `sendPage(res, s, 200, html, { scripts: true })`, which adds script-src 'self' to the CSP.
//      The page must work without the script (a plain form as the fallback).
export {
  sendStatus,
  sendError,
  NO_STORE,
  applySecurityHeaders,
  contentSecurityPolicy,
  escapeHtml,
  answerSocket,
  answer,
  notFound,
  redirectTo,
  sendPage,
  type SetCookie,
} from './respond.ts';
export { checkFormHeaders } from './form-guard.ts';
export { checkLinkForm, formGuard, formToken, readPostedForm } from './forms.ts';
export { sharesPortalCookie, stripPort, mustUseFactor, type GateSettings, type HeaderNames } from './settings.ts';
export { portalBase, portalPath, portalUrl, underPortalBase, isPortalHost, type PortalAt } from './urls.ts';
export { sessionCookie, newSessionCookie, clearSessionCookie, loginCookie, clearLoginCookie, loginCookieName } from './cookies.ts';
export { layout, messagePage, deniedPage, type DenyWhy } from './pages.ts';
export { defineAsset, serveAsset, ASSETS, PASSKEY_SCRIPTS } from './assets.ts';
