// Lints: semantic checks on a schema-valid config, one per known trap (see
// /work/shared/STORIES.md). Errors stop start-up and reload; warnings are logged and shown by
// `gatehouse check`. Each has a stable kebab-case code, listed in LINTS for the docs.
// Messages never contain a secret or a database URL: they name paths, hosts and codes only.
import { parse as parseDomain } from 'tldts';
import { isLocalHost } from './local-host.ts';
import { formatIssuePath } from './paths.ts';
import type { AppConfig, Config } from './schema.ts';
import { weakSecretMessage } from './secrets.ts';

export interface Lint {
  severity: 'error' | 'warning';
  /** The config path, formatted like `apps[2].hosts[0]`. */
  path: string;
  message: string;
  /** Stable kebab-case code. */
  code: string;
}

/** Every lint code, its severity and what it catches; the config reference is generated from this. */
export const LINTS = [
  {
    code: 'public-url-required',
    severity: 'error',
    summary: 'a config file without publicUrl: redirects are never built from the bind address',
  },
  { code: 'public-url-http', severity: 'warning', summary: 'publicUrl uses http: on a host other than localhost' },
  { code: 'public-url-trailing-slash', severity: 'error', summary: 'publicUrl ends with "/"' },
  { code: 'public-url-query', severity: 'error', summary: 'publicUrl contains "?" or "#"' },
  {
    code: 'rule-portal-path',
    severity: 'warning',
    summary:
      "an app path on the portal host under the portal's own paths (publicUrl's path, /oauth2/): forward auth answers those itself, so the rule never applies there",
  },
  {
    code: 'resource-gate-path',
    severity: 'error',
    summary:
      "a resources[] URL at a path Gatehouse answers itself (/oauth2/* on any host, or the portal's paths on its host), which forward auth passes without a token",
  },
  {
    code: 'public-url-path',
    severity: 'error',
    summary: 'publicUrl has a path that is not plain segments of letters, digits, "-", ".", "_" and "~" (or one under /oauth2)',
  },
  { code: 'app-decision', severity: 'error', summary: 'an app without exactly one of public, allow or deny' },
  { code: 'allow-empty', severity: 'error', summary: 'an allow that lists nobody, so it matches nobody' },
  { code: 'deny-empty', severity: 'warning', summary: 'a deny mapping that lists nobody, so the rule never decides' },
  { code: 'public-wildcard-host', severity: 'warning', summary: 'public: true on a *. host without paths makes a whole domain public' },
  { code: 'duplicate-app-name', severity: 'error', summary: 'two apps with the same name' },
  {
    code: 'unreachable-rule',
    severity: 'warning',
    summary:
      'an app that an earlier app shadows: the earlier one matches every request it would (hosts, paths, methods, networks) and decides first',
  },
  {
    code: 'portal-host-protected',
    severity: 'error',
    summary: 'an app without paths (and without upstream) protects the portal host, so sign-in would loop',
  },
  { code: 'upstream-loop', severity: 'error', summary: 'an upstream that points at the portal host or at Gatehouse itself' },
  {
    code: 'host-outside-domains',
    severity: 'warning',
    summary: 'an app host not under any domains[] entry: redirects back to it are refused',
  },
  { code: 'cookie-domain-public-suffix', severity: 'error', summary: 'a cookie domain that is a public suffix such as co.uk or github.io' },
  { code: 'cookie-domain-mismatch', severity: 'error', summary: 'a cookieDomain that is not the domain or a parent of it' },
  {
    code: 'trusted-proxies-everyone',
    severity: 'warning',
    summary: 'trustedProxies contains a /0 network, so any client can spoof X-Forwarded-*',
  },
  {
    code: 'trusted-proxies-kind',
    severity: 'warning',
    summary: 'a trustedProxies entry beyond loopback without a kind (nginx or forwarded): both header families are read',
  },
  { code: 'database-url-scheme', severity: 'error', summary: 'database.url is neither postgres(ql):// nor sqlite:' },
  {
    code: 'workers-memory-database',
    severity: 'error',
    summary: 'workers other than 1 with an in-memory SQLite database (sqlite::memory:), which each worker would have a separate copy of',
  },
  { code: 'idle-timeout-exceeds-lifetime', severity: 'warning', summary: 'session.idleTimeout is longer than session.lifetime' },
  { code: 'weak-secret', severity: 'error', summary: 'a secrets.session entry with less than 32 bytes of entropy' },
  {
    code: 'inline-secret',
    severity: 'warning',
    summary: 'a clients[].secret or connectors[].clientSecret written into the config file rather than as ${file:…} or ${env:…}',
  },
  {
    code: 'connector-open-to-everyone',
    severity: 'warning',
    summary: 'a connector with createAccounts: auto and an empty allow: any account upstream can sign in',
  },
] as const satisfies readonly { code: string; severity: Lint['severity']; summary: string }[];

