// Request-path normalization: rules match the path the upstream will act on, not the bytes the
// client chose, so `/public/../admin`, `/api%2F..%2Fadmin` and `\admin` cannot dodge a rule.
// One module for the gate (src/policy re-exports it) and the edge (rules.ts): Web platform only.
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
    if (c === QUESTION || c === HASH) {
      end = i;
      break;
    }
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
    if (seg === '..') {
      out.pop();
      trailing = last;
    } else if (seg === '.' || seg === '') {
      trailing = last;
    } else {
      out.push(seg);
      trailing = false;
    }
  }
  if (out.length === 0) return { path: '/', ok: true };
  return { path: `/${out.join('/')}${trailing ? '/' : ''}`, ok: true };
}

// ---- One reading of a path
//
// Backends read the same bytes differently. nginx and Caddy match locations on the path
// decoded first, then split ("decode first": %2F is a "/" and %2e%2e a dot segment), but pass the
// raw bytes on; Express splits the raw path on "/" and neither resolves dot segments nor decodes
// %2F, and routes case-insensitively; a servlet container drops ";parameters" from each segment
// before it resolves dot segments (`/public/..;/admin` is `/admin` there). A rule matched on one
// reading is therefore a bypass wherever the app reads another.
//
// The gate does not guess which backend is behind: it computes every reading that differs and
// the engine decides on each; the strictest decision wins (engine.ts). Readings:
//   decode first   normalizePath above
//   split first    split the raw path on "/", decode each segment on its own, keeping the
//                  escapes that carry structure (%2F, %5C, %3B) as they are, then resolve dot
//                  segments
//   raw            split first without resolving dot segments or merging "//" (Express)
//   parameters     split first after dropping ";..." from every segment (servlet containers),
//                  and decoded first, then ";..." dropped (a %3B is a delimiter there)
//   rfc 3986       split first with "\" as "/", keeping empty segments, so ".." after "//"
//                  removes the empty one (the WHATWG URL parser: browsers, undici, Deno, Bun)
//   case-folded    each of the above again, compared case-insensitively, when it has an upper-
//                  case letter (Express routes /ADMIN like /admin)
// A plain path (no "%", "\", ";", "//", dot segment or upper-case letter) has one reading and
// costs nothing more.

export interface PathReading {
  /** The reading's path: decoded (structural escapes kept upper-case), matched against rules. */
  readonly path: string;
  /** Compare case-insensitively (the rule's patterns folded too). */
  readonly fold: boolean;
}

export interface ReadPath {
  readonly ok: boolean;
  /** The decode-first reading when ok (what explain and logs show); otherwise the raw path. */
  readonly path: string;
  /** Distinct readings, decode-first first; empty when not ok. */
  readonly readings: readonly PathReading[];
  /**
   * The path holds bytes whose meaning depends on the server (an encoded "/", "\\" or ";", a raw
   * "\\" or ";", an encoded dot segment): never public. Case alone, "//" and plain dot segments
   * are not ambiguous (every reading is still decided, the strictest wins).
   */
  readonly ambiguous: boolean;
}

const SEMICOLON = 59;
// An encoded "/", "\\" or ";", a raw "\\" or ";": the path's structure depends on the server.
const STRUCTURAL_BYTES = /%(?:2f|5c|3b)|[\\;]/i;
// Escapes that decode into structure: kept as escapes inside a segment (upper-case, so the
// spellings %2f and %2F are one reading).
const STRUCTURAL = /%(2f|5c|3b)/gi;

function hasUpperAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

/** Whether a raw path (query and fragment cut) can be read more than one way. */
function mayDiffer(cut: string): boolean {
  for (let i = 0; i < cut.length; i++) {
    const c = cut.charCodeAt(i);
    if (c === PERCENT || c === BACKSLASH || c === SEMICOLON || (c >= 65 && c <= 90)) return true;
    if (c === SLASH) {
      const next = cut.charCodeAt(i + 1);
      if (next === SLASH || next === DOT) return true;
    }
  }
  return cut.charCodeAt(0) !== SLASH;
}

function decodeSegment(seg: string): string | null {
  if (!seg.includes('%')) return seg;
  try {
    return decodeURIComponent(seg.replace(STRUCTURAL, (m) => `%25${m.slice(1).toUpperCase()}`));
  } catch {
    return null;
  }
}

