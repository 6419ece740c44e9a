// Shared steps of the commands: find and load the config, open the store.
import { GatehouseError, type Logger } from '../core/index.ts';
import { loadConfig, renderProblems, type LoadedConfig } from '../config/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { databaseUrl } from '../app/index.ts';
import type { CliIO } from './io.ts';

export function configPath(flag: string | undefined, io: CliIO): string | undefined {
  return flag ?? (io.env.GATEHOUSE_CONFIG || undefined);
}

/** The config named by --config or GATEHOUSE_CONFIG, or the embedded defaults. */
export async function loadFor(flag: string | undefined, io: CliIO): Promise<LoadedConfig> {
  const path = configPath(flag, io);
  return loadConfig({ ...(path ? { path } : {}), env: io.env });
}

export async function withStore<T>(loaded: LoadedConfig, logger: Logger, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ url: databaseUrl(loaded.config), logger, lockTimeoutMs: loaded.config.database.migrationLockTimeout });
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
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
