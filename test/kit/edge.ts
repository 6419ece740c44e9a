// The edge package under workerd: the package built the way it ships (tsc, edge/tsconfig.json),
// the example Worker and static files from edge/template/ as shipped, and Miniflare (which runs
// workerd, with Cloudflare's asset server in front of or behind the Worker exactly as the
// template's wrangler.jsonc says) on a loopback port.
//
// Wrangler bundles the Worker with esbuild on deploy; here the modules are handed to workerd
// one by one instead, under the names their imports resolve to ("@gatehouse/edge",
// "oauth4webapi" next to its importer), so the code that runs is the compiled package itself.
import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { Miniflare } from 'miniflare';
import { parseJsonc } from '../../edge/src/wrangler.ts';
import { repoRoot } from './paths.ts';
import { tempDir } from './temp.ts';

export const edgeDir = path.join(repoRoot, 'edge');
export const templateDir = path.join(edgeDir, 'template');

export interface BuiltEdge {
  dir: string;
  modules: Array<{ type: 'ESModule'; path: string; contents: string }>;
  bytes: number;
  remove(): Promise<void>;
}

/** Compiles edge/src with the package's own tsconfig into a temporary directory. */
export async function buildEdge(): Promise<BuiltEdge> {
  const dir = await tempDir('edge-dist');
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', path.join(edgeDir, 'tsconfig.json'), '--outDir', dir], { cwd: edgeDir }).catch(
    (e: { stdout?: string; message: string }) => {
      throw new Error(`tsc -p edge failed: ${e.stdout ?? e.message}`);
    },
  );
  const modules: BuiltEdge['modules'] = [];
  let bytes = 0;
  for (const f of (await readdir(dir)).filter((n) => n.endsWith('.js')).sort()) {
    const contents = await readFile(path.join(dir, f), 'utf8');
    bytes += Buffer.byteLength(contents);
    modules.push({ type: 'ESModule', path: `/worker/@gatehouse/edge/${f}`, contents });
  }
  const o4w = await readFile(path.join(repoRoot, 'node_modules', 'oauth4webapi', 'build', 'index.js'), 'utf8');
  bytes += Buffer.byteLength(o4w);
  // workerd resolves a bare specifier against the importing module's directory.
  modules.push({ type: 'ESModule', path: '/worker/@gatehouse/edge/oauth4webapi', contents: o4w });
  // The package's entry under its bare name: "@gatehouse/edge" -> ./edge/index.js resolves
  // relative to "@gatehouse/", so the files above sit at "@gatehouse/edge/*.js".
  modules.push({ type: 'ESModule', path: '/worker/@gatehouse/edge', contents: "export * from './edge/index.js';\n" });
  return { dir, modules, bytes, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface WorkerOptions {
  port: number;
  /** The wrangler config, parsed (default: edge/template/wrangler.jsonc as shipped). */
  wrangler?: Record<string, unknown>;
  /** Bindings laid over the config's vars (issuer, secrets). */
  bindings?: Record<string, unknown>;
  /** The Worker's main module source (default: edge/template/src/index.js). */
  main?: string;
  /** Leave the edge package out (a Worker that does not import it: the latency baseline). */
  withoutPackage?: boolean;
}

export async function readTemplateWrangler(): Promise<Record<string, unknown>> {
  return parseJsonc(await readFile(path.join(templateDir, 'wrangler.jsonc'), 'utf8')) as Record<string, unknown>;
}

/** Miniflare's router and asset options from a wrangler config's `assets`, as wrangler maps them. */
export function assetOptions(assets: Record<string, unknown>): Record<string, unknown> {
  const rwf = assets.run_worker_first;
  const routerConfig: Record<string, unknown> = { has_user_worker: true };
  if (rwf === true) routerConfig.invoke_user_worker_ahead_of_assets = true;
  else if (Array.isArray(rwf)) {
    routerConfig.static_routing = {
      user_worker: (rwf as string[]).filter((p) => !p.startsWith('!')),
      asset_worker: (rwf as string[]).filter((p) => p.startsWith('!')).map((p) => p.slice(1)),
    };
  }
  const assetConfig: Record<string, unknown> = {};
  if (typeof assets.html_handling === 'string') assetConfig.html_handling = assets.html_handling;
  if (typeof assets.not_found_handling === 'string') assetConfig.not_found_handling = assets.not_found_handling;
  return {
    directory: path.resolve(templateDir, String(assets.directory)),
    binding: assets.binding,
    routerConfig,
    assetConfig,
  };
}

export interface RunningWorker {
  url: string;
  mf: Miniflare;
  stop(): Promise<void>;
}

export async function startWorker(built: BuiltEdge, o: WorkerOptions): Promise<RunningWorker> {
  const wrangler = o.wrangler ?? (await readTemplateWrangler());
  const main = o.main ?? (await readFile(path.join(templateDir, 'src', 'index.js'), 'utf8'));
  const vars = (wrangler.vars ?? {}) as Record<string, unknown>;
  const mf = new Miniflare({
    host: '127.0.0.1',
    port: o.port,
    compatibilityDate: String(wrangler.compatibility_date),
    modulesRoot: '/worker',
    modules: [{ type: 'ESModule', path: '/worker/worker.js', contents: main }, ...(o.withoutPackage ? [] : built.modules)],
    bindings: { ...vars, ...o.bindings } as Record<string, string>,
    ...(wrangler.assets ? { assets: assetOptions(wrangler.assets as Record<string, unknown>) } : {}),
  } as ConstructorParameters<typeof Miniflare>[0]);
  const url = String(await mf.ready);
  return { url, mf, stop: () => mf.dispose() };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One request whose request-target is sent byte for byte as given (no URL parsing on our side:
 * "//secret.html", "/./secret.html", a backslash or "%2e" arrive exactly as an attacker types them).
 */
export function rawRequest(
  port: number,
  host: string,
  target: string,
  o: { method?: string; headers?: Record<string, string>; agent?: http.Agent } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: o.method ?? 'GET',
        path: target,
        setHost: false,
        headers: { Host: host, ...o.headers },
        agent: o.agent ?? false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`request ${target} timed out`)));
    req.end();
  });
}
