// Rules at the edge: the same kinds as Gatehouse's apps (paths, methods, public, allow, deny), in
// order, first match decides, default deny. Pure: no I/O, no clock.
//
// Two things differ from the gate, both because a Worker sits in front of a static asset store
// rather than behind a proxy that already routed the request:
//
// 1. Paths compare case-insensitively. An origin or an asset store that folds case must not give
//    a protected page a second, unprotected name.
// 2. Every name the asset store may serve one file under is decided, and the strictest decision
//    of a rule that matches one of them wins. Cloudflare's asset server answers `/secret`, `/secret.html`, `/secret/` and
//    `/secret/index.html` with one of the same two files (html_handling), so a rule for
//    `/secret` must cover them all, and a public `/**` after it must not open `/secret.html`.
//
// Paths are read the way Gatehouse reads them, with the same code (paths.ts): normalized (cut at
// "?"/"#", decoded exactly once, control characters and anything still percent-encoded refused,
// "\\" -> "/", dot segments resolved), and also split first, with ";parameters" dropped, raw, and
// per RFC 3986, because the app behind the Worker may read the bytes any of those ways. Every
// reading is decided (with every asset name of it) and the strictest decision wins; a path whose
// structure depends on decoding (an encoded "/" or "\\", a ";", an encoded dot segment) is never
// public. A malformed path is denied before any rule.

import { readPath } from './paths.ts';

export interface Subject {
  users?: string[];
  groups?: string[];
  emails?: string[];
  emailDomains?: string[];
  anyUser?: boolean;
}

export interface Rule {
  /** For messages only. */
  name?: string;
  /** Path patterns (default: every path): "/api" (it and below), "/api/" (below), "/a/*" (one segment), "/a/**" (anything below),
   * and, at the edge only, "=/" (exactly this path: a public landing page above protected pages). */
  paths?: string[];
  methods?: string[];
  public?: true;
  allow?: Subject;
  deny?: true | Subject;
}

export interface Identity {
  sub: string;
  username: string;
  email: string | null;
  groups: string[];
}

export type Action = 'public' | 'allow' | 'deny' | 'authenticate';

export interface Decision {
  action: Action;
  /** The deciding rule's name (or "rules[i]"), null when no rule decided. */
  rule: string | null;
  reason: string;
}

export interface NormalizedPath {
  path: string;
  ok: boolean;
}

const AMBIGUOUS = 'ambiguous path (its structure depends on decoding): never public';

/** The path a rule sees: see the top of this file. Lowercase; ok: false for a path to deny. */
export function normalizePath(raw: string): NormalizedPath {
  const n = readPath(raw);
  return n.ok ? { path: n.path.toLowerCase(), ok: true } : { path: n.path, ok: false };
}

/**
 * Every name a static asset store may serve the same file under (Cloudflare's html_handling:
 * auto-trailing-slash, force-trailing-slash, drop-trailing-slash, none), the path itself first.
 */
export function assetAliases(path: string): string[] {
  const names = new Set<string>([path]);
  const add = (p: string) => {
    if (p.startsWith('/')) names.add(p === '' ? '/' : p);
  };
  if (path.endsWith('/index.html')) {
    const dir = path.slice(0, -'index.html'.length);
    add(dir);
    if (dir !== '/') add(dir.slice(0, -1));
  } else if (path.endsWith('.html')) {
    const stem = path.slice(0, -'.html'.length);
    if (stem !== '' && !stem.endsWith('/')) {
      add(stem);
      add(`${stem}/`);
    }
  } else if (path.endsWith('/')) {
    add(`${path}index.html`);
    if (path !== '/') {
      add(path.slice(0, -1));
      add(`${path.slice(0, -1)}.html`);
    }
  } else {
    add(`${path}.html`);
    add(`${path}/`);
    add(`${path}/index.html`);
  }
  return [...names];
}

type Matcher = (path: string) => boolean;

const REGEX_SPECIAL = /[.+?^${}()|[\]\\]/g;

