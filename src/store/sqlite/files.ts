// The embedded database holds password hashes, sealed upstream tokens and signing keys: no one
// but the process's own user may read it. An operator or a volume mount often makes the data
// directory first with mode 0755, and a file created there inherits the umask (0644), so the
// modes are enforced here rather than assumed:
//   - the directory is created 0700, or tightened to 0700 when others can enter or list it;
//   - the database file is created 0600 before SQLite opens it (SQLite gives its -wal and -shm
//     files the database file's mode), and an existing file, -wal or -shm is tightened to 0600.
// Each change is logged once with the old and new mode. When a file's mode cannot be changed (a
// file owned by another user), start-up stops with the reason: running with a readable database
// is not a choice we make silently. A directory that cannot be changed (a volume owned by root
// with a group for the pod, as Kubernetes' fsGroup makes it) only gets a warning: the files in it
// are private either way, and refusing would stop every such deployment.
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { GatehouseError, type Logger } from '../../core/index.ts';

const OTHERS = 0o077;

/** The permission bits of a path of the expected kind; undefined when it does not exist. */
function modeOf(path: string, kind: 'directory' | 'file'): number | undefined {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // Never change the mode of anything else (a device, a socket) that a mistyped path names.
  if (kind === 'directory' ? !st.isDirectory() : !st.isFile()) {
    throw new GatehouseError('store_unavailable', `${path} is not a ${kind}: check database.url and dataDir`);
  }
  return st.mode & 0o777;
}

const octal = (mode: number): string => mode.toString(8).padStart(4, '0');

function tighten(path: string, want: number, what: string, logger: Logger, mustFix = true): void {
  const mode = modeOf(path, want === 0o700 ? 'directory' : 'file');
  if (mode === undefined || (mode & OTHERS) === 0) return;
  try {
    chmodSync(path, want);
  } catch (err) {
    if (!mustFix) {
      logger.warn(
        { path, mode: octal(mode), code: (err as NodeJS.ErrnoException).code },
        `${what} is open to other users and its mode cannot be changed; the files in it are private (0600)`,
      );
      return;
    }
    throw new GatehouseError(
      'store_unavailable',
      `${what} ${path} has mode ${octal(mode)} and cannot be changed to ${octal(want)} (${(err as NodeJS.ErrnoException).code}): ` +
        `make it owned by the user gatehouse runs as, or fix its mode`,
      { cause: err },
    );
  }
  logger.warn({ path, from: octal(mode), to: octal(want) }, `${what} was readable by other users: its mode is now ${octal(want)}`);
}

/** Make the database's directory and files private to this user (see the top of this file). */
export function secureSqliteFiles(path: string, logger: Logger): void {
  const dir = dirname(path);
  if (modeOf(dir, 'directory') === undefined) mkdirSync(dir, { recursive: true, mode: 0o700 });
  else tighten(dir, 0o700, 'the data directory', logger, false);
  if (modeOf(path, 'file') === undefined) closeSync(openSync(path, 'a', 0o600));
  else tighten(path, 0o600, 'the database file', logger);
  tighten(`${path}-wal`, 0o600, 'the database file', logger);
  tighten(`${path}-shm`, 0o600, 'the database file', logger);
}
