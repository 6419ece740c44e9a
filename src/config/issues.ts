// Schema issues (zod 4) as operator-facing problems: exact path, lowercase message in YAML
// vocabulary (mapping, list), one problem per unknown key with a "did you mean" when a known
// key is close. Messages never echo the offending value: it may be a secret.
import type { z } from 'zod';
import { configJsonSchema, type JsonSchema } from './json-schema.ts';
import { isPlainObject } from './merge.ts';
import { formatIssuePath, pathWithin } from './paths.ts';
import type { PathProblem } from './references.ts';

type Issue = z.core.$ZodIssue;

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'null',
};

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (isPlainObject(v)) return 'a mapping';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v === 'number' ? 'a number' : `a ${typeof v}`;
}

export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (Array.isArray(v) && typeof seg === 'number') v = v[seg];
    else if (isPlainObject(v) && typeof seg === 'string' && Object.hasOwn(v, seg)) v = v[seg];
    else return undefined;
  }
  return v;
}

function formatLiteral(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

// ---- "did you mean"

function branches(s: JsonSchema): JsonSchema[] {
  return [s, ...((s.anyOf ?? s.oneOf ?? []) as JsonSchema[])];
}

/** The keys the schema knows at a path, from the generated JSON Schema. */
export function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let level: JsonSchema[] = [configJsonSchema()];
  for (const seg of path) {
    const next: JsonSchema[] = [];
    for (const s of level.flatMap(branches)) {
      if (typeof seg === 'number' && s.items !== undefined) next.push(s.items as JsonSchema);
      const props = s.properties as Record<string, JsonSchema> | undefined;
      if (typeof seg === 'string' && props?.[seg] !== undefined) next.push(props[seg]);
    }
    level = next;
  }
  return [...new Set(level.flatMap(branches).flatMap((s) => Object.keys((s.properties ?? {}) as object)))];
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The closest known key: same letters in another case, or at most two edits away (never more than a third of the word). */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  let best: { key: string; d: number } | undefined;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key.toLowerCase(), k.toLowerCase());
    if (d <= Math.min(2, Math.floor(k.length / 3)) && (best === undefined || d < best.d)) best = { key: k, d };
  }
  return best?.key;
}

// ---- issues

function expectedOf(issue: Issue): string[] | undefined {
  if (issue.path.length !== 0) return undefined;
  if (issue.code === 'invalid_type') return [EXPECTED[issue.expected] ?? issue.expected];
  if (issue.code === 'invalid_value') return issue.values.map(formatLiteral);
  return undefined;
}

/**
 * Convert zod issues to problems. `referencePaths` are paths whose value came from
 * ${env:}/${file:}: a type error there gets a hint that references always give strings.
 */
export function issuesToProblems(issues: readonly Issue[], input: unknown, referencePaths: readonly PropertyKey[][] = []): PathProblem[] {
  const out: PathProblem[] = [];
  const add = (path: PropertyKey[], message: string) => out.push({ path, message: `${formatIssuePath(path)}: ${message}` });

  const visit = (issue: Issue, prefix: PropertyKey[]): void => {
    const path = [...prefix, ...issue.path];
    const value = valueAt(input, path);
    switch (issue.code) {
      case 'invalid_type': {
        if (value === undefined) {
          add(path, 'is required');
          return;
        }
        const fromRef = typeof value === 'string' && referencePaths.some((p) => pathWithin(path, p) && path.length === p.length);
        const hint = fromRef && issue.expected !== 'string' ? '; ${env:…} and ${file:…} always give strings' : '';
        add(path, `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describeValue(value)}${hint}`);
        return;
      }
      case 'invalid_value':
        add(
          path,
          issue.values.length === 1
            ? `expected ${formatLiteral(issue.values[0])}`
            : `expected one of ${issue.values.map(formatLiteral).join(', ')}`,
        );
        return;
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const hint = suggestKey(key, knownKeysAt(path));
          add([...path, key], hint === undefined ? 'unknown key' : `unknown key; did you mean ${hint}?`);
        }
        return;
      case 'too_small':
      case 'too_big': {
        const small = issue.code === 'too_small';
        const bound = small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum;
        const cmp = issue.inclusive === false ? (small ? '>' : '<') : small ? '>=' : '<=';
        if (issue.origin === 'array')
          add(path, `expected ${small ? 'at least' : 'at most'} ${bound} item${Number(bound) === 1 ? '' : 's'}`);
        else if (issue.origin === 'string')
          add(path, small && Number(bound) === 1 ? 'must not be empty' : `expected ${small ? 'at least' : 'at most'} ${bound} characters`);
        else add(path, `expected a number ${cmp} ${bound}`);
        return;
      }
      case 'invalid_union': {
        if (issue.errors.length === 0) {
          add(path, 'matches more than one form');
          return;
        }
        // A branch whose type fitted (its problems lie deeper, or are not about the type) says
        // what is wrong inside; if none fitted, list the forms the value may take.
        const fitted = issue.errors.find((b) => b.every((i) => expectedOf(i) === undefined));
        if (fitted !== undefined) {
          for (const i of fitted) visit(i, path);
          return;
        }
        const forms = [...new Set(issue.errors.flatMap((b) => b.flatMap((i) => expectedOf(i) ?? [])))];
        add(path, value === undefined ? 'is required' : `expected ${forms.join(' or ')}, got ${describeValue(value)}`);
        return;
      }
      default:
        // invalid_format and custom carry the schema's own lowercase messages.
        add(path, lowerFirst(issue.message.replace(/^Invalid input: /, '')));
    }
  };

  for (const issue of issues) visit(issue, []);
  return out;
}
