// Every kustomization under deploy/kubernetes rendered by the real `kubectl kustomize` (Debian's
// kubernetes-client, from scripts/install-e2e-deps.sh), then: every rendered object against the
// Kubernetes OpenAPI schemas, the rendered ConfigMap's config through `gatehouse check`, and
// what each overlay promises (one SQLite replica on its PVC; three PostgreSQL replicas with a
// disruption budget and spread constraints that select them) read from the rendered output,
// where patches and generators have done their work.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from '../../src/cli/index.ts';
import { fakeIO, SECRET_A } from '../kit/server.ts';
import { type K8sObject, KUBE, KUSTOMIZATIONS, materialize, parseObjects, schemaErrors, unknownFieldErrors } from '../kit/kubernetes.ts';

async function render(dir: string): Promise<K8sObject[]> {
  const { stdout } = await promisify(execFile)('kubectl', ['kustomize', join(KUBE, dir)], { maxBuffer: 16 << 20 });
  return parseObjects(stdout, `kubectl kustomize ${dir}`);
}

const SECRETS = { session: SECRET_A, 'database-url': 'postgres://gatehouse:pw@postgres.db.svc:5432/gatehouse' };
const one = (objs: K8sObject[], kind: string): K8sObject => {
  const found = objs.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind}, found ${found.length}`);
  return found[0]!;
};
const selects = (selector: { matchLabels: Record<string, string> }, labels: Record<string, string>): boolean =>
  Object.entries(selector.matchLabels).every(([k, v]) => labels[k] === v);

describe('kubectl kustomize renders every kustomization, and what it renders is valid', () => {
  const rendered = new Map<string, K8sObject[]>();
  for (const dir of KUSTOMIZATIONS) {
    test(`${dir}: renders; every object passes the OpenAPI schema with no unknown field`, async () => {
      const objs = await render(dir);
      rendered.set(dir, objs);
      assert.ok(objs.length > 0);
      assert.deepEqual(await schemaErrors(objs), []);
      assert.equal(await unknownFieldErrors(objs), '');
    });
  }

  for (const overlay of ['overlays/sqlite', 'overlays/postgres']) {
    test(`${overlay}: the rendered ConfigMap is the one the Deployment mounts, and its config passes \`gatehouse check\``, async () => {
      const objs = rendered.get(overlay) ?? (await render(overlay));
      const cm = one(objs, 'ConfigMap');
      const dep = one(objs, 'Deployment');
      assert.match(cm.metadata.name, /^gatehouse-config-[a-z0-9]{10}$/);
      assert.deepEqual(dep.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'config').configMap, {
        name: cm.metadata.name,
      });
      for (const o of objs)
        assert.equal(
          o.metadata.namespace ?? (o.kind === 'Namespace' ? 'gatehouse' : undefined),
          'gatehouse',
          `${o.kind}/${o.metadata.name} is outside the namespace`,
        );
      const m = await materialize(new Map(Object.entries(cm.data as Record<string, string>)), SECRETS);
      try {
        const io = fakeIO();
        const code = await runCli(['check', '--config', m.configDir], io);
        assert.equal(code, 0, io.stderr.join('\n'));
        assert.equal(io.stdout.length, 1);
        assert.match(io.stdout[0]!, /^config OK/);
      } finally {
        await m.cleanup();
      }
    });
  }

  test('overlays/sqlite: exactly one replica, recreated (never two on one file), data on the PersistentVolumeClaim', async () => {
    const objs = rendered.get('overlays/sqlite') ?? (await render('overlays/sqlite'));
    const dep = one(objs, 'Deployment');
    const pvc = one(objs, 'PersistentVolumeClaim');
    assert.equal(dep.spec.replicas, 1);
    assert.deepEqual(dep.spec.strategy, { type: 'Recreate' });
    assert.deepEqual(
      dep.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'data'),
      { name: 'data', persistentVolumeClaim: { claimName: pvc.metadata.name } },
    );
    assert.deepEqual(pvc.spec.accessModes, ['ReadWriteOnce']);
    assert.equal(
      objs.some((o) => o.kind === 'PodDisruptionBudget'),
      false,
    );
    assert.equal(dep.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem, true);
  });

  test('overlays/postgres: three replicas rolled one at a time, a PDB and spread constraints that select them, the database URL from the Secret', async () => {
    const objs = rendered.get('overlays/postgres') ?? (await render('overlays/postgres'));
    const dep = one(objs, 'Deployment');
    const pdb = one(objs, 'PodDisruptionBudget');
    const labels = dep.spec.template.metadata.labels;
    assert.equal(dep.spec.replicas, 3);
    assert.deepEqual(dep.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    assert.ok(selects(pdb.spec.selector, labels), 'the PodDisruptionBudget selects no Gatehouse pod');
    assert.equal(pdb.spec.maxUnavailable, 1);
    const spread = dep.spec.template.spec.topologySpreadConstraints;
    assert.deepEqual(
      spread.map((s: { topologyKey: string }) => s.topologyKey),
      ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'],
    );
    for (const s of spread) assert.ok(selects(s.labelSelector, labels), `the spread over ${s.topologyKey} selects no Gatehouse pod`);
    assert.deepEqual(dep.spec.template.spec.containers[0].resources, {
      requests: { cpu: '500m', memory: '256Mi' },
      limits: { memory: '384Mi' },
    });
    // The data volume stays an emptyDir: nothing is kept in the pod on PostgreSQL.
    assert.deepEqual(
      dep.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'data'),
      { name: 'data', emptyDir: {} },
    );
    assert.match(one(objs, 'ConfigMap').data['zz-database.yaml'], /url: "\$\{file:\/run\/secrets\/gatehouse\/database-url\}"/);
    // The probes survive the patch (a strategic merge keyed by container name).
    assert.equal(dep.spec.template.spec.containers[0].startupProbe.failureThreshold, 72);
  });

  test("the Service and the ServiceMonitor select the Deployment's pods", async () => {
    const objs = rendered.get('overlays/postgres') ?? (await render('overlays/postgres'));
    const labels = one(objs, 'Deployment').spec.template.metadata.labels;
    const svc = one(objs, 'Service');
    assert.ok(Object.entries(svc.spec.selector as Record<string, string>).every(([k, v]) => labels[k] === v));
    const mon = rendered.get('monitoring') ?? (await render('monitoring'));
    const sm = one(mon, 'ServiceMonitor');
    assert.ok(selects(sm.spec.selector, svc.metadata.labels), 'the ServiceMonitor selects no Service');
    assert.equal(sm.metadata.namespace, 'gatehouse');
  });
});
