export { createPortal, type Portal, type PortalDeps } from './routes.ts';
export type { ProviderButton } from './pages.ts';
export type { PeopleDeps, PeopleOptions } from './people-deps.ts';
