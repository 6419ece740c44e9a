// The policy engine: (request facts, identity) -> decision + reason. Pure: no I/O, no clock.
//
// Semantics. The rules are the apps, in config order. A rule's facts are its hosts, paths,
// methods and networks (an absent list matches everything). The FIRST rule whose facts match
// decides; a later rule never rescues a request the first one refused:
//   1. a malformed path (see path.ts) is denied before any rule: reason "malformed path";
//   2. facts don't match                        -> next rule;
//   3. `deny: true`                             -> deny, even anonymous (checked before `public`:
//                                                  a rule that says both fails closed);
//   4. `public: true`                           -> public (2xx for anyone, signed in or not);
//   5. no public, allow or deny                 -> deny (`gatehouse check` refuses such a rule;
//                                                  the engine fails closed on it anyway);
//   6. anonymous                                -> authenticate: who it is decides, so sign in;
//   7. signed in: the deny subject matches      -> deny (within one rule, deny before allow);
//                 the rule has an allow:
//                   its subject matches         -> allow
//                   it does not                 -> deny (403), never a later rule;
//                 a deny list without allow     -> next rule. This is the one fall-through, and
//                                                  it is what the rule says: `deny: {users: [x]}`
//                                                  refuses x and decides nothing for anyone
//                                                  else; explain prints "passed" for it;
//   8. nothing decided                          -> deny, app null, "no rule matched (default
//                                                  deny)", for anonymous requests too: no rule
//                                                  would let anyone in, so sign-in cannot help.
// A path that backends can read more than one way (path.ts readPath) is decided on every
// reading and the strictest decision wins (deny < authenticate < allow < public); two readings
// that would let the request through under different rules are denied ("ambiguous path"), and
// so is a path whose structure depends on decoding (an encoded "/" or "\", ";parameters", an
// encoded dot segment) that every reading would make public: such a path is never public.
// Decisions are precomputed frozen objects: decide() allocates nothing for a plain path beyond
// the normalized path and the identity view.
//
// Rules are indexed by host (exact name and wildcard base). A request's candidates are the
// union of the rules listed under its host and under each parent domain for wildcards, in rule
// order, so the index never changes which rule wins.
import type { AppConfig } from '../config/index.ts';
import { GatehouseError, type Identity } from '../core/index.ts';
import { compileHostPattern, hostKey, matchHostPattern, splitHost } from './host.ts';
import type { HostParts, HostPattern } from './host.ts';
import { readPath, type PathReading, type ReadPath } from './path.ts';
import { compilePathPattern } from './pattern.ts';
import type { PathMatcher } from './pattern.ts';
import { cidrProblem, compileNetworks } from './network.ts';
import type { NetworkMatcher } from './network.ts';
import { compileSubject, subjectMatches, viewOf } from './subject.ts';
import type { CompiledSubject, IdentityView } from './subject.ts';
import type { FactorRequirement } from './factors.ts';

export interface ResolvedHeaderNames {
  readonly user: string;
  readonly email: string;
  readonly groups: string;
  readonly preferredUsername: string;
}

export type Action = 'public' | 'allow' | 'deny' | 'authenticate';

export interface Decision {
  readonly action: Action;
  readonly app: string | null;
  readonly ruleIndex: number | null;
  readonly reason: string;
  /** The deciding app's identity header names, or null when no app decided. */
  readonly headers: ResolvedHeaderNames | null;
  readonly upstream: string | null;
  /** How the deciding app requires someone to have signed in (apps[].factors), or null. */
  readonly factors: FactorRequirement | null;
}

export interface PolicyRequest {
  readonly host: string;
  /** The raw path, possibly with query and fragment; normalized inside. */
  readonly path: string;
  readonly method: string;
  readonly ip: string;
}

export interface CompiledRule {
  readonly index: number;
  readonly app: AppConfig;
  readonly hosts: readonly HostPattern[];
  readonly paths: readonly PathMatcher[] | null;
  /** The same patterns lower-cased, for case-folded readings. */
  readonly foldedPaths: readonly PathMatcher[] | null;
  readonly methods: ReadonlySet<string> | null;
  readonly network: NetworkMatcher | null;
  readonly denyAll: boolean;
  readonly isPublic: boolean;
  readonly allow: CompiledSubject | null;
  readonly deny: CompiledSubject | null;
  readonly decisions: {
    readonly public: Decision;
    readonly denyAll: Decision;
    readonly authenticate: Decision;
    readonly allow: Decision;
    readonly denySubject: Decision;
    /** Signed in, the rule has an allow, and its subject does not match. */
    readonly notAllowed: Decision;
    /** The rule has no public, allow or deny (a config error; fail closed). */
    readonly nothing: Decision;
  };
}

