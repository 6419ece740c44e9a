// The trap, caught: Workers Static Assets answers a request for a file in the assets directory
// before the Worker runs, unless `assets.run_worker_first` says otherwise. A sign-in check in the
// Worker then never sees /secret.html. checkWranglerConfig() refuses a wrangler config (JSON or
// JSONC) in which a path that is not public under the rules could be served as an asset first.
//
// Accepted:
//   - no `assets` (the Worker answers everything);
//   - `assets.run_worker_first: true`;
//   - the list form with "/*" (every path to the Worker first) and exceptions "!/dir/*" or
//     "!/file" that are provably public: every path in the exception, and every other name the
//     asset server gives the same file (/dir/index.html is also /dir/ and /dir), is decided
//     "public" by the rules, with no earlier non-public rule overlapping it;
//   - the rules make every path public (nothing to protect).
// Anything else is refused with the exact key and what to write instead. The proof is
// conservative: a config it cannot prove safe is refused, never waved through.
import { assetAliases, compilePattern, ruleProblems, type Rule } from './rules.ts';

export interface WranglerCheck {
  ok: boolean;
  problems: string[];
}

/** JSON with comments and trailing commas (wrangler.jsonc), parsed; throws SyntaxError. */
export function parseJsonc(text: string): unknown {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i] as string;
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) throw new SyntaxError('unterminated /* comment');
      out += ' ';
      i = end + 2;
    } else {
      // A trailing comma before a closing bracket (outside strings: `out` ends in structure).
      if (c === '}' || c === ']') out = out.replace(/,\s*$/, '');
      out += c;
      i++;
    }
  }
  return JSON.parse(out);
}

/** Paths an exception serves without the Worker: one path, or everything strictly under `base/`
 * (base '' = every path). `alias`: another name of such a file, which a rule must not protect
 * (rules.ts: a name no rule matches adds nothing). */
type Region = ({ kind: 'exact'; path: string } | { kind: 'tree'; base: string }) & { alias?: boolean };

interface RuleView {
  rule: Rule;
  matchers: { raw: string; match: (p: string) => boolean }[] | null;
}

/** Whether pattern q (lowercase) matches every path of the region / any path of it (conservative). */
function relation(q: string, match: (p: string) => boolean, r: Region): { covers: boolean; overlaps: boolean } {
  if (r.kind === 'exact') {
    const m = match(r.path);
    return { covers: m, overlaps: m };
  }
  const b = r.base;
  if (b === '') return { covers: q === '/' || q === '/**', overlaps: true }; // every path
  const under = `${b}/`;
  if (q.startsWith('=')) return { covers: false, overlaps: q.slice(1).startsWith(under) };
  const star = q.indexOf('*');
  if (star === -1) {
    if (q.endsWith('/')) return { covers: under.startsWith(q), overlaps: under.startsWith(q) || q.startsWith(under) };
    const covers = b === q || b.startsWith(`${q}/`);
    return { covers, overlaps: covers || q.startsWith(under) };
  }
  const lp = q.slice(0, star);
  return { covers: q === `${lp}**` && under.startsWith(lp), overlaps: under.startsWith(lp) || lp.startsWith(under) };
}

/** Whether every path of the region is public for every method under the rules (first match). */
function provenPublic(rules: RuleView[], r: Region): boolean {
  for (const { rule, matchers } of rules) {
    const skip = rule.public !== true && rule.deny === undefined && (rule.allow === undefined || Object.keys(rule.allow).length === 0);
    let covers = true;
    let overlaps = true;
    if (matchers !== null) {
      const rel = matchers.map((m) => relation(m.raw.toLowerCase(), m.match, r));
      covers = rel.some((x) => x.covers);
      overlaps = rel.some((x) => x.overlaps);
    }
    if (!overlaps || skip) continue;
    // A rule limited to some methods decides only part of the region's requests: not provable.
    if (rule.methods !== undefined) return false;
    if (rule.deny !== undefined) return false;
    if (rule.public === true) {
      if (covers) return true;
      continue; // the paths it matches are public; the rest go on to later rules
    }
    return false;
  }
  return r.alias === true; // default deny: the request's own name is refused; an alias adds nothing
}

/** The regions an exception "!P" serves without the Worker, with the other names of its files. */
function exceptionRegions(pattern: string): Region[] | null {
  const p = pattern.toLowerCase();
  if (!p.startsWith('/')) return null;
  if (p.endsWith('/*') && !p.slice(0, -2).includes('*')) {
    const base = p.slice(0, -2);
    if (base === '') return null; // "!/*": everything
    // /dir/ and /dir/index.html are also /dir and /dir.html to the asset server.
    return [
      { kind: 'tree', base },
      { kind: 'exact', path: base, alias: true },
      { kind: 'exact', path: `${base}.html`, alias: true },
    ];
  }
  if (p.includes('*')) return null;
  const [own, ...others] = assetAliases(p);
  return [{ kind: 'exact', path: own as string }, ...others.map((path): Region => ({ kind: 'exact', path, alias: true }))];
}

