// What a command is, and the pieces several commands share.
import type { ParseArgsConfig } from 'node:util';
import type { CliIO } from './io.ts';

/** Each command parses its own flags (unknown flags are errors), does one job, and returns an exit code. */
export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(args: { values: Record<string, string | boolean | undefined>; positionals: string[] }, io: CliIO): Promise<number>;
}

export const CONFIG = { config: { type: 'string', short: 'c' } } as const;
export const CONFIG_HELP = '  -c, --config PATH   config file or directory (default: $GATEHOUSE_CONFIG, else the embedded defaults)';

/** `--groups a,b` as a list. */
export const list = (v: string | boolean | undefined): string[] =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];

export const iso = (ms: number): string => new Date(ms).toISOString();
