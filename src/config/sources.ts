// Reading the YAML sources: one file, or every visible *.yaml / *.yml file of a directory in
// name order. Dotfiles are skipped, which is what a Kubernetes ConfigMap mount needs: the
// mount holds `..data` (a symlink to a timestamped `..2024_…` directory) and one visible
// symlink per key pointing through `..data`; reading the visible names through the symlinks
// sees exactly one generation of the ConfigMap, and the hidden directories are never read twice.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';

export interface ParsedSource {
  file: string;
  data: Record<string, unknown>;
}

export interface SourceReadResult {
  /** Every file read, in merge order. */
  files: string[];
  /** The files that parsed, in merge order. */
  parsed: ParsedSource[];
  problems: string[];
  /** True when some file could not be used, so the merged tree is incomplete. */
  incomplete: boolean;
  /** True when nothing could be read at all (the path is missing or empty). */
  fatal: boolean;
}

const YAML_NAME = /\.ya?ml$/;

/** Names in code-unit order, so the merge order never depends on the locale. */
const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export async function readSources(path: string): Promise<SourceReadResult> {
  const out: SourceReadResult = { files: [], parsed: [], problems: [], incomplete: false, fatal: false };
  let files: string[];
  try {
    files = await listFiles(path);
  } catch (err) {
    out.problems.push(`${path}: cannot be read (${errorCode(err)})`);
    out.fatal = true;
    return out;
  }
  if (files.length === 0) {
    out.problems.push(`${path}: the directory has no *.yaml or *.yml files`);
    out.fatal = true;
    return out;
  }
  for (const file of files) {
    out.files.push(file);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      out.problems.push(`${file}: cannot be read (${errorCode(err)})`);
      out.incomplete = true;
      continue;
    }
    const parsed = parseYaml(file, text);
    if ('problems' in parsed) {
      out.problems.push(...parsed.problems);
      out.incomplete = true;
    } else {
      out.parsed.push({ file, data: parsed.data });
    }
  }
  return out;
}

async function listFiles(path: string): Promise<string[]> {
  const st = await stat(path);
  if (!st.isDirectory()) return [path];
  const names = (await readdir(path)).filter((n) => !n.startsWith('.') && YAML_NAME.test(n)).sort(byName);
  const files: string[] = [];
  for (const name of names) {
    const file = join(path, name);
    // stat follows the ConfigMap symlinks; a directory that happens to be named x.yaml is not a source.
    if ((await stat(file)).isFile()) files.push(file);
  }
  return files;
}

/** Parse one YAML file; syntax errors name the file, line and column. */
export function parseYaml(file: string, text: string): { data: Record<string, unknown> } | { problems: string[] } {
  // Merge keys (`<<: *defaults`) are YAML 1.1, but operators use them to share app settings.
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        // The pretty message ends with a source excerpt, which could show a literal secret: cut it.
        const msg = lowerFirst(e.message.split(' at line ')[0] ?? e.message)
          .replace(/\s+/g, ' ')
          .trim();
        return pos ? `${file}:${pos.line}:${pos.col}: ${msg}` : `${file}: ${msg}`;
      }),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { problems: [`${file}: ${lowerFirst(err instanceof Error ? err.message : String(err))}`] };
  }
  if (data === null || data === undefined) return { data: {} };
  if (typeof data !== 'object' || Array.isArray(data)) {
    return {
      problems: [`${file}: expected a mapping of keys at the top level, got ${Array.isArray(data) ? 'a list' : `a ${typeof data}`}`],
    };
  }
  // Top-level `x-` keys are extension fields, as in Compose files: a place to keep anchors that
  // `<<` merges elsewhere. They are not settings, so they are dropped before validation.
  const tree = data as Record<string, unknown>;
  for (const key of Object.keys(tree)) if (key.startsWith('x-')) delete tree[key];
  return { data: tree };
}

export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown error';
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
