// `serve --workers N`, the primary: it serves nothing itself. It forks worker 1, which listens,
// resolves the root secret (generating it on a first start), migrates, makes the first signing
// keys and the bootstrap admin exactly as one process does; once it is ready the primary forks
// the others, which find all of that done. The listeners are shared through node:cluster (the
// primary accepts and hands each connection to the next worker in turn).
//
// Afterwards the primary relays (workers.ts has the messages): revocations between workers (the
// SQLite feed is in-process; PostgreSQL's reaches every worker itself), SIGHUP as a reload to
// every worker, scrapes of /metrics (every worker's exposition, to the worker scraped). A
// worker that exits unasked is started again after a backoff (250 ms doubling to 30 s; back to
// 250 ms once a worker has served for 30 s). SIGTERM or SIGINT: every worker drains (stops
// listening, finishes its requests, flushes) and exits, then the primary exits 0. A worker that
// fails before the first start is complete fails the start: the others are stopped and the
// primary exits with its status, so the supervisor sees what a single process would show.
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../core/index.ts';
import { FIRST_WORKER_ENV, WORKER_ENV, type ToPrimary, type ToWorker } from './workers.ts';

const BACKOFF_START_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** A worker that served this long before it exited starts again at the shortest backoff. */
const STABLE_MS = 30_000;
/** How long a scrape waits for the other workers' metrics. */
const COLLECT_TIMEOUT_MS = 2000;

export interface PrimaryOptions {
  workers: number;
  logger: Logger;
  proc?: NodeJS.Process;
}

interface Slot {
  n: number;
  worker: Worker | undefined;
  ready: boolean;
  readyAt: number;
  failures: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Gathering {
  from: Slot;
  /** The primary's number for this scrape; requestId: the scraped worker's. */
  id: number;
  requestId: number;
  parts: Map<number, string>;
  waiting: Set<number>;
  timer: ReturnType<typeof setTimeout>;
}

/** The primary's own series, added to every scrape (docs/running.md, "Every core"). */
export function primaryMetrics(m: { configured: number; ready: number; restarts: number; relayed: number }): string {
  return [
    '# HELP gatehouse_workers Worker processes (serve --workers): configured, and serving now.',
    '# TYPE gatehouse_workers gauge',
    `gatehouse_workers{state="configured"} ${m.configured}`,
    `gatehouse_workers{state="ready"} ${m.ready}`,
    '# HELP gatehouse_worker_restarts_total Workers that exited unasked and were started again.',
    '# TYPE gatehouse_worker_restarts_total counter',
    `gatehouse_worker_restarts_total ${m.restarts}`,
    '# HELP gatehouse_revocations_relayed_total Session revocations the primary passed between workers.',
    '# TYPE gatehouse_revocations_relayed_total counter',
    `gatehouse_revocations_relayed_total ${m.relayed}`,
    '',
  ].join('\n');
}

/** Runs the workers until SIGTERM or SIGINT (0), or until the first start fails (the failing worker's status). */
export function runPrimary(opts: PrimaryOptions): Promise<number> {
  const { logger } = opts;
  const proc = opts.proc ?? process;
  const slots: Slot[] = Array.from({ length: opts.workers }, (_, i) => ({
    n: i + 1,
    worker: undefined,
    ready: false,
    readyAt: 0,
    failures: 0,
    timer: undefined,
  }));
  let started = false;
  let stopping = false;
  let exitCode = 0;
  let restarts = 0;
  let relayed = 0;
  let nextGather = 1;
  const gatherings = new Map<number, Gathering>();

  const send = (slot: Slot, m: ToWorker): void => {
    const w = slot.worker;
    if (!w || !w.isConnected()) return;
    try {
      w.send(m);
    } catch {
      /* the worker is exiting; its exit is handled below */
    }
  };

  const own = (): string => primaryMetrics({ configured: slots.length, ready: slots.filter((s) => s.ready).length, restarts, relayed });

  const answer = (g: Gathering): void => {
    clearTimeout(g.timer);
    gatherings.delete(g.id);
    const parts = [...g.parts].sort((a, b) => a[0] - b[0]).map(([worker, text]) => ({ worker, text }));
    send(g.from, { gh: 'metrics', id: g.requestId, parts, own: own() });
  };

  return new Promise<number>((resolve) => {
    const finishIfDone = (): void => {
      if (stopping && slots.every((s) => s.worker === undefined)) {
        for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) proc.removeListener(sig, handlers[sig]);
        resolve(exitCode);
      }
    };

    const stopAll = (why: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ reason: why }, 'stopping every worker');
      for (const s of slots) {
        if (s.timer) clearTimeout(s.timer);
        s.timer = undefined;
        send(s, { gh: 'stop' });
      }
      finishIfDone();
    };

