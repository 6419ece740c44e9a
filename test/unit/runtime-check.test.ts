import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/gatehouse.js', import.meta.url));

test('on a Node.js older than 24 the binary exits at once with one line naming both versions', () => {
  // Pretend to be an old runtime: the check reads process.versions.node before loading anything.
  const r = spawnSync(
    process.execPath,
    ['--import', 'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"20.11.1"})', bin, 'serve'],
    { encoding: 'utf8', timeout: 10_000 },
  );
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    'gatehouse: found Node.js 20.11.1, needs Node.js 24 or newer (run it through the project: `npm start`, or `npx gatehouse` inside the checkout)\n',
  );
});

test('on Node.js 24 the binary runs the CLI', () => {
  const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});

// The first command on a fresh machine (issue 15): npm 11 runs a dependency's install script only
// when package.json's allowScripts approves it, and the `node` package (Node.js 24 itself) is
// installed by its preinstall script.
test('package.json approves the install script of every package in the lockfile that has one', async () => {
  const { readFileSync } = await import('node:fs');
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    allowScripts?: Record<string, boolean>;
  };
  const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as {
    packages: Record<string, { hasInstallScript?: boolean }>;
  };
  const withScripts = new Set(
    Object.entries(lock.packages)
      .filter(([, p]) => p.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)),
  );
  assert.deepEqual([...withScripts].sort(), ['node', 'workerd']);
  assert.deepEqual(pkg.allowScripts, { node: true, workerd: true });
});

test('`npm start` where the `node` package was installed without its script: one line that says so and what to run', async () => {
  const { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-start-'));
  try {
    // The checkout as npm leaves it when the script is skipped: the package is there, the binary is not.
    cpSync(fileURLToPath(new URL('../../package.json', import.meta.url)), join(dir, 'package.json'));
    cpSync(bin, join(dir, 'bin', 'gatehouse.js'), { recursive: true });
    mkdirSync(join(dir, 'node_modules', 'node'), { recursive: true });
    // The machine's own, older Node.js answers to `node` (the one npm itself runs on).
    mkdirSync(join(dir, 'system-bin'));
    writeFileSync(
      join(dir, 'system-bin', 'node'),
      `#!/bin/sh\nexec '${process.execPath}' --import 'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"20.19.2"})' "$@"\n`,
      { mode: 0o755 },
    );
    const r = spawnSync('npm', ['start'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, PATH: `${join(dir, 'system-bin')}:${process.env.PATH}`, npm_config_update_notifier: 'false' },
    });
    assert.notEqual(r.status, 0);
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('gatehouse:'));
    assert.deepEqual(ours, [
      "gatehouse: Node.js 24 is missing from node_modules (found only Node.js 20.19.2): the `node` package's install script did not run; run `npm install` again (package.json's allowScripts approves it)",
    ]);
    assert.equal(r.stderr.split('\n')[0], ours[0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
