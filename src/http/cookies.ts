// Cookie header parsing and Set-Cookie serialization (RFC 6265 §4.1, §5.2, §5.4).
// Values are returned raw: no percent-decoding (Gatehouse's own cookies are base64url), only the
// optional surrounding DQUOTEs of RFC 6265 §4.1.1 are removed.
import { GatehouseError } from '../core/index.ts';

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

function unquote(v: string): string {
  return v.length >= 2 && v.charCodeAt(0) === 34 && v.charCodeAt(v.length - 1) === 34 ? v.slice(1, -1) : v;
}

/**
 * The value of cookie `name`, without parsing the rest of the header. When several cookies have
 * the same name (a parent-domain and a host cookie, say), the FIRST one is returned: browsers
 * send the one with the longer path, then the older one, first (RFC 6265 §5.4 step 2).
 */
export function parseCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  return findCookie(header, name, 0)?.value;
}

/**
 * Every value sent under `name`, in header order. Browsers send same-name cookies from other
 * Domain/Path scopes too (RFC 6265 §5.4: longer paths first, then older first), so a stale or
 * foreign one can come before ours.
 */
export function cookieValues(header: string | undefined, name: string): string[] {
  const out: string[] = [];
  if (header === undefined) return out;
  for (let hit = findCookie(header, name, 0); hit; hit = findCookie(header, name, hit.next)) out.push(hit.value);
  return out;
}

function findCookie(header: string, name: string, from: number): { value: string; next: number } | undefined {
  const len = header.length;
  const n = name.length;
  let i = from;
  while (i < len) {
    while (i < len && isSpace(header.charCodeAt(i))) i++;
    let semi = header.indexOf(';', i);
    if (semi < 0) semi = len;
    const eq = header.indexOf('=', i);
    if (eq >= 0 && eq < semi) {
      let nameEnd = eq;
      while (nameEnd > i && isSpace(header.charCodeAt(nameEnd - 1))) nameEnd--;
      if (nameEnd - i === n && header.startsWith(name, i)) {
        let vs = eq + 1;
        let ve = semi;
        while (vs < ve && isSpace(header.charCodeAt(vs))) vs++;
        while (ve > vs && isSpace(header.charCodeAt(ve - 1))) ve--;
        return { value: unquote(header.slice(vs, ve)), next: semi + 1 };
      }
    }
    i = semi + 1;
  }
  return undefined;
}

/** Every cookie in the header; for a repeated name the first value wins (as in parseCookie). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (header === undefined) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name.length === 0 || out.has(name)) continue;
    out.set(name, unquote(part.slice(eq + 1).trim()));
  }
  return out;
}

export interface CookieOptions {
  domain?: string;
  path?: string;
  maxAgeSeconds?: number;
  expires?: Date;
  secure: boolean;
  httpOnly: boolean;
  sameSite: 'Lax' | 'Strict' | 'None';
}

// RFC 9110 §5.6.2 tchar: the cookie-name (RFC 6265 §4.1.1 says token).
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** RFC 6265 §4.1.1 cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E. */
function isCookieOctet(c: number): boolean {
  return c === 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

function bad(detail: string): GatehouseError {
  return new GatehouseError('internal', detail);
}

/** An attribute value (Domain, Path): printable ASCII without ";" (RFC 6265 §4.1.1 av-octet). */
function checkAttr(value: string, what: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x3b) throw bad(`cookie ${what} contains a character that is not allowed`);
  }
}

/**
 * A Set-Cookie header value. Throws on a name or value outside RFC 6265 §4.1.1, on
 * SameSite=None without Secure (browsers reject it), and on a `__Secure-` / `__Host-` name
 * without the attributes its prefix demands (RFC 6265bis §4.1.3).
 */
export function serializeCookie(name: string, value: string, opts: CookieOptions): string {
  if (name.length === 0) throw bad('cookie name is empty');
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || TCHAR[c] !== 1) throw bad(`cookie name "${name}" contains a character that is not allowed`);
  }
  // The value is never echoed into the message: it may be a session.
  for (let i = 0; i < value.length; i++) {
    if (!isCookieOctet(value.charCodeAt(i))) throw bad(`the value of cookie "${name}" contains a character that is not allowed`);
  }
  if (opts.sameSite === 'None' && !opts.secure) throw bad(`cookie "${name}" has SameSite=None without Secure`);
  if (name.startsWith('__Secure-') && !opts.secure) throw bad(`cookie "${name}" needs Secure for its __Secure- prefix`);
  if (name.startsWith('__Host-') && (!opts.secure || opts.domain !== undefined || opts.path !== '/')) {
    throw bad(`cookie "${name}" needs Secure, Path=/ and no Domain for its __Host- prefix`);
  }
  let out = `${name}=${value}`;
  if (opts.domain !== undefined) {
    checkAttr(opts.domain, `"${name}" domain`);
    out += `; Domain=${opts.domain}`;
  }
  if (opts.path !== undefined) {
    checkAttr(opts.path, `"${name}" path`);
    out += `; Path=${opts.path}`;
  }
  if (opts.maxAgeSeconds !== undefined) {
    if (!Number.isInteger(opts.maxAgeSeconds)) throw bad(`cookie "${name}" max-age must be an integer`);
    out += `; Max-Age=${opts.maxAgeSeconds}`;
  }
  if (opts.expires !== undefined) {
    if (Number.isNaN(opts.expires.getTime())) throw bad(`cookie "${name}" expires is an invalid date`);
    out += `; Expires=${opts.expires.toUTCString()}`;
  }
  if (opts.secure) out += '; Secure';
  if (opts.httpOnly) out += '; HttpOnly';
  out += `; SameSite=${opts.sameSite}`;
  return out;
}
