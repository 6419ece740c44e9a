// The one sign-in helper for suites that need a signed-in cookie without a browser: load the
// portal's form, post it with its hidden fields (csrf, rd) and the credentials, keep the cookies.
// Browser flows themselves are tested in Chromium (./chromium.ts), never through this.
import { CookieJar, jarRequest, type HttpResponse } from './http.ts';
import { formAction, hiddenInputs } from './html.ts';

/** Where the portal is, as the client sees it. */
export interface Portal {
  /** The portal origin (plus base path), e.g. http://auth.example.test:<port>. */
  base: string;
  /** Connect here instead of the base URL's host (an in-process server on a loopback port). */
  connectTo?: { host: string; port: number };
  /** Headers on every request (e.g. X-Forwarded-Proto from a trusted proxy). */
  headers?: Record<string, string>;
  /** The page that shows the form: /oauth2/sign_in unless told. */
  formPath?: string;
  /** The session cookie's name; without it, the cookie the successful POST sets. */
  cookieName?: () => string;
}

/** The password the suites give their users unless a test says otherwise. */
export const PASSWORD = 'correct horse battery staple';

export interface SignInAttempt {
  form: HttpResponse;
  res: HttpResponse;
  jar: CookieJar;
}

function portalOf(p: string | Portal | { portal: Portal }): Portal {
  if (typeof p === 'string') return { base: p };
  return 'portal' in p ? p.portal : p;
}

/**
 * Loads the form (with `?rd=` when given) and posts it with these credentials. Returns the
 * POST's response whatever it is (a redirect on success; the form again on failure).
 */
export async function submitSignIn(
  to: string | Portal | { portal: Portal },
  username: string,
  password: string,
  rd?: string,
  opts: { jar?: CookieJar; headers?: Record<string, string> } = {},
): Promise<SignInAttempt> {
  const p = portalOf(to);
  const jar = opts.jar ?? new CookieJar();
  const via = p.connectTo ? { connectTo: p.connectTo } : {};
  const pageUrl = `${p.base}${p.formPath ?? '/oauth2/sign_in'}${rd === undefined ? '' : `?rd=${encodeURIComponent(rd)}`}`;
  const form = await jarRequest(jar, pageUrl, { headers: { Accept: 'text/html', ...p.headers, ...opts.headers }, ...via });
  if (form.status !== 200) throw new Error(`GET ${pageUrl}: expected 200, got ${form.status}: ${form.body.slice(0, 300)}`);
  const hidden = hiddenInputs(form.body);
  if (hidden.csrf === undefined) throw new Error(`GET ${pageUrl}: no hidden "csrf" input in the sign-in form`);
  const body = new URLSearchParams({ ...hidden, username, password }).toString();
  const res = await jarRequest(jar, formAction(form.body, pageUrl), {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'text/html',
      Origin: new URL(p.base).origin,
      ...p.headers,
      ...opts.headers,
    },
    body,
    ...via,
  });
  return { form, res, jar };
}

export interface SignedIn {
  jar: CookieJar;
  /** The Cookie header value to send to the portal's host after sign-in. */
  cookie: string;
  /** The session cookie's value alone. */
  value: string;
  /** Where the POST sent the browser. */
  location: string;
  /** The POST's answer (a 302 or 303). */
  res: HttpResponse;
}

/**
 * Signs in over HTTP and returns the jar holding the session cookie; throws unless the POST
 * answers a redirect (302, or 303 — the right answer to a POST, RFC 9110 §15.4.4) with Set-Cookie.
 */
export async function signIn(
  to: string | Portal | { portal: Portal },
  username: string,
  password = PASSWORD,
  rd?: string,
  opts: { jar?: CookieJar; headers?: Record<string, string> } = {},
): Promise<SignedIn> {
  const p = portalOf(to);
  const { res, jar } = await submitSignIn(p, username, password, rd, opts);
  const location = res.headers.location;
  if ((res.status !== 302 && res.status !== 303) || location === undefined) {
    throw new Error(`sign-in as ${username}: expected 302 or 303, got ${res.status}: ${res.body.slice(0, 300)}`);
  }
  const name = p.cookieName?.();
  const line = res.setCookies.find((c) => (name === undefined ? !/^[^=]*_csrf=/.test(c) : c.startsWith(`${name}=`)) && !/^[^=]*=;/.test(c));
  if (line === undefined) throw new Error(`sign-in as ${username}: ${res.status} without the session's Set-Cookie`);
  const cookie = jar.header(`${p.base}/`);
  if (cookie === undefined) throw new Error(`sign-in as ${username}: no cookie for ${p.base}`);
  const value = line.slice(line.indexOf('=') + 1).split(';')[0]!;
  return { jar, cookie, value, location, res };
}
