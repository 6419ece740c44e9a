// The shipped proxy configs (docs/proxies) rendered for a test run: {{PLACEHOLDERS}} filled in,
// nginx's snippets beside its config, Caddy's app site block repeated for more sites.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { docsProxies } from './paths.ts';
import { startCaddy, startNginx, type ProxyProcess } from './proxies.ts';

/** Replaces every {{NAME}} in a template; fails on a placeholder without a value, so a docs
 * file that gains a placeholder cannot silently ship a literal "{{…}}" into a test run. */
export function render(template: string, vars: Record<string, string | number>): string {
  const out = template.replace(/\{\{([A-Z_]+)\}\}/g, (m, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`template placeholder ${m} has no value`);
    return String(v);
  });
  return out;
}

export async function readDoc(rel: string): Promise<string> {
  return readFile(path.join(docsProxies, rel), 'utf8');
}

/** nginx from the shipped docs: gatehouse.conf (upstream + portal) and app.conf for the given sites. */
export async function startNginxFromDocs(v: {
  port: number;
  gatehouse: string;
  portalName: string;
  sites: Array<{ serverName: string; upstream: string }>;
  wrap?: string[];
  /** Replace the upstream block's `keepalive 32;` with nothing (the benchmark's "no keepalive" run). */
  noKeepalive?: boolean;
  /** Drop the app's `include snippets/gatehouse-auth.conf;`: nginx serves the app with no check (the benchmark's reference for auth_request). */
  noAuth?: boolean;
}): Promise<ProxyProcess> {
  let gatehouseConf = render(await readDoc('nginx/gatehouse.conf'), { GATEHOUSE: v.gatehouse, LISTEN: v.port, PORTAL_NAME: v.portalName });
  if (v.noKeepalive === true) {
    if (!/^\s*keepalive 32;$/m.test(gatehouseConf)) throw new Error('docs/proxies/nginx/gatehouse.conf no longer has "keepalive 32;"');
    gatehouseConf = gatehouseConf.replace(/^\s*keepalive 32;$/m, '');
  }
  let appTemplate = await readDoc('nginx/app.conf');
  if (v.noAuth === true) {
    const include = /^\s*include snippets\/gatehouse-auth\.conf;$/m;
    if (!include.test(appTemplate)) throw new Error('docs/proxies/nginx/app.conf no longer includes snippets/gatehouse-auth.conf');
    appTemplate = appTemplate.replace(include, '');
  }
  const apps = v.sites.map((s) => render(appTemplate, { LISTEN: v.port, SERVER_NAME: s.serverName, APP_UPSTREAM: s.upstream }));
  return startNginx([gatehouseConf, ...apps].join('\n'), {
    port: v.port,
    wrap: v.wrap,
    files: await nginxSnippets(),
  });
}

/** Every file in docs/proxies/nginx/snippets/, as `snippets/<name>` → text (what an operator copies to /etc/nginx/snippets/). */
export async function nginxSnippets(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of (await readdir(path.join(docsProxies, 'nginx', 'snippets'))).sort()) {
    files[`snippets/${name}`] = await readDoc(`nginx/snippets/${name}`);
  }
  return files;
}

/** Caddy from docs/proxies/caddy/Caddyfile. */
export async function startCaddyFromDocs(v: {
  port: number;
  gatehouse: string;
  portalName: string;
  appNames: string[];
  upstream: string;
  moreSites?: string[];
}): Promise<ProxyProcess> {
  const site = (name: string) => `http://${name}:${v.port}`;
  const template = await readDoc('caddy/Caddyfile');
  const text = render(template, {
    GATEHOUSE: v.gatehouse,
    APP_SITE: v.appNames.map(site).join(', '),
    APP_UPSTREAM: v.upstream,
    PORTAL_SITE: site(v.portalName),
  });
  // Another protected site is the shipped app site block again, with its own address.
  const block = /^\{\{APP_SITE\}\} \{\n[\s\S]*?\n\}\n/m.exec(template);
  if ((v.moreSites ?? []).length > 0 && block === null) throw new Error('docs/proxies/caddy/Caddyfile: no {{APP_SITE}} block');
  const more = (v.moreSites ?? []).map((name) =>
    render(block![0], { APP_SITE: site(name), APP_UPSTREAM: v.upstream, GATEHOUSE: v.gatehouse }),
  );
  return startCaddy([text, ...more].join('\n'), { port: v.port });
}
