// Deep merge of the files of a config directory: mappings merge, lists concatenate (so apps
// can be split across files), and a scalar set in two files to different values is an error
// naming both files: "last file wins" would make one file's setting silently inert.
import { formatIssuePath } from './paths.ts';
import type { ParsedSource } from './sources.ts';

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date);
}

/** Set an own property even for "__proto__", which the schema then reports as an unknown key. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Copy a parsed tree so YAML aliases (one object at two places) can be merged into independently. */
function cloneTree(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(cloneTree);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setOwn(out, k, cloneTree(x));
    return out;
  }
  return v;
}

export function mergeSources(sources: readonly ParsedSource[]): { tree: Record<string, unknown>; problems: string[] } {
  const tree: Record<string, unknown> = {};
  const problems: string[] = [];
  // Which file set each mapping key; a nested key inherits the file of its nearest recorded ancestor.
  const origin = new Map<string, string>();
  const originOf = (path: readonly PropertyKey[]): string => {
    for (let n = path.length; n > 0; n--) {
      const f = origin.get(JSON.stringify(path.slice(0, n)));
      if (f !== undefined) return f;
    }
    return '';
  };

  const merge = (target: Record<string, unknown>, src: Record<string, unknown>, path: PropertyKey[], file: string): void => {
    for (const [key, value] of Object.entries(src)) {
      const p = [...path, key];
      if (!Object.hasOwn(target, key)) {
        setOwn(target, key, cloneTree(value));
        origin.set(JSON.stringify(p), file);
        continue;
      }
      const have = target[key];
      if (isPlainObject(have) && isPlainObject(value)) merge(have, value, p, file);
      else if (Array.isArray(have) && Array.isArray(value)) setOwn(target, key, [...have, ...(cloneTree(value) as unknown[])]);
      else if (!Object.is(have, value) || isPlainObject(have) || Array.isArray(have)) {
        // Never print the values: either could be a literal secret.
        problems.push(`${formatIssuePath(p)}: set to different values in ${originOf(p)} and ${file}`);
      }
    }
  };

  for (const s of sources) merge(tree, s.data, [], s.file);
  return { tree, problems };
}
