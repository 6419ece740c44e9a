export { startGatehouse, databaseUrl, type Running, type StartOptions } from './gatehouse.ts';
export { buildSettings, defaultCookieName, EMBEDDED_PUBLIC_URL } from './settings.ts';
export { resolveSecrets, rotateGeneratedSecret, readGeneratedSecrets } from './secrets.ts';
export { createLogger } from './logger.ts';
export { VERSION } from './version.ts';
export { installProcessGuards, FATAL_EXIT_CODE } from './process-guards.ts';
export { buildServices, throttleLimits, type Services, type ServicesOptions } from './services.ts';