export type LintCode = (typeof LINTS)[number]['code'];

const SEVERITY = new Map<string, Lint['severity']>(LINTS.map((l) => [l.code, l.severity]));

type Emit = (code: LintCode, path: readonly PropertyKey[], message: string) => void;

export interface LintContext {
  /** The config came from a file (not the embedded defaults). */
  fromFile: boolean;
  /**
   * The paths (formatted, `clients[2].secret`) whose value came from a ${env:} or ${file:}
   * reference, as the loader resolved them. Without it nothing is known about how a value was
   * written, and the inline-secret lint does not run.
   */
  referencePaths?: readonly string[];
}

/** Check a schema-valid config for the known traps. */
export function lintConfig(config: Config, ctx: LintContext): Lint[] {
  const lints: Lint[] = [];
  const emit: Emit = (code, path, message) => {
    lints.push({ severity: SEVERITY.get(code) ?? 'error', path: formatIssuePath(path), message, code });
  };
  const portal = config.publicUrl === undefined ? undefined : new URL(config.publicUrl);
  lintPublicUrl(config, ctx, emit);
  lintApps(config, portal, emit);
  lintDomains(config, emit);
  lintTrustedProxies(config, emit);
  lintDatabase(config, emit);
  lintSession(config, emit);
  lintSecrets(config, emit);
  lintConnectors(config, emit);
  if (ctx.referencePaths !== undefined) lintInlineSecrets(config, new Set(ctx.referencePaths), emit);
  lintResources(config, portal, emit);
  return lints;
}

// ---- resources

/**
 * Forward auth answers the gate's and the portal's own paths before any resource or rule
 * (gateway/forward-auth.ts ownPath): a resource there would be passed without a token.
 */
function lintResources(config: Config, portal: URL | undefined, emit: Emit): void {
  const base = portal === undefined ? '' : portal.pathname.replace(/\/+$/, '');
  config.resources.forEach((r, i) => {
    let u: URL;
    try {
      u = new URL(r.resource);
    } catch {
      return;
    }
    const path = u.pathname;
    const onPortal = portal !== undefined && u.hostname.toLowerCase() === portal.hostname.toLowerCase();
    if (path === '/oauth2' || path.startsWith('/oauth2/') || (onPortal && base !== '' && (path === base || path.startsWith(`${base}/`)))) {
      emit(
        'resource-gate-path',
        ['resources', i, 'resource'],
        `${r.resource} is under a path Gatehouse answers itself (${path.startsWith('/oauth2') ? '/oauth2/' : `${base}/ on the portal host`}): forward auth would pass it without a token; move the resource elsewhere`,
      );
    }
  });
}

// ---- publicUrl

