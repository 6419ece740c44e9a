// Every YAML config block in these docs passes `gatehouse check`, run as an operator runs it.
// A block with publicUrl is a whole config and is checked as it is; a block without one is a
// fragment and is checked added to the smallest whole config (publicUrl and nothing else).
// `${env:NAME}` and `${file:/path}` references get a 44-character value, as a real secret would
// have. Blocks for other programs (a Traefik file, grafana.ini) share no top-level key with
// Gatehouse's schema and are left out.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { configSchema } from '../../src/config/schema.ts';
import { runCli } from '../../src/cli/index.ts';
import { fakeIO, SECRET_A } from '../kit/server.ts';
import { tempDir } from '../kit/temp.ts';
import { yamlBlocks } from '../kit/docs.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const DOCS = ['docs/mcp.md', 'docs/issuer.md', 'docs/factors.md'];

const OUR_KEYS = new Set(Object.keys(configSchema.shape));

/** The block as one mapping, or undefined when it is not Gatehouse's (no key of ours at the top). */
function ours(text: string): Record<string, unknown> | undefined {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return undefined;
  const first = docs[0]?.toJS() as unknown;
  if (!first || typeof first !== 'object' || !Object.keys(first).some((k) => OUR_KEYS.has(k))) return undefined;
  assert.equal(docs.length, 1, 'a Gatehouse config block is one YAML document');
  return first as Record<string, unknown>;
}

for (const doc of DOCS) {
  describe(doc, () => {
    test('every config block passes gatehouse check', async () => {
      const blocks = yamlBlocks(await readFile(join(ROOT, doc), 'utf8'));
      const dir = await tempDir();
      let checked = 0;
      try {
        for (const b of blocks) {
          const parsed = ours(b.text);
          if (!parsed) continue;
          checked++;
          let whole = 'publicUrl' in parsed ? b.text : stringify({ publicUrl: 'https://auth.example.org', ...parsed });
          // A secret file named in the docs: the same name, in the temp dir, holding a secret.
          for (const m of [...whole.matchAll(/\$\{file:([^}]+)\}/g)]) {
            const file = join(dir, m[1]!.replace(/[^A-Za-z0-9._-]/g, '_'));
            await writeFile(file, SECRET_A);
            whole = whole.replace(m[0], `\${file:${file}}`);
          }
          const path = join(dir, `block-${b.line}.yaml`);
          await writeFile(path, whole);
          const env: NodeJS.ProcessEnv = {};
          for (const m of whole.matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)) env[m[1]!] = SECRET_A;
          const io = fakeIO('', env);
          const code = await runCli(['check', '--config', path], io);
          assert.equal(code, 0, `${doc}:${b.line} fails gatehouse check:\n${[...io.stdout, ...io.stderr].join('\n')}\n---\n${whole}`);
        }
        assert.ok(checked > 0, `${doc} has config blocks`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}

test('the block finder sees every block (a check that finds none proves nothing)', async () => {
  assert.ok(yamlBlocks(await readFile(join(ROOT, 'docs/mcp.md'), 'utf8')).length >= 3);
  assert.ok(yamlBlocks(await readFile(join(ROOT, 'docs/issuer.md'), 'utf8')).length >= 5);
  assert.deepEqual(yamlBlocks('a\n```yaml\nx: 1\n```\n```yml\ny: 2\n```\n'), [
    { line: 3, text: 'x: 1' },
    { line: 6, text: 'y: 2' },
  ]);
});
