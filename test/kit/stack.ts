// A whole stack: Gatehouse behind nginx or Caddy from docs/proxies, with the whoami app.
import type { HttpResponse } from './http.ts';
import { freePort } from './http.ts';
import { gateConfig, startGatehouse, type GatehouseProcess } from './process.ts';
import { startCaddyFromDocs, startNginxFromDocs } from './proxy-docs.ts';
import type { ProxyProcess } from './proxies.ts';
import { startWhoami, type Whoami } from './whoami.ts';

export interface Stack {
  kind: 'nginx' | 'caddy';
  /** The proxy's port; every host name below is served there. */
  port: number;
  gh: GatehouseProcess;
  app: Whoami;
  proxy: ProxyProcess;
  /** http://<host>:<port><path> */
  url(host: string, pathAndQuery: string): string;
  /** The portal origin, as publicUrl says. */
  portal: string;
  stop(): Promise<void>;
}

export const PORTAL_HOST = 'auth.example.test';
/** Hosts the stacks serve as protected apps (they share one whoami upstream). */
export const APP_HOSTS = ['app.example.test', 'app2.other.test', 'api.example.test'];

export async function startStack(
  kind: 'nginx' | 'caddy',
  o: {
    apps?: string;
    extra?: string;
    trustedProxies?: string;
    /** More protected sites, each its own nginx server block / Caddy site, on the same whoami app. */
    moreSites?: string[];
    /** The proxy's port, when something must know the portal's URL before the stack starts (an upstream IdP's redirect URI). */
    port?: number;
  } = {},
): Promise<Stack> {
  const port = o.port ?? (await freePort());
  const portal = `http://${PORTAL_HOST}:${port}`;
  const app = await startWhoami();
  let gh: GatehouseProcess | undefined;
  try {
    gh = await startGatehouse(
      gateConfig({
        publicUrl: portal,
        ...(o.apps !== undefined ? { apps: o.apps } : {}),
        ...(o.extra !== undefined ? { extra: o.extra } : {}),
        ...(o.trustedProxies !== undefined ? { trustedProxies: o.trustedProxies } : {}),
      }),
    );
    const gatehouse = `127.0.0.1:${gh.port}`;
    const more = o.moreSites ?? [];
    const proxy =
      kind === 'nginx'
        ? await startNginxFromDocs({
            port,
            gatehouse,
            portalName: PORTAL_HOST,
            sites: [APP_HOSTS.join(' '), ...more].map((serverName) => ({ serverName, upstream: app.address })),
          })
        : await startCaddyFromDocs({
            port,
            gatehouse,
            portalName: PORTAL_HOST,
            appNames: APP_HOSTS,
            upstream: app.address,
            moreSites: more,
          });
    const g = gh;
    return {
      kind,
      port,
      gh: g,
      app,
      proxy,
      portal,
      url: (host, p) => `http://${host}:${port}${p}`,
      stop: async () => {
        await proxy.stop();
        await g.stop();
        await app.stop();
      },
    };
  } catch (e) {
    await gh?.stop();
    await app.stop();
    throw e;
  }
}

/** Refused as not signed in: 401 (an API client) or a redirect to the portal's start (a browser). */
export function refusedAnonymous(r: HttpResponse, portal: string): boolean {
  return r.status === 401 || ((r.status === 302 || r.status === 303) && (r.headers.location ?? '').startsWith(`${portal}/oauth2/start?`));
}