function lintPublicUrl(config: Config, ctx: LintContext, emit: Emit): void {
  const raw = config.publicUrl;
  if (raw === undefined) {
    if (ctx.fromFile) emit('public-url-required', ['publicUrl'], 'publicUrl is required: redirects are never built from the bind address');
    return;
  }
  const url = new URL(raw);
  if (url.protocol === 'http:' && !isLocalHost(url.hostname)) {
    emit(
      'public-url-http',
      ['publicUrl'],
      `uses http: on ${url.hostname}; session cookies and sign-in forms would cross the network in clear text (use https:)`,
    );
  }
  // The schema rejects a non-empty query; an empty "?" or "#" parses to an empty search and hash.
  if (raw.includes('?') || raw.includes('#')) emit('public-url-query', ['publicUrl'], 'must not contain a query or fragment');
  else if (raw.endsWith('/')) {
    emit('public-url-trailing-slash', ['publicUrl'], `must not end with "/": write ${raw.replace(/\/+$/, '')}`);
  }
  // The portal's path is matched on raw request paths, and forward auth passes it only when no
  // backend could read it another way (policy/path.ts): a ";", an escape, an empty or a dot
  // segment in it would make the portal's own pages ambiguous (judged by the app rules, a
  // sign-in loop), and the URL parser silently resolves "%2e%2e". /oauth2 is the gate's own.
  const path = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(\/[^?#]*)?/i.exec(raw)?.[1] ?? '';
  const plain = path.replace(/\/+$/, '');
  if (
    plain !== '' &&
    (!/^(\/[A-Za-z0-9._~-]+)+$/.test(plain) ||
      plain.split('/').some((seg) => seg === '.' || seg === '..') ||
      /^\/oauth2(\/|$)/i.test(plain))
  ) {
    emit(
      'public-url-path',
      ['publicUrl'],
      `the path "${path}" must be plain segments of letters, digits, "-", ".", "_" and "~" (such as /auth), and not under /oauth2`,
    );
  }
}

// ---- apps

/** Split "host:port" (port optional). */
function splitHost(h: string): { name: string; port: string | undefined } {
  const i = h.lastIndexOf(':');
  return i < 0 ? { name: h, port: undefined } : { name: h.slice(0, i), port: h.slice(i + 1) };
}

/** Whether an app host pattern matches a concrete host; "*.x" matches subdomains of x on a label boundary, never x. */
export function hostPatternMatches(pattern: string, hostname: string, port: string): boolean {
  const p = splitHost(pattern);
  if (p.port !== undefined && p.port !== port) return false;
  if (p.name.startsWith('*.')) return hostname.endsWith(p.name.slice(1));
  return p.name === hostname;
}

/** Whether a domain covers a host pattern: the domain itself or a subdomain of it. */
function domainCovers(domain: string, hostPattern: string): boolean {
  const name = splitHost(hostPattern).name.replace(/^\*\./, '');
  return name === domain || name.endsWith(`.${domain}`);
}

function appLabel(i: number, app: AppConfig): string {
  return `apps[${i}] (${app.name})`;
}

function subjectIsEmpty(s: Exclude<AppConfig['allow'], undefined>): boolean {
  return !s.anyUser && !s.users?.length && !s.groups?.length && !s.emails?.length && !s.emailDomains?.length;
}

function lintApps(config: Config, portal: URL | undefined, emit: Emit): void {
  lintShadowed(config.apps, emit);
  const firstByName = new Map<string, number>();
  const portalPort = portal ? portal.port || (portal.protocol === 'https:' ? '443' : '80') : '';
  config.apps.forEach((app, i) => {
    const decisions = (['public', 'allow', 'deny'] as const).filter((k) => app[k] !== undefined);
    if (decisions.length === 0) {
      emit('app-decision', ['apps', i], 'expected one of public, allow or deny: the rule matches requests but decides nothing');
    } else if (decisions.length > 1) {
      emit('app-decision', ['apps', i], `expected exactly one of public, allow or deny, got ${decisions.join(' and ')}`);
    }
    if (app.allow !== undefined && subjectIsEmpty(app.allow)) {
      emit('allow-empty', ['apps', i, 'allow'], 'matches nobody: list users, groups, emails or emailDomains, or set anyUser: true');
    }
    if (app.deny !== undefined && app.deny !== true && subjectIsEmpty(app.deny)) {
      emit('deny-empty', ['apps', i, 'deny'], 'lists nobody, so the rule never decides: list subjects, or write deny: true');
    }
    if (app.public && app.paths === undefined) {
      app.hosts.forEach((h, j) => {
        if (h.startsWith('*.')) {
          emit(
            'public-wildcard-host',
            ['apps', i, 'hosts', j],
            `public: true without paths makes every host under ${h.slice(2)} public, including ones added later`,
          );
        }
      });
    }

    const first = firstByName.get(app.name);
    if (first === undefined) firstByName.set(app.name, i);
    else emit('duplicate-app-name', ['apps', i, 'name'], `duplicate app name ${app.name} (first used by apps[${first}])`);

    // In reverse-proxy mode (upstream set) Gatehouse routes /oauth2/* itself before any rule,
    // so only a forward-auth app can lock the portal's own pages behind the portal. A portal
    // under a path (publicUrl https://example.org/auth) shares its host: everything under the
    // path passes forward auth, and the app protects the rest.
    if (portal && portal.pathname === '/' && !app.public && app.paths === undefined && app.upstream === undefined) {
      app.hosts.forEach((h, j) => {
        if (hostPatternMatches(h, portal.hostname, portalPort)) {
          emit(
            'portal-host-protected',
            ['apps', i, 'hosts', j],
            `the portal host ${portal.hostname} is protected by apps[${i}]; the sign-in pages would loop (give the app paths, or serve the portal on its own host)`,
          );
        }
      });
    }

    // Forward auth passes the portal's own paths before any rule (gateway/forward-auth.ts
    // ownPath): a rule written for them never decides anything there.
    if (portal && app.paths !== undefined && app.hosts.some((h) => hostPatternMatches(h, portal.hostname, portalPort))) {
      const base = portal.pathname.replace(/\/+$/, '');
      app.paths.forEach((p, k) => {
        const literal = p.split('*', 1)[0] ?? '';
        if ((base !== '' && (literal === base || literal.startsWith(`${base}/`))) || literal.startsWith('/oauth2/')) {
          emit(
            'rule-portal-path',
            ['apps', i, 'paths', k],
            `${p} on the portal host ${portal.hostname} is the portal's own: forward auth answers it before any rule, so this rule never applies there`,
          );
        }
      });
    }

    if (app.upstream !== undefined) {
      const up = new URL(app.upstream);
      const upPort = up.port || (up.protocol === 'https:' ? '443' : '80');
      if (portal && up.hostname === portal.hostname) {
        emit('upstream-loop', ['apps', i, 'upstream'], `points at the portal host ${portal.hostname}; Gatehouse would proxy to itself`);
      } else if (
        upPort !== '0' &&
        upPort === String(config.listen.port) &&
        (up.hostname === config.listen.host ||
          (isLocalHost(up.hostname) && ['0.0.0.0', '::', '127.0.0.1', 'localhost'].includes(config.listen.host)))
      ) {
        emit(
          'upstream-loop',
          ['apps', i, 'upstream'],
          `points at Gatehouse's own listen address ${config.listen.host}:${config.listen.port}; Gatehouse would proxy to itself`,
        );
      }
    }

    if (config.domains.length > 0) {
      app.hosts.forEach((h, j) => {
        if (!config.domains.some((d) => domainCovers(d.domain, h))) {
          emit(
            'host-outside-domains',
            ['apps', i, 'hosts', j],
            `${splitHost(h).name} is not under any domains[] entry; redirects back to it after sign-in will be refused`,
          );
        }
      });
    }
  });
}

// ---- shadowed rules
//
// The first rule whose host, path, method and network match decides (src/policy/engine.ts);
// only a deny list without allow hands a request on. So a later rule is unreachable when an
// earlier deciding rule matches every request the later one matches. Rules are indexed by host
// (exact name and wildcard base) as they are walked, so each rule is compared only with the
// earlier rules that could cover its first host: near-linear in the number of apps.

interface HostPat {
  name: string;
  port: string | undefined;
  wildcard: boolean;
}

function hostPat(pattern: string): HostPat {
  const { name, port } = splitHost(pattern.toLowerCase());
  const wildcard = name.startsWith('*.');
  return { name: wildcard ? name.slice(2) : name, port, wildcard };
}

/** Does host pattern `a` match every host that `b` matches? */
function hostCovers(a: HostPat, b: HostPat): boolean {
  if (a.port !== undefined && a.port !== b.port) return false;
  if (!a.wildcard) return !b.wildcard && a.name === b.name;
  return b.name.endsWith(`.${a.name}`) || (b.wildcard && b.name === a.name);
}

/** Does path pattern `a` match every path that `b` matches? (Conservative: may say no.) */
function pathCovers(a: string, b: string): boolean {
  if (a === b) return true;
  let prefix: string | undefined;
  if (!a.includes('*')) prefix = a.endsWith('/') ? a : `${a}/`;
  else if (a.endsWith('/**') && !a.slice(0, -3).includes('*')) prefix = a.slice(0, -2);
  // Whatever follows the prefix in b ("*" never crosses "/" upwards) stays below it.
  return prefix !== undefined && b.startsWith(prefix);
}

function listCovers<T>(a: readonly T[] | undefined, b: readonly T[] | undefined, covers: (x: T, y: T) => boolean): boolean {
  if (a === undefined) return true;
  if (b === undefined) return false;
  return b.every((y) => a.some((x) => covers(x, y)));
}

/** Whether the earlier app matches every request the later one matches. */
function appCovers(earlier: AppConfig, later: AppConfig, eh: readonly HostPat[], lh: readonly HostPat[]): boolean {
  if (!lh.every((y) => eh.some((x) => hostCovers(x, y)))) return false;
  if (earlier.paths !== undefined) {
    // A later rule without paths matches every path: only "/" or "/**" covers that.
    const laterPaths = later.paths ?? ['/**'];
    if (!listCovers(earlier.paths, laterPaths, (x, y) => pathCovers(x, y) || x === '/' || x === '/**')) return false;
  }
  return listCovers(earlier.methods, later.methods, (x, y) => x === y) && listCovers(earlier.networks, later.networks, (x, y) => x === y);
}

/** A rule that decides every request it matches (anything but a deny list without allow). */
function decidesAll(app: AppConfig): boolean {
  return app.public === true || app.deny === true || app.allow !== undefined;
}

/** Index keys under which an earlier rule could cover a host pattern: its name and every parent as a wildcard base. */
function coveringKeys(h: HostPat): string[] {
  const keys = [h.wildcard ? `*${h.name}` : `=${h.name}`];
  for (let dot = h.name.indexOf('.'); dot !== -1; dot = h.name.indexOf('.', dot + 1)) keys.push(`*${h.name.slice(dot + 1)}`);
  return keys;
}

function lintShadowed(apps: readonly AppConfig[], emit: Emit): void {
  const index = new Map<string, number[]>();
  const hostsOf: HostPat[][] = [];
  apps.forEach((later, j) => {
    const lh = later.hosts.map(hostPat);
    hostsOf.push(lh);
    const candidates = new Set<number>();
    for (const key of coveringKeys(lh[0] as HostPat)) for (const i of index.get(key) ?? []) candidates.add(i);
    const first = [...candidates].sort((a, b) => a - b).find((i) => appCovers(apps[i] as AppConfig, later, hostsOf[i] as HostPat[], lh));
    if (first !== undefined) {
      emit(
        'unreachable-rule',
        ['apps', j],
        `can never match: ${appLabel(first, apps[first] as AppConfig)} matches every request it would (hosts, paths, methods, networks) and decides first; move it above apps[${first}] or narrow apps[${first}]`,
      );
    }
    if (!decidesAll(later)) return;
    for (const h of lh) {
      const key = h.wildcard ? `*${h.name}` : `=${h.name}`;
      const list = index.get(key) ?? [];
      if (list.at(-1) !== j) list.push(j);
      index.set(key, list);
    }
  });
}

// ---- domains and cookies

function lintDomains(config: Config, emit: Emit): void {
  config.domains.forEach((d, i) => {
    const explicit = d.cookieDomain !== undefined;
    const cookie = (d.cookieDomain ?? d.domain).toLowerCase().replace(/^\./, '');
    const path = ['domains', i, explicit ? 'cookieDomain' : 'domain'];
    // isIcann/isPrivate: listed in the Public Suffix List (ICANN or private section such as
    // github.io); an unlisted name like "localhost" only matches the implicit "*" rule.
    const info = parseDomain(cookie, { allowPrivateDomains: true });
    if (info.publicSuffix === cookie && (info.isIcann === true || info.isPrivate === true)) {
      emit(
        'cookie-domain-public-suffix',
        path,
        `${cookie} is a public suffix: browsers reject cookies for it, and it would share cookies with every site under it`,
      );
    } else if (explicit && d.domain !== cookie && !d.domain.endsWith(`.${cookie}`)) {
      emit('cookie-domain-mismatch', path, `${cookie} is not ${d.domain} or a parent of it; browsers reject the cookie`);
    }
  });
}

// ---- network, storage, sessions, secrets

/** 127.0.0.0/8 and ::1 (and addresses inside them): a proxy on the same machine, where auto is the default. */
const LOOPBACK =
  /^(?:127\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:\/(?:[89]|[12]\d|3[0-2]))?|::1(?:\/128)?|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:\/(?:10[4-9]|11\d|12[0-8]))?)$/i;

