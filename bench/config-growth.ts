// Config growth (`npm run bench:config`): what `gatehouse check`, start-up and a reload cost as the
// number of apps grows. For each size (CONFIG_SIZES, default 100,1000,10000,50000) a generated
// config is measured in a fresh child process, so every row's memory is its own:
//   load      loadConfig: read the YAML, merge, resolve references, schema, every lint
//   settings  buildSettings: the compiled policy (rules indexed by host) the gate reads
//   reload    loadConfigOffThread + buildSettings, as a reload runs them, wall time, and the
//             longest stall of the calling (serving) thread meanwhile: what forward-auth
//             requests would wait for
//   check     `gatehouse check --config <file>`, the whole CLI process, wall time
//   RSS       the child's peak resident set after one load (what `check` and start-up need), and
//             after every step (three loads, settings and reloads with their worker in one process)
// Each timed step runs three times; the table shows the fastest (the machine is shared).
// The apps mix the shapes real configs have: a public API path and a protected app on one host,
// hosts listed in pairs, wildcard hosts, methods, networks and paths, so the shadowed-rule lint
// and the host index meet every kind of rule. The generated config has no lint warnings (checked),
// so the numbers are never the cost of printing thousands of them.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { buildSettings } from '../src/app/settings.ts';
import { loadConfig } from '../src/config/index.ts';
import { loadConfigOffThread } from '../src/config/off-thread.ts';
import { here } from './stages.ts';

const SECRET = 'q3V8sK2xLw9Zp4Tn7Rb1Yc6Hd0Jf5Ge8Ma2Nu4Ps7Qv=';
const RUNS = 3;

/** App i of a generated config; five shapes in turn. */
function app(i: number): Record<string, unknown> {
  const j = Math.floor(i / 5);
  switch (i % 5) {
    case 0:
      return {
        name: `api-${j}`,
        hosts: [`app-${j}.example.org`],
        paths: ['/api/public/*', '/healthz'],
        methods: ['GET', 'HEAD'],
        public: true,
      };
    case 1:
      return { name: `app-${j}`, hosts: [`app-${j}.example.org`], allow: { groups: [`team-${j % 50}`, 'admins'] } };
    case 2:
      return {
        name: `pair-${j}`,
        hosts: [`pair-${j}.example.org`, `pair-${j}.internal.example.org`],
        allow: { users: [`user-${j % 200}`] },
      };
    case 3:
      return { name: `zone-${j}`, hosts: [`*.zone-${j}.example.org`], networks: ['10.0.0.0/8'], allow: { anyUser: true } };
    default:
      return { name: `admin-${j}`, hosts: [`admin-${j}.example.org`], paths: ['/admin/*', '/metrics'], allow: { groups: ['admins'] } };
  }
}

function configFor(apps: number): string {
  return stringify({
    publicUrl: 'https://auth.example.org',
    secrets: { session: SECRET },
    domains: [{ domain: 'example.org' }],
    groups: [{ name: 'admins' }, ...Array.from({ length: 50 }, (_, k) => ({ name: `team-${k}` }))],
    apps: Array.from({ length: apps }, (_, i) => app(i)),
  });
}

async function fastest<T>(fn: () => Promise<T> | T, afterFirst?: () => void): Promise<{ ms: number; value: T }> {
  let best = Infinity;
  let value: T | undefined;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    value = await fn();
    best = Math.min(best, performance.now() - t0);
    if (r === 0) afterFirst?.();
  }
  return { ms: best, value: value as T };
}

interface Result {
  apps: number;
  bytes: number;
  loadMs: number;
  settingsMs: number;
  reloadMs: number;
  stallMs: number;
  checkMs: number;
  loadRssMiB: number;
  rssMiB: number;
}

/** One size, in this process (the child). */
async function measureOne(apps: number): Promise<Result> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-config-growth-'));
  try {
    const file = path.join(dir, 'gatehouse.yaml');
    const text = configFor(apps);
    await writeFile(file, text);
    let loadRssMiB = 0;
    const load = await fastest(
      () => loadConfig({ path: file, env: {} }),
      () => {
        loadRssMiB = process.resourceUsage().maxRSS / 1024;
      },
    );
    if (load.value.lints.length > 0)
      throw new Error(
        `the generated config has lint warnings: ${load.value.lints
          .slice(0, 3)
          .map((l) => `${l.path}: ${l.message}`)
          .join('; ')}`,
      );
    if (load.value.config.apps.length !== apps) throw new Error(`expected ${apps} apps, loaded ${load.value.config.apps.length}`);
    const settings = await fastest(() => buildSettings(load.value.config, [SECRET]));
    if (settings.value.policy === undefined) throw new Error('no policy compiled');
    let stallMs = Infinity;
    const reload = await fastest(async () => {
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const loaded = await loadConfigOffThread({ path: file, env: {} });
      const next = buildSettings(loaded.config, [SECRET], settings.value);
      // The histogram's timer records a stall only when it next fires: wait past a timers phase
      // (setImmediate alone would run first and disable it before a long last step is seen).
      await new Promise((r) => setTimeout(r, 20));
      h.disable();
      stallMs = Math.min(stallMs, h.max / 1e6);
      return next;
    });
    const check = await fastest(() => {
      const r = spawnSync(process.execPath, [path.join(here, '..', 'bin', 'gatehouse.js'), 'check', '--config', file], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`gatehouse check exited ${r.status}: ${r.stdout}${r.stderr}`);
    });
    return {
      apps,
      bytes: Buffer.byteLength(text),
      loadMs: load.ms,
      settingsMs: settings.ms,
      reloadMs: reload.ms,
      stallMs,
      checkMs: check.ms,
      loadRssMiB,
      rssMiB: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--one') {
  process.stdout.write(`${JSON.stringify(await measureOne(Number(process.argv[3])))}\n`);
} else {
  const sizes = (process.env.CONFIG_SIZES ?? '100,1000,10000,50000').split(',').map(Number);
  const rows: Result[] = [];
  for (const n of sizes) {
    process.stderr.write(`[bench:config] ${n} apps…\n`);
    const r = spawnSync(process.execPath, [process.argv[1] as string, '--one', String(n)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`measuring ${n} apps failed (exit ${r.status})`);
    rows.push(JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as Result);
  }
  const f = (ms: number) => (ms < 10 ? ms.toFixed(1) : ms.toFixed(0));
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  console.log(
    `${cpu}, ${os.cpus().length} cores, Node.js ${process.version}, ${new Date().toISOString().slice(0, 10)}; fastest of ${RUNS}\n`,
  );
  console.log(
    '| apps | YAML | load (ms) | settings (ms) | reload (ms) | longest serving-thread stall in a reload (ms) | `gatehouse check` (ms) | peak RSS after one load (MiB) | peak RSS, all steps (MiB) |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.apps.toLocaleString('en')} | ${r.bytes < 1024 * 1024 ? `${(r.bytes / 1024).toFixed(0)} KiB` : `${(r.bytes / 1024 / 1024).toFixed(1)} MiB`} | ${f(r.loadMs)} | ${f(r.settingsMs)} | ${f(r.reloadMs)} | ${f(r.stallMs)} | ${f(r.checkMs)} | ${r.loadRssMiB.toFixed(0)} | ${r.rssMiB.toFixed(0)} |`,
    );
  }
}
