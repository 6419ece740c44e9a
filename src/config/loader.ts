// Loading a config is a list of one-job steps; every step adds its problems and the next runs
// anyway, so one run reports every problem at once:
//   read YAML files → deep-merge → resolve ${env:}/${file:} → schema → lints.
// Nothing is written or created while loading: `gatehouse check` and a reload are side-effect free.
import type { z } from 'zod';
import { GatehouseError } from '../core/index.ts';
import { embeddedConfig } from './defaults.ts';
import { issuesToProblems, valueAt } from './issues.ts';
import { lintConfig, type Lint } from './lints.ts';
import type { LoadedConfig } from './loaded.ts';
import { isPlainObject, mergeSources } from './merge.ts';
import { formatIssuePath, pathWithin } from './paths.ts';
import { resolveReferences } from './references.ts';
import { appSchema, configSchema, domainSchema, groupSchema, type Config } from './schema.ts';
import { readSources } from './sources.ts';

export interface LoadOptions {
  /** A YAML file or a directory of them. Without it, the embedded demo config is returned. */
  path?: string;
  /** Environment for ${env:} references (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  if (opts.path === undefined) return embeddedConfig();
  const env = opts.env ?? process.env;

  const read = await readSources(opts.path);
  if (read.fatal) throw invalid(read.problems);
  const merged = mergeSources(read.parsed);
  const refs = await resolveReferences(merged.tree, env);
  const failed = (p: readonly PropertyKey[]) => refs.failedPaths.some((f) => pathWithin(p, f));

  const parsed = configSchema.safeParse(merged.tree);
  const schemaProblems = parsed.success ? [] : issuesToProblems(parsed.error.issues, merged.tree, refs.referencePaths);

  // Lints need a schema-valid config. When some of it is invalid, lint what remains (unknown
  // keys removed, invalid top-level keys dropped), so semantic problems are reported in the
  // same run. Lints about a dropped key, about a value whose reference failed, or about a
  // missing publicUrl while some file failed to parse would be guesses, and are left out.
  const salvaged: Salvaged = parsed.success
    ? { config: parsed.data, dropped: new Set(), partialLists: new Set() }
    : salvage(merged.tree, parsed.error.issues);
  const failedText = refs.failedPaths.map((p) => formatIssuePath(p));
  const referencePaths = refs.referencePaths.map((p) => formatIssuePath(p));
  const lints: Lint[] =
    salvaged.config === undefined
      ? []
      : lintConfig(salvaged.config, { fromFile: true, referencePaths }).filter((l) => {
          if (read.incomplete && l.code === 'public-url-required') return false;
          // With some domains invalid, which hosts they would cover is unknown.
          if (salvaged.partialLists.has('domains') && l.code === 'host-outside-domains') return false;
          if (salvaged.dropped.has(/^[^.[]+/.exec(l.path)?.[0] ?? '')) return false;
          return !failedText.some(
            (f) => l.path === f || l.path.startsWith(`${f}.`) || l.path.startsWith(`${f}[`) || f.startsWith(`${l.path}[`),
          );
        });

  const problems = [
    ...read.problems,
    ...merged.problems,
    ...refs.problems.map((p) => p.message),
    ...schemaProblems.filter((p) => !failed(p.path)).map((p) => p.message),
    ...lints.filter((l) => l.severity === 'error').map((l) => `${l.path}: ${l.message}`),
  ];
  if (problems.length > 0 || !parsed.success) throw invalid(problems.map((p) => redact(p, refs.values)));

  return {
    config: parsed.data,
    lints: lints.filter((l) => l.severity === 'warning').map((l) => ({ ...l, message: redact(l.message, refs.values) })),
    sources: read.files,
    fromFile: true,
    referencedFiles: refs.files,
    referencePaths,
  };
}

// Top-level lists whose elements can be checked one by one.
const ELEMENT_SCHEMAS = { apps: appSchema, domains: domainSchema, groups: groupSchema } as const;
type ElementList = keyof typeof ELEMENT_SCHEMAS;
const isElementList = (k: string): k is ElementList => Object.hasOwn(ELEMENT_SCHEMAS, k);

interface Salvaged {
  config: Config | undefined;
  dropped: Set<string>;
  partialLists: Set<string>;
}

/**
 * The config without its unknown keys, without the top-level keys that have other problems,
 * and with invalid elements of apps/domains/groups left as holes of a sparse list, so lints
 * still see the valid elements at their real indexes.
 */
function salvage(tree: Record<string, unknown>, issues: readonly z.core.$ZodIssue[]): Salvaged {
  const copy = structuredClone(tree);
  const dropped = new Set<string>();
  const badElements = new Map<ElementList, Set<number>>();
  for (const issue of issues) {
    const holder = valueAt(copy, issue.path);
    const [top, index] = issue.path;
    if (issue.code === 'unrecognized_keys' && isPlainObject(holder)) for (const k of issue.keys) delete holder[k];
    else if (typeof top === 'string' && isElementList(top) && typeof index === 'number') {
      badElements.set(top, (badElements.get(top) ?? new Set()).add(index));
    } else dropped.add(String(top ?? ''));
  }
  const partialLists = new Set<string>();
  if (dropped.has('')) return { config: undefined, dropped, partialLists };
  for (const k of dropped) delete copy[k];
  const lists: [ElementList, unknown[]][] = [];
  for (const [key, bad] of badElements) {
    const list = copy[key];
    if (dropped.has(key) || !Array.isArray(list)) continue;
    const sparse: unknown[] = new Array<unknown>(list.length);
    list.forEach((el, i) => {
      if (bad.has(i)) return;
      const r = ELEMENT_SCHEMAS[key].safeParse(el);
      if (r.success) sparse[i] = r.data;
    });
    lists.push([key, sparse]);
    partialLists.add(key);
    delete copy[key];
  }
  const r = configSchema.safeParse(copy);
  if (!r.success) return { config: undefined, dropped, partialLists };
  const config: Config = r.data;
  for (const [key, sparse] of lists) (config as Record<ElementList, unknown[]>)[key] = sparse;
  return { config, dropped, partialLists };
}

function invalid(problems: string[]): GatehouseError {
  const n = problems.length;
  return new GatehouseError('config_invalid', `the configuration has ${n} problem${n === 1 ? '' : 's'}`, { problems });
}

/**
 * Second line of defence: no message is built from a resolved value, but if one ever were, the
 * value is cut out. Short values are left alone: they would mangle ordinary words and are no
 * secret worth the name.
 */
function redact(message: string, values: readonly string[]): string {
  let out = message;
  for (const v of values) if (v.length >= 8) out = out.split(v).join('[redacted]');
  return out;
}
