// docs/audit.md's table of actions and the code that writes audit events, kept in step: every
// action written anywhere in src/ has its row, and every row names an action the code writes.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    // The store's contract suite is a test suite kept beside the adapters: its events are made up.
    if (statSync(p).isDirectory()) {
      if (p !== join(root, 'src/store/contract')) sources(p, out);
    } else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/**
 * Actions in audit events: an `action: '...'` literal with an `outcome` beside it in the same
 * object or in an object passed straight to an audit function (`this.#audit({ action: ... })`), or a helper's call that passes the action and then the outcome as literals
 * (`record(actor, 'invitation_create', target, 'ok', ...)`).
 */
function actionsInCode(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sources(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\baction: '([a-z][a-z0-9_]*)'/g)) {
      const around = text.slice(Math.max(0, m.index - 200), m.index + 200);
      const before = text.slice(Math.max(0, m.index - 60), m.index);
      if (/\boutcome\b/.test(around) || /audit\w*\(\{[^{}]*$/i.test(before)) found.set(m[1]!, file.slice(root.length + 1));
    }
    for (const m of text.matchAll(
      /\(\s*(?:'[^'\n]*'|[^()'\n]*(?:\([^()\n]*\))?[^()'\n]*),\s*'([a-z][a-z0-9_]*)',[^\n]*?'(?:ok|denied|failed)'/g,
    ))
      found.set(m[1]!, file.slice(root.length + 1));
  }
  return found;
}

function actionsInDocs(): Set<string> {
  const doc = readFileSync(join(root, 'docs/audit.md'), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('Actions'));
  assert.ok(section, 'docs/audit.md has no "## Actions" section');
  return new Set([...section.matchAll(/^\| `([a-z][a-z0-9_]*)` \|/gm)].map((m) => m[1]!));
}

test('every audit action the code writes is in docs/audit.md, and every row there is written by the code', () => {
  const code = actionsInCode();
  const docs = actionsInDocs();
  assert.ok(code.size >= 10, `found only ${code.size} actions in src/: the scan is broken`);
  const undocumented = [...code].filter(([a]) => !docs.has(a)).map(([a, f]) => `${a} (${f})`);
  const stale = [...docs].filter((a) => !code.has(a));
  assert.deepEqual(undocumented, [], 'audit actions missing from the Actions table of docs/audit.md');
  assert.deepEqual(stale, [], 'rows of docs/audit.md that no code writes');
});
