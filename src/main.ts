// Composition root: the CLI is the way in.
import { runCli } from './cli/index.ts';

export function main(argv: string[]): Promise<number> {
  return runCli(argv);
}
