// The product's cookies, each built in one place. The session cookie (the gate's, `<name>`) and
// the login cookie (`<name>_login`: an upstream sign-in's sealed state) here; the form token's
// cookie (`<name>_csrf`) in form-guard.ts.
import { serializeCookie } from '../http/index.ts';
import { cookieDomainFor, type GateSettings } from './settings.ts';
import { portalPath } from './urls.ts';

type CookieSettings = Pick<GateSettings, 'cookieName' | 'secureCookies' | 'domains' | 'portalHost'>;

/**
 * The session cookie as set on `host`: the configured cookie domain (so one cookie covers every
 * app of the domain; host-only outside any domain), path /, HttpOnly, SameSite=Lax, Secure on
 * https. An empty value with max-age 0 ends it (clearSessionCookie).
 */
export function sessionCookie(s: CookieSettings, host: string, value: string, maxAgeSeconds: number): string {
  return serializeCookie(s.cookieName, value, {
    domain: cookieDomainFor(s, host),
    path: '/',
    maxAgeSeconds,
    secure: s.secureCookies,
    httpOnly: true,
    sameSite: 'Lax',
  });
}

/** A fresh session's cookie on `host`, living as long as the session may. */
export function newSessionCookie(s: CookieSettings & Pick<GateSettings, 'sessionLifetimeMs'>, host: string, value: string): string {
  return sessionCookie(s, host, value, Math.floor(s.sessionLifetimeMs / 1000));
}

/** The Set-Cookie that ends the session cookie on `host`. */
export function clearSessionCookie(s: CookieSettings, host: string): string {
  return sessionCookie(s, host, '', 0);
}

/** The login cookie's name: `<session cookie name>_login`. */
export function loginCookieName(s: Pick<GateSettings, 'cookieName'>): string {
  return `${s.cookieName}_login`;
}

type LoginCookieSettings = Pick<GateSettings, 'cookieName' | 'secureCookies' | 'publicUrl' | 'loginStateMs'>;

/** The login cookie: only the portal's /oauth2/ paths (under publicUrl's path) see it; it lives as long as a sign-in may take. */
export function loginCookie(s: LoginCookieSettings, sealed: string): string {
  return loginCookieWith(s, sealed, Math.floor(s.loginStateMs / 1000));
}

/** The Set-Cookie that ends the login cookie. */
export function clearLoginCookie(s: LoginCookieSettings): string {
  return loginCookieWith(s, '', 0);
}

function loginCookieWith(s: LoginCookieSettings, value: string, maxAgeSeconds: number): string {
  return serializeCookie(loginCookieName(s), value, {
    path: portalPath(s, '/oauth2/'),
    maxAgeSeconds,
    secure: s.secureCookies,
    httpOnly: true,
    sameSite: 'Lax',
  });
}
