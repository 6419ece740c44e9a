// `gatehouse <command> [options]`: dispatch, --help, and errors printed without stack traces.
import { parseArgs } from 'node:util';
import { COMMANDS } from './commands.ts';
import { processIO, type CliIO } from './io.ts';
import { reportError } from './context.ts';

export type { CliIO };

function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'usage: gatehouse <command> [options]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    "Run `gatehouse <command> --help` for a command's options.",
  ].join('\n');
}

export async function runCli(argv: string[], io: CliIO = processIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(overview());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    // Only the version module, not app/index.ts: `--version` must not load the whole server.
    // eslint-disable-next-line gatehouse/layers
    const { VERSION } = await import('../app/version.ts');
    io.out(VERSION);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.err(`gatehouse: unknown command "${name}"\n\n${overview()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`${cmd.summary}\n\nusage: ${cmd.usage}`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: cmd.options, allowPositionals: true, strict: true });
  } catch (err) {
    io.err(`gatehouse ${name}: ${(err as Error).message}\n\nusage: ${cmd.usage}`);
    return 2;
  }
  try {
    return await cmd.run({ values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals }, io);
  } catch (err) {
    return reportError(err, io);
  }
}
