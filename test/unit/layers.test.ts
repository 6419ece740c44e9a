// The layer rule of docs/architecture.md as the lint checks it (scripts/layers.js).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
// @ts-expect-error plain JavaScript module shared with eslint.config.js, no type declarations
import { layerProblem, readLayers, repoRoot } from '../../scripts/layers.js';

const src = (p: string) => join(repoRoot as string, 'src', p);
const layers = (readLayers as () => string[])();
const problem = layerProblem as (layers: string[], file: string, spec: string) => string | undefined;

test('the Rooms table of docs/architecture.md gives the order, top to bottom', () => {
  assert.equal(layers[0], 'core');
  for (const f of ['config', 'crypto', 'store', 'policy', 'accounts', 'sessions', 'http', 'gateway', 'portal', 'issuer', 'app', 'cli']) {
    assert.ok(layers.includes(f), f);
  }
  assert.ok(layers.indexOf('store') < layers.indexOf('gateway'));
  assert.equal(layers.at(-1), 'cli');
});

test('each kind of import, judged', () => {
  const cases: Array<[file: string, spec: string, expected: RegExp | undefined]> = [
    ['gateway/verdict.ts', '../core/index.ts', undefined],
    ['gateway/verdict.ts', './bearer.ts', undefined],
    ['gateway/verdict.ts', '../store/index.ts', undefined],
    ['gateway/verdict.ts', 'jose', undefined],
    ['gateway/verdict.ts', 'node:crypto', undefined],
    ['main.ts', './cli/index.ts', undefined],
    ['store/sqlite/store.ts', '../../core/index.ts', undefined],
    ['store/sqlite/store.ts', '../ports.ts', undefined],
    ['core/errors.ts', '../gateway/index.ts', /src\/core\/ may not import src\/gateway\/, which is below it/],
    ['gateway/verdict.ts', '../issuer/index.ts', /src\/gateway\/ may not import src\/issuer\//],
    ['issuer/provider.ts', '../store/sqlite/store.ts', /import src\/store\/ through its index\.ts, not store\/sqlite\/store\.ts/],
    ['main.ts', './app/gatehouse.ts', /through its index\.ts/],
    ['gateway/verdict.ts', '../nowhere/index.ts', /src\/nowhere\/ is not in the Rooms table/],
  ];
  for (const [file, spec, expected] of cases) {
    const got = problem(layers, src(file), spec);
    if (expected === undefined) assert.equal(got, undefined, `${file} → ${spec}`);
    else assert.match(got ?? '(no problem)', expected, `${file} → ${spec}`);
  }
});

test('a page without the Rooms table is refused, not read as "no rule"', () => {
  assert.throws(() => (readLayers as (doc: string) => string[])(join(repoRoot as string, 'README.md')), /no "## Rooms" section/);
});
