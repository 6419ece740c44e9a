// The one way a test waits: poll a condition the test can observe (a status, a counter, a log
// line, a store row, a port) until it holds or a deadline passes. Never sleep to prove a negative.

export interface UntilOptions {
  /** Give up after this long (the machine is shared and slow: leave headroom). */
  timeoutMs: number;
  /** What is awaited, for the error message ("the revocation reached replica B"). */
  what: string;
  /** Pause between probes; 25 ms unless told. */
  intervalMs?: number;
}

/**
 * Calls `probe` until it returns something other than undefined, null or false, and returns
 * that value. A probe that throws fails the wait at once. Throws, naming `what`, when
 * `timeoutMs` passes first.
 */
export async function until<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  o: UntilOptions,
): Promise<T> {
  const started = performance.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (performance.now() - started > o.timeoutMs) throw new Error(`not within ${o.timeoutMs} ms: ${o.what}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 25));
  }
}

/** until() that returns how long the condition took to hold (ms), for suites that report it. */
export async function timeUntil(probe: () => unknown, o: UntilOptions): Promise<number> {
  const started = performance.now();
  await until(async () => (await probe()) as unknown, o);
  return performance.now() - started;
}
