// The wrangler-config check (edge/src/wrangler.ts) and its CLI: the trap refused with its exact
// key, the safe forms accepted, and a property that whatever it accepts is really public.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { checkWranglerConfig, parseJsonc } from '../../edge/src/wrangler.ts';
import { compilePolicy, type Rule } from '../../edge/src/rules.ts';
import { tempDir } from '../kit/temp.ts';

const RULES: Rule[] = [
  { paths: ['=/', '=/index.html', '/assets'], public: true },
  { paths: ['/admin'], allow: { groups: ['admins'] } },
  { paths: ['/admin'], deny: true },
  { allow: { groups: ['staff'] } },
];
const cfg = (assets: Record<string, unknown> | undefined, rules: unknown = RULES) => ({
  name: 'x',
  main: 'src/index.js',
  ...(assets ? { assets: { directory: './public', binding: 'ASSETS', ...assets } } : {}),
  vars: { GATEHOUSE_RULES: rules },
});
const TRAP_UNSET =
  'assets.run_worker_first: unset (false by default): every file under ./public is served before the Worker runs, without sign-in; set "run_worker_first": true';

describe('edge wrangler check', () => {
  test('parseJsonc: comments and trailing commas, but never inside strings', () => {
    assert.deepEqual(
      parseJsonc(`{
      // a comment "with quotes"
      "a": "http://x/*not a comment*/", /* block
      comment */ "b": [1, 2,],
      "c": "a,]", "d": "\\"//\\"",
    }`),
      { a: 'http://x/*not a comment*/', b: [1, 2], c: 'a,]', d: '"//"' },
    );
    assert.throws(() => parseJsonc('{ /* open'), { message: 'unterminated /* comment' });
    assert.throws(() => parseJsonc('{ "a": }'), SyntaxError);
  });

  test('run_worker_first unset or false: refused with the key and the fix; true: accepted; no assets: accepted', () => {
    assert.deepEqual(checkWranglerConfig(cfg({})), { ok: false, problems: [TRAP_UNSET] });
    assert.deepEqual(checkWranglerConfig(cfg({ run_worker_first: false })).problems, [
      TRAP_UNSET.replace('unset (false by default)', 'false'),
    ]);
    assert.deepEqual(checkWranglerConfig(cfg({ run_worker_first: true })), { ok: true, problems: [] });
    assert.deepEqual(checkWranglerConfig(cfg(undefined)), { ok: true, problems: [] });
    assert.deepEqual(checkWranglerConfig(cfg({ run_worker_first: 'yes' })).problems, [
      'assets.run_worker_first: expected true or a list of route patterns',
    ]);
  });

  test('rules that make everything public need no Worker first', () => {
    assert.deepEqual(checkWranglerConfig(cfg({}, [{ public: true }])), { ok: true, problems: [] });
    assert.deepEqual(checkWranglerConfig(cfg({}, [{ paths: ['/**'], public: true }])), { ok: true, problems: [] });
    assert.equal(checkWranglerConfig(cfg({}, [{ paths: ['/secret'], deny: true }, { public: true }])).ok, false);
  });

  test('the list form: "/*" required; exceptions only where the rules make every name public', () => {
    assert.deepEqual(checkWranglerConfig(cfg({ run_worker_first: ['/admin/*', '/secret*'] })).problems, [
      'assets.run_worker_first: ["/admin/*","/secret*"] sends only these paths to the Worker first; every other file is served without sign-in. Use true, or ["/*", "!/public-dir/*"] with exceptions the rules make public',
    ]);
    assert.deepEqual(checkWranglerConfig(cfg({ run_worker_first: ['/*'] })), { ok: true, problems: [] });
    assert.deepEqual(checkWranglerConfig(cfg({ run_worker_first: ['/*', '!/admin/*'] })).problems, [
      'assets.run_worker_first: "!/admin/*" serves everything under /admin/ before the Worker, but vars.GATEHOUSE_RULES does not make it public; remove the exception, or put a public rule with "paths": ["/admin"] before any other rule that matches there',
    ]);
    assert.deepEqual(checkWranglerConfig(cfg({ run_worker_first: ['/*', '!/*.png'] })).problems, [
      'assets.run_worker_first: "!/*.png": only "!/dir/*" or "!/exact/path" exceptions can be checked against the rules; use true or one of those forms',
    ]);
    const withAlias = structuredClone(RULES);
    withAlias[0]!.paths!.push('=/assets.html', '/favicon.ico', '=/favicon.ico.html');
    assert.deepEqual(checkWranglerConfig(cfg({ run_worker_first: ['/*', '!/assets/*', '!/favicon.ico'] }, withAlias)), {
      ok: true,
      problems: [],
    });
    // An earlier protecting rule inside the exception: refused even though a later public rule covers it.
    const shadowed: Rule[] = [
      { paths: ['/assets/private'], allow: { groups: ['staff'] } },
      { paths: ['/assets', '=/assets.html'], public: true },
      { allow: { groups: ['staff'] } },
    ];
    assert.equal(checkWranglerConfig(cfg({ run_worker_first: ['/*', '!/assets/*'] }, shadowed)).ok, false);
    // A public rule limited to GET does not prove HEAD or POST public.
    assert.equal(
      checkWranglerConfig(
        cfg({ run_worker_first: ['/*', '!/assets/*'] }, [
          { paths: ['/assets', '=/assets.html'], methods: ['GET'], public: true },
          { allow: { anyUser: true } },
        ]),
      ).ok,
      false,
    );
  });

  test("environments: assets are inherited, vars are not (wrangler's rules), each is checked", () => {
    const c = {
      ...cfg({ run_worker_first: true }),
      env: { staging: { vars: { GATEHOUSE_RULES: RULES } }, prod: { assets: { directory: './public' } }, bare: {} },
    };
    assert.deepEqual(checkWranglerConfig(c).problems, [
      'env.prod.vars.GATEHOUSE_RULES: missing; the rules decide which paths may skip the Worker',
      'env.bare.vars.GATEHOUSE_RULES: missing; the rules decide which paths may skip the Worker',
    ]);
    const c2 = {
      ...cfg({ run_worker_first: true }),
      env: { prod: { assets: { directory: './public' }, vars: { GATEHOUSE_RULES: RULES } } },
    };
    assert.deepEqual(checkWranglerConfig(c2).problems, [TRAP_UNSET.replace('assets.', 'env.prod.assets.')]);
  });

  test('bad rules in vars are reported with their path', () => {
    assert.deepEqual(checkWranglerConfig(cfg({}, '[{"paths": ["x"]}]')).problems, [
      'vars.GATEHOUSE_RULES: rules[0].paths: "x" must start with "/" (or "=/" for one exact path, without "*"), without query, fragment or whitespace',
    ]);
    assert.deepEqual(checkWranglerConfig(cfg({}, '[')).problems.length, 1);
  });

  test('property (soundness): whatever exception the check accepts, every path in it is public to an anonymous visitor', () => {
    const seg = fc.constantFrom('a', 'b', 'assets', 'x');
    const dir = fc.array(seg, { minLength: 1, maxLength: 2 }).map((xs) => `/${xs.join('/')}`);
    const pattern = fc.oneof(
      dir,
      dir.map((d) => `${d}/`),
      dir.map((d) => `${d}/**`),
      dir.map((d) => `${d}/*`),
      dir.map((d) => `=${d}`),
      dir.map((d) => `=${d}.html`),
    );
    const rule = fc
      .record({
        paths: fc.array(pattern, { minLength: 1, maxLength: 3 }),
        kind: fc.constantFrom('public', 'allow', 'deny'),
      })
      .map(({ paths, kind }): Rule =>
        kind === 'public' ? { paths, public: true } : kind === 'deny' ? { paths, deny: true } : { paths, allow: { groups: ['staff'] } },
      );
    const rules = fc
      .array(rule, { maxLength: 4 })
      .chain((rs) => fc.constantFrom<Rule[]>([...rs], [...rs, { allow: { groups: ['staff'] } }], [...rs, { public: true }]));
    const rest = fc.array(fc.constantFrom('a', 'b', 'x', 'index.html', 'x.html', ''), { maxLength: 3 }).map((xs) => xs.join('/'));
    let accepted = 0;
    fc.assert(
      fc.property(rules, dir, fc.array(rest, { minLength: 5, maxLength: 5 }), (rs, exc, tails) => {
        const result = checkWranglerConfig(cfg({ run_worker_first: ['/*', `!${exc}/*`] }, rs));
        if (!result.ok) return;
        accepted++;
        const policy = compilePolicy(rs);
        for (const t of tails) {
          const p = `${exc}/${t}`;
          for (const method of ['GET', 'HEAD'])
            assert.equal(
              policy.decide(method, p, null).action,
              'public',
              `${JSON.stringify(rs)} accepted !${exc}/* but ${p} is not public`,
            );
        }
      }),
      { numRuns: 3000 },
    );
    assert.ok(accepted > 50, `the generator reaches accepted configs (${accepted})`);
  });

  test('the CLI: exit 0 on the template, 1 with every problem on the trap, 2 on an unreadable file', async () => {
    const run = promisify(execFile);
    const bin = path.resolve(import.meta.dirname, '../../edge/bin/gatehouse-edge-check.js');
    const ok = await run(process.execPath, [bin, path.resolve(import.meta.dirname, '../../edge/template/wrangler.jsonc')]);
    assert.match(ok.stderr, /: ok: no protected path can be served before the Worker\n$/);
    const dir = await tempDir('edge');
    try {
      const trap = path.join(dir, 'wrangler.jsonc');
      await writeFile(trap, JSON.stringify(cfg({})));
      const bad = await run(process.execPath, [bin, trap]).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      assert.equal(bad?.code, 1);
      assert.equal(bad?.stderr, `gatehouse-edge-check: ${trap}: ${TRAP_UNSET}\n`);
      const missing = await run(process.execPath, [bin, path.join(dir, 'nope.jsonc')]).then(
        () => null,
        (e: { code: number }) => e,
      );
      assert.equal(missing?.code, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
