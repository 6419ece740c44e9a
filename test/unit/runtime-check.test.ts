import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/gatehouse.js', import.meta.url));

test('on a Node.js older than 24 the binary exits at once with one line naming both versions', () => {
  // Pretend to be an old runtime: the check reads process.versions.node before loading anything.
  const r = spawnSync(process.execPath, ['--import', 'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"20.11.1"})', bin, 'serve'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'gatehouse: found Node.js 20.11.1, needs Node.js 24 or newer (run it through the project: `npm start`, or `npx gatehouse` inside the checkout)\n');
});

test('on Node.js 24 the binary runs the CLI', () => {
  const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});
