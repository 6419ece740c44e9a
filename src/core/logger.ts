/**
 * The logger interface every room uses. The concrete logger (pino) is made in app/; core
 * imports nothing. Fields never carry a token, cookie or secret: callers log ids and reasons.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** A logger that keeps lines in memory; for tests that assert what was (not) logged. */
export class MemoryLogger implements Logger {
  readonly lines: { level: string; msg: string; fields: Record<string, unknown> }[];
  readonly #bindings: Record<string, unknown>;
  constructor(lines: MemoryLogger['lines'] = [], bindings: Record<string, unknown> = {}) {
    this.lines = lines;
    this.#bindings = bindings;
  }
  #push(level: string, fields: Record<string, unknown>, msg: string): void {
    this.lines.push({ level, msg, fields: { ...this.#bindings, ...fields } });
  }
  debug(f: Record<string, unknown>, m: string): void {
    this.#push('debug', f, m);
  }
  info(f: Record<string, unknown>, m: string): void {
    this.#push('info', f, m);
  }
  warn(f: Record<string, unknown>, m: string): void {
    this.#push('warn', f, m);
  }
  error(f: Record<string, unknown>, m: string): void {
    this.#push('error', f, m);
  }
  child(b: Record<string, unknown>): Logger {
    return new MemoryLogger(this.lines, { ...this.#bindings, ...b });
  }
  text(): string {
    return this.lines.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields)}`).join('\n');
  }
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};
