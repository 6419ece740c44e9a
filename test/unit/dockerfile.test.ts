// The Dockerfile (issue 15) is not built here (it pulls base images); it must still describe the
// image the tests do build and run (scripts/build-image.sh) and the one the Kubernetes manifests
// expect: the same user, entrypoint arguments, ports, volume and config location, and only
// sources that exist.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

/** Instructions of the final stage, continuation lines joined. */
function instructions(text: string): { stages: string[]; final: [string, string][] } {
  const lines = text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: string[] = [];
  let final: [string, string][] = [];
  for (const l of lines) {
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(l) ?? [];
    if (!op) continue;
    if (op === 'FROM') {
      stages.push(rest!);
      final = [];
    }
    final.push([op, rest!]);
  }
  return { stages, final };
}

test('the Dockerfile builds the image the buildah script builds and the manifests run', () => {
  const { stages, final } = instructions(read('Dockerfile'));
  const one = (op: string) => {
    const found = final.filter(([o]) => o === op);
    assert.equal(found.length, 1, `one ${op} in the final stage`);
    return found[0]![1];
  };
  assert.equal(stages.at(-1), 'gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot');
  assert.match(read('Dockerfile'), /^ARG NODE_MAJOR=24$/m);

  const script = read('scripts/build-image.sh');
  const scriptEntrypoint = JSON.parse(/--entrypoint '(\[.*\])'/.exec(script)![1]!) as string[];
  const entrypoint = JSON.parse(one('ENTRYPOINT')) as string[];
  assert.equal(entrypoint[0], '/nodejs/bin/node');
  assert.deepEqual(entrypoint.slice(1), scriptEntrypoint.slice(1));
  assert.deepEqual(JSON.parse(one('CMD')), [/--cmd (\S+)/.exec(script)![1]]);

  const [deployment] = [parse(read('deploy/kubernetes/base/deployment.yaml'))];
  const pod = deployment.spec.template.spec;
  assert.equal(one('USER'), `${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`);
  assert.match(script, new RegExp(`--user ${one('USER')} `));
  assert.equal(one('VOLUME'), '/data');
  assert.deepEqual(
    one('EXPOSE').split(/\s+/),
    pod.containers[0].ports.map((p: { containerPort: number }) => `${p.containerPort}/tcp`),
  );
  const env = one('ENV');
  for (const m of script.matchAll(/--env (\S+)/g)) assert.ok(env.split(/\s+/).includes(m[1]!), `ENV lacks ${m[1]}`);
  assert.ok(env.includes(`GATEHOUSE_CONFIG=${pod.containers[0].env.find((e: { name: string }) => e.name === 'GATEHOUSE_CONFIG').value}`));

  // Every file copied from the build context exists; the config is the buildah image's.
  const all = instructions(read('Dockerfile')).stages.length;
  assert.equal(all, 3);
  const copies = read('Dockerfile')
    .split('\n')
    .filter((l) => l.startsWith('COPY ') && !l.includes('--from='));
  assert.ok(copies.length >= 4);
  for (const c of copies) {
    const parts = c.split(/\s+/).slice(1);
    for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: no such file`);
  }
  assert.match(read('Dockerfile'), /^COPY deploy\/container\/gatehouse.yaml \/etc\/gatehouse\/gatehouse.yaml$/m);
  assert.match(script, /cp deploy\/container\/gatehouse.yaml "\$rfs\/etc\/gatehouse\/gatehouse.yaml"/);
});
