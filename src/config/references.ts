// `${env:NAME}` and `${file:/path}` inside any string value, whole or embedded; `$${` is a
// literal "${". Problems name the reference and the config path where it appears, never the
// value it resolved to: that value is usually a secret.
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { isPlainObject, setOwn } from './merge.ts';
import { formatIssuePath } from './paths.ts';
import { errorCode } from './sources.ts';

export interface PathProblem {
  path: PropertyKey[];
  message: string;
}

export interface ResolveResult {
  problems: PathProblem[];
  /** Paths whose references failed; the value there stays unresolved, and later checks skip it. */
  failedPaths: PropertyKey[][];
  /** Paths whose value came (at least in part) from a reference. */
  referencePaths: PropertyKey[][];
  /** Resolved values, so problem messages can be scrubbed of them as a second line of defence. */
  values: string[];
  /** Files named by `${file:}`, so a watcher can see secrets rotate. */
  files: string[];
}

// `$${` (escape), `${…}` (a reference), or a `${` that is never closed.
const TOKEN = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const ENV_REF = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;
const FILE_REF = /^file:(.+)$/;

type FileRead = { ok: true; value: string } | { ok: false; code: string };

interface StringLeaf {
  path: PropertyKey[];
  holder: Record<string, unknown> | unknown[];
  key: string | number;
  text: string;
}

function collect(node: unknown, path: PropertyKey[], out: StringLeaf[]): void {
  if (Array.isArray(node)) {
    node.forEach((v, i) => {
      if (typeof v === 'string') {
        if (v.includes('${')) out.push({ path: [...path, i], holder: node, key: i, text: v });
      } else collect(v, [...path, i], out);
    });
  } else if (isPlainObject(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (typeof v === 'string') {
        if (v.includes('${')) out.push({ path: [...path, k], holder: node, key: k, text: v });
      } else collect(v, [...path, k], out);
    }
  }
}

/** Resolve every reference in `tree`, in place. */
export async function resolveReferences(tree: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<ResolveResult> {
  const result: ResolveResult = { problems: [], failedPaths: [], referencePaths: [], values: [], files: [] };
  const leaves: StringLeaf[] = [];
  collect(tree, [], leaves);

  const reads = new Map<string, Promise<FileRead>>();
  const readOnce = (file: string): Promise<FileRead> => {
    let p = reads.get(file);
    if (p === undefined) {
      p = readFile(file, 'utf8').then(
        // A secret file written by `echo` or a Kubernetes Secret often ends with one newline.
        (text): FileRead => ({ ok: true, value: text.replace(/\r?\n$/, '') }),
        (err: unknown): FileRead => ({ ok: false, code: errorCode(err) }),
      );
      reads.set(file, p);
      result.files.push(file);
    }
    return p;
  };

  for (const leaf of leaves) {
    const where = formatIssuePath(leaf.path);
    let usedReference = false;
    // Text, pending file reads and problems, in the order they appear in the string.
    const parts: (string | { file: string; read: Promise<FileRead> } | { problem: string })[] = [];
    let last = 0;
    for (const m of leaf.text.matchAll(TOKEN)) {
      parts.push(leaf.text.slice(last, m.index));
      last = m.index + m[0].length;
      if (m[0] === '$${') {
        parts.push('${');
        continue;
      }
      const inner = m[1];
      const envRef = inner === undefined ? null : ENV_REF.exec(inner);
      const fileRef = inner === undefined ? null : FILE_REF.exec(inner);
      if (envRef) {
        usedReference = true;
        const name = envRef[1] ?? '';
        const value = env[name];
        if (value === undefined) parts.push({ problem: `\${env:${name}} is not set` });
        else {
          parts.push(value);
          result.values.push(value);
        }
      } else if (fileRef) {
        usedReference = true;
        const file = fileRef[1] ?? '';
        if (!isAbsolute(file)) parts.push({ problem: `\${file:${file}} must name an absolute path` });
        else parts.push({ file, read: readOnce(file) });
      } else {
        // Do not echo what follows "${": it may be part of a literal secret.
        parts.push({ problem: '"${" starts no reference: expected ${env:NAME} or ${file:/path}; write $${ for a literal "${"' });
      }
    }
    parts.push(leaf.text.slice(last));

    let value = '';
    const problems: string[] = [];
    for (const part of parts) {
      if (typeof part === 'string') {
        value += part;
        continue;
      }
      if ('problem' in part) {
        problems.push(part.problem);
        continue;
      }
      const read = await part.read;
      if (read.ok) {
        value += read.value;
        result.values.push(read.value);
      } else problems.push(`\${file:${part.file}} cannot be read (${read.code})`);
    }

    if (problems.length > 0) {
      for (const message of problems) result.problems.push({ path: leaf.path, message: `${where}: ${message}` });
      result.failedPaths.push(leaf.path);
      continue;
    }
    if (usedReference) result.referencePaths.push(leaf.path);
    if (Array.isArray(leaf.holder)) leaf.holder[leaf.key as number] = value;
    else setOwn(leaf.holder, leaf.key as string, value);
  }
  return result;
}