function splitFirst(cut: string, opts: { params: boolean; resolve: boolean; keepEmpty?: boolean; decoded?: boolean }): string | null {
  const rooted = cut.charCodeAt(0) === SLASH ? cut : `/${cut}`;
  const segments = rooted.split('/');
  const out: string[] = [];
  let trailing = false;
  for (let i = 1; i < segments.length; i++) {
    let seg = segments[i] as string;
    if (opts.params) {
      const semi = seg.indexOf(';');
      if (semi !== -1) seg = seg.slice(0, semi);
    }
    const decoded = opts.decoded === true ? seg : decodeSegment(seg);
    if (decoded === null) return null;
    const last = i === segments.length - 1;
    if (!opts.resolve) {
      out.push(decoded);
      continue;
    }
    if (decoded === '..') {
      out.pop();
      trailing = last;
    } else if (decoded === '.' || (decoded === '' && opts.keepEmpty !== true)) {
      trailing = last;
    } else {
      out.push(decoded);
      trailing = false;
    }
  }
  if (!opts.resolve) return `/${out.join('/')}`;
  if (opts.keepEmpty === true) return `/${out.join('/')}${trailing ? '/' : ''}`;
  if (out.length === 0) return '/';
  return `/${out.join('/')}${trailing ? '/' : ''}`;
}

/**
 * Every reading of a raw path (see above); not ok when the path is malformed (normalizePath).
 * `foldAll`: add a case-folded reading even of a lower-case path (some rule's pattern has an
 * upper-case letter, and Express routes /admin to a route written /Admin).
 */
export function readPath(raw: string, foldAll = false): ReadPath {
  const n = normalizePath(raw);
  if (!n.ok) return { ok: false, path: n.path, readings: [], ambiguous: false };
  const q = raw.search(/[?#]/);
  const cut = q === -1 ? raw : raw.slice(0, q);
  if (!mayDiffer(cut)) {
    // A plain lower-case path: one reading (and its case-folded twin when a rule's pattern has
    // an upper-case letter).
    return {
      ok: true,
      path: n.path,
      readings: foldAll
        ? [
            { path: n.path, fold: false },
            { path: n.path, fold: true },
          ]
        : [{ path: n.path, fold: false }],
      ambiguous: false,
    };
  }
  const paths = new Set<string>([n.path]);
  for (const opts of [
    { params: false, resolve: true },
    { params: true, resolve: true },
    { params: false, resolve: false },
  ]) {
    const p = splitFirst(cut, opts);
    if (p === null) return { ok: false, path: cut, readings: [], ambiguous: false };
    paths.add(p);
  }
  // Decoded first, then ";parameters" dropped (%3B is a parameter there too).
  const decodedParams = splitFirst(decodeURIComponent(cut).replaceAll('\\', '/'), { params: true, resolve: true, decoded: true });
  if (decodedParams !== null) paths.add(decodedParams);
  // RFC 3986 §5.2.4 and the WHATWG URL parser: "\\" is "/", empty segments are kept, so ".."
  // after "//" removes the empty segment ("/admin//.." is "/admin/", not "/").
  const whatwg = splitFirst(cut.replaceAll('\\', '/'), { params: false, resolve: true, keepEmpty: true });
  if (whatwg === null) return { ok: false, path: cut, readings: [], ambiguous: false };
  paths.add(whatwg);
  const readings: PathReading[] = [];
  for (const p of paths) readings.push({ path: p, fold: false });
  const folded = new Set<string>();
  for (const p of paths) {
    if (!foldAll && !hasUpperAscii(p.replace(STRUCTURAL, ''))) continue;
    // Structural escapes stay upper-case: they are bytes, not letters.
    const f = p.toLowerCase().replace(STRUCTURAL, (m) => m.toUpperCase());
    if (!folded.has(f)) {
      folded.add(f);
      readings.push({ path: f, fold: true });
    }
  }
  // Ambiguous, never public (engine.ts): decided on the bytes, not on whether the readings above
  // happen to differ ("/x/start;/../y" reads the same every way here, yet a server that takes
  // ";" for a delimiter and resolves dot segments differently would not).
  const ambiguous = STRUCTURAL_BYTES.test(cut) || hasEncodedDotSegment(cut);
  return { ok: true, path: n.path, readings, ambiguous };
}

/** Whether a raw segment is "." or ".." only once decoded ("%2e%2e", ".%2E"). */
function hasEncodedDotSegment(cut: string): boolean {
  if (!/%2e/i.test(cut)) return false;
  for (const seg of cut.split('/')) {
    if (!seg.includes('%')) continue;
    const d = decodeSegment(seg);
    if (d === '.' || d === '..') return true;
  }
  return false;
}
