// A reload of a large config runs off the serving thread: forward-auth checks keep being answered
// while thousands of apps are read, validated and linted, and the new rules apply once it is done.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { writeFile } from 'node:fs/promises';
import { ALICE, baseConfig, cookieHeader, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';

const APPS = 5000;
let inst: Instance;
let alice: string;

before(async () => {
  inst = await startInstance({ users: [ALICE], unwatched: true });
  alice = cookieHeader(inst, (await signIn(inst, 'alice')).value);
});
after(async () => {
  await inst.close();
});

test(`forward auth keeps answering while a config with ${APPS} apps reloads, and the new rules apply after`, async () => {
  const big = baseConfig(inst.dir);
  const apps = big.apps as Record<string, unknown>[];
  for (let i = 0; i < APPS; i++) apps.push({ name: `bulk-${i}`, hosts: [`bulk-${i}.example.test`], allow: { groups: [`g${i % 50}`] } });
  apps.unshift({ name: 'newly-public', hosts: ['fresh.example.test'], public: true });
  await writeFile(inst.realConfigPath, stringify(big));
  assert.notEqual((await forwardAuth(inst.port, 'https://fresh.example.test/')).status, 202);

  let done = false;
  const started = performance.now();
  const reloading = inst.running.reload('manual').finally(() => {
    done = true;
  });
  let answered = 0;
  let last = performance.now();
  let longestGap = 0;
  while (!done) {
    const a = await forwardAuth(inst.port, 'https://app.example.test/x', { cookie: alice });
    assert.equal(a.status, 202);
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
    answered++;
  }
  assert.equal(await reloading, true);
  const took = performance.now() - started;
  // Loaded on the serving thread, the validation is one stall as long as most of the reload,
  // with a handful of answers around it; off the thread the answers keep coming.
  assert.ok(answered >= 20, `only ${answered} checks answered during a ${Math.round(took)} ms reload`);
  assert.ok(longestGap < took / 3, `a ${Math.round(longestGap)} ms stall during a ${Math.round(took)} ms reload`);
  assert.equal((await forwardAuth(inst.port, 'https://fresh.example.test/')).status, 202);
});
