// `gatehouse serve`: run Gatehouse until SIGTERM/SIGINT; SIGHUP reloads the config.
import { isLocalHost, loadConfigOffThread } from '../config/index.ts';
import { createLogger, installProcessGuards, startGatehouse } from '../app/index.ts';
import { CONFIG, CONFIG_HELP, type Command } from './command.ts';
import { configPath, ensureDataDir } from './context.ts';

export const serveCommand: Command = {
  summary: 'run Gatehouse (with no config: SQLite under ./data, a generated secret, a demo app, on 127.0.0.1:4180)',
  usage: `gatehouse serve [--config PATH] [--port PORT]\n\n${CONFIG_HELP}\n  -p, --port PORT     the TCP port to listen on (default: $GATEHOUSE_PORT, else listen.port, else 4180 —\n                      also oauth2-proxy's default, so often taken); without a config file the demo's\n                      publicUrl follows it\n\nSIGHUP or a change to the config file reloads it; an invalid config is refused and the old one keeps serving.`,
  options: { ...CONFIG, port: { type: 'string', short: 'p' } },
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
    // Validated on a worker thread, as a reload is: the schema, YAML and lint libraries never
    // load on the thread that serves (docs/benchmarks.md, "Where the memory goes").
    let loaded = await loadConfigOffThread(
      path ? { path, env: io.env } : { env: io.env, ...(port !== undefined ? { embeddedPort: port } : {}) },
    );
    if (path && port !== undefined) loaded = { ...loaded, config: { ...loaded.config, listen: { ...loaded.config.listen, port } } };
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
