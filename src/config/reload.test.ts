import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatehouseError, MemoryLogger } from '../core/index.ts';
import { ConfigWatcher, loadConfig, type LoadedConfig, type ReloadTrigger } from './index.ts';

const SECRET = '733ZZX5wL0I/oHNroFNU9523bd6fbVDVVHCK4xJT/R4=';
const NEXT_SECRET = '2ovo1NaFuz8f699bkp9JwiOZnJSjBwQ6Dt-BywII3VQ';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-reload-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const config = (host: string, extra = '') => `publicUrl: https://${host}\n${extra}`;

/** Replace a file atomically (write elsewhere, rename over it), as editors and `kubectl cp` do. */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

/** A watcher whose callbacks are recorded; `next()` resolves on the next onReload or onError. */
function harness(t: TestContext, opts: { path: string; env?: NodeJS.ProcessEnv; current?: LoadedConfig; debounceMs?: number }) {
  const logger = new MemoryLogger();
  const reloaded: LoadedConfig[] = [];
  const errors: unknown[] = [];
  const results: [boolean, ReloadTrigger][] = [];
  let wake: (() => void) | undefined;
  const watcher = new ConfigWatcher({
    ...opts,
    logger,
    onReload: (next) => {
      reloaded.push(next);
      wake?.();
    },
    onError: (err) => {
      errors.push(err);
      wake?.();
    },
    onResult: (ok, trigger) => {
      results.push([ok, trigger]);
    },
  });
  t.after(() => watcher.stop());
  // Waiting for the file system to report a change cannot avoid real time; the timeout only
  // turns a missed event into a failure instead of a hang.
  const next = () =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reload within 5 s')), 5000);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });
  return { watcher, logger, reloaded, errors, results, next };
}

test('a valid new config is handed over once, complete', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, config('auth.example.org'));
  const current = await loadConfig({ path: file });
  const h = harness(t, { path: file, current, debounceMs: 20 });
  h.watcher.start();

  const seen = h.next();
  await replace(file, config('login.example.org', 'log: { level: debug }\n'));
  await seen;
  // Flush: a reload queued behind the first one would change nothing and call nobody.
  assert.equal(await h.watcher.reload('file'), true);

  assert.equal(h.reloaded.length, 1);
  assert.equal(h.reloaded[0]?.config.publicUrl, 'https://login.example.org');
  assert.equal(h.reloaded[0]?.config.log.level, 'debug');
  assert.deepEqual(h.results, [[true, 'file']]);
  assert.equal(h.watcher.reloads, 1);
  assert.equal(h.watcher.failures, 0);
  assert.deepEqual(h.errors, []);
});

test('an invalid config is refused: every problem logged, no secret in the logs, the old config stays', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  const weakFile = join(dir, 'weak');
  await writeFile(weakFile, 'hunter2hunter2\n');
  await writeFile(file, config('auth.example.org', 'secrets: { session: "${env:SESSION}" }\n'));
  const env = { SESSION: SECRET, PORT: 'hunter2-port' };
  const current = await loadConfig({ path: file, env });
  const h = harness(t, { path: file, env, current, debounceMs: 20 });
  h.watcher.start();

  const seen = h.next();
  await replace(
    file,
    config(
      'auth.example.org',
      [`secrets: { session: ["\${env:SESSION}", "\${file:${weakFile}}"] }`, 'listen: { port: "${env:PORT}" }', 'log: { level: loud }'].join(
        '\n',
      ),
    ),
  );
  await seen;

  const problems = [
    'listen.port: expected a number, got a string; ${env:…} and ${file:…} always give strings',
    'log.level: expected one of debug, info, warn, error',
    'secrets.session[1]: the secret has about 14 bytes of entropy (read as raw text, which needs at least 32 bytes and 16 distinct characters); at least 32 are needed: generate one with `openssl rand -base64 32`',
  ];
  assert.equal(h.reloaded.length, 0);
  assert.ok(h.errors[0] instanceof GatehouseError);
  assert.deepEqual(h.errors[0].problems, problems);
  assert.equal(h.watcher.failures, 1);
  assert.equal(h.watcher.reloads, 0);
  assert.deepEqual(h.results[0], [false, 'file']);
  const failure = h.logger.lines.find((l) => l.level === 'error');
  assert.deepEqual(failure, {
    level: 'error',
    msg: 'configuration reload failed, the previous configuration stays in force: the configuration has 3 problems',
    fields: { trigger: 'file', problems },
  });
  for (const secret of [SECRET, 'hunter2']) assert.ok(!h.logger.text().includes(secret), secret);

  // The watcher keeps going: a fixed config is picked up.
  const fixed = h.next();
  await replace(file, config('auth.example.org', `secrets: { session: ["\${env:SESSION}", "${NEXT_SECRET}"] }\n`));
  await fixed;
  assert.deepEqual(
    h.reloaded.map((r) => r.config.secrets.session),
    [[SECRET, NEXT_SECRET]],
  );
});

