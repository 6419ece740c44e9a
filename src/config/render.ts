// Problems and lints as text for the CLI (`gatehouse check`, start-up failures).
import { isGatehouseError } from '../core/index.ts';
import type { Lint } from './lints.ts';

/**
 * One header line (the error's detail, such as "the configuration has 3 problems:") and then
 * one line per problem, indented with "  - ". Any other error renders as its message alone.
 */
export function renderProblems(err: unknown): string {
  if (isGatehouseError(err)) {
    if (err.problems.length === 0) return err.detail;
    return [`${err.detail}:`, ...err.problems.map((p) => `  - ${p}`)].join('\n');
  }
  return err instanceof Error ? err.message : String(err);
}

/** One line per lint: `warning apps[0].hosts[0]: … [host-outside-domains]`. */
export function renderLints(lints: readonly Lint[]): string {
  return lints.map((l) => `${l.severity} ${l.path}: ${l.message} [${l.code}]`).join('\n');
}
