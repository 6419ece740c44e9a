// Path patterns, matched against the normalized path (see path.ts):
//
//   "/api/"       ends with "/": a prefix; matches "/api/" and everything under it, not "/api".
//   "/api"        no wildcard, no trailing "/": exactly "/api" or anything under "/api/";
//                 never "/apix".
//   "/adsb/*"     "*" is one or more characters within one segment: "/adsb/x", not "/adsb/x/y",
//                 and not "/adsb/" (an empty segment is no segment).
//   "/static/**"  "**" is any characters, "/" included: "/static/", "/static/a/b"; not "/static".
//   anything else with "*" ("/files/*.png", "/u/*/avatar") compiles once to an anchored regex
//                 with the same meaning of "*" and "**".
// The common forms are plain string operations; nothing is compiled per request.

export type PathMatcher = (path: string) => boolean;

const REGEX_SPECIAL = /[.+?^${}()|[\]\\]/g;

export function compilePathPattern(pattern: string): PathMatcher {
  if (!pattern.includes('*')) {
    if (pattern.endsWith('/')) return (path) => path.startsWith(pattern);
    const below = `${pattern}/`;
    return (path) => path === pattern || path.startsWith(below);
  }
  const lastSlash = pattern.lastIndexOf('/');
  const dir = pattern.slice(0, lastSlash + 1);
  const tail = pattern.slice(lastSlash + 1);
  if (!dir.includes('*')) {
    if (tail === '*') {
      const from = dir.length;
      return (path) => path.length > from && path.startsWith(dir) && path.indexOf('/', from) === -1;
    }
    if (tail === '**') return (path) => path.startsWith(dir);
  }
  const source = pattern
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((lit) => lit.replace(REGEX_SPECIAL, '\\$&'))
        .join('[^/]+'),
    )
    .join('.*');
  const re = new RegExp(`^${source}$`);
  return (path) => re.test(path);
}