function lintTrustedProxies(config: Config, emit: Emit): void {
  config.trustedProxies.forEach(({ cidr, kind }, i) => {
    if (/\/0+$/.test(cidr)) {
      emit(
        'trusted-proxies-everyone',
        ['trustedProxies', i],
        `${cidr} trusts every peer: any client can spoof X-Forwarded-* and X-Original-* headers`,
      );
    } else if (kind === 'auto' && !LOOPBACK.test(cidr)) {
      // auto is safe with the shipped proxy configs only because disagreeing families are
      // refused; a kind makes the other family unread (see http/forwarded.ts).
      emit(
        'trusted-proxies-kind',
        ['trustedProxies', i],
        `${cidr} has no kind: Gatehouse reads X-Original-URL when present, else X-Forwarded-*; write { cidr: ${cidr}, kind: nginx } for nginx and ingress-nginx, or kind: forwarded for Traefik and Caddy`,
      );
    }
  });
}

function lintDatabase(config: Config, emit: Emit): void {
  const url = config.database.url;
  // Never echo the URL: it usually carries a password.
  if (url !== undefined && !/^postgres(?:ql)?:\/\//i.test(url) && !/^sqlite:/i.test(url)) {
    emit('database-url-scheme', ['database', 'url'], 'expected postgres://…, postgresql://… or sqlite:/path');
  }
  // Each worker opens the URL itself: an in-memory database would be one per worker, each with
  // its own users and sessions.
  if (config.workers !== 1 && url === 'sqlite::memory:') {
    emit(
      'workers-memory-database',
      ['workers'],
      'workers share the store, but each would open its own sqlite::memory: database: use a sqlite: file or PostgreSQL, or workers: 1',
    );
  }
}

