// The layer rule of docs/architecture.md, read from that page so the page and the lint cannot
// drift apart: the "Rooms" table lists the folders of src/ top to bottom, and a folder may import
// only folders listed above it, and only through their index.ts. Used by eslint.config.js (the
// `gatehouse/layers` rule) and by scripts/shape.ts (the arrow counts).
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The folders of src/ in the order the Rooms table of docs/architecture.md lists them. */
export function readLayers(doc = join(repoRoot, 'docs/architecture.md')) {
  const text = readFileSync(doc, 'utf8');
  const rooms = text.split(/^## /m).find((s) => s.startsWith('Rooms'));
  if (rooms === undefined) throw new Error(`${doc}: no "## Rooms" section to read the layer order from`);
  const layers = [...rooms.matchAll(/^\| `src\/([a-z-]+)\/` \|/gm)].map((m) => m[1]);
  if (layers.length < 3) throw new Error(`${doc}: the Rooms table lists ${layers.length} folders of src/`);
  return layers;
}

/** The folder of src/ a file is in ('' for src/main.ts, undefined outside src/). */
export function folderOf(file) {
  const rel = relative(join(repoRoot, 'src'), file);
  if (rel.startsWith('..') || rel.startsWith(sep)) return undefined;
  const parts = rel.split(sep);
  return parts.length === 1 ? '' : parts[0];
}

/**
 * What is wrong with `file` importing `spec`, or undefined when the import keeps the rule.
 * Only relative imports between folders of src/ are judged; src/main.ts (the entry) may import any
 * folder through its index.ts.
 */
export function layerProblem(layers, file, spec) {
  if (!spec.startsWith('.')) return undefined;
  const from = folderOf(file);
  const target = resolve(dirname(file), spec);
  const to = folderOf(target);
  if (from === undefined || to === undefined || to === '' || from === to) return undefined;
  const rank = (f) => layers.indexOf(f);
  if (rank(to) < 0) return `src/${to}/ is not in the Rooms table of docs/architecture.md`;
  if (from !== '' && rank(from) < 0) return `src/${from}/ is not in the Rooms table of docs/architecture.md`;
  if (from !== '' && rank(to) > rank(from)) return `src/${from}/ may not import src/${to}/, which is below it in docs/architecture.md`;
  if (relative(join(repoRoot, 'src', to), target) !== 'index.ts')
    return `import src/${to}/ through its index.ts, not ${relative(join(repoRoot, 'src'), target)}`;
  return undefined;
}
