// `gatehouse serve`: run Gatehouse until SIGTERM/SIGINT; SIGHUP reloads the config. With
// `--workers N` (or `workers:` in the config) a primary forks N workers (app/primary.ts) and this
// command runs again in each of them (app/workers.ts).
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { isLocalHost, loadConfigOffThread, type LoadedConfig } from '../config/index.ts';
import {
  createLogger,
  databaseUrl,
  FIRST_WORKER_ENV,
  installProcessGuards,
  processChannel,
  runPrimary,
  startGatehouse,
  WORKER_ENV,
  workerCount,
  WorkerLink,
} from '../app/index.ts';
import { CONFIG, CONFIG_HELP, type Command } from './command.ts';
import type { CliIO } from './io.ts';
import { configPath, ensureDataDir } from './context.ts';

export const serveCommand: Command = {
  summary: 'run Gatehouse (with no config: SQLite under ./data, a generated secret, a demo app, on 127.0.0.1:4180)',
  usage: `gatehouse serve [--config PATH] [--port PORT] [--workers N|auto]\n\n${CONFIG_HELP}\n  -p, --port PORT     the TCP port to listen on (default: $GATEHOUSE_PORT, else listen.port, else 4180 —\n                      also oauth2-proxy's default, so often taken); without a config file the demo's\n                      publicUrl follows it\n  -w, --workers N     processes serving requests (default: $GATEHOUSE_WORKERS, else workers, else 1);\n                      auto: the CPUs available, at most one per 192 MiB of the memory limit.\n                      More than 1: a primary forks the workers, which share the port, the store and\n                      the revocations\n\nSIGHUP or a change to the config file reloads it; an invalid config is refused and the old one keeps serving.`,
  options: { ...CONFIG, port: { type: 'string', short: 'p' }, workers: { type: 'string', short: 'w' } },
  async run({ values }, io) {
    const path = configPath(values.config as string | undefined, io);
    const fromFlag = values.port as string | undefined;
    const portText = fromFlag ?? (io.env.GATEHOUSE_PORT || undefined);
    let port: number | undefined;
    if (portText !== undefined) {
      // Port 0 (any free port) only with a config file: the demo's publicUrl must name the port.
      const min = path ? 0 : 1;
      port = /^\d{1,5}$/.test(portText) ? Number(portText) : -1;
      if (port < min || port > 65535) {
        io.err(
          `gatehouse serve: ${fromFlag !== undefined ? '--port' : 'GATEHOUSE_PORT'}: expected a port number from ${min} to 65535, got "${portText}"`,
        );
        return 2;
      }
    }
    const workersFlag = values.workers as string | undefined;
    const workersText = workersFlag ?? (io.env.GATEHOUSE_WORKERS || undefined);
    let workersSetting: number | 'auto' | undefined;
    if (workersText !== undefined) {
      workersSetting = workersText === 'auto' ? 'auto' : /^\d{1,3}$/.test(workersText) ? Number(workersText) : -1;
      if (workersSetting !== 'auto' && (workersSetting < 1 || workersSetting > 256)) {
        io.err(
          `gatehouse serve: ${workersFlag !== undefined ? '--workers' : 'GATEHOUSE_WORKERS'}: expected a number of workers from 1 to 256, or auto, got "${workersText}"`,
        );
        return 2;
      }
    }
    // A worker of `serve --workers`: the primary checked everything below and printed the warnings.
    const slot = cluster.isWorker ? Number(io.env[WORKER_ENV]) : 0;
    // Validated on a worker thread, as a reload is: the schema, YAML and lint libraries never
    // load on the thread that serves (docs/benchmarks.md, "Where the memory goes").
    let loaded = await loadConfigOffThread(
      path ? { path, env: io.env } : { env: io.env, ...(port !== undefined ? { embeddedPort: port } : {}) },
    );
    if (path && port !== undefined) loaded = { ...loaded, config: { ...loaded.config, listen: { ...loaded.config.listen, port } } };
    if (slot > 0) return runWorker(loaded, path, slot, io);

    for (const l of loaded.lints) io.err(`gatehouse: warning: ${l.path}: ${l.message}`);
    // A config file's publicUrl on this machine names the port the printed sign-in URLs use;
    // one the override moved away from them makes those URLs lead nowhere.
    if (path && port !== undefined && port !== 0 && loaded.config.publicUrl !== undefined) {
      const u = new URL(loaded.config.publicUrl);
      const named = u.port || (u.protocol === 'https:' ? '443' : '80');
      if (isLocalHost(u.hostname) && named !== String(port)) {
        io.err(
          `gatehouse: warning: publicUrl ${u.origin} names port ${named}, but ${fromFlag !== undefined ? '--port' : 'GATEHOUSE_PORT'} makes Gatehouse listen on ${port}: the URLs it prints work only through a proxy or a port mapping to ${named} (change publicUrl to match)`,
        );
      }
    }
    await ensureDataDir(loaded.config);
    const workers = workerCount(workersSetting ?? loaded.config.workers, {
      cpus: availableParallelism(),
      memoryLimit: process.constrainedMemory(),
    });
    if (workers > 1) {
      // The config's own `workers` is checked by the workers-memory-database lint; this is the flag's.
      if (databaseUrl(loaded.config) === 'sqlite::memory:') {
        io.err(
          'gatehouse serve: workers share the store, but each would open its own sqlite::memory: database: use a sqlite: file or PostgreSQL, or --workers 1',
        );
        return 2;
      }
      const logger = createLogger({ level: loaded.config.log.level, fields: { role: 'primary' } });
      if (workers > availableParallelism()) {
        logger.warn({ workers, cpus: availableParallelism() }, 'more workers than CPUs available: they compete for the same cores');
      }
      return runPrimary({ workers, logger });
    }
    const logger = createLogger({ level: loaded.config.log.level });
    const running = await startGatehouse({ loaded, ...(path ? { configPath: path } : {}), logger, announce: io.out, env: io.env });
    installProcessGuards({
      proc: process,
      logger,
      exit: (code) => process.exit(code),
      stderr: (line) => io.err(line),
      stopListening: () => {
        running.server.close();
      },
    });
    process.on('SIGHUP', () => {
      void running.reload('sighup');
    });
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        running.close().then(resolve, resolve);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    return 0;
  },
};

