// Request-path normalization: rules match the path the upstream will act on, not the bytes the
// client chose, so `/public/../admin`, `/api%2F..%2Fadmin` and `\admin` cannot dodge a rule.
//
// Steps, in order:
//   1. cut at the first "?" or "#" (RFC 3986 §3.4, §3.5): query and fragment never take part;
//   2. percent-decode exactly once, "%2F" and "%5C" included (RFC 3986 §2.1); a malformed escape
//      or invalid UTF-8 fails;
//   3. fail when the decoded path holds a control character (U+0000-U+001F, U+007F) or still
//      holds a percent escape ("%252e" -> "%2e"): an upstream that decodes twice would act on
//      another path than the one we matched;
//   4. "\" becomes "/" (browsers and several servers treat them alike);
//   5. the path must start with "/";
//   6. empty segments collapse ("//" -> "/"), "." and ".." resolve (RFC 3986 §5.2.4), never
//      above the root; a trailing slash is kept, and a final "." or ".." leaves one.
// A path that fails is reported with ok: false; callers deny it.

export interface NormalizedPath {
  /** The normalized path when ok; otherwise the raw path without query and fragment (for logs). */
  readonly path: string;
  readonly ok: boolean;
}

const SLASH = 47;
const DOT = 46;
const PERCENT = 37;
const BACKSLASH = 92;
const QUESTION = 63;
const HASH = 35;
const DOUBLE_ESCAPE = /%[0-9a-fA-F]{2}/;

function isControl(c: number): boolean {
  return c < 0x20 || c === 0x7f;
}

export function normalizePath(raw: string): NormalizedPath {
  let end = raw.length;
  let slow = end === 0 || raw.charCodeAt(0) !== SLASH;
  for (let i = 0; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c === QUESTION || c === HASH) { end = i; break; }
    if (isControl(c)) return { path: raw.slice(0, end), ok: false };
    if (c === PERCENT || c === BACKSLASH) slow = true;
    else if (c === SLASH) {
      const next = raw.charCodeAt(i + 1);
      if (next === SLASH || next === DOT) slow = true;
    }
  }
  const cut = end === raw.length ? raw : raw.slice(0, end);
  if (end === 0) return { path: cut, ok: false };
  // The common case: nothing to decode or resolve; no allocation beyond the result.
  if (!slow) return { path: cut, ok: true };
  return normalizeSlow(cut);
}

function normalizeSlow(cut: string): NormalizedPath {
  let decoded = cut;
  if (cut.includes('%')) {
    try {
      decoded = decodeURIComponent(cut);
    } catch {
      return { path: cut, ok: false };
    }
    if (DOUBLE_ESCAPE.test(decoded)) return { path: cut, ok: false };
  }
  for (let i = 0; i < decoded.length; i++) {
    if (isControl(decoded.charCodeAt(i))) return { path: cut, ok: false };
  }
  const slashed = decoded.includes('\\') ? decoded.replaceAll('\\', '/') : decoded;
  if (slashed.charCodeAt(0) !== SLASH) return { path: cut, ok: false };

  const segments = slashed.split('/');
  const out: string[] = [];
  let trailing = false;
  // segments[0] is the empty string before the leading "/".
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i] as string;
    const last = i === segments.length - 1;
    if (seg === '..') { out.pop(); trailing = last; } else if (seg === '.' || seg === '') { trailing = last; } else { out.push(seg); trailing = false; }
  }
  if (out.length === 0) return { path: '/', ok: true };
  return { path: `/${out.join('/')}${trailing ? '/' : ''}`, ok: true };
}