function lintSession(config: Config, emit: Emit): void {
  if (config.session.idleTimeout > config.session.lifetime) {
    emit('idle-timeout-exceeds-lifetime', ['session', 'idleTimeout'], 'is longer than session.lifetime, so it never ends a session');
  }
}

function lintSecrets(config: Config, emit: Emit): void {
  const list = config.secrets.session ?? [];
  list.forEach((s, i) => {
    const problem = weakSecretMessage(s);
    // A single secret is usually written as a plain string: name it without an index then.
    if (problem !== undefined) emit('weak-secret', list.length === 1 ? ['secrets', 'session'] : ['secrets', 'session', i], problem);
  });
}

// ---- connectors

/**
 * oauth2-proxy's `email_domains = *` let every GitHub user in. A connector that creates
 * accounts for whoever signs in upstream, with no allow list, is the same trap: every rule with
 * `allow: { anyUser: true }` then admits the whole of GitHub (or Google, or Entra).
 */
function lintConnectors(config: Config, emit: Emit): void {
  config.connectors.forEach((c, i) => {
    if (c.createAccounts !== 'auto') return;
    const restricted = Object.values(c.allow).some((v) => Array.isArray(v) && v.length > 0);
    if (!restricted) {
      emit(
        'connector-open-to-everyone',
        ['connectors', i, 'allow'],
        `connector ${c.id} creates an account for ANY ${c.type === 'github' ? 'GitHub' : c.type === 'entra' ? 'Microsoft' : 'upstream'} user who signs in; restrict it with allow (${c.type === 'github' ? 'orgs, teams' : 'groups'}, emailDomains, emails) or use createAccounts: invite`,
      );
    }
  });
}

// ---- secrets written inline

/**
 * The docs say a client secret is never written into the config file: a config file is copied,
 * committed, pasted into issues and mounted from ConfigMaps, and a secret in it travels with it.
 * A value that came (even in part) from ${file:} or ${env:} is fine. The message names the path
 * only, never the value.
 */
function lintInlineSecrets(config: Config, references: ReadonlySet<string>, emit: Emit): void {
  const check = (path: readonly PropertyKey[]) => {
    if (references.has(formatIssuePath(path))) return;
    emit('inline-secret', path, 'written inline: use ${file:/path} or ${env:NAME}, so the secret is not in the config file');
  };
  config.clients.forEach((c, i) => {
    if (c?.secret !== undefined) check(['clients', i, 'secret']);
  });
  config.connectors.forEach((c, i) => {
    if (c !== undefined) check(['connectors', i, 'clientSecret']);
  });
}