export const DEFAULT_DENY_REASON = 'no rule matched (default deny)';
export const MALFORMED_PATH_REASON = 'malformed path';
export const AMBIGUOUS_PATH_REASON = 'ambiguous path: servers read it differently, and it is never public';

function freeze(d: Decision): Decision {
  return Object.freeze(d);
}

const DEFAULT_DENY = freeze({
  action: 'deny',
  app: null,
  ruleIndex: null,
  reason: DEFAULT_DENY_REASON,
  headers: null,
  upstream: null,
  factors: null,
});
const MALFORMED = freeze({
  action: 'deny',
  app: null,
  ruleIndex: null,
  reason: MALFORMED_PATH_REASON,
  headers: null,
  upstream: null,
  factors: null,
});
const NONE: readonly number[] = Object.freeze([]);

export function pathMatches(rule: CompiledRule, path: string, fold = false): boolean {
  const paths = fold ? rule.foldedPaths : rule.paths;
  if (paths === null) return true;
  for (const m of paths) if (m(path)) return true;
  return false;
}

/** Strictness order for combining the decisions of a path's readings: lower is stricter. */
const RANK: Readonly<Record<Action, number>> = { deny: 0, authenticate: 1, allow: 2, public: 3 };

/** One reading's decision, for explain. */
export interface ReadingDecision {
  readonly reading: PathReading;
  readonly decision: Decision;
}

export function methodMatches(rule: CompiledRule, method: string): boolean {
  return rule.methods === null || rule.methods.has(method) || rule.methods.has(method.toUpperCase());
}

export function networkMatches(rule: CompiledRule, ip: string): boolean {
  return rule.network === null || rule.network(ip);
}

export function hostMatchesRule(rule: CompiledRule, host: HostParts): boolean {
  for (const p of rule.hosts) if (matchHostPattern(p, host)) return true;
  return false;
}

/** How many hosts' candidate rules an engine keeps (decide). */
const HOST_CACHE_MAX = 1024;

export class Policy {
  /** The compiled rules, in order (read by explain). */
  readonly rules: readonly CompiledRule[];
  readonly #exact: ReadonlyMap<string, readonly number[]>;
  /** Wildcard base ("example.org" or "example.org:8443") -> rule indexes. */
  readonly #wildcard: ReadonlyMap<string, readonly number[]>;

  constructor(rules: readonly CompiledRule[]) {
    this.rules = rules;
    this.#foldAll = rules.some((r) => r.app.paths?.some((p) => p !== p.toLowerCase()) === true);
    const exact = new Map<string, number[]>();
    const wildcard = new Map<string, number[]>();
    for (const rule of rules) {
      for (const p of rule.hosts) {
        const map = p.wildcard ? wildcard : exact;
        const key = hostKey({ name: p.base, port: p.port });
        const list = map.get(key) ?? [];
        if (list.at(-1) !== rule.index) list.push(rule.index);
        map.set(key, list);
      }
    }
    this.#exact = exact;
    this.#wildcard = wildcard;
  }

  readonly #foldAll: boolean;

  // The gate decides twice per request (anonymously, then with the identity) on the same path
  // string: remembering the last reading saves the second.
  #lastRaw = '';
  #lastRead: ReadPath = { ok: true, path: '/', readings: [{ path: '/', fold: false }], ambiguous: false };

