// Shared steps of the commands: find and load the config, open the store, build the services.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GatehouseError, systemClock, type Logger } from '../core/index.ts';
import { loadConfig, renderProblems, type Config, type LoadedConfig } from '../config/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { buildServices, databaseUrl, type Services } from '../app/index.ts';
import type { CliIO } from './io.ts';

export function configPath(flag: string | undefined, io: CliIO): string | undefined {
  return flag ?? (io.env.GATEHOUSE_CONFIG || undefined);
}

/** The config named by --config or GATEHOUSE_CONFIG, or the embedded defaults. */
export async function loadFor(flag: string | undefined, io: CliIO): Promise<LoadedConfig> {
  const path = configPath(flag, io);
  return loadConfig({ ...(path ? { path } : {}), env: io.env });
}

/**
 * Create the directory the embedded SQLite file lives in (dataDir, or the directory of a
 * `sqlite:` URL) before a command opens it: a first `gatehouse user add` on a fresh machine must
 * not fail on a missing ./data. Owner-only (0700): it holds the database and generated secret.
 */
export async function ensureDataDir(config: Config): Promise<void> {
  const url = databaseUrl(config);
  if (!/^sqlite:/i.test(url)) return;
  const file = url.slice('sqlite:'.length);
  if (file === '' || file === ':memory:') return;
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new GatehouseError(
      'config_invalid',
      `dataDir: cannot create ${dirname(file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

export async function withStore<T>(loaded: LoadedConfig, logger: Logger, fn: (store: Store) => Promise<T>): Promise<T> {
  await ensureDataDir(loaded.config);
  const store = await openStore({ url: databaseUrl(loaded.config), logger, lockTimeoutMs: loaded.config.database.migrationLockTimeout });
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * The store-backed services built exactly as `serve` builds them (app/services.ts): the same
 * `Accounts`, throttle settings and audit log. Without the key ring: no browser sessions or
 * upstream sign-in here, only what a command does to people.
 */
export function withServices<T>(loaded: LoadedConfig, logger: Logger, fn: (services: Services, store: Store) => Promise<T>): Promise<T> {
  return withStore(loaded, logger, (store) => fn(buildServices({ store, clock: systemClock, logger, config: () => loaded.config }), store));
}

/** Print an error the way operators read it: one line, then every problem with its path. */
export function reportError(err: unknown, io: CliIO): number {
  if (err instanceof GatehouseError) {
    if (err.kind === 'config_invalid') io.err(renderProblems(err));
    else io.err(`gatehouse: ${err.detail}`);
    return 1;
  }
  io.err(`gatehouse: ${(err as Error).message ?? String(err)}`);
  return 1;
}
