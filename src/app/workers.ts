// `serve --workers N`, the two ends of the IPC channel node:cluster opens between the primary
// and each worker. The messages (every one carries `gh`, so node:cluster's own never match):
//
//   worker -> primary   ready                      the worker serves (listening, store open)
//                       revoked {sid}              a session ended here (SQLite: relayed to the others)
//                       metrics? {id, text}        a scrape arrived here: this worker's exposition
//                       collected {id, text}       the answer to collect
//   primary -> worker   revoked {sid}              a session another worker ended
//                       collect {id}               send your exposition
//                       metrics {id, parts, own}   every worker's exposition, and the primary's
//                       reload                     SIGHUP reached the primary
//                       stop                       drain and exit (SIGTERM or SIGINT reached the primary)
//
// The primary's side is primary.ts; this file also holds the worker's side (WorkerLink).
import type { Logger } from '../core/index.ts';
import { mergeExpositions } from '../http/index.ts';
import type { RevocationRelay } from '../store/index.ts';

export type ToPrimary =
  | { gh: 'ready' }
  | { gh: 'revoked'; sid: string }
  | { gh: 'metrics?'; id: number; text: string }
  | { gh: 'collected'; id: number; text: string };

export type ToWorker =
  | { gh: 'revoked'; sid: string }
  | { gh: 'collect'; id: number }
  | { gh: 'metrics'; id: number; parts: { worker: number; text: string }[]; own: string }
  | { gh: 'reload' }
  | { gh: 'stop' };

/** The environment a worker is forked with: its slot, and whether it is the first (it listens first and migrates). */
export const WORKER_ENV = 'GATEHOUSE_WORKER';
export const FIRST_WORKER_ENV = 'GATEHOUSE_WORKER_FIRST';

/** `workers: auto` counts one worker per this much of the memory limit (a worker idles at about 120 MiB). */
export const AUTO_WORKER_MEMORY = 192 * 1024 * 1024;

/**
 * The number of workers for a setting: a number as it is; `auto`: the CPUs this process may use
 * (os.availableParallelism(): the affinity mask and the cgroup CPU quota), at most one per
 * AUTO_WORKER_MEMORY of the memory limit (process.constrainedMemory(); 0 or absurdly large: none).
 */
export function workerCount(setting: number | 'auto', host: { cpus: number; memoryLimit: number }): number {
  if (setting !== 'auto') return setting;
  const byMemory = host.memoryLimit > 0 && host.memoryLimit < 2 ** 50 ? Math.floor(host.memoryLimit / AUTO_WORKER_MEMORY) : Infinity;
  return Math.max(1, Math.min(host.cpus, byMemory));
}

/** How long a scraped worker waits for the others' metrics before answering with its own. */
const GATHER_TIMEOUT_MS = 3000;

/** What a worker needs of its process: node:cluster's IPC channel. */
export interface Channel {
  send(message: ToPrimary): void;
  onMessage(cb: (message: ToWorker) => void): void;
  /** The primary went away (the channel closed). */
  onDisconnect(cb: () => void): void;
}

/** The channel of a process forked by node:cluster. */
export function processChannel(proc: NodeJS.Process): Channel {
  return {
    send(message) {
      if (proc.connected && proc.send) proc.send(message);
    },
    onMessage(cb) {
      proc.on('message', (m: unknown) => {
        if (typeof m === 'object' && m !== null && typeof (m as { gh?: unknown }).gh === 'string') cb(m as ToWorker);
      });
    },
    onDisconnect(cb) {
      proc.once('disconnect', cb);
    },
  };
}

/** A worker's end of the channel: the revocation relay, metrics of every worker, reload and stop. */
export class WorkerLink {
  /** 1..N, kept by a replacement: the `worker` label of this worker's metrics and log lines. */
  readonly slot: number;
  /** The first worker listens before it migrates (as one process does); the others once ready. */
  readonly listenFirst: boolean;
  readonly relay: RevocationRelay;
  readonly #channel: Channel;
  readonly #logger: Logger;
  #nextId = 1;
  readonly #waiting = new Map<number, (parts: { worker: number; text: string }[], own: string) => void>();
  #render: (() => Promise<string>) | undefined;
  #onReload: (() => void) | undefined;
  #onStop: (() => void) | undefined;
  #stopAsked = false;
  #received: ((sid: string) => void) | undefined;

  constructor(opts: { slot: number; first: boolean; channel: Channel; logger: Logger }) {
    this.slot = opts.slot;
    this.listenFirst = opts.first;
    this.#channel = opts.channel;
    this.#logger = opts.logger;
    this.relay = {
      send: (sid) => this.#channel.send({ gh: 'revoked', sid }),
      onReceive: (cb) => {
        this.#received = cb;
      },
    };
    this.#channel.onMessage((m) => this.#handle(m));
    this.#channel.onDisconnect(() => {
      this.#logger.warn({}, 'the primary process went away: stopping');
      this.#stop();
    });
  }

  #handle(m: ToWorker): void {
    switch (m.gh) {
      case 'revoked':
        this.#received?.(m.sid);
        return;
      case 'collect': {
        const render = this.#render;
        if (!render) return;
        render().then(
          (text) => this.#channel.send({ gh: 'collected', id: m.id, text }),
          (err: unknown) => this.#logger.warn({ err: (err as Error).message }, 'could not render metrics for another worker'),
        );
        return;
      }
      case 'metrics':
        this.#waiting.get(m.id)?.(m.parts, m.own);
        return;
      case 'reload':
        this.#onReload?.();
        return;
      case 'stop':
        this.#stop();
        return;
    }
  }

  #stop(): void {
    if (this.#stopAsked) return;
    this.#stopAsked = true;
    this.#onStop?.();
  }

  /** This worker serves: the primary starts the next ones (after the first) and counts it ready. */
  ready(): void {
    this.#channel.send({ gh: 'ready' });
  }

  /** How this worker renders its own metrics when another is scraped. */
  serveMetrics(render: () => Promise<string>): void {
    this.#render = render;
  }

  onReload(cb: () => void): void {
    this.#onReload = cb;
  }

  /** Drain and exit: asked by the primary, or the primary is gone. Called at most once. */
  onStop(cb: () => void): void {
    this.#onStop = cb;
    if (this.#stopAsked) cb();
  }

  /**
   * Every worker's metrics, joined (http/metrics-merge.ts), for a scrape that reached this
   * worker: `own` is this worker's exposition. Workers that do not answer in time are left out
   * (the primary logs which); without the primary's answer, this worker's alone.
   */
  gatherMetrics(own: string): Promise<string> {
    const id = this.#nextId++;
    return new Promise<string>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        this.#logger.warn({ timeoutMs: GATHER_TIMEOUT_MS }, "metrics: the primary did not answer in time; this worker's metrics only");
        resolve(mergeExpositions([{ worker: this.slot, text: own }]));
      }, GATHER_TIMEOUT_MS);
      this.#waiting.set(id, (parts, primary) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(mergeExpositions(parts, primary));
      });
      this.#channel.send({ gh: 'metrics?', id, text: own });
    });
  }
}
