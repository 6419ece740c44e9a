// `gatehouse check`: validate a config and print every problem with its path.
import { CONFIG, CONFIG_HELP, type Command } from './command.ts';
import { loadFor } from './context.ts';

export const checkCommand: Command = {
  summary: 'validate a config: print every problem with its path; exit 1 if there is any error',
  usage: `gatehouse check [--config PATH]\n\n${CONFIG_HELP}`,
  options: { ...CONFIG },
  async run({ values }, io) {
    const loaded = await loadFor(values.config as string | undefined, io);
    const warnings = loaded.lints.filter((l) => l.severity === 'warning');
    for (const l of warnings) io.out(`warning: ${l.path}: ${l.message}`);
    io.out(
      `config OK (${loaded.sources.length ? loaded.sources.join(', ') : 'embedded defaults'})${warnings.length ? `, ${warnings.length} warning(s)` : ''}`,
    );
    return 0;
  },
};