    const onMessage = (slot: Slot, m: ToPrimary): void => {
      switch (m.gh) {
        case 'ready': {
          slot.ready = true;
          slot.readyAt = Date.now();
          logger.info({ worker: slot.n, workerPid: slot.worker?.process.pid }, `worker ${slot.n} ready`);
          if (stopping) send(slot, { gh: 'stop' });
          else if (!started && slot.n === 1) for (const s of slots.slice(1)) fork(s);
          if (!started && slots.every((s) => s.ready)) {
            started = true;
            logger.info({ workers: slots.length }, `all ${slots.length} workers ready`);
          }
          return;
        }
        case 'revoked':
          // The sender's own subscribers have it already.
          for (const s of slots) if (s !== slot) send(s, { gh: 'revoked', sid: m.sid });
          relayed++;
          return;
        case 'metrics?': {
          const gid = nextGather++;
          const g: Gathering = {
            from: slot,
            id: gid,
            requestId: m.id,
            parts: new Map([[slot.n, m.text]]),
            waiting: new Set(slots.filter((s) => s !== slot && s.ready && s.worker?.isConnected()).map((s) => s.n)),
            timer: setTimeout(() => {
              logger.warn({ workers: [...g.waiting] }, 'metrics: workers did not answer in time; the scrape leaves them out');
              answer(g);
            }, COLLECT_TIMEOUT_MS),
          };
          gatherings.set(gid, g);
          if (g.waiting.size === 0) answer(g);
          else for (const n of g.waiting) send(slots[n - 1] as Slot, { gh: 'collect', id: gid });
          return;
        }
        case 'collected': {
          const g = gatherings.get(m.id);
          if (!g || !g.waiting.delete(slot.n)) return;
          g.parts.set(slot.n, m.text);
          if (g.waiting.size === 0) answer(g);
          return;
        }
      }
    };

    const fork = (slot: Slot): void => {
      const env: Record<string, string> = { [WORKER_ENV]: String(slot.n) };
      if (slot.n === 1 && !started) env[FIRST_WORKER_ENV] = '1';
      const w = cluster.fork(env);
      slot.worker = w;
      slot.ready = false;
      w.on('message', (m: unknown) => {
        if (typeof m === 'object' && m !== null && typeof (m as { gh?: unknown }).gh === 'string') onMessage(slot, m as ToPrimary);
      });
      w.on('exit', (code: number | null, signal: string | null) => {
        if (slot.worker !== w) return;
        const wasReady = slot.ready;
        slot.worker = undefined;
        slot.ready = false;
        for (const g of gatherings.values()) if (g.waiting.delete(slot.n) && g.waiting.size === 0) answer(g);
        if (stopping) {
          logger.info({ worker: slot.n, workerPid: w.process.pid, code, signal }, `worker ${slot.n} stopped`);
          finishIfDone();
          return;
        }
        if (!started) {
          // The first start is all or nothing, as it is for one process.
          logger.error({ worker: slot.n, workerPid: w.process.pid, code, signal }, `worker ${slot.n} exited during start-up: stopping`);
          exitCode = code !== null && code !== 0 ? code : 1;
          stopAll('a worker failed to start');
          return;
        }
        if (wasReady && Date.now() - slot.readyAt >= STABLE_MS) slot.failures = 0;
        const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** slot.failures);
        slot.failures++;
        logger.error(
          { worker: slot.n, workerPid: w.process.pid, code, signal, restartInMs: delay },
          `worker ${slot.n} exited (${signal ?? `status ${code}`}); starting it again in ${delay} ms`,
        );
        slot.timer = setTimeout(() => {
          slot.timer = undefined;
          if (stopping) return;
          restarts++;
          fork(slot);
        }, delay);
      });
    };

    const handlers = {
      SIGTERM: () => stopAll('SIGTERM'),
      SIGINT: () => stopAll('SIGINT'),
      SIGHUP: () => {
        const live = slots.filter((s) => s.worker?.isConnected());
        logger.info({ workers: live.map((s) => s.n) }, 'SIGHUP: every worker reloads the configuration');
        for (const s of live) send(s, { gh: 'reload' });
      },
    };
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) proc.on(sig, handlers[sig]);

    logger.info({ workers: slots.length }, `starting ${slots.length} workers`);
    fork(slots[0] as Slot);
  });
}
