// The Kubernetes manifests under deploy/kubernetes, offline (issue 15): every object against the
// Kubernetes OpenAPI schemas, the config inside each overlay's ConfigMap through `gatehouse
// check`, and every value that one file promises another (ports, probe windows, Secret keys,
// mounts, the proxies' annotations, the Prometheus rules) checked against the file that reads
// it. Rendering with `kubectl kustomize` is in test/e2e/kubernetes-kustomize.test.ts, which runs
// where scripts/install-e2e-deps.sh has installed kubectl.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { runCli } from '../../src/cli/index.ts';
import { fakeIO, SECRET_A } from '../kit/server.ts';
import {
  configFiles,
  CUSTOM_KINDS,
  documentedSecretKeys,
  type K8sObject,
  KUBE,
  KUSTOMIZATIONS,
  materialize,
  readYaml,
  resourceObjects,
  ROOT,
  schemaErrors,
  SECRET_MOUNT,
  secretReferences,
  unknownFieldErrors,
} from '../kit/kubernetes.ts';

const SECRETS = { session: SECRET_A, 'database-url': 'postgres://gatehouse:pw@postgres.db.svc:5432/gatehouse' };
const OVERLAYS = ['overlays/sqlite', 'overlays/postgres'] as const;

async function loadOverlayConfig(overlay: string): Promise<{ config: Config; check: { code: number; out: string[]; err: string[] } }> {
  const m = await materialize(await configFiles(overlay), SECRETS);
  try {
    const io = fakeIO();
    const code = await runCli(['check', '--config', m.configDir], io);
    const loaded = await loadConfig({ path: m.configDir, env: {} });
    return { config: loaded.config, check: { code, out: io.stdout, err: io.stderr } };
  } finally {
    await m.cleanup();
  }
}

const byKind = (objs: K8sObject[], kind: string, name?: string): K8sObject => {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `no ${kind}${name ? `/${name}` : ''}`);
  return o;
};

