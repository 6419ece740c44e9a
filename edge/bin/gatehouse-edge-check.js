#!/usr/bin/env node
// gatehouse-edge-check [wrangler.jsonc]: refuses a wrangler config in which a path the rules
// protect could be served as a static asset before the Worker runs. Exit 0: safe; 1: refused
// (every problem printed); 2: the file could not be read or parsed.
import { readFile } from 'node:fs/promises';

const file = process.argv[2] ?? 'wrangler.jsonc';
// Installed: the built package (dist/). In the repository: the TypeScript source (Node strips
// types, except under node_modules), so a stale build is never what gets checked.
const installed = import.meta.url.includes('/node_modules/');
const { checkWranglerConfig, parseJsonc } = installed ? await import('../dist/wrangler.js') : await import('../src/wrangler.ts');

let config;
try {
  const text = await readFile(file, 'utf8');
  config = file.endsWith('.toml') ? undefined : parseJsonc(text);
  if (config === undefined) {
    console.error(
      `gatehouse-edge-check: ${file}: only wrangler.json / wrangler.jsonc are read; convert the TOML file (wrangler supports both)`,
    );
    process.exit(2);
  }
} catch (e) {
  console.error(`gatehouse-edge-check: ${file}: ${e.message}`);
  process.exit(2);
}
const result = checkWranglerConfig(config);
if (result.ok) {
  console.error(`gatehouse-edge-check: ${file}: ok: no protected path can be served before the Worker`);
  process.exit(0);
}
for (const p of result.problems) console.error(`gatehouse-edge-check: ${file}: ${p}`);
process.exit(1);
