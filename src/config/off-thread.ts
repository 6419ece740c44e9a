// Loading a config on a worker thread: reading, merging, validating and linting it. A reload does
// it so that a large config (tens of thousands of apps) never stalls the requests the serving
// thread is answering; `serve` does it at start too, so the schema, YAML and lint libraries
// (zod, yaml, tldts) are never loaded on the serving isolate and their memory goes with the
// worker. The worker hands back plain data (the validated config, its warnings, the files it
// read) or the config error with every problem; the caller swaps the new settings in with one
// assignment. `gatehouse check` and the other commands load on the calling thread.
import { getCompileCacheDir } from 'node:module';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { GatehouseError, type ErrorKind } from '../core/index.ts';
import type { LoadedConfig } from './loaded.ts';

export interface WorkerAnswer {
  ok: boolean;
  loaded?: LoadedConfig;
  error?: { kind: ErrorKind; detail: string; problems: readonly string[] } | { message: string };
}

export interface OffThreadOptions {
  /** The config file or directory; without it, the embedded demo config. */
  path?: string;
  env?: NodeJS.ProcessEnv;
  /** Without a path: the port the embedded config listens on and names in its publicUrl (default 4180). */
  embeddedPort?: number;
}

/**
 * The worker's code, plain JavaScript. A worker thread does not inherit the compile cache
 * bin/gatehouse.js enables: without it, the worker would load the TypeScript-stripping compiler
 * (WebAssembly, tens of MiB) and strip every file again, so this enables the same cache directory
 * first. It loads only modules `gatehouse check` loads too (the loader), so the cache an image
 * fills by running `check` at build time serves it.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const m = require('node:module');
if (workerData.compileCache) m.enableCompileCache(workerData.compileCache);
(async () => {
  const { isGatehouseError } = await import(workerData.modules.core);
  let answer;
  try {
    const loaded =
      workerData.path === undefined
        ? (await import(workerData.modules.defaults)).embeddedConfig(undefined, workerData.embeddedPort)
        : await (await import(workerData.modules.loader)).loadConfig({ path: workerData.path, env: workerData.env });
    answer = { ok: true, loaded };
  } catch (err) {
    answer = isGatehouseError(err)
      ? { ok: false, error: { kind: err.kind, detail: err.detail, problems: err.problems } }
      : { ok: false, error: { message: err instanceof Error ? err.message : String(err) } };
  }
  // What was compiled here goes into the cache now: the thread is ended as soon as it answers.
  m.flushCompileCache();
  parentPort.postMessage(answer);
})();
`;
const MODULES = {
  core: new URL('../core/index.ts', import.meta.url).href,
  defaults: new URL('./defaults.ts', import.meta.url).href,
  loader: new URL('./loader.ts', import.meta.url).href,
};

function cacheRoot(): string | undefined {
  const dir = getCompileCacheDir();
  return dir === undefined ? undefined : dirname(dir);
}

/** loadConfig({ path, env }) on a worker thread: the same result, the same errors. */
export function loadConfigOffThread(opts: OffThreadOptions): Promise<LoadedConfig> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: {
        modules: MODULES,
        // The directory the cache was enabled with (getCompileCacheDir() names its versioned subdirectory).
        compileCache: cacheRoot(),
        path: opts.path,
        env: { ...(opts.env ?? process.env) },
        embeddedPort: opts.embeddedPort,
      },
    });
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
