// The config room's public API. Other rooms import from here only.
//
// Importing this module loads no schema, YAML parser or lint code (zod, yaml and tldts: about
// 20 MiB resident): `serve` validates its config on a worker thread (loadConfigOffThread, as a
// reload does), so those libraries never load on the isolate that serves requests. loadConfig and
// lintConfig load them on the calling thread when first called (`check`, `doctor`, the other commands).
import type { Lint, LintContext } from './lints.ts';
import type { LoadedConfig } from './loaded.ts';
import type { LoadOptions } from './loader.ts';

export type {
  Config,
  AppConfig,
  Subject,
  ConnectorConfig,
  GithubConnectorConfig,
  OidcConnectorConfig,
  EntraConnectorConfig,
  GroupMapping,
  ClientConfig,
} from './schema.ts';
export { CLIENT_CLAIMS } from './claims.ts';
export type { LoadedConfig } from './loaded.ts';
export { isLocalHost } from './local-host.ts';
export { ConfigWatcher, type ReloadTrigger } from './reload.ts';
export { loadConfigOffThread } from './off-thread.ts';
export { formatIssuePath } from './paths.ts';
export { renderProblems } from './render.ts';

/** Read, merge, resolve, validate and lint a config on this thread (loader.ts). */
export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  return (await import('./loader.ts')).loadConfig(opts);
}

/** The lints of a schema-valid config (lints.ts). */
export async function lintConfig(config: LoadedConfig['config'], ctx: LintContext): Promise<Lint[]> {
  return (await import('./lints.ts')).lintConfig(config, ctx);
}
