// A reload reads, merges, validates and lints the config on a worker thread, so a large config
// (tens of thousands of apps) never stalls the requests the serving thread is answering. The
// worker hands back plain data (the validated config, its warnings, the files it read) or the
// config error with every problem; the caller swaps the new settings in with one assignment.
// `gatehouse check` and start-up load on the calling thread: nothing is being served then.
import { Worker } from 'node:worker_threads';
import { GatehouseError, type ErrorKind } from '../core/index.ts';
import type { LoadedConfig } from './loaded.ts';

export interface WorkerAnswer {
  ok: boolean;
  loaded?: LoadedConfig;
  error?: { kind: ErrorKind; detail: string; problems: readonly string[] } | { message: string };
}

const ENTRY = new URL('./off-thread-worker.ts', import.meta.url);

/** loadConfig({ path, env }) on a worker thread: the same result, the same errors. */
export function loadConfigOffThread(opts: { path: string; env?: NodeJS.ProcessEnv }): Promise<LoadedConfig> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const worker = new Worker(ENTRY, { workerData: { path: opts.path, env: { ...(opts.env ?? process.env) } } });
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.once('message', (m: WorkerAnswer) =>
      settle(() => {
        if (m.ok && m.loaded) resolve(m.loaded);
        else if (m.error && 'kind' in m.error) reject(new GatehouseError(m.error.kind, m.error.detail, { problems: m.error.problems }));
        else
          reject(
            new GatehouseError(
              'internal',
              `loading the configuration failed: ${m.error && 'message' in m.error ? m.error.message : 'no answer'}`,
            ),
          );
      }),
    );
    worker.once('error', (err) =>
      settle(() => reject(new GatehouseError('internal', `loading the configuration failed: ${err.message}`, { cause: err }))),
    );
    worker.once('exit', (code) =>
      settle(() => reject(new GatehouseError('internal', `the configuration loader exited with code ${code} before answering`))),
    );
  });
}
