import type { Lint } from './lints.ts';
import type { Config } from './schema.ts';

/** A validated config and where it came from. */
export interface LoadedConfig {
  config: Config;
  /** Warnings (errors never reach here: they make loading fail). */
  lints: Lint[];
  /** The YAML files read, in merge order; empty for the embedded config. */
  sources: string[];
  /** False for the embedded defaults (no config file). */
  fromFile: boolean;
  /** Files named by ${file:} references, so a watcher can reload when a mounted secret rotates. */
  referencedFiles?: string[];
  /** Paths (formatted, `clients[2].secret`) whose value came from a ${env:}/${file:} reference: what the inline-secret lint needs. */
  referencePaths?: string[];
}
