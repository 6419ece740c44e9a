// Config paths as operators read them: keys dotted, array indexes in brackets
// (`apps[2].hosts[0]`). One formatter for YAML, reference, schema and lint problems, so the
// same place in the config always prints the same way.

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** Format a path such as `['apps', 2, 'hosts', 0]` as `apps[2].hosts[0]`; the empty path is `(top level)`. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && IDENTIFIER.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out === '' ? '(top level)' : out;
}

/** True when `inner` is `outer` or lies inside it (`apps[0].allow` is inside `apps[0]`). */
export function pathWithin(inner: readonly PropertyKey[], outer: readonly PropertyKey[]): boolean {
  if (inner.length < outer.length) return false;
  return outer.every((seg, i) => seg === inner[i]);
}
