// docs/architecture.md: a folder of src/ is entered only through its index.ts, and an index.ts
// exports only what other folders (or tests, bench and scripts) use. A name nobody outside the
// folder imports is an internal detail: it stays in its module, unexported from index.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const root = join(import.meta.dirname, '..', '..');

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The folder of src/ a file is in: '' for src/main.ts, null outside src/. */
function folderOf(p: string): string | null {
  const r = relative(join(root, 'src'), p);
  if (r.startsWith('..')) return null;
  const parts = r.split(sep);
  return parts.length > 1 ? (parts[0] as string) : '';
}

const parse = (file: string) => ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);

/** For each src/<folder>/index.ts, the names imported from it by files outside the folder (tests anywhere count). */
function namesUsed(): Map<string, Set<string>> {
  const used = new Map<string, Set<string>>();
  const files = ['src', 'test', 'bench', 'scripts', 'edge'].flatMap((d) => walk(join(root, d)));
  const note = (file: string, spec: string, names: string[] | '*') => {
    const target = resolve(dirname(file), spec);
    const folder = folderOf(target);
    if (!target.endsWith(`${sep}index.ts`) || folder === null || folder === '') return;
    if (folderOf(file) === folder && !file.endsWith('.test.ts')) return;
    const set = used.get(target) ?? new Set<string>();
    used.set(target, set);
    for (const n of names === '*' ? ['*'] : names) set.add(n);
  };
  for (const file of files) {
    // Dynamic imports: `const { a, b: c } = await import('…')` names what it takes; any other
    // use of the module object counts as all of it.
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:const\s*\{([^}]*)\}\s*=\s*)?(?:await\s+)?import\(\s*'(\.[^']+)'\s*\)/g)) {
      note(
        file,
        m[2] as string,
        m[1] === undefined
          ? '*'
          : m[1]
              .split(',')
              .map((x) => x.split(':')[0]!.trim())
              .filter(Boolean),
      );
    }
    parse(file).forEachChild((node) => {
      if (!(ts.isImportDeclaration(node) || ts.isExportDeclaration(node))) return;
      const spec = node.moduleSpecifier;
      if (spec === undefined || !ts.isStringLiteral(spec) || !spec.text.startsWith('.')) return;
      const target = resolve(dirname(file), spec.text);
      const folder = folderOf(target);
      if (!target.endsWith(`${sep}index.ts`) || folder === null || folder === '') return;
      if (folderOf(file) === folder && !file.endsWith('.test.ts')) return;
      const set = used.get(target) ?? new Set<string>();
      used.set(target, set);
      if (ts.isImportDeclaration(node)) {
        const bindings = node.importClause?.namedBindings;
        if (bindings !== undefined && ts.isNamespaceImport(bindings)) set.add('*');
        if (bindings !== undefined && ts.isNamedImports(bindings))
          for (const e of bindings.elements) set.add((e.propertyName ?? e.name).text);
      } else if (node.exportClause !== undefined && ts.isNamedExports(node.exportClause)) {
        for (const e of node.exportClause.elements) set.add((e.propertyName ?? e.name).text);
      } else set.add('*');
    });
  }
  return used;
}

/** The names an index.ts exports. */
function exported(index: string): string[] {
  const sf = parse(index);
  const names: string[] = [];
  sf.forEachChild((node) => {
    if (ts.isExportDeclaration(node) && node.exportClause !== undefined && ts.isNamedExports(node.exportClause)) {
      for (const e of node.exportClause.elements) names.push(e.name.text);
      return;
    }
    const exportedDecl = ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (!exportedDecl) return;
    if (ts.isVariableStatement(node)) for (const d of node.declarationList.declarations) names.push(d.name.getText(sf));
    else if (
      (ts.isFunctionDeclaration(node) ||
        ts.isClassDeclaration(node) ||
        ts.isInterfaceDeclaration(node) ||
        ts.isTypeAliasDeclaration(node)) &&
      node.name
    )
      names.push(node.name.text);
  });
  return names;
}

test('every src/<folder>/index.ts exports only names some other folder, test, bench or script imports', () => {
  const used = namesUsed();
  // A folder's door: src/<folder>/index.ts (an index.ts deeper down is the folder's own business).
  const indexes = walk(join(root, 'src')).filter(
    (p) => relative(join(root, 'src'), p).split(sep).length === 2 && p.endsWith(`${sep}index.ts`),
  );
  assert.ok(indexes.length >= 10, `found ${indexes.length} index.ts files`);
  const unused: string[] = [];
  for (const index of indexes) {
    const names = used.get(index) ?? new Set<string>();
    if (names.has('*')) continue;
    for (const name of exported(index)) if (!names.has(name)) unused.push(`${relative(root, index)}: ${name}`);
  }
  assert.deepEqual(unused, [], 'exported from index.ts but imported by no other folder: keep them inside the folder');
});
