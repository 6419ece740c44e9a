// Cross-site request forgery protection for every HTML form Gatehouse serves (sign-in, consent,
// the logout confirmation, and the account and admin pages): one set of rules, decided together.
//
//   Referrer-Policy: same-origin on our pages. The Fetch standard serializes a form POST's Origin
//   as "null" under no-referrer (Fetch §3.2.5 "serializing a request origin"), so no-referrer made
//   every real browser's post look forged. same-origin sends our origin on our own posts and no
//   Referer at all to another site (codes and tokens in our URLs never leak through Referer).
//
//   1. Sec-Fetch-Site (Fetch Metadata), when present: only "same-origin". A form on another site
//      ("cross-site"), on a sibling subdomain ("same-site") or a navigation typed by the user
//      ("none", which never posts a form) is refused.
//   2. Origin (RFC 6454 §7), when present: exactly the portal's origin. "null" (a sandboxed
//      frame, a data: URL, a cross-origin redirect chain, or a page under no-referrer) is refused.
//   3. A token, always: the value of a sealed, short-lived cookie (SameSite=Lax, HttpOnly)
//      echoed in the form's `csrf` field (double submit, OWASP CSRF cheat sheet). The cookie is
//      sealed by the key ring, so a cookie planted from a sibling subdomain cannot be made up,
//      and it is compared in constant time.
// Clients that send neither header (old browsers, scripts) are held by the token alone.
// A post refused for rules 1-2 gets no fresh form and no new cookie (a page elsewhere must not be
// able to replace the token of a form the user has open); one refused for rule 3 (an expired
// form) gets a fresh form. The cookie is Lax, not Strict: a Strict cookie is not sent on the
// cross-site navigations that bring users here (an app, an MCP client), so every such visit would
// replace it and break forms open in other tabs; Lax still keeps it off other sites' posts.
import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import { timingSafeEqualString, type KeyRing } from '../crypto/index.ts';
import { parseCookie, serializeCookie } from '../http/index.ts';

/** The Referrer-Policy of every page Gatehouse makes (see above). */
export const REFERRER_POLICY = 'same-origin';

/** The form field that carries the token. */
export const CSRF_FIELD = 'csrf';

const PURPOSE = 'form-token';

/** `origin`: rules 1-2 (posted from elsewhere); `token`: rule 3 (expired, or never had one). */
export type FormCheck = { ok: true } | { ok: false; rule: 'origin' | 'token'; reason: string };

export interface FormGuardOptions {
  keyring: KeyRing;
  /** The session cookie's name; the guard's cookie is `<name>_csrf`. */
  cookieName: string;
  /** The cookie path: the portal's base path plus "/". */
  path: string;
  secure: boolean;
  /** The one origin our forms are posted from (publicUrl's). */
  origin: string;
  now: number;
  /**
   * How long a token lives (session.loginStateLifetime, as long as a sign-in or an interaction);
   * a cookie with less than half of it left is replaced when a form is shown.
   */
  lifetimeMs: number;
}

interface Sealed {
  t: string;
  exp: number;
}

function cookieNameOf(o: Pick<FormGuardOptions, 'cookieName'>): string {
  return `${o.cookieName}_csrf`;
}

function open(o: FormGuardOptions, req: IncomingMessage): Sealed | undefined {
  const raw = parseCookie(req.headers.cookie, cookieNameOf(o));
  if (!raw) return undefined;
  const plain = o.keyring.unseal(PURPOSE, raw);
  if (!plain) return undefined;
  try {
    const s = JSON.parse(plain.toString('utf8')) as Sealed;
    return typeof s.t === 'string' && typeof s.exp === 'number' && s.exp > o.now ? s : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The token to put in a form this response shows, and the Set-Cookie to send with it when a new
 * one was needed (none yet, expired, sealed under an old key, or less than half its life left).
 * Reusing a live token keeps forms in other tabs working.
 */
export function issueFormToken(o: FormGuardOptions, req: IncomingMessage): { token: string; setCookie: string | undefined } {
  const live = open(o, req);
  if (live && live.exp - o.now >= o.lifetimeMs / 2) return { token: live.t, setCookie: undefined };
  const s: Sealed = { t: randomBytes(18).toString('base64url'), exp: o.now + o.lifetimeMs };
  return {
    token: s.t,
    setCookie: serializeCookie(cookieNameOf(o), o.keyring.seal(PURPOSE, JSON.stringify(s)), {
      path: o.path,
      maxAgeSeconds: Math.floor(o.lifetimeMs / 1000),
      secure: o.secure,
      httpOnly: true,
      sameSite: 'Lax',
    }),
  };
}

/**
 * Rules 1 and 2: the headers a browser sets itself. Used alone only where the form's token is
 * checked by someone else (oidc-provider's logout confirmation carries its own `xsrf`).
 */
export function checkFormHeaders(o: Pick<FormGuardOptions, 'origin'>, req: IncomingMessage): FormCheck {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin')
    return { ok: false, rule: 'origin', reason: `the form was posted from another site (Sec-Fetch-Site: ${String(site).slice(0, 20)})` };
  const origin = req.headers.origin;
  if (origin !== undefined) {
    if (origin === 'null') return { ok: false, rule: 'origin', reason: 'the form was posted from an opaque origin (Origin: null)' };
    if (origin !== o.origin) return { ok: false, rule: 'origin', reason: 'the form was posted from another origin' };
  }
  return { ok: true };
}

/** All three rules for a posted form (already read into `form`). */
export function checkForm(o: FormGuardOptions, req: IncomingMessage, form: URLSearchParams): FormCheck {
  const headers = checkFormHeaders(o, req);
  if (!headers.ok) return headers;
  const given = form.get(CSRF_FIELD);
  if (given === null || given === '') return { ok: false, rule: 'token', reason: 'the form has no csrf token' };
  const expected = open(o, req);
  if (!expected) return { ok: false, rule: 'token', reason: 'no live csrf cookie (expired, or from another browser)' };
  if (!timingSafeEqualString(expected.t, given)) return { ok: false, rule: 'token', reason: 'the csrf token does not match the cookie' };
  return { ok: true };
}
