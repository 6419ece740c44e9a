export { startGatehouse, databaseUrl, type Running } from './gatehouse.ts';
export { EMBEDDED_PUBLIC_URL } from './settings.ts';
export { resolveSecrets, rotateGeneratedSecret, readGeneratedSecrets } from './secrets.ts';
export { createLogger } from './logger.ts';
export { VERSION } from './version.ts';
export { installProcessGuards } from './process-guards.ts';
export { buildServices, type Services } from './services.ts';
export { runPrimary } from './primary.ts';
export { WorkerLink, processChannel, workerCount, WORKER_ENV, FIRST_WORKER_ENV } from './workers.ts';
