// What a command needs from the outside world, so tests can run commands in-process.
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  /** All of standard input (for --password-stdin). */
  readStdin(): Promise<string>;
  env: NodeJS.ProcessEnv;
}

// Output piped into `head` (or any reader that stops early): the write fails with EPIPE. That is
// the reader saying it has enough, not an error: stop writing to that stream and let the command
// finish (a stack trace about it would be noise, and `serve` must keep serving).
const closed = new Set<NodeJS.WriteStream>();
const watched = new Set<NodeJS.WriteStream>();
function write(stream: NodeJS.WriteStream, line: string): void {
  if (!watched.has(stream)) {
    watched.add(stream);
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') {
        closed.add(stream);
        return;
      }
      throw err;
    });
  }
  if (closed.has(stream)) return;
  stream.write(line + '\n');
}

export const processIO: CliIO = {
  out: (line) => write(process.stdout, line),
  err: (line) => write(process.stderr, line),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  env: process.env,
};