/** Gatehouse's path patterns (src/policy/pattern.ts), compared lowercase. */
export function compilePattern(raw: string): Matcher {
  const pattern = raw.toLowerCase();
  // "=/path": exactly this path. Gatehouse's patterns all match a subtree; a Worker's landing
  // page at "/" must be public without making everything below it public.
  if (pattern.startsWith('=')) {
    const exact = pattern.slice(1);
    return (p) => p === exact;
  }
  if (!pattern.includes('*')) {
    if (pattern.endsWith('/')) return (p) => p.startsWith(pattern);
    const below = `${pattern}/`;
    return (p) => p === pattern || p.startsWith(below);
  }
  const source = pattern
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((lit) => lit.replace(REGEX_SPECIAL, '\\$&'))
        .join('[^/]+'),
    )
    .join('.*');
  const re = new RegExp(`^${source}$`);
  return (p) => re.test(p);
}

interface CompiledSubject {
  users: Set<string>;
  groups: Set<string>;
  emails: Set<string>;
  emailDomains: Set<string>;
  anyUser: boolean;
  empty: boolean;
}

function compileSubject(s: Subject | undefined): CompiledSubject | null {
  if (s === undefined) return null;
  const lower = (xs: string[] | undefined) => new Set((xs ?? []).map((x) => x.toLowerCase()));
  const c = {
    users: lower(s.users),
    groups: new Set(s.groups ?? []),
    emails: lower(s.emails),
    emailDomains: lower(s.emailDomains),
    anyUser: s.anyUser === true,
  };
  return { ...c, empty: !c.anyUser && c.users.size + c.groups.size + c.emails.size + c.emailDomains.size === 0 };
}

function subjectMatches(s: CompiledSubject, id: Identity): boolean {
  if (s.anyUser) return true;
  if (s.users.has(id.username.toLowerCase())) return true;
  if (id.groups.some((g) => s.groups.has(g))) return true;
  // The identity's email is set only when the issuer said it is verified (see session.ts).
  const email = id.email?.toLowerCase() ?? null;
  if (email !== null) {
    const at = email.indexOf('@');
    if (s.emails.has(email)) return true;
    if (at > 0 && email.indexOf('@', at + 1) === -1 && s.emailDomains.has(email.slice(at + 1))) return true;
  }
  return false;
}

interface CompiledRule {
  name: string;
  paths: Matcher[] | null;
  methods: Set<string> | null;
  denyAll: boolean;
  isPublic: boolean;
  allow: CompiledSubject | null;
  deny: CompiledSubject | null;
}

export interface Policy {
  readonly rules: readonly Rule[];
  decide(method: string, rawPath: string, identity: Identity | null): Decision;
}

const RANK: Record<Action, number> = { public: 0, allow: 1, authenticate: 2, deny: 3 };

/** Problems in a rule list, each naming its path (`rules[2].allow.groups`); empty when valid. */
export function ruleProblems(rules: unknown): string[] {
  if (!Array.isArray(rules)) return ['rules: expected an array of rules'];
  const out: string[] = [];
  const strings = (v: unknown, at: string, check?: (s: string) => string | null) => {
    if (v === undefined) return;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) {
      out.push(`${at}: expected an array of non-empty strings`);
      return;
    }
    for (const s of v as string[]) {
      const p = check?.(s);
      if (p) out.push(`${at}: ${p}`);
    }
  };
  const subject = (v: unknown, at: string) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      out.push(`${at}: expected an object with users, groups, emails, emailDomains or anyUser`);
      return;
    }
    for (const k of Object.keys(v))
      if (!['users', 'groups', 'emails', 'emailDomains', 'anyUser'].includes(k)) out.push(`${at}.${k}: unknown key`);
    const o = v as Record<string, unknown>;
    for (const k of ['users', 'groups', 'emails', 'emailDomains']) strings(o[k], `${at}.${k}`);
    if (o.anyUser !== undefined && o.anyUser !== true) out.push(`${at}.anyUser: expected true`);
  };
  rules.forEach((r: unknown, i) => {
    const at = `rules[${i}]`;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) {
      out.push(`${at}: expected an object`);
      return;
    }
    const o = r as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!['name', 'paths', 'methods', 'public', 'allow', 'deny'].includes(k)) out.push(`${at}.${k}: unknown key`);
    if (o.name !== undefined && typeof o.name !== 'string') out.push(`${at}.name: expected a string`);
    strings(o.paths, `${at}.paths`, (s) =>
      /^=?\/[^?#\s]*$/.test(s) && !(s.startsWith('=') && s.includes('*'))
        ? null
        : `"${s}" must start with "/" (or "=/" for one exact path, without "*"), without query, fragment or whitespace`,
    );
    strings(o.methods, `${at}.methods`, (s) => (/^[A-Z]+$/.test(s) ? null : `"${s}" is not an upper-case method`));
    if (o.public !== undefined && o.public !== true) out.push(`${at}.public: expected true`);
    if (o.allow !== undefined) subject(o.allow, `${at}.allow`);
    if (o.deny !== undefined && o.deny !== true) subject(o.deny, `${at}.deny`);
    if (o.public === true && o.allow !== undefined) out.push(`${at}: public and allow together; a public rule admits everyone`);
  });
  return out;
}

