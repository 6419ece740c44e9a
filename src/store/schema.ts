// Engine-neutral schema bookkeeping: validating a migration list, computing the status from the
// versions recorded in schema_migrations, and the errors a release gives when the database is
// not exactly at its version.

import { GatehouseError } from '../core/index.ts';
import type { Migration } from './migrations.ts';
import type { SchemaStatus } from './ports.ts';

/** Versions must be integers counting up from 1 without gaps, names non-empty. */
export function validateMigrations(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new GatehouseError('internal', `migration list is invalid: entry ${i} has version ${m.version}, expected ${i + 1}`);
    }
    if (m.name.trim() === '') throw new GatehouseError('internal', `migration list is invalid: version ${m.version} has no name`);
  });
}

export function latestOf(list: readonly Migration[]): number {
  return list[list.length - 1]?.version ?? 0;
}

/** `applied` are the versions recorded in schema_migrations (empty when it does not exist). */
export function computeStatus(applied: readonly number[], list: readonly Migration[]): SchemaStatus {
  const done = new Set(applied);
  return {
    current: applied.reduce((a, b) => Math.max(a, b), 0),
    latest: latestOf(list),
    pending: list.filter((m) => !done.has(m.version)).map((m) => ({ version: m.version, name: m.name })),
  };
}

/** An older binary must never run against a schema a newer release migrated (story 004). */
export function schemaTooNew(current: number, latest: number): GatehouseError {
  return new GatehouseError(
    'schema_too_new',
    `the database schema is at version ${current} but this release of gatehouse knows up to version ${latest}: ` +
      'run the newer release (or restore a backup taken before the upgrade); never downgrade against a migrated database',
  );
}

export function assertCurrent(status: SchemaStatus): void {
  if (status.current > status.latest) throw schemaTooNew(status.current, status.latest);
  if (status.pending.length > 0) {
    const list = status.pending.map((p) => `${p.version} ${p.name}`).join(', ');
    throw new GatehouseError(
      'migration_failed',
      `the database schema is at version ${status.current} but this release of gatehouse needs version ${status.latest}: ` +
        `run \`gatehouse migrate\` to apply the pending migrations (${list})`,
    );
  }
}

/** A failed migration's SQL error, with the version and name that failed. */
export function migrationError(m: Migration, err: unknown): GatehouseError {
  const reason = err instanceof Error ? err.message : String(err);
  return new GatehouseError('migration_failed', `migration ${m.version} (${m.name}) failed and was rolled back: ${reason}`, { cause: err });
}
