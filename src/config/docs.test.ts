import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REFERENCE_FILE, SCHEMA_FILE, renderConfigReference, renderJsonSchema } from './docs.ts';
import { LINTS } from './lints.ts';

const root = join(import.meta.dirname, '..', '..');

test('docs/config.schema.json is current (run `npm run gen:docs` after changing the schema)', async () => {
  assert.equal(await readFile(join(root, SCHEMA_FILE), 'utf8'), renderJsonSchema());
});

test('docs/config-reference.md is current (run `npm run gen:docs` after changing the schema or lints)', async () => {
  assert.equal(await readFile(join(root, REFERENCE_FILE), 'utf8'), renderConfigReference());
});

test('the JSON Schema rejects unknown keys and the reference documents every key and lint', () => {
  const schema = JSON.parse(renderJsonSchema()) as { additionalProperties: unknown; properties: Record<string, unknown>; title: string };
  assert.equal(schema.additionalProperties, false);
  assert.equal(schema.title, 'Gatehouse configuration');
  const md = renderConfigReference();
  for (const key of Object.keys(schema.properties)) assert.ok(md.includes(`| \`${key}\` |`), key);
  for (const nested of ['listen.port', 'apps[].hosts', 'apps[].allow.emailDomains', 'domains[].cookieDomain', 'signIn.throttle.window']) {
    assert.ok(md.includes(`| \`${nested}\` |`), nested);
  }
  for (const l of LINTS) assert.ok(md.includes(`| \`${l.code}\` | ${l.severity} |`), l.code);
});