describe('every object against the Kubernetes OpenAPI schemas', () => {
  test("each kustomization's resource files: types, required fields, and no field the API does not have", async () => {
    const all: K8sObject[] = [];
    for (const k of KUSTOMIZATIONS) all.push(...(await resourceObjects(k)));
    const kube = (await readYaml(join(KUBE, 'kube-apiserver/authentication-config.yaml'))).filter(
      (o) => o.kind !== 'AuthenticationConfiguration',
    );
    all.push(...kube);
    const seen = new Set<string>();
    const unique = all.filter((o) => {
      const key = `${o.apiVersion}/${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
      return !seen.has(key) && seen.add(key);
    });
    assert.deepEqual(unique.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
      'ClusterRoleBinding/gatehouse-admins',
      'ConfigMap/gatehouse-auth-headers',
      'ConfigMap/gatehouse-clean-headers',
      'Deployment/gatehouse',
      'Ingress/gatehouse',
      'Ingress/grafana',
      'Ingress/grafana-oauth2',
      'IngressRoute/gatehouse',
      'IngressRoute/grafana',
      'Middleware/gatehouse',
      'Middleware/gatehouse-portal',
      'Namespace/gatehouse',
      'NetworkPolicy/gatehouse',
      'PersistentVolumeClaim/gatehouse-data',
      'PodDisruptionBudget/gatehouse',
      'PrometheusRule/gatehouse',
      'Service/gatehouse',
      'ServiceAccount/gatehouse',
      'ServiceMonitor/gatehouse',
    ]);
    assert.deepEqual(await schemaErrors(unique), []);
    assert.equal(await unknownFieldErrors(unique), '');
    // Only the custom resources go without a schema.
    assert.deepEqual(unique.filter((o) => CUSTOM_KINDS.has(`${o.apiVersion}/${o.kind}`)).length, 6);
  });

  test('the checks fail on a wrong type, a missing field and a misspelt field (so the pass above means something)', async () => {
    const [deployment] = await readYaml(join(KUBE, 'base/deployment.yaml'));
    const wrongType = structuredClone(deployment!);
    wrongType.spec.replicas = 'three';
    assert.deepEqual(await schemaErrors([wrongType]), ['Deployment/gatehouse: data/spec/replicas must be integer']);
    const missing = structuredClone(deployment!);
    delete missing.spec.template.spec.containers[0].livenessProbe.httpGet.port;
    assert.deepEqual(await schemaErrors([missing]), [
      'Deployment/gatehouse: data/spec/template/spec/containers/0/livenessProbe/httpGet must have required property port',
    ]);
    const misspelt = structuredClone(deployment!);
    misspelt.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    const tsc = await unknownFieldErrors([misspelt]);
    assert.match(
      tsc,
      /error TS2353: Object literal may only specify known properties, and '"readOnlyRootFileSystem"' does not exist in type 'ISecurityContext'/,
    );
    assert.deepEqual(await schemaErrors([{ apiVersion: 'example.org/v1', kind: 'Widget', metadata: { name: 'w' } }]), [
      'Widget/w: no schema for example.org/v1 Widget',
    ]);
  });
});

describe("the config in each overlay's ConfigMap", () => {
  for (const overlay of OVERLAYS) {
    test(`${overlay}: passes \`gatehouse check\` with no warning, and reads only the Secret keys the README tells you to create`, async () => {
      const files = await configFiles(overlay);
      assert.deepEqual(secretReferences(files), await documentedSecretKeys(overlay));
      const { config, check } = await loadOverlayConfig(overlay);
      assert.equal(check.code, 0, check.err.join('\n'));
      assert.deepEqual(check.err, []);
      assert.equal(check.out.length, 1);
      assert.match(check.out[0]!, /^config OK \(.*\)$/);
      if (overlay === 'overlays/postgres') assert.equal(config.database.url, SECRETS['database-url']);
      else assert.equal(config.database.url, undefined);
    });
  }

  test('secret keys: the sqlite overlay needs the session secret, the postgres overlay also the database URL', async () => {
    assert.deepEqual(await documentedSecretKeys('overlays/sqlite'), ['session']);
    assert.deepEqual(await documentedSecretKeys('overlays/postgres'), ['database-url', 'session']);
  });
});

describe('the Deployment agrees with the config it mounts', async () => {
  const [deployment] = await readYaml(join(KUBE, 'base/deployment.yaml'));
  const pod = deployment!.spec.template.spec;
  const c = pod.containers[0];
  const port = (name: string): number => c.ports.find((p: { name: string }) => p.name === name).containerPort;
  const mounts = new Map<string, { name: string; readOnly?: boolean }>(
    c.volumeMounts.map((m: { mountPath: string; name: string }) => [m.mountPath, m]),
  );
  const volume = (name: string) => pod.volumes.find((v: { name: string }) => v.name === name);

  for (const overlay of OVERLAYS) {
    test(`${overlay}: ports, data directory, config and Secret mounts`, async () => {
      const { config } = await loadOverlayConfig(overlay);
      assert.deepEqual(config.listen, { host: '0.0.0.0', port: port('http') });
      assert.deepEqual(config.metrics.listen, { host: '0.0.0.0', port: port('metrics') });
      assert.equal(mounts.get(config.dataDir)?.name, 'data');
      assert.equal(mounts.get(config.dataDir)?.readOnly, undefined);
      assert.deepEqual(
        c.env.find((e: { name: string }) => e.name === 'GATEHOUSE_CONFIG'),
        { name: 'GATEHOUSE_CONFIG', value: '/etc/gatehouse' },
      );
      assert.deepEqual(mounts.get('/etc/gatehouse'), { name: 'config', mountPath: '/etc/gatehouse', readOnly: true });
      assert.deepEqual(volume('config'), { name: 'config', configMap: { name: 'gatehouse-config' } });
      assert.deepEqual(mounts.get(SECRET_MOUNT), { name: 'secrets', mountPath: SECRET_MOUNT, readOnly: true });
      assert.deepEqual(volume('secrets'), { name: 'secrets', secret: { secretName: 'gatehouse-secrets', defaultMode: 0o400 } });
    });

    test(`${overlay}: the start-up probe outlasts the migration lock wait; liveness never asks the store`, async () => {
      const { config } = await loadOverlayConfig(overlay);
      const { startupProbe: s, readinessProbe: r, livenessProbe: l } = c;
      assert.deepEqual(
        [s.httpGet, r.httpGet, l.httpGet],
        [
          { path: '/readyz', port: 'metrics' },
          { path: '/readyz', port: 'metrics' },
          { path: '/healthz', port: 'metrics' },
        ],
      );
      // A replica queued behind another's migration lock waits migrationLockTimeout, then
      // migrates; the kubelet restarts it only after periodSeconds x failureThreshold of start-up
      // failures, so that window must be longer than the wait (with a minute for the migration).
      const startupWindowMs = s.periodSeconds * s.failureThreshold * 1000;
      assert.ok(
        startupWindowMs >= config.database.migrationLockTimeout + 60_000,
        `start-up window ${startupWindowMs} ms is not a minute longer than database.migrationLockTimeout ${config.database.migrationLockTimeout} ms`,
      );
      // /readyz bounds its own check at 2 s (docs/running.md): a probe timeout above that never
      // turns a slow answer into a failure.
      for (const p of [s, r, l]) assert.ok(p.timeoutSeconds > 2, "timeoutSeconds must exceed /readyz's 2 s bound");
    });
  }

  test('restricted pod security: non-root, read-only root, every writable path a volume', () => {
    assert.deepEqual(pod.securityContext, {
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      fsGroup: 10001,
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    // Node's compile cache comes filled and read-only with the image (scripts/build-image.sh).
    assert.equal(
      c.env.find((e: { name: string }) => e.name === 'NODE_COMPILE_CACHE'),
      undefined,
    );
    assert.deepEqual([...mounts.keys()].sort(), ['/data', '/etc/gatehouse', '/run/secrets/gatehouse', '/tmp']);
    assert.equal(pod.automountServiceAccountToken, false);
  });

  test("resources: memory request and limit bracket the bench's measured resident memory; no CPU limit", async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const m = /Memory: (\d+)–(\d+) MiB RSS after/.exec(readme);
    assert.ok(m, 'README.md no longer states the memory figures the resources come from');
    const peak = Number(m[2]);
    const [pgPatch] = await readYaml(join(KUBE, 'overlays/postgres/deployment.yaml'));
    for (const res of [c.resources, pgPatch!.spec.template.spec.containers[0].resources]) {
      const mib = (q: string) => Number(/^(\d+)Mi$/.exec(q)![1]);
      assert.ok(mib(res.limits.memory) >= peak * 1.25, `memory limit ${res.limits.memory} leaves less than 25% above ${peak} MiB`);
      assert.equal(res.limits.cpu, undefined);
      assert.ok(res.requests.cpu);
    }
    assert.ok(Number(/^(\d+)Mi$/.exec(pgPatch!.spec.template.spec.containers[0].resources.requests.memory)![1]) >= Number(m[1]));
  });

  test('the Service, NetworkPolicy and ServiceMonitor name ports the container has', async () => {
    const objs = await resourceObjects('overlays/postgres');
    const svc = byKind(objs, 'Service');
    assert.deepEqual(svc.spec.ports, [
      { name: 'http', port: port('http'), targetPort: 'http' },
      { name: 'metrics', port: port('metrics'), targetPort: 'metrics' },
    ]);
    const np = byKind(objs, 'NetworkPolicy');
    const npPorts = np.spec.ingress.flatMap((r: { ports: { port: string }[] }) => r.ports.map((p) => p.port));
    assert.deepEqual(npPorts, ['http', 'metrics']);
    const [sm] = await readYaml(join(KUBE, 'monitoring/servicemonitor.yaml'));
    assert.deepEqual(
      sm!.spec.endpoints.map((e: { port: string; path: string }) => [e.port, e.path]),
      [['metrics', '/metrics']],
    );
    for (const [k, v] of Object.entries(sm!.spec.selector.matchLabels)) assert.equal(deployment!.spec.template.metadata.labels[k], v);
    assert.deepEqual(sm!.spec.namespaceSelector.matchNames, [(await readYaml(join(KUBE, 'base/namespace.yaml')))[0]!.metadata.name]);
  });
});

describe('what the other files promise', () => {
  test('the PrometheusRule carries exactly the groups of deploy/prometheus/gatehouse-rules.yaml', async () => {
    const [rule] = await readYaml(join(KUBE, 'monitoring/prometheusrule.yaml'));
    const rules = parse(await readFile(join(ROOT, 'deploy/prometheus/gatehouse-rules.yaml'), 'utf8'));
    assert.deepEqual(rule!.spec, rules);
  });

  test('ingress-nginx: the protected app carries the annotations of docs/proxies/ingress-nginx', async () => {
    const docs = await readYaml(join(ROOT, 'docs/proxies/ingress-nginx/ingress.yaml'));
    const ours = await readYaml(join(KUBE, 'ingress-nginx/example-app.yaml'));
    assert.deepEqual(byKind(ours, 'Ingress', 'grafana').metadata.annotations, byKind(docs, 'Ingress', 'grafana').metadata.annotations);
    const headers = await readYaml(join(KUBE, 'ingress-nginx/headers.yaml'));
    for (const name of ['gatehouse-auth-headers', 'gatehouse-clean-headers']) {
      assert.deepEqual(byKind(headers, 'ConfigMap', name), byKind(docs, 'ConfigMap', name), name);
    }
    const { config } = await loadOverlayConfig('overlays/sqlite');
    // The sign-in redirect goes to the portal the config names, the check to the Service.
    const ann = byKind(ours, 'Ingress', 'grafana').metadata.annotations;
    assert.ok(ann['nginx.ingress.kubernetes.io/auth-signin'].startsWith(`${config.publicUrl}/oauth2/start?`));
    assert.equal(
      ann['nginx.ingress.kubernetes.io/auth-url'],
      `http://gatehouse.gatehouse.svc.cluster.local:${config.listen.port}/oauth2/auth`,
    );
    const portal = byKind(await readYaml(join(KUBE, 'ingress-nginx/portal.yaml')), 'Ingress', 'gatehouse');
    assert.equal(portal.spec.rules[0].host, new URL(config.publicUrl!).host);
    assert.equal(portal.metadata.annotations, undefined);
  });

  test('Traefik: the Middlewares of docs/proxies/traefik, with the session cookie the config names', async () => {
    const docs = await readYaml(join(ROOT, 'docs/proxies/traefik/middleware.yaml'));
    const ours = await readYaml(join(KUBE, 'traefik/middleware.yaml'));
    const { config } = await loadOverlayConfig('overlays/sqlite');
    const fa = structuredClone(byKind(docs, 'Middleware', 'gatehouse').spec);
    fa.forwardAuth.addAuthCookiesToResponse = [config.session.cookieName];
    assert.deepEqual(byKind(ours, 'Middleware', 'gatehouse').spec, fa);
    assert.deepEqual(byKind(ours, 'Middleware', 'gatehouse-portal').spec, byKind(docs, 'Middleware', 'gatehouse-portal').spec);
  });

  test('kube-apiserver: the AuthenticationConfiguration is exactly what `gatehouse doctor kube` prints for the base config', async () => {
    const m = await materialize(await configFiles('overlays/sqlite'), SECRETS);
    try {
      const io = fakeIO();
      assert.equal(await runCli(['doctor', 'kube', '--config', m.configDir], io), 0);
      const shipped = await readFile(join(KUBE, 'kube-apiserver/authentication-config.yaml'), 'utf8');
      const printed = `${io.stdout.join('\n')}\n`;
      // The shipped file is a comment header, then the printed text byte for byte.
      assert.ok(shipped.endsWith(printed), 'the shipped file is not what doctor kube prints');
      const header = shipped
        .slice(0, shipped.length - printed.length)
        .split('\n')
        .slice(0, -1);
      assert.ok(header.length > 0 && header.every((l) => l.startsWith('# ')), 'above the printed text: comment lines only');
      assert.match(printed, /^kind: AuthenticationConfiguration$/m);
    } finally {
      await m.cleanup();
    }
  });
});
