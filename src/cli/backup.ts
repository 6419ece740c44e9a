// `gatehouse backup FILE` and `gatehouse restore FILE`: the embedded SQLite store, copied online.
//
// backup uses SQLite's online backup API (node:sqlite backup()): it copies the database page by
// page while Gatehouse keeps serving, restarting a step if a write lands mid-copy, so the copy is
// one consistent moment, with the WAL's committed pages in it. The copy is written 0600 beside
// the target under a temporary name, checked (integrity_check), turned into a single file
// (journal_mode DELETE: no -wal to forget), and only then renamed into place, so FILE is never a
// half-written backup.
//
// restore refuses while any process has the database open (a probe for an exclusive lock: in
// WAL mode every open connection holds a shared lock), refuses a backup from a newer release
// (its schema version is above this release's), and never deletes: the file it replaces, with
// its -wal and -shm, is renamed aside. Sessions, people, clients and signing keys live in the
// database, sealed with keys derived from secrets.session: a restore brings them back only with
// the same root secret, so both commands say where that secret is.
//
// PostgreSQL is backed up with its own tools (pg_dump / pg_restore, docs/backups.md): both
// commands name them instead of guessing at an installation's client versions.
import { closeSync, constants, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { backup as sqliteBackup, DatabaseSync } from 'node:sqlite';
import { LATEST_SCHEMA_VERSION } from '../store/index.ts';
import { databaseUrl } from '../app/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import type { Command } from './command.ts';
import type { CliIO } from './io.ts';
import { loadFor } from './context.ts';

const CONFIG_HELP = '  -c, --config PATH   config file or directory (default: $GATEHOUSE_CONFIG, else the embedded defaults)';

/** A failure the operator fixes; printed as one line, exit 1. */
class BackupProblem extends Error {}

const PG_BACKUP = 'pg_dump --format=custom --file FILE "$DATABASE_URL"';
const PG_RESTORE = 'pg_restore --clean --if-exists --no-owner --dbname "$DATABASE_URL" FILE';

function sqlitePath(loaded: LoadedConfig, verb: 'back up' | 'restore'): string {
  const url = databaseUrl(loaded.config);
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === ':memory:') throw new BackupProblem(`database.url is sqlite::memory:: there is nothing on disk to ${verb}`);
    return path;
  }
  throw new BackupProblem(
    verb === 'back up'
      ? `database.url is PostgreSQL: back it up with PostgreSQL's own tool, which copies one consistent snapshot while Gatehouse keeps serving: ${PG_BACKUP} (docs/backups.md)`
      : `database.url is PostgreSQL: restore a pg_dump archive with ${PG_RESTORE}, with every replica stopped (docs/backups.md)`,
  );
}

/** Where the sealed data's keys come from, for the line both commands print. */
function secretNote(loaded: LoadedConfig): string {
  return loaded.config.secrets.session?.length
    ? 'the data is sealed with secrets.session from the config: keep that secret; a restore needs the same one'
    : `the data is sealed with the generated root secret ${join(resolve(loaded.config.dataDir), 'secret')}, which is not in the backup: keep a copy of it with the backup; a restore needs the same one`;
}

/** A new file, 0600 from its first byte (SQLite then writes into it; an empty file is an empty database). */
function createPrivate(path: string): void {
  closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
}

/** Checks a database file as a Gatehouse store: integrity, schema version, rows per table. */
function inspect(path: string): { version: number; rows: [string, number][] } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const check = db
      .prepare('PRAGMA integrity_check')
      .all()
      .map((r) => String(Object.values(r)[0]));
    if (check.length !== 1 || check[0] !== 'ok')
      throw new BackupProblem(`${path} fails SQLite's integrity check: ${check.slice(0, 3).join('; ')}`);
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .all()
      .map((r) => String(r.name));
    if (!tables.includes('schema_migrations')) throw new BackupProblem(`${path} is not a Gatehouse database (no schema_migrations table)`);
    const version = Number((db.prepare('SELECT coalesce(max(version), 0) AS v FROM schema_migrations').get() as { v: number }).v);
    const rows = tables
      .filter((t) => t !== 'schema_migrations')
      .map((t): [string, number] => [
        t,
        Number((db.prepare(`SELECT count(*) AS n FROM "${t.replaceAll('"', '""')}"`).get() as { n: number }).n),
      ]);
    return { version, rows };
  } catch (err) {
    if (err instanceof BackupProblem) throw err;
    throw new BackupProblem(`${path} cannot be read as a SQLite database (${(err as Error).message})`);
  } finally {
    db.close();
  }
}

const summary = (s: { version: number; rows: [string, number][] }): string =>
  `schema version ${s.version}; ${s.rows.map(([t, n]) => `${t} ${n}`).join(', ')}`;

/** Copy `from` (a live database or a backup) into a fresh private file `to`, as one single-file database. */
async function copyDatabase(from: string, to: string): Promise<void> {
  createPrivate(to);
  try {
    const src = new DatabaseSync(from, { readOnly: true });
    try {
      // Pages per step: small steps let the live process write between them (the backup API
      // restarts a step that a write invalidated).
      await sqliteBackup(src, to, { rate: 256 });
    } finally {
      src.close();
    }
    const copy = new DatabaseSync(to);
    try {
      copy.exec('PRAGMA journal_mode = DELETE');
    } finally {
      copy.close();
    }
  } catch (err) {
    rmSync(to, { force: true });
    throw err;
  }
}

