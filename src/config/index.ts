// The config room's public API. Other rooms import from here only.
export {
  configSchema, appSchema, subjectSchema, domainSchema, groupSchema, identityHeadersSchema,
  type Config, type AppConfig, type Subject, type ConfigInput,
  connectorSchema, type ConnectorConfig, type GithubConnectorConfig, type OidcConnectorConfig, type EntraConnectorConfig, type GroupMapping,
} from './schema.ts';
export { clientSchema, issuerSchema, CLIENT_CLAIMS, DPOP_ALGS, type ClientConfig } from './schema.ts';
export type { LoadedConfig } from './loaded.ts';
export { loadConfig, type LoadOptions } from './loader.ts';
export { isLocalHost, lintConfig, LINTS, type Lint, type LintCode } from './lints.ts';
export { secretStrength, MIN_SECRET_BYTES, type SecretEncoding } from './secrets.ts';
export { ConfigWatcher, type ConfigWatcherOptions, type ReloadTrigger } from './reload.ts';
export { embeddedConfig, DEMO_UPSTREAM_PLACEHOLDER } from './defaults.ts';
export { formatIssuePath } from './paths.ts';
export { renderProblems, renderLints } from './render.ts';
export { configJsonSchema } from './json-schema.ts';
export { renderJsonSchema, renderConfigReference } from './docs.ts';