test('manual and sighup reloads report true or false; onReload throwing is a failure', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, config('auth.example.org'));
  const h = harness(t, { path: file });
  assert.equal(await h.watcher.reload('sighup'), true);
  assert.equal(await h.watcher.reload('manual'), true); // unchanged, yet an operator's reload is always applied
  assert.equal(h.reloaded.length, 2);
  await writeFile(file, 'publicUrl: 5\n');
  assert.equal(await h.watcher.reload('sighup'), false);
  assert.deepEqual((h.errors[0] as GatehouseError).problems, ['publicUrl: expected a string, got a number']);

  const logger = new MemoryLogger();
  const failing = new ConfigWatcher({ path: file.replace('gatehouse.yaml', 'gone.yaml'), logger, onReload: () => {} });
  assert.equal(await failing.reload('manual'), false);
  assert.equal(failing.failures, 1);

  await writeFile(file, config('auth.example.org'));
  const throwing = new ConfigWatcher({
    path: file,
    logger,
    onReload: () => {
      throw new Error('swap failed');
    },
  });
  assert.equal(await throwing.reload('manual'), false);
  assert.equal(throwing.reloads, 0);
  assert.equal(throwing.failures, 1);
  assert.deepEqual(logger.lines.at(-1), {
    level: 'error',
    msg: 'configuration reload failed, the previous configuration stays in force',
    fields: { trigger: 'manual', err: 'swap failed' },
  });
  assert.deepEqual(h.results, [
    [true, 'sighup'],
    [true, 'manual'],
    [false, 'sighup'],
  ]);
});

test('rapid changes are debounced into one reload', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, config('auth.example.org'));
  const h = harness(t, { path: file, debounceMs: 100 });
  t.mock.timers.enable({ apis: ['setTimeout'] });
  for (let i = 0; i < 5; i++) {
    h.watcher.notifyChange();
    t.mock.timers.tick(99);
  }
  assert.equal(h.reloaded.length, 0);
  const seen = new Promise<void>((resolve) => {
    const check = () => (h.reloaded.length > 0 ? resolve() : setImmediate(check));
    check();
  });
  t.mock.timers.tick(1);
  await seen;
  t.mock.timers.tick(10_000);
  await h.watcher.reload('file'); // flushes anything queued; unchanged, so it calls nobody
  assert.equal(h.reloaded.length, 1);
  assert.deepEqual(h.results, [[true, 'file']]);
});

test('rapid writes to a watched file end in the last version', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, config('auth.example.org'));
  const h = harness(t, { path: file, current: await loadConfig({ path: file }), debounceMs: 150 });
  h.watcher.start();
  const seen = h.next();
  for (let i = 1; i <= 5; i++) await writeFile(file, config(`v${i}.example.org`));
  await seen;
  await h.watcher.reload('file');
  assert.deepEqual(
    h.reloaded.map((r) => r.config.publicUrl),
    ['https://v5.example.org'],
  );
});

test('a ConfigMap ..data swap in a watched directory is picked up', async (t) => {
  const dir = await tempDir(t);
  const publish = async (generation: string, host: string) => {
    await mkdir(join(dir, generation));
    await writeFile(join(dir, generation, 'gatehouse.yaml'), config(host));
    await symlink(generation, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data')); // the atomic swap kubelet does
  };
  await publish('..2026_01_01_00_00_00.000000001', 'auth.example.org');
  await symlink('..data/gatehouse.yaml', join(dir, 'gatehouse.yaml'));
  const current = await loadConfig({ path: dir });
  const h = harness(t, { path: dir, current, debounceMs: 20 });
  h.watcher.start();

  const seen = h.next();
  await publish('..2026_01_01_00_05_00.000000002', 'login.example.org');
  await rm(join(dir, '..2026_01_01_00_00_00.000000001'), { recursive: true });
  await seen;
  await h.watcher.reload('file');
  assert.deepEqual(
    h.reloaded.map((r) => r.config.publicUrl),
    ['https://login.example.org'],
  );
  assert.deepEqual(h.reloaded[0]?.sources, [join(dir, 'gatehouse.yaml')]);
});

test('a rotated ${file:} secret is seen without a restart', async (t) => {
  const dir = await tempDir(t);
  const secrets = join(dir, 'secrets');
  await mkdir(secrets);
  await writeFile(join(secrets, 'session'), `${SECRET}\n`);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, config('auth.example.org', `secrets: { session: "\${file:${join(secrets, 'session')}}" }\n`));
  const current = await loadConfig({ path: file });
  const h = harness(t, { path: file, current, debounceMs: 20 });
  h.watcher.start();

  const seen = h.next();
  await replace(join(secrets, 'session'), `${NEXT_SECRET}\n`);
  await seen;
  assert.deepEqual(
    h.reloaded.map((r) => r.config.secrets.session),
    [[NEXT_SECRET]],
  );
  assert.ok(!h.logger.text().includes(NEXT_SECRET));
});