function readRules(vars: unknown, at: string, problems: string[]): Rule[] | null {
  const raw = typeof vars === 'object' && vars !== null ? (vars as Record<string, unknown>).GATEHOUSE_RULES : undefined;
  if (raw === undefined) {
    problems.push(`${at}.GATEHOUSE_RULES: missing; the rules decide which paths may skip the Worker`);
    return null;
  }
  let parsed: unknown = raw;
  if (typeof raw === 'string') {
    try {
      parsed = JSON.parse(raw);
    } catch (e) {
      problems.push(`${at}.GATEHOUSE_RULES: not JSON: ${(e as Error).message}`);
      return null;
    }
  }
  const rp = ruleProblems(parsed);
  if (rp.length > 0) {
    problems.push(...rp.map((p) => `${at}.GATEHOUSE_RULES: ${p}`));
    return null;
  }
  return parsed as Rule[];
}

function checkOne(assets: unknown, rules: Rule[] | null, at: string, problems: string[]): void {
  if (assets === undefined) return;
  if (typeof assets !== 'object' || assets === null) {
    problems.push(`${at}: expected an object`);
    return;
  }
  const a = assets as Record<string, unknown>;
  const rwf = a.run_worker_first;
  if (rwf === true) return;
  if (rules === null) return; // already reported
  const views: RuleView[] = rules.map((rule) => ({
    rule,
    matchers: rule.paths ? rule.paths.map((raw) => ({ raw, match: compilePattern(raw) })) : null,
  }));
  if (provenPublic(views, { kind: 'tree', base: '' })) return; // every path public: nothing to protect
  if (rwf === undefined || rwf === false) {
    problems.push(
      `${at}.run_worker_first: ${rwf === undefined ? 'unset (false by default)' : 'false'}: every file under ${typeof a.directory === 'string' ? a.directory : 'the assets directory'} is served before the Worker runs, without sign-in; set "run_worker_first": true`,
    );
    return;
  }
  if (!Array.isArray(rwf) || rwf.some((x) => typeof x !== 'string')) {
    problems.push(`${at}.run_worker_first: expected true or a list of route patterns`);
    return;
  }
  const list = rwf as string[];
  if (!list.includes('/*')) {
    problems.push(
      `${at}.run_worker_first: ${JSON.stringify(list)} sends only these paths to the Worker first; every other file is served without sign-in. Use true, or ["/*", "!/public-dir/*"] with exceptions the rules make public`,
    );
    return;
  }
  for (const entry of list) {
    if (!entry.startsWith('!')) continue;
    const regions = exceptionRegions(entry.slice(1));
    if (regions === null) {
      problems.push(
        `${at}.run_worker_first: "${entry}": only "!/dir/*" or "!/exact/path" exceptions can be checked against the rules; use true or one of those forms`,
      );
      continue;
    }
    const bad = regions.filter((r) => !provenPublic(views, r));
    if (bad.length > 0) {
      const first = bad[0] as Region;
      const what =
        first.kind === 'tree'
          ? `everything under ${first.base}/`
          : first.alias === true
            ? `the file of ${first.path} (under another of its names)`
            : first.path;
      const fix = first.kind === 'tree' ? first.base : `=${first.path}`;
      problems.push(
        `${at}.run_worker_first: "${entry}" serves ${what} before the Worker, but vars.GATEHOUSE_RULES does not make it public; remove the exception, or put a public rule with "paths": ["${fix}"] before any other rule that matches there`,
      );
    }
  }
}

/** Checks a parsed wrangler config (and each of its `env.<name>` sections). */
export function checkWranglerConfig(config: unknown): WranglerCheck {
  const problems: string[] = [];
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    return { ok: false, problems: ['the wrangler config is not an object'] };
  const c = config as Record<string, unknown>;
  const topRules = c.assets === undefined ? null : readRules(c.vars, 'vars', problems);
  checkOne(c.assets, topRules, 'assets', problems);
  const envs = c.env;
  if (typeof envs === 'object' && envs !== null) {
    for (const [name, section] of Object.entries(envs as Record<string, unknown>)) {
      if (typeof section !== 'object' || section === null) continue;
      const s = section as Record<string, unknown>;
      // assets are inherited by environments; vars are not (wrangler's rules).
      const assets = s.assets ?? c.assets;
      if (assets === undefined) continue;
      const rules = readRules(s.vars, `env.${name}.vars`, problems);
      checkOne(assets, rules, s.assets !== undefined ? `env.${name}.assets` : `assets (inherited by env.${name})`, problems);
    }
  }
  return { ok: problems.length === 0, problems };
}