async function backup(loaded: LoadedConfig, out: string, force: boolean, io: CliIO): Promise<number> {
  const db = sqlitePath(loaded, 'back up');
  if (!existsSync(db)) throw new BackupProblem(`there is no database at ${db} to back up (check database.url and dataDir)`);
  const target = resolve(out);
  if (existsSync(target) && !force) throw new BackupProblem(`${target} exists: pass --force to replace it`);
  if (!existsSync(dirname(target))) throw new BackupProblem(`the directory ${dirname(target)} does not exist`);
  const partial = join(dirname(target), `.${target.split('/').pop()}.partial-${process.pid}`);
  rmSync(partial, { force: true });
  try {
    await copyDatabase(db, partial);
    const s = inspect(partial);
    renameSync(partial, target);
    io.out(`backed up ${db} to ${target} (${statSync(target).size} bytes): ${summary(s)}`);
    io.out(secretNote(loaded));
    return 0;
  } finally {
    rmSync(partial, { force: true });
  }
}

/** Nobody else has the file open: in WAL mode every connection holds a shared lock while open. */
function assertNotInUse(db: string): void {
  const probe = new DatabaseSync(db);
  try {
    probe.exec('PRAGMA busy_timeout = 0');
    probe.exec('PRAGMA locking_mode = EXCLUSIVE');
    probe.exec('BEGIN EXCLUSIVE');
    probe.exec('COMMIT');
  } catch (err) {
    throw new BackupProblem(
      `${db} is open in another process (${(err as Error).message}): stop Gatehouse (scale it to 0) before a restore`,
    );
  } finally {
    probe.close();
  }
}

async function restore(loaded: LoadedConfig, from: string, force: boolean, io: CliIO): Promise<number> {
  const db = sqlitePath(loaded, 'restore');
  const source = resolve(from);
  if (!existsSync(source)) throw new BackupProblem(`there is no backup at ${source}`);
  const s = inspect(source);
  if (s.version > LATEST_SCHEMA_VERSION) {
    throw new BackupProblem(
      `the backup's schema version ${s.version} is newer than this release's ${LATEST_SCHEMA_VERSION}: restore it with the release that made it, or a later one`,
    );
  }
  const exists = existsSync(db);
  if (exists && !force) throw new BackupProblem(`${db} exists: pass --force to replace it (it is kept beside it, renamed, not deleted)`);
  if (exists) assertNotInUse(db);
  // A fresh volume: the data directory may not exist yet (Gatehouse would create it 0700 too).
  mkdirSync(dirname(db), { recursive: true, mode: 0o700 });
  const incoming = join(dirname(db), `.restore-${process.pid}.db`);
  rmSync(incoming, { force: true });
  await copyDatabase(source, incoming);
  let keptAs: string | undefined;
  if (exists) {
    // The old file and its WAL move together: a -wal left beside the restored file would be
    // replayed into it on the next open.
    keptAs = `${db}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(db + suffix)) renameSync(db + suffix, keptAs + suffix);
  }
  renameSync(incoming, db);
  io.out(`restored ${source} to ${db}: ${summary(s)}`);
  if (keptAs) io.out(`the database it replaced is kept as ${keptAs}`);
  if (s.version < LATEST_SCHEMA_VERSION) io.out(`the next start migrates it from schema version ${s.version} to ${LATEST_SCHEMA_VERSION}`);
  io.out(secretNote(loaded));
  return 0;
}

function fail(name: string, err: unknown, io: CliIO): number {
  if (!(err instanceof BackupProblem)) throw err;
  io.err(`gatehouse ${name}: ${err.message}`);
  return 1;
}

export const BACKUP_COMMANDS: Record<string, Command> = {
  backup: {
    summary: 'copy the embedded SQLite store to a file while Gatehouse runs (PostgreSQL: pg_dump)',
    usage: `gatehouse backup FILE [--force] [--config PATH]

Copies the SQLite database online (Gatehouse keeps serving) into FILE: one consistent moment,
one self-contained file, mode 0600, checked before it is put in place. --force replaces an
existing FILE. The data in it is sealed with the root secret, which is not in the backup.
For PostgreSQL: ${PG_BACKUP}
${CONFIG_HELP}`,
    options: { config: { type: 'string', short: 'c' }, force: { type: 'boolean' } },
    async run({ values, positionals }, io) {
      if (positionals.length !== 1) {
        io.err('gatehouse backup: needs one FILE to write');
        return 2;
      }
      const loaded = await loadFor(values.config as string | undefined, io);
      try {
        return await backup(loaded, positionals[0]!, values.force === true, io);
      } catch (err) {
        return fail('backup', err, io);
      }
    },
  },
  restore: {
    summary: 'put a `gatehouse backup` file back as the SQLite store (Gatehouse stopped; PostgreSQL: pg_restore)',
    usage: `gatehouse restore FILE [--force] [--config PATH]

Checks FILE (integrity, schema version not newer than this release), then makes it the
database. Gatehouse must be stopped. --force replaces an existing database, which is kept
beside it renamed (nothing is deleted). Sessions, users, clients and signing keys come back as
they were at the backup, with the same root secret (secrets.session, or the generated one).
For PostgreSQL: ${PG_RESTORE}
${CONFIG_HELP}`,
    options: { config: { type: 'string', short: 'c' }, force: { type: 'boolean' } },
    async run({ values, positionals }, io) {
      if (positionals.length !== 1) {
        io.err('gatehouse restore: needs one FILE to read');
        return 2;
      }
      const loaded = await loadFor(values.config as string | undefined, io);
      try {
        return await restore(loaded, positionals[0]!, values.force === true, io);
      } catch (err) {
        return fail('restore', err, io);
      }
    },
  },
};