export function compilePolicy(rules: readonly Rule[]): Policy {
  const problems = ruleProblems(rules);
  if (problems.length > 0) throw new TypeError(problems.join('; '));
  const compiled: CompiledRule[] = rules.map((r, i) => ({
    name: r.name ?? `rules[${i}]`,
    paths: r.paths ? r.paths.map(compilePattern) : null,
    methods: r.methods ? new Set(r.methods) : null,
    denyAll: r.deny === true,
    isPublic: r.public === true,
    allow: compileSubject(r.allow),
    deny: r.deny === true ? null : compileSubject(r.deny),
  }));

  // One name: Gatehouse's engine (src/policy/engine.ts), steps 2-8.
  function decideOne(method: string, path: string, id: Identity | null): Decision {
    for (const r of compiled) {
      if (r.paths !== null && !r.paths.some((m) => m(path))) continue;
      if (r.methods !== null && !r.methods.has(method)) continue;
      if (r.denyAll) return { action: 'deny', rule: r.name, reason: 'deny: true' };
      if (r.isPublic) return { action: 'public', rule: r.name, reason: 'public' };
      // The first rule that matches decides, as at the gate: its allow not naming a signed-in
      // user is a 403, never a later rule. Only a deny list without allow passes on.
      if (r.allow === null && r.deny === null) return { action: 'deny', rule: r.name, reason: 'no public, allow or deny' };
      if (id === null) return { action: 'authenticate', rule: r.name, reason: 'sign-in required' };
      if (r.deny !== null && subjectMatches(r.deny, id)) return { action: 'deny', rule: r.name, reason: 'denied by subject' };
      if (r.allow !== null) {
        return subjectMatches(r.allow, id)
          ? { action: 'allow', rule: r.name, reason: 'allowed' }
          : { action: 'deny', rule: r.name, reason: 'not allowed' };
      }
    }
    return { action: 'deny', rule: null, reason: 'no rule matched (default deny)' };
  }

  // One reading: the request's own name decides as at the gate; another name of the same file
  // only makes it stricter, and only through a rule that matches it (a name no rule mentions
  // carries no intent: its default deny is not this request's).
  function decideNames(method: string, path: string, identity: Identity | null): Decision {
    let worst = decideOne(method, path, identity);
    if (worst.action === 'deny') return worst;
    for (const name of assetAliases(path).slice(1)) {
      const d = decideOne(method, name, identity);
      if (d.rule === null) continue;
      if (RANK[d.action] > RANK[worst.action]) worst = d;
      if (d.action === 'deny') break;
    }
    return worst;
  }

  return {
    rules,
    decide(method, rawPath, identity) {
      // Every reading of the path (paths.ts: decoded first, split first, with ";parameters"
      // dropped, raw, RFC 3986), compared lower-case; the strictest wins, as at the gate, and a
      // path whose structure depends on decoding is never public: which name the Worker or the
      // asset store acts on is not ours to guess. (Unlike the gate, two readings let through by
      // different rules are not refused: at the edge a rule carries no headers or upstream of
      // its own, so which one decided changes nothing.)
      const read = readPath(rawPath);
      if (!read.ok) return { action: 'deny', rule: null, reason: 'malformed path' };
      let worst: Decision | null = null;
      for (const name of new Set(read.readings.map((r) => r.path.toLowerCase()))) {
        const d = decideNames(method, name, identity);
        if (worst === null || RANK[d.action] > RANK[worst.action]) worst = d;
        if (worst.action === 'deny') return worst;
      }
      const w = worst as Decision;
      return read.ambiguous && w.action === 'public' ? { action: 'deny', rule: w.rule, reason: AMBIGUOUS } : w;
    },
  };
}
