// What `gatehouse serve` loads on the thread that serves: the libraries a feature needs are loaded
// when the feature is first used, not at start, so a gate pays in memory only for what its config
// and its users use (docs/benchmarks.md, "Where the memory goes"). The config is validated on a
// worker thread, so the schema, YAML and lint libraries never load on the serving thread either.
// And the binary starts Node.js with the memory settings the benchmark measured.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from '../kit/http.ts';
import { until } from '../kit/poll.ts';
import { gateConfig, startGatehouse, type GatehouseProcess } from '../kit/process.ts';
import { tempDir } from '../kit/temp.ts';

const hook = fileURLToPath(new URL('../kit/module-log.ts', import.meta.url));

/** Packages (under node_modules) the main thread loaded, from the module log. */
async function packagesLoaded(log: string): Promise<Set<string>> {
  const urls = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  const names = urls.flatMap((u) => {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u);
    return m ? [m[1] as string] : [];
  });
  return new Set(names);
}

let dir: string;
let gh: GatehouseProcess;
let log: string;
before(async () => {
  dir = await tempDir('serve-modules');
  log = join(dir, 'modules.log');
  gh = await startGatehouse(gateConfig({ publicUrl: 'http://auth.example.test' }), {
    env: { NODE_OPTIONS: `--import=${hook}`, GATEHOUSE_TEST_MODULE_LOG: log },
  });
});
after(async () => {
  await gh?.stop();
  await rm(dir, { recursive: true, force: true });
});

const NOT_AT_START = [
  // config validation (on a worker thread)
  'zod',
  'yaml',
  'tldts',
  // mail: loaded with the first message
  'nodemailer',
  // passkeys: loaded with the first WebAuthn ceremony
  '@simplewebauthn/server',
  // TOTP: loaded with the first enrolment or code
  'otplib',
  'qrcode',
];

test('a started gate (SQLite, no mail, no factor used yet) has loaded none of the libraries only some features need', async () => {
  // The forward-auth check and the sign-in page work without them.
  // (503 until the gate is ready: on a loaded machine, right after "listening".)
  const check = await until(
    async () => {
      const r = await request(`${gh.url}/oauth2/auth`, {
        headers: { 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'app.example.test', 'X-Forwarded-Uri': '/' },
      });
      return r.status !== 503 && r;
    },
    { timeoutMs: 20_000, what: 'the gate answers the check' },
  );
  assert.equal(check.status, 401);
  const page = await request(`${gh.url}/oauth2/sign_in`, { headers: { Host: 'auth.example.test', Accept: 'text/html' } });
  assert.equal(page.status, 200);
  const loaded = await packagesLoaded(log);
  // The log does record the serving thread's packages (the logger, the gate's JWT library).
  assert.ok(loaded.has('pino') && loaded.has('jose'), `the module log misses pino or jose: ${[...loaded].join(', ')}`);
  assert.deepEqual(
    NOT_AT_START.filter((p) => loaded.has(p)),
    [],
  );
});

test("the binary's shebang starts Node.js with the young generation capped and glibc's mmap threshold fixed at 1 MiB", async () => {
  const direct = await startGatehouse(gateConfig({ publicUrl: 'http://auth.example.test' }), { shebang: true });
  try {
    const environ = (await readFile(`/proc/${direct.pid}/environ`, 'utf8')).split('\0');
    assert.ok(environ.includes('MALLOC_MMAP_THRESHOLD_=1048576'), 'MALLOC_MMAP_THRESHOLD_ is not 1048576 in the server');
    const argv = (await readFile(`/proc/${direct.pid}/cmdline`, 'utf8')).split('\0');
    assert.ok(argv.includes('--max-semi-space-size=4'), `the server runs as ${argv.join(' ')}`);
  } finally {
    await direct.stop();
  }
});
