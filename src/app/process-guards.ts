// What the process does when an error escapes every handler. Requests cannot get here (the
// router answers every error it meets, app/router.ts); what is left is a bug outside any request
// (a timer, an event emitter without an 'error' listener). Such an error leaves state nobody
// can vouch for, so the process says why on stderr and in the log, stops taking connections, and
// exits with status 70 (EX_SOFTWARE); the orchestrator starts a fresh one (Kubernetes restarts the
// container, systemd with Restart=on-failure, Docker with a restart policy). See
// docs/architecture.md, "When something fails".
// A promise rejected with no handler is logged and the process keeps serving: that operation
// already failed on its own, and nothing else is left half-done by it.
import type { Logger } from '../core/index.ts';

export const FATAL_EXIT_CODE = 70;

export interface GuardedProcess {
  on(event: 'uncaughtException', listener: (err: Error, origin: string) => void): unknown;
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
}

export interface GuardOptions {
  proc: GuardedProcess;
  logger: Logger;
  /** Stop accepting connections (best effort; the exit follows regardless). */
  stopListening: () => void;
  exit: (code: number) => void;
  /** A line for the operator's terminal, written at once (the JSON log may be buffered). */
  stderr: (line: string) => void;
  /** How long the log gets to flush before the exit (ms). */
  flushMs?: number;
}

export function installProcessGuards(o: GuardOptions): void {
  let exiting = false;
  o.proc.on('uncaughtException', (err, origin) => {
    if (exiting) return;
    exiting = true;
    o.stderr(`gatehouse: fatal: ${err?.message ?? String(err)} (${origin}); exiting with status ${FATAL_EXIT_CODE} to be restarted`);
    o.logger.error({ err, origin, exitCode: FATAL_EXIT_CODE }, 'fatal: an error escaped every handler; exiting to be restarted');
    try {
      o.stopListening();
    } catch {
      /* exiting anyway */
    }
    setTimeout(() => o.exit(FATAL_EXIT_CODE), o.flushMs ?? 200).unref();
  });
  o.proc.on('unhandledRejection', (reason) => {
    o.logger.error({ err: reason }, 'a promise was rejected with no handler; serving on');
  });
}
