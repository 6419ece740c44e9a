export { createPortal } from './routes.ts';
export type { PeopleDeps } from './people-deps.ts';
