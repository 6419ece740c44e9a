// `gatehouse migrate up|status`: apply the store's migrations, or show the schema version.
import { openStore } from '../store/index.ts';
import { createLogger, databaseUrl } from '../app/index.ts';
import { CONFIG, CONFIG_HELP, type Command } from './command.ts';
import { loadFor } from './context.ts';

export const migrateCommand: Command = {
  summary: 'apply database migrations (up) or show the schema version (status)',
  usage: `gatehouse migrate up|status [--config PATH]\n\n${CONFIG_HELP}`,
  options: { ...CONFIG },
  async run({ values, positionals }, io) {
    const sub = positionals[0];
    const loaded = await loadFor(values.config as string | undefined, io);
    const logger = createLogger({ level: loaded.config.log.level });
    const store = await openStore({ url: databaseUrl(loaded.config), logger, lockTimeoutMs: loaded.config.database.migrationLockTimeout });
    try {
      if (sub === 'up') {
        const { applied } = await store.migrate();
        io.out(applied.length ? `applied migrations ${applied.join(', ')}` : 'already up to date');
        const st = await store.schemaStatus();
        io.out(`schema version ${st.current} (this release knows up to ${st.latest})`);
        return 0;
      }
      if (sub === 'status') {
        const st = await store.schemaStatus();
        io.out(`schema version ${st.current}; this release knows up to ${st.latest}`);
        for (const p of st.pending) io.out(`pending: ${p.version} ${p.name}`);
        if (st.current > st.latest) {
          io.out('the database is newer than this release: run the newer release; never downgrade against a migrated database');
          return 1;
        }
        return 0;
      }
      io.err('gatehouse: migrate needs a subcommand: up or status');
      return 2;
    } finally {
      await store.close();
    }
  },
};
