// The config `gatehouse serve` runs with when no config file is given: a local demo on
// http://localhost:4180 that a first-time user can sign in to. The session secret is not set
// here: the app room generates one into dataDir.
import { lintConfig } from './lints.ts';
import type { LoadedConfig } from './loaded.ts';
import { configSchema, type ConfigInput } from './schema.ts';

/**
 * Placeholder upstream of the embedded demo app. The app room replaces it with the address of
 * the in-process demo server once that server listens; port 0 never serves anything.
 */
export const DEMO_UPSTREAM_PLACEHOLDER = 'http://127.0.0.1:0/';

/** `port`: where the demo listens and what its publicUrl says (`gatehouse serve --port`). */
export function embeddedConfig(dataDir = './data', port = 4180): LoadedConfig {
  const input: ConfigInput = {
    publicUrl: `http://localhost:${port}`,
    listen: { host: '127.0.0.1', port },
    dataDir,
    demo: true,
    domains: [{ domain: 'localhost', allowHttp: true }],
    apps: [
      {
        name: 'demo',
        hosts: ['localhost'],
        allow: { anyUser: true },
        // Reverse-proxy mode: Gatehouse serves /oauth2/* itself on this host, so the portal stays
        // reachable (and the portal-host lint does not apply). See DEMO_UPSTREAM_PLACEHOLDER.
        upstream: DEMO_UPSTREAM_PLACEHOLDER,
      },
    ],
  };
  const config = configSchema.parse(input);
  return { config, lints: lintConfig(config, { fromFile: false }), sources: [], fromFile: false };
}
