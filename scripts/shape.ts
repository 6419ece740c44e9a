// The shape of the code in numbers, for reviews of structural changes: the largest files and
// functions of src/, the arrows between its folders (and those that break the layer rule of
// docs/architecture.md), the lines of test fixtures, and how web answers are written.
//   node scripts/shape.ts [DIR]     (DIR: a checkout, default this one; prints Markdown)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

const root = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));

function walk(dir: string, keep: (p: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, keep, out);
    else if (keep(p)) out.push(p);
  }
  return out;
}

const isTest = (p: string) => p.endsWith('.test.ts');
const lines = (p: string) => readFileSync(p, 'utf8').split('\n').length;
const rel = (p: string) => relative(root, p);
const srcFiles = walk(join(root, 'src'), (p) => p.endsWith('.ts') && !p.endsWith('.d.ts') && !isTest(p));

// Functions: declarations, methods, and function/arrow expressions, by line span.
interface Fn {
  name: string;
  file: string;
  lines: number;
}
const fns: Fn[] = [];
for (const file of srcFiles) {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node, owner: string): void => {
    let name: string | undefined;
    if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) name = node.name?.getText(sf) ?? '(anonymous)';
    else if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
      const p = node.parent;
      if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) name = p.name.getText(sf);
      else name = `${owner} (callback)`;
    }
    if (name !== undefined) {
      const span = sf.getLineAndCharacterOfPosition(node.getEnd()).line - sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
      fns.push({ name, file: rel(file), lines: span });
    }
    ts.forEachChild(node, (c) => visit(c, name ?? owner));
  };
  visit(sf, '(top)');
}

// Arrows: relative imports from one folder of src/ into another.
const folder = (p: string): string | undefined => {
  const r = relative(join(root, 'src'), p);
  if (r.startsWith('..')) return undefined;
  const parts = r.split(sep);
  return parts.length === 1 ? '(main)' : parts[0];
};
const pairs = new Map<string, number>();
let crossImports = 0;
let notThroughIndex = 0;
const importRe = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
for (const file of srcFiles) {
  for (const m of readFileSync(file, 'utf8').matchAll(importRe)) {
    const target = resolve(dirname(file), (m[1] ?? m[2])!);
    const a = folder(file);
    const b = folder(target);
    if (a === undefined || b === undefined || a === b) continue;
    crossImports++;
    if (relative(join(root, 'src', b), target) !== 'index.ts') notThroughIndex++;
    pairs.set(`${a} → ${b}`, (pairs.get(`${a} → ${b}`) ?? 0) + 1);
  }
}

// Test fixtures: every non-test TypeScript file under test/ and every helper next to tests in src/.
const fixtures = walk(join(root, 'test'), (p) => p.endsWith('.ts') && !isTest(p));
const count = (re: RegExp) => srcFiles.reduce((n, f) => n + (readFileSync(f, 'utf8').match(re)?.length ?? 0), 0);
const writeHeadFiles = srcFiles.filter((f) => /\.writeHead\(/.test(readFileSync(f, 'utf8'))).map(rel);

const top = <T>(xs: T[], by: (x: T) => number, n: number) => [...xs].sort((x, y) => by(y) - by(x)).slice(0, n);
const out: string[] = [];
out.push(`# Shape of ${root}`, '');
out.push(`src/: ${srcFiles.length} files, ${srcFiles.reduce((n, f) => n + lines(f), 0)} lines (tests excluded)`, '');
out.push(
  '## Largest files',
  '',
  '| lines | file |',
  '|---:|---|',
  ...top(srcFiles, lines, 10).map((f) => `| ${lines(f)} | ${rel(f)} |`),
  '',
);
out.push(
  '## Largest functions',
  '',
  '| lines | function | file |',
  '|---:|---|---|',
  ...top(fns, (f) => f.lines, 12).map((f) => `| ${f.lines} | ${f.name} | ${f.file} |`),
  '',
);
out.push('## Arrows between folders of src/', '');
out.push(
  `${pairs.size} folder pairs, ${crossImports} import statements across folders, ${notThroughIndex} of them not through the target's index.ts`,
  '',
);
out.push(...[...pairs].sort().map(([k, v]) => `- ${k}: ${v}`), '');
out.push('## Test fixtures', '', `${fixtures.length} files, ${fixtures.reduce((n, f) => n + lines(f), 0)} lines`, '');
out.push(...top(fixtures, lines, 12).map((f) => `- ${rel(f)}: ${lines(f)}`), '');
out.push('## Web answers', '');
out.push(
  `- \`.writeHead(\` calls in src/ (tests excluded): ${count(/\.writeHead\(/g)}, in ${writeHeadFiles.length} files: ${writeHeadFiles.join(', ')}`,
);
out.push(`- literal 'no-store': ${count(/no-store/g)}`);
out.push(`- \`portalBase(\` calls: ${count(/portalBase\(/g)}`);
console.log(out.join('\n'));
