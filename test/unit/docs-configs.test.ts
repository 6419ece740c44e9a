// Every Gatehouse config in README.md and docs/*.md passes `gatehouse check`: each ```yaml block
// whose top-level keys include a config key is loaded through the same loader the CLI uses
// (YAML, ${env:}/${file:} references, schema, lints). A block without publicUrl is a fragment
// (an `apps:` list for one app) and is checked on top of a minimal base file, the way it is
// meant to be pasted. Blocks of other tools (Kubernetes manifests, ArgoCD values) are left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/index.ts';
import { configSchema } from '../../src/config/schema.ts';
import { tempDir } from '../kit/temp.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONFIG_KEYS = new Set(Object.keys(configSchema.shape));
// A 32-byte random-looking value for every secret a block references.
const SECRET = 'q3V8sK2xLw9Zp4Tn7Rb1Yc6Hd0Jf5Ge8Ma2Nu4Ps7Qv=';

interface Block {
  file: string;
  line: number;
  text: string;
}

async function yamlBlocks(): Promise<Block[]> {
  const files = [
    'README.md',
    ...(await readdir(path.join(root, 'docs')))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ];
  const blocks: Block[] = [];
  for (const file of files) {
    const text = await readFile(path.join(root, file), 'utf8');
    for (const m of text.matchAll(/^```ya?ml\n([\s\S]*?)^```/gm)) {
      blocks.push({ file, line: text.slice(0, m.index).split('\n').length, text: m[1] as string });
    }
  }
  return blocks;
}

test('every Gatehouse config block in README.md and docs/*.md passes gatehouse check', async () => {
  const dir = await tempDir('docs-configs');
  try {
    const secretFile = path.join(dir, 'secret');
    await writeFile(secretFile, SECRET);
    let checked = 0;
    const failures: string[] = [];
    for (const block of await yamlBlocks()) {
      // Multi-document blocks are Kubernetes manifests; a config is one document.
      const docs = YAML.parseAllDocuments(block.text);
      const data: unknown = docs.length === 1 ? docs[0]?.toJS() : null;
      const keys = data !== null && typeof data === 'object' && !Array.isArray(data) ? Object.keys(data) : [];
      if (!keys.some((k) => CONFIG_KEYS.has(k))) continue;
      checked++;
      const where = `${block.file}:${block.line}`;
      const blockDir = await mkdtemp(path.join(dir, 'block-'));
      // Secrets named by reference point at a test file; environment references get a value.
      const text = block.text.replace(/\$\{file:[^}]+\}/g, `\${file:${secretFile}}`);
      const env: NodeJS.ProcessEnv = {};
      for (const m of text.matchAll(/\$\{env:([A-Za-z0-9_]+)\}/g)) {
        const name = m[1] as string;
        env[name] = /DATABASE/.test(name) ? 'postgres://gatehouse@127.0.0.1:5432/gatehouse' : SECRET;
      }
      await writeFile(path.join(blockDir, '50-block.yaml'), text);
      if (!keys.includes('publicUrl')) {
        const base: Record<string, unknown> = { publicUrl: 'https://auth.example.org' };
        if (!keys.includes('secrets')) base.secrets = { session: SECRET };
        await writeFile(path.join(blockDir, '00-base.yaml'), YAML.stringify(base));
      }
      try {
        const loaded = await loadConfig({ path: blockDir, env });
        for (const l of loaded.lints) failures.push(`${where}: warning ${l.code}: ${l.path}: ${l.message}`);
      } catch (err) {
        const problems = (err as { problems?: unknown }).problems;
        failures.push(`${where}: ${(err as Error).message}${Array.isArray(problems) ? `: ${problems.join('; ')}` : ''}`);
      }
    }
    assert.deepEqual(failures, []);
    // README's minimal config, docs/apps.md (2), docs/connectors.md, docs/issuer.md (5), docs/mcp.md.
    assert.ok(checked >= 10, `only ${checked} config blocks found`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
