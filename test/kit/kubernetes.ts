// Shared by the Kubernetes manifest tests: read the kustomizations under deploy/kubernetes,
// validate objects against the Kubernetes OpenAPI schemas (kubernetes-models: its compiled
// validators check types, formats and required fields; its TypeScript types, checked by tsc,
// reject fields the API does not have, which the apiserver would silently drop), and turn a
// ConfigMap's files into a config directory `gatehouse check` can load.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../..');
export const KUBE = join(ROOT, 'deploy/kubernetes');
/** Every kustomization a user applies (the base is only rendered through an overlay). */
export const KUSTOMIZATIONS = ['overlays/sqlite', 'overlays/postgres', 'monitoring', 'ingress-nginx', 'traefik'] as const;
/** Where the Deployment mounts the Secret gatehouse-secrets; the configs name files under it. */
export const SECRET_MOUNT = '/run/secrets/gatehouse';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are free-form YAML */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: any };
  [k: string]: any;
};
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Custom resources: no schema for them ships offline, so their tests check what they point at. */
export const CUSTOM_KINDS = new Set([
  'monitoring.coreos.com/v1/ServiceMonitor',
  'monitoring.coreos.com/v1/PrometheusRule',
  'traefik.io/v1alpha1/Middleware',
  'traefik.io/v1alpha1/IngressRoute',
]);

export function parseObjects(text: string, source: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${source}: ${doc.errors[0]!.message}`);
    const v = doc.toJS() as K8sObject | null;
    if (v !== null) out.push(v);
  }
  return out;
}

export async function readYaml(path: string): Promise<K8sObject[]> {
  return parseObjects(await readFile(path, 'utf8'), path);
}

export interface Kustomization {
  namespace?: string;
  bases?: string[];
  resources?: string[];
  patchesStrategicMerge?: string[];
  configMapGenerator?: { name: string; behavior?: string; files: string[] }[];
}

export async function readKustomization(dir: string): Promise<Kustomization> {
  const [k] = await readYaml(join(KUBE, dir, 'kustomization.yaml'));
  return k as unknown as Kustomization;
}

/** The objects of a kustomization's resource files (bases followed), before patches. */
export async function resourceObjects(dir: string): Promise<K8sObject[]> {
  const k = await readKustomization(dir);
  const out: K8sObject[] = [];
  for (const b of k.bases ?? []) out.push(...(await resourceObjects(join(dir, b))));
  for (const r of k.resources ?? []) out.push(...(await readYaml(join(KUBE, dir, r))));
  return out;
}

/** The files of the ConfigMap gatehouse-config as an overlay builds it (bases first, merged by name). */
export async function configFiles(dir: string): Promise<Map<string, string>> {
  const k = await readKustomization(dir);
  const files = new Map<string, string>();
  for (const b of k.bases ?? []) for (const [n, t] of await configFiles(join(dir, b))) files.set(n, t);
  for (const g of k.configMapGenerator ?? []) {
    if (g.name !== 'gatehouse-config') continue;
    for (const f of g.files) files.set(f, await readFile(join(KUBE, dir, f), 'utf8'));
  }
  return files;
}

/** The Secret keys a kustomization's header tells the operator to create (`--from-literal=KEY=`). */
export async function documentedSecretKeys(dir: string): Promise<string[]> {
  const text = await readFile(join(KUBE, dir, 'kustomization.yaml'), 'utf8');
  return [...text.matchAll(/--from-literal=([a-z0-9-]+)=/g)].map((m) => m[1]!).sort();
}

/** `${file:...}` references under the Secret mount in a set of config files. */
export function secretReferences(files: Map<string, string>): string[] {
  const keys = new Set<string>();
  for (const text of files.values()) {
    for (const m of text.matchAll(/\$\{file:([^}]+)\}/g)) {
      const path = m[1]!;
      if (!path.startsWith(`${SECRET_MOUNT}/`)) throw new Error(`\${file:${path}} is not under the Secret mount ${SECRET_MOUNT}`);
      keys.add(path.slice(SECRET_MOUNT.length + 1));
    }
  }
  return [...keys].sort();
}

/**
 * Write a ConfigMap's files to a directory as the kubelet mounts them, with the Secret's files
 * in a second directory standing in for /run/secrets/gatehouse (the only change to the text).
 */
export async function materialize(
  files: Map<string, string>,
  secrets: Record<string, string>,
): Promise<{ dir: string; configDir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-kube-'));
  const configDir = join(dir, 'config');
  const secretDir = join(dir, 'secrets');
  await mkdir(configDir);
  await mkdir(secretDir, { mode: 0o700 });
  for (const [name, text] of files)
    await writeFile(join(configDir, name), text.replaceAll(`\${file:${SECRET_MOUNT}/`, `\${file:${secretDir}/`));
  for (const [k, v] of Object.entries(secrets)) await writeFile(join(secretDir, k), v, { mode: 0o400 });
  return { dir, configDir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const modulePath = (o: K8sObject): string => `kubernetes-models/${o.apiVersion}/${o.kind}`;

/** Validate built-in objects with kubernetes-models' compiled OpenAPI validators; returns what failed. */
export async function schemaErrors(objects: K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const o of objects) {
    const where = `${o.kind}/${o.metadata?.name}`;
    if (CUSTOM_KINDS.has(`${o.apiVersion}/${o.kind}`)) continue;
    let mod: Record<string, new (data: unknown) => { validate(): void }>;
    try {
      mod = (await import(modulePath(o))) as typeof mod;
    } catch {
      errors.push(`${where}: no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    const Model = mod[o.kind];
    if (!Model) {
      errors.push(`${where}: no model ${o.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (err) {
      errors.push(`${where}: ${(err as Error).message}`);
    }
  }
  return errors;
}

/**
 * Fields the API does not have: each object becomes an object literal typed with its
 * kubernetes-models interface, and tsc's excess-property check names any unknown field at any
 * depth. Returns tsc's diagnostics (empty when every field is known).
 */
export async function unknownFieldErrors(objects: K8sObject[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-kube-tsc-'));
  try {
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const lines: string[] = [];
    objects
      .filter((o) => !CUSTOM_KINDS.has(`${o.apiVersion}/${o.kind}`))
      .forEach((o, i) => {
        lines.push(`import type { I${o.kind} as T${i} } from '${modulePath(o)}';`);
        lines.push(`// ${o.kind}/${o.metadata.name}\nexport const o${i}: T${i} = ${JSON.stringify(o, null, 2)};`);
      });
    await writeFile(join(dir, 'objects.ts'), lines.join('\n') + '\n');
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2024',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ['objects.ts'],
      }),
    );
    try {
      await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir });
      return '';
    } catch (err) {
      return String((err as { stdout?: string }).stdout || (err as Error).message);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
