// The config room's public API. Other rooms import from here only.
export {
  configSchema,
  type Config,
  type AppConfig,
  type Subject,
  connectorSchema,
  type ConnectorConfig,
  type GithubConnectorConfig,
  type OidcConnectorConfig,
  type EntraConnectorConfig,
  type GroupMapping,
} from './schema.ts';
export { CLIENT_CLAIMS, type ClientConfig } from './schema.ts';
export type { LoadedConfig } from './loaded.ts';
export { loadConfig } from './loader.ts';
export { isLocalHost, lintConfig } from './lints.ts';
export { ConfigWatcher, type ReloadTrigger } from './reload.ts';
export { embeddedConfig } from './defaults.ts';
export { formatIssuePath } from './paths.ts';
export { renderProblems } from './render.ts';
