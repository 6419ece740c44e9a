// Redirect targets (`rd`, `redirect_uri`-like parameters of the portal and the gate). An open
// redirect turns the sign-in page into a phishing tool, and oauth2-proxy's advisories show how
// many spellings of "another host" browsers accept: `/\evil`, `/%09/evil`, `https:evil`,
// `https://ok@evil`, `https://evil\@ok`, suffix matches (`evilexample.org`), dot segments.
//
// Accepted: an absolute http(s) URL whose host is a configured domain or a subdomain of one on a
// label boundary (https only, unless that domain sets allowHttp; any port), or a path starting
// with one "/" (resolved against publicUrl). Everything else is refused, with a reason for the
// log. The checks run on the raw text first, then on the WHATWG parse (the parser browsers use),
// and the answer is the parser's serialization (`href`), so the browser follows exactly the URL
// that was checked.
import { isIPv4 } from 'node:net';
import { isValidHostname } from './host.ts';

export interface RedirectDomain {
  readonly domain: string;
  readonly allowHttp: boolean;
}

export interface RedirectContext {
  readonly domains: readonly RedirectDomain[];
  readonly publicUrl: URL;
}

export type RedirectResult = { readonly ok: true; readonly url: string } | { readonly ok: false; readonly reason: string };

export const MAX_REDIRECT_LENGTH = 2048;

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
/** %00-%1F and %7F: encoded tabs, newlines, NUL (`/%09/evil.com`, header injection). */
const ENCODED_CONTROL = /%(?:[01][0-9a-f]|7f)/i;
const ENCODED_BACKSLASH = /%5c/i;
/** A leading "/" followed by an encoded "/" or "\": "//evil" once something decodes it. */
const ENCODED_SECOND_SLASH = /^\/%(?:2f|5c)/i;
/** A "." or ".." segment, literal or percent-encoded (RFC 3986 §5.2.4 would remove it). */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

function refuse(reason: string): RedirectResult {
  return { ok: false, reason };
}

/** Index of the first "?" or "#", or the length: the end of scheme, authority and path. */
function endOfPath(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 63 || c === 35) return i;
  }
  return s.length;
}

function isSubdomainOrSelf(host: string, domain: string): boolean {
  return (
    host === domain || (host.length > domain.length + 1 && host.endsWith(domain) && host.charCodeAt(host.length - domain.length - 1) === 46)
  );
}

export function validateRedirect(raw: string | undefined | null, ctx: RedirectContext): RedirectResult {
  if (typeof raw !== 'string' || raw === '') return refuse('missing');
  if (raw.length > MAX_REDIRECT_LENGTH) return refuse(`longer than ${MAX_REDIRECT_LENGTH} characters`);
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    // Browsers strip tabs and newlines anywhere and spaces at the ends before parsing.
    if (c <= 0x20 || c === 0x7f) return refuse('whitespace or control character');
  }
  if (ENCODED_CONTROL.test(raw)) return refuse('encoded control character');
  const pathEnd = endOfPath(raw, 0);
  const beforeQuery = raw.slice(0, pathEnd);
  if (beforeQuery.includes('\\')) return refuse('backslash');
  if (ENCODED_BACKSLASH.test(beforeQuery)) return refuse('encoded backslash');

  if (raw.charCodeAt(0) === 47 /* / */) return validatePath(raw, beforeQuery, ctx);

  const scheme = SCHEME.exec(raw);
  if (scheme === null) return refuse('not an absolute http(s) URL nor a path starting with "/"');
  const name = (scheme[1] as string).toLowerCase();
  if (name !== 'https' && name !== 'http') return refuse(`scheme ${name}: not allowed`);
  const authorityStart = name.length + 3;
  // "https:evil.com" and "https:/evil.com" parse as https://evil.com/; "https:///evil.com" too.
  if (!raw.startsWith('//', name.length + 1) || raw.charCodeAt(authorityStart) === 47) {
    return refuse('expected exactly "//" after the scheme');
  }
  let authorityEnd = raw.indexOf('/', authorityStart);
  if (authorityEnd === -1 || authorityEnd > pathEnd) authorityEnd = pathEnd;
  const authority = raw.slice(authorityStart, authorityEnd);
  if (authority.includes('@')) return refuse('userinfo');
  if (authority.includes('%')) return refuse('percent-encoding in the host');
  if (authority === '') return refuse('missing host');
  if (DOT_SEGMENT.test(raw.slice(authorityEnd, pathEnd))) return refuse('dot segment in the path');

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse('not a valid URL');
  }
  if (url.username !== '' || url.password !== '') return refuse('userinfo');
  const host = url.hostname;
  // The WHATWG parser accepts hosts that are no DNS name ("a,b.example.org", "app{}.example.org");
  // the same grammar as every other host we read decides (host.ts). Non-ASCII names arrive here
  // already as A-labels (the parser applies IDNA), which that grammar accepts.
  if (!isValidHostname(host)) return refuse('the host is not a valid host name');
  const ipLiteral = host.startsWith('[') || isIPv4(host);
  const matching = ctx.domains.filter((d) => (ipLiteral ? host === d.domain : isSubdomainOrSelf(host, d.domain)));
  if (matching.length === 0) return refuse(ipLiteral ? 'IP address host not configured' : `host ${host} is not under a configured domain`);
  if (url.protocol === 'http:' && !matching.some((d) => d.allowHttp)) return refuse(`http not allowed for ${host}`);
  return finish(url);
}

function validatePath(raw: string, beforeQuery: string, ctx: RedirectContext): RedirectResult {
  if (raw.charCodeAt(1) === 47) return refuse('protocol-relative URL');
  if (ENCODED_SECOND_SLASH.test(raw)) return refuse('encoded slash after the leading slash');
  if (DOT_SEGMENT.test(beforeQuery)) return refuse('dot segment in the path');
  let url: URL;
  try {
    url = new URL(raw, ctx.publicUrl);
  } catch {
    return refuse('not a valid URL');
  }
  // Nothing above can leave the portal's origin; this holds the line if that ever changes.
  if (url.origin !== ctx.publicUrl.origin) return refuse('path resolves to another origin');
  return finish(url);
}

function finish(url: URL): RedirectResult {
  const href = url.href;
  if (href.length > MAX_REDIRECT_LENGTH) return refuse(`longer than ${MAX_REDIRECT_LENGTH} characters`);
  return { ok: true, url: href };
}

/** The validated URL, or `fallback` (a fixed, known-good URL such as the portal's home). */
export function safeRedirectOr(raw: string | undefined | null, ctx: RedirectContext, fallback: string): string {
  const result = validateRedirect(raw, ctx);
  return result.ok ? result.url : fallback;
}
