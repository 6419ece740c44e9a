// The worker side of off-thread.ts: load once, post the answer, end.
import { parentPort, workerData } from 'node:worker_threads';
import { isGatehouseError } from '../core/index.ts';
import { loadConfig } from './loader.ts';
import type { WorkerAnswer } from './off-thread.ts';

const { path, env } = workerData as { path: string; env: NodeJS.ProcessEnv };
let answer: WorkerAnswer;
try {
  answer = { ok: true, loaded: await loadConfig({ path, env }) };
} catch (err) {
  answer = isGatehouseError(err)
    ? { ok: false, error: { kind: err.kind, detail: err.detail, problems: err.problems } }
    : { ok: false, error: { message: err instanceof Error ? err.message : String(err) } };
}
parentPort?.postMessage(answer);