  /** The readings of a raw path (cached for the last one). */
  read(raw: string): ReadPath {
    if (raw === this.#lastRaw) return this.#lastRead;
    const r = readPath(raw, this.#foldAll);
    this.#lastRaw = raw;
    this.#lastRead = r;
    return r;
  }

  /**
   * The candidate rules of a host as the request names it, computed once per host: the rules are
   * fixed for the engine's life (a reload builds a new one). Bounded: the Host comes from the
   * client, so past HOST_CACHE_MAX different ones the map starts again empty.
   */
  readonly #byHost = new Map<string, readonly number[]>();
  #candidatesOf(host: string): readonly number[] {
    let c = this.#byHost.get(host);
    if (c === undefined) {
      c = this.#candidates(splitHost(host));
      if (this.#byHost.size >= HOST_CACHE_MAX) this.#byHost.clear();
      this.#byHost.set(host, c);
    }
    return c;
  }

  decide(req: PolicyRequest, identity: Identity | null): Decision {
    const read = this.read(req.path);
    if (!read.ok) return MALFORMED;
    const candidates = this.#candidatesOf(req.host);
    const readings = read.readings;
    const first = readings[0] as PathReading;
    const d0 = this.#decideOn(candidates, first.path, first.fold, req, identity, null);
    if (readings.length === 1) return d0;
    const view = identity === null ? null : viewOf(identity);
    const all = [d0];
    for (let i = 1; i < readings.length; i++) {
      const r = readings[i] as PathReading;
      all.push(this.#decideOn(candidates, r.path, r.fold, req, identity, view));
    }
    return neverPublic(read, strictest(all).decision);
  }

  /** Every reading with its decision, and the index of the one that decides (explain). */
  decideEach(
    req: PolicyRequest,
    identity: Identity | null,
  ): { read: ReadPath; each: ReadingDecision[]; decision: Decision; decidedBy: number | null } {
    const read = this.read(req.path);
    if (!read.ok) return { read, each: [], decision: MALFORMED, decidedBy: null };
    const candidates = this.#candidatesOf(req.host);
    const view = identity === null ? null : viewOf(identity);
    const each = read.readings.map((reading) => ({
      reading,
      decision: this.#decideOn(candidates, reading.path, reading.fold, req, identity, view),
    }));
    const { decision, index } = strictest(each.map((e) => e.decision));
    return { read, each, decision: neverPublic(read, decision), decidedBy: index };
  }

  #decideOn(
    candidates: readonly number[],
    path: string,
    fold: boolean,
    req: PolicyRequest,
    identity: Identity | null,
    known: IdentityView | null,
  ): Decision {
    let view = known ?? undefined;
    for (const i of candidates) {
      const rule = this.rules[i] as CompiledRule;
      if (!pathMatches(rule, path, fold) || !methodMatches(rule, req.method) || !networkMatches(rule, req.ip)) continue;
      if (rule.denyAll) return rule.decisions.denyAll;
      if (rule.isPublic) return rule.decisions.public;
      if (rule.allow === null && rule.deny === null) return rule.decisions.nothing;
      if (identity === null) return rule.decisions.authenticate;
      view ??= viewOf(identity);
      if (rule.deny !== null && subjectMatches(rule.deny, view)) return rule.decisions.denySubject;
      if (rule.allow !== null) return subjectMatches(rule.allow, view) ? rule.decisions.allow : rule.decisions.notAllowed;
      // A deny list without allow: its subjects were refused above; it decides nothing for
      // anyone else, so the next rule does.
    }
    return DEFAULT_DENY;
  }

  /**
   * Rule indexes whose hosts match, in rule order. A pattern without a port matches the name on
   * any port (a dev proxy on :8080 serves the same app); a pattern with a port only that port.
   */
  #candidates(host: HostParts): readonly number[] {
    let found: readonly number[] = NONE;
    let merged = false;
    const add = (list: readonly number[] | undefined) => {
      if (list === undefined) return;
      if (found.length === 0) {
        found = list;
        return;
      }
      found = [...new Set([...found, ...list])];
      merged = true;
    };
    add(this.#exact.get(host.name));
    if (host.port !== '') add(this.#exact.get(`${host.name}:${host.port}`));
    if (this.#wildcard.size > 0 && !host.name.includes(':') && host.name.charCodeAt(0) !== 46) {
      const name = host.name;
      // Every parent domain with at least one whole label before it.
      for (let dot = name.indexOf('.', 1); dot !== -1; dot = name.indexOf('.', dot + 1)) {
        if (name.charCodeAt(dot - 1) === 46) return NONE; // an empty label: not a host name
        const base = name.slice(dot + 1);
        add(this.#wildcard.get(base));
        if (host.port !== '') add(this.#wildcard.get(`${base}:${host.port}`));
      }
    }
    return merged ? [...found].sort((a, b) => a - b) : found;
  }
}

/**
 * The strictest of a path's readings' decisions (the first reading on a tie). Readings that
 * would each let the request through, but under different rules, are denied: which rule's
 * headers and upstream apply would depend on which backend reads the path.
 */
function strictest(ds: readonly Decision[]): { decision: Decision; index: number } {
  let index = 0;
  let min = ds[0] as Decision;
  let conflict = false;
  for (let i = 1; i < ds.length; i++) {
    const d = ds[i] as Decision;
    if (RANK[d.action] < RANK[min.action]) {
      min = d;
      index = i;
      conflict = false;
    } else if (RANK[d.action] === RANK[min.action] && d.ruleIndex !== min.ruleIndex) conflict = true;
  }
  if (conflict && RANK[min.action] >= RANK.allow) {
    return {
      decision: freeze({
        action: 'deny',
        app: min.app,
        ruleIndex: min.ruleIndex,
        reason: AMBIGUOUS_PATH_REASON,
        headers: null,
        upstream: null,
        factors: null,
      }),
      index,
    };
  }
  return { decision: min, index };
}

/** An ambiguous path (path.ts) is never public: public on every reading is refused as ambiguous. */
function neverPublic(read: ReadPath, d: Decision): Decision {
  if (!read.ambiguous || d.action !== 'public') return d;
  return freeze({
    action: 'deny',
    app: d.app,
    ruleIndex: d.ruleIndex,
    reason: AMBIGUOUS_PATH_REASON,
    headers: null,
    upstream: null,
    factors: null,
  });
}

export interface HeaderDefaults {
  readonly user: string;
  readonly email: string;
  readonly groups: string;
  readonly preferredUsername: string;
}

/**
 * Compile the apps into a policy. Throws config_invalid for what the schema cannot see (a
 * network entry that is not an address). `defaults` are the top-level identity header names.
 */
export function compilePolicy(apps: readonly AppConfig[], defaults: HeaderDefaults): Policy {
  const problems: string[] = [];
  apps.forEach((app, i) =>
    (app.networks ?? []).forEach((n, j) => {
      const problem = cidrProblem(n);
      if (problem !== undefined) problems.push(`apps[${i}].networks[${j}]: ${problem}`);
    }),
  );
  if (problems.length > 0) {
    throw new GatehouseError('config_invalid', `invalid apps: ${problems.join('; ')}`, { problems });
  }
  const defaultHeaders = Object.freeze({ ...defaults });
  return new Policy(apps.map((app, index) => compileRule(app, index, defaultHeaders)));
}

function compileRule(app: AppConfig, index: number, defaultHeaders: ResolvedHeaderNames): CompiledRule {
  const headers = app.headers === undefined ? defaultHeaders : Object.freeze({ ...app.headers });
  const upstream = app.upstream ?? null;
  const factors: FactorRequirement | null =
    app.factors === undefined ? null : Object.freeze({ factors: app.factors.require, maxAgeMs: app.factors.maxAge ?? null });
  const decision = (action: Action, reason: string): Decision =>
    freeze({ action, app: app.name, ruleIndex: index, reason, headers, upstream, factors });
  const denySubject = app.deny !== undefined && app.deny !== true ? compileSubject(app.deny) : null;
  return {
    index,
    app,
    hosts: app.hosts.map(compileHostPattern),
    paths: app.paths === undefined ? null : app.paths.map(compilePathPattern),
    foldedPaths: app.paths === undefined ? null : app.paths.map((p) => compilePathPattern(p.toLowerCase())),
    methods: app.methods === undefined ? null : new Set(app.methods),
    network: app.networks === undefined ? null : compileNetworks(app.networks),
    denyAll: app.deny === true,
    isPublic: app.public === true,
    allow: app.allow === undefined ? null : compileSubject(app.allow),
    deny: denySubject,
    decisions: {
      public: decision('public', `app ${app.name} is public`),
      denyAll: decision('deny', `app ${app.name} denies everyone`),
      authenticate: decision('authenticate', `app ${app.name} requires sign-in`),
      allow: decision('allow', `app ${app.name} allows this user`),
      denySubject: decision('deny', `app ${app.name} denies this user`),
      notAllowed: decision('deny', `app ${app.name} does not allow this user`),
      nothing: decision('deny', `app ${app.name} has no public, allow or deny`),
    },
  };
}
