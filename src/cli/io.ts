// What a command needs from the outside world, so tests can run commands in-process.
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  /** All of standard input (for --password-stdin). */
  readStdin(): Promise<string>;
  env: NodeJS.ProcessEnv;
}

export const processIO: CliIO = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  env: process.env,
};
