// Forms with CSRF protection built in: every HTML form the product shows (sign-in, consent, the
// account and admin pages) takes its token from formToken and is read back with readPostedForm,
// which applies all the rules of form-guard.ts (Sec-Fetch-Site, Origin, the sealed token).
import type { IncomingMessage } from 'node:http';
import { checkForm, issueFormToken, type FormCheck, type FormGuardOptions } from './form-guard.ts';
import { readForm } from './respond.ts';
import type { GateSettings } from './settings.ts';
import { portalPath } from './urls.ts';

type FormSettings = Pick<GateSettings, 'keyring' | 'cookieName' | 'secureCookies' | 'publicUrl' | 'loginStateMs'>;

/** The guard for this instance's settings: one cookie (on the portal's base path), one origin. */
export function formGuard(s: FormSettings, now: number): FormGuardOptions {
  return {
    keyring: s.keyring,
    cookieName: s.cookieName,
    path: portalPath(s, '/'),
    secure: s.secureCookies,
    origin: s.publicUrl.origin,
    now,
    lifetimeMs: s.loginStateMs,
  };
}

/**
 * The token for a form this response shows (put it in a hidden `csrf` field, CSRF_FIELD), and
 * the Set-Cookie to send with the page when a new token was needed (sendPage's `setCookie`).
 */
export function formToken(req: IncomingMessage, s: FormSettings, now: number): { token: string; setCookie: string | undefined } {
  return issueFormToken(formGuard(s, now), req);
}

/**
 * A posted form, read (application/x-www-form-urlencoded, bounded) and checked. On `origin` the
 * post came from elsewhere: answer 403 without a fresh form; on `token` the form expired: show a
 * fresh one.
 */
export async function readPostedForm(
  req: IncomingMessage,
  s: FormSettings,
  now: number,
): Promise<{ form: URLSearchParams; check: FormCheck }> {
  const form = await readForm(req);
  return { form, check: checkForm(formGuard(s, now), req, form) };
}

/**
 * A link that acts like a form (a GET that starts something on the person's behalf, where a
 * form's redirect would be stopped by CSP form-action: "link another provider"): the same rules,
 * with the token in the query's `csrf`.
 */
export function checkLinkForm(req: IncomingMessage, s: FormSettings, now: number, query: URLSearchParams): FormCheck {
  return checkForm(formGuard(s, now), req, query);
}