/**
 * One worker of `serve --workers`: Gatehouse as one process runs it, with the primary at the
 * other end of the IPC channel for revocations, metrics, reloads and the stop. SIGINT and SIGHUP
 * are the primary's (a terminal's Ctrl-C reaches every process of the group): the primary
 * relays them. SIGTERM sent to a worker alone drains it, and the primary starts another.
 */
async function runWorker(loaded: LoadedConfig, path: string | undefined, slot: number, io: CliIO): Promise<number> {
  const logger = createLogger({ level: loaded.config.log.level, fields: { worker: slot } });
  const first = io.env[FIRST_WORKER_ENV] === '1';
  const link = new WorkerLink({ slot, first, channel: processChannel(process), logger });
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  const running = await startGatehouse({
    loaded,
    ...(path ? { configPath: path } : {}),
    logger,
    // The banner and the bootstrap admin's password: once, from the worker that starts first.
    announce: first ? io.out : () => {},
    env: io.env,
    worker: link,
  }).catch((err: unknown) => {
    // Reported by the CLI as one process reports it; the IPC channel would keep the process alive.
    if (process.connected) process.disconnect();
    throw err;
  });
  installProcessGuards({
    proc: process,
    logger,
    exit: (code) => process.exit(code),
    stderr: (line) => io.err(line),
    stopListening: () => {
      running.server.close();
    },
  });
  link.onReload(() => {
    void running.reload('sighup');
  });
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ reason: why }, 'shutting down');
      running.close().then(resolve, resolve);
    };
    link.onStop(() => stop('asked by the primary'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  // The IPC channel would keep the process alive.
  if (process.connected) process.disconnect();
  return 0;
}
