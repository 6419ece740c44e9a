// The protected resources from config (`resources[]`), compiled once per config load:
//   - which original URLs are a resource's (same host, the resource path or below it);
//   - who may use each (its `allow`, through the policy engine, so subjects mean what they
//     mean for apps);
//   - the strings every answer needs, built once: the RFC 9728 metadata URL and document and
//     the RFC 6750 §3 challenges.
// A resource is decided before the apps: a URL under a resource is bearer-only, whatever an app
// rule for the same host says (a cookie never opens it, and no rule can make it public).
import type { Config } from '../config/index.ts';
import type { Identity } from '../core/index.ts';
import {
  compilePolicy,
  describeRequirement,
  stepUpParams,
  type FactorRequirement,
  type Policy,
  type ResolvedHeaderNames,
} from '../policy/index.ts';
import { stripPort } from '../web/index.ts';

type ResourceConfig = Config['resources'][number];

export const METADATA_PATH = '/.well-known/oauth-protected-resource';

export interface ProtectedResource {
  /** The canonical URL, exactly as configured: the `aud` a token must carry. */
  resource: string;
  name: string;
  /** Lower-case host without port, and the path (no trailing-slash games: as configured). */
  hostname: string;
  path: string;
  scopes: readonly string[];
  requiredScopes: readonly string[];
  upstream: string | null;
  headers: ResolvedHeaderNames;
  /** How the person behind a token must have signed in (resources[].factors), or null. */
  factors: FactorRequirement | null;
  /** RFC 9728 §3.1: the well-known URI inserted between the host and the resource's path. */
  metadataUrl: string;
  /** The metadata document, serialized once. */
  metadataJson: string;
  /**
   * `WWW-Authenticate` values, built once (RFC 6750 §3, RFC 9728 §5.1). With DPoP on, the Bearer
   * answers to a missing or refused token also offer `DPoP algs="…"` (RFC 9449 §7.1); the dpop*
   * ones answer a request made with the DPoP scheme.
   */
  challenge: {
    missing: string;
    invalid: string;
    insufficientScope: string;
    dpopInvalidToken: string;
    dpopInvalidProof: string;
    dpopInsufficientScope: string;
    /** RFC 9470 §3: the token's sign-in falls short of `factors` (empty when the resource has none). */
    insufficientUserAuthentication: string;
    dpopInsufficientUserAuthentication: string;
  };
  index: number;
}

export interface ProtectedResources {
  readonly list: readonly ProtectedResource[];
  /** The resource an original request falls under, or null. Cheap for hosts with none. */
  match(host: string, uri: string): ProtectedResource | null;
  /** Whether the resource's `allow` admits this identity. */
  allows(r: ProtectedResource, identity: Identity, method: string, ip: string): boolean;
  /** Whether a host serves at least one resource. */
  hasHost(host: string): boolean;
  /**
   * The resource whose metadata lives at this path on this host: the path-suffixed form, or
   * the root form when the host has exactly one resource (RFC 9728 §3.1).
   */
  forMetadata(host: string, path: string): ProtectedResource | null;
}

/** The issuer identifier for a public URL: origin and path, never a trailing slash. */
export function issuerIdentifier(publicUrl: URL): string {
  return `${publicUrl.origin}${publicUrl.pathname.replace(/\/+$/, '')}`;
}

/** Scopes a client may be told about: offline_access is the authorization server's business, never a resource's. */
function advertised(scopes: readonly string[]): string[] {
  return scopes.filter((s) => s !== 'offline_access');
}

function quoted(name: string, value: string): string {
  // Scope tokens and our URLs never hold '"' or '\' (the schema refuses them), so no escaping.
  return `${name}="${value}"`;
}

/**
 * RFC 9470 §3's parameters for a requirement: the error, what is missing in words, and the
 * acr_values and max_age a client asks the issuer for to get a token that meets it.
 */
export function insufficientUserAuthentication(req: FactorRequirement): string {
  const { acr, maxAgeSeconds } = stepUpParams(req);
  return `error="insufficient_user_authentication", ${quoted('error_description', `${describeRequirement(req)} is required`)}, ${quoted('acr_values', acr)}${maxAgeSeconds === null ? '' : `, max_age=${maxAgeSeconds}`}`;
}

/** The DPoP challenge's algs parameter (RFC 9449 §7.1), or "" when DPoP is off. */
export function dpopAlgs(algorithms: readonly string[] | undefined): string {
  return algorithms && algorithms.length ? quoted('algs', algorithms.join(' ')) : '';
}

export function compileResources(
  list: readonly ResourceConfig[],
  publicUrl: URL,
  defaults: ResolvedHeaderNames,
  dpopAlgorithms?: readonly string[],
): ProtectedResources {
  const algs = dpopAlgs(dpopAlgorithms);
  const offerDpop = algs ? `, DPoP ${algs}` : '';
  const dpopScheme = algs ? `DPoP ${algs}, ` : 'DPoP ';
  const issuer = issuerIdentifier(publicUrl);
  // Longest path first: a request under /mcp/admin belongs to that resource, not to /mcp.
  const order = list
    .map((r, i) => ({ r, i, url: new URL(r.resource) }))
    .sort((a, b) => b.url.pathname.length - a.url.pathname.length || a.i - b.i);
  const resources: ProtectedResource[] = order.map(({ r, url }, index) => {
    const path = url.pathname;
    const scopes = advertised(r.scopes);
    const requiredScopes = r.requiredScopes ? advertised(r.requiredScopes) : scopes;
    const metadataUrl = `${url.origin}${METADATA_PATH}${path === '/' ? '' : path}`;
    const name = r.name ?? r.resource;
    const doc: Record<string, unknown> = {
      resource: r.resource,
      authorization_servers: [issuer],
      scopes_supported: scopes,
      bearer_methods_supported: ['header'],
    };
    // RFC 9728 §2: the proof algorithms this resource takes.
    if (algs) doc.dpop_signing_alg_values_supported = [...(dpopAlgorithms ?? [])];
    if (r.name !== undefined) doc.resource_name = r.name;
    const meta = quoted('resource_metadata', metadataUrl);
    const factors: FactorRequirement | null =
      r.factors === undefined ? null : Object.freeze({ factors: r.factors.require, maxAgeMs: r.factors.maxAge ?? null });
    const stepUp = factors === null ? '' : insufficientUserAuthentication(factors);
    const scope = scopes.length ? `, ${quoted('scope', scopes.join(' '))}` : '';
    return {
      resource: r.resource,
      name,
      hostname: url.hostname,
      path,
      scopes,
      requiredScopes,
      upstream: r.upstream ?? null,
      headers: defaults,
      factors,
      metadataUrl,
      metadataJson: JSON.stringify(doc),
      index,
      challenge: {
        // RFC 6750 §3.1: no error code when the request carried no token.
        missing: `Bearer ${meta}${scope}${offerDpop}`,
        invalid: `Bearer error="invalid_token", ${meta}${scope}${offerDpop}`,
        insufficientScope: `Bearer error="insufficient_scope", ${quoted('scope', requiredScopes.join(' '))}, ${meta}`,
        dpopInvalidToken: `${dpopScheme}error="invalid_token", ${meta}${scope}`,
        dpopInvalidProof: `${dpopScheme}error="invalid_dpop_proof", ${meta}${scope}`,
        dpopInsufficientScope: `${dpopScheme}error="insufficient_scope", ${quoted('scope', requiredScopes.join(' '))}, ${meta}`,
        insufficientUserAuthentication: stepUp && `Bearer ${stepUp}, ${meta}`,
        dpopInsufficientUserAuthentication: stepUp && `${dpopScheme}${stepUp}, ${meta}`,
      },
    };
  });
  // Each resource as an app rule: its host (any port, like apps), its path and everything
  // below, its subject (any signed-in user when none is given).
  const policy: Policy = compilePolicy(
    resources.map((r) => ({
      name: `resource-${r.index}`,
      hosts: [r.hostname],
      paths: [r.path],
      allow: order[r.index]?.r.allow ?? { anyUser: true as const },
    })),
    defaults,
  );
  const hosts = new Set(resources.map((r) => r.hostname));
  // The last URL matched and its answer: an agent calls the same resource URL over and over.
  let last: { host: string; uri: string; resource: ProtectedResource | null } | undefined;

  return {
    list: resources,
    hasHost: (host) => hosts.has(stripPort(host)),
    match(host, uri) {
      if (hosts.size === 0 || !hosts.has(stripPort(host))) return null;
      if (last !== undefined && last.host === host && last.uri === uri) return last.resource;
      // Any reading of the path (policy/path.ts) under a resource makes it that resource's:
      // an ambiguous path must not slip from bearer-only to the app rules.
      let resource: ProtectedResource | null = null;
      for (const { decision } of policy.decideEach({ host, path: uri, method: 'GET', ip: '' }, null).each) {
        if (decision.ruleIndex !== null) {
          resource = resources[decision.ruleIndex] ?? null;
          break;
        }
      }
      last = { host, uri, resource };
      return resource;
    },
    allows(r, identity, method, ip) {
      // The first resource rule that admits this identity must be this one (never a sibling
      // resource on the same host whose subject happens to match).
      const d = policy.decide({ host: r.hostname, path: r.path, method, ip }, identity);
      return d.action === 'allow' && d.ruleIndex === r.index;
    },
    forMetadata(host, path) {
      const name = stripPort(host);
      if (!hosts.has(name)) return null;
      const onHost = resources.filter((r) => r.hostname === name);
      if (path === METADATA_PATH || path === `${METADATA_PATH}/`) {
        return onHost.length === 1 ? (onHost[0] ?? null) : (onHost.find((r) => r.path === '/') ?? null);
      }
      const suffix = path.slice(METADATA_PATH.length);
      return onHost.find((r) => r.path === suffix) ?? null;
    },
  };
}

/**
 * explain's lines for a URL under a protected resource (`gatehouse explain`): it is decided by
 * bearer token before any app rule, and what a token must carry. `factorLines` (policy
 * explainFactors, with the session the operator named) go before the challenge a token short of
 * them gets.
 */
export function explainResource(r: ProtectedResource, request: string, allow: string | null, factorLines: readonly string[]): string[] {
  const lines = [
    `decision: bearer: under protected resource ${r.name} (${r.resource}): decided by a bearer token whose aud is ${r.resource}, before any app rule; a session cookie never opens it`,
    'rule: none (resources[] are decided before apps)',
    request,
    r.requiredScopes.length === 0
      ? 'scopes: none required'
      : `scopes: a token must carry ${r.requiredScopes.join(', ')} (else 403 insufficient_scope)`,
    `allow: ${allow ?? 'any user holding a valid token'} (anyone else: 403)`,
  ];
  if (r.factors !== null) {
    lines.push(
      ...factorLines,
      'factors: a token is judged on its acr and auth_time (the class of its sign-in, and when that was last used); one short of it gets 401',
      `  WWW-Authenticate: ${r.challenge.insufficientUserAuthentication}`,
    );
  }
  return lines;
}

/** Resources compiled again only when the list or publicUrl changes (a config reload). */
export function resourceRegistry(
  source: () => { resources: readonly ResourceConfig[]; publicUrl: URL; headers: ResolvedHeaderNames; dpopAlgorithms?: readonly string[] },
): () => ProtectedResources {
  let list: readonly ResourceConfig[] | undefined;
  let href = '';
  let algs = '';
  let compiled: ProtectedResources | undefined;
  return () => {
    const s = source();
    const a = (s.dpopAlgorithms ?? []).join(' ');
    if (!compiled || s.resources !== list || s.publicUrl.href !== href || a !== algs) {
      compiled = compileResources(s.resources, s.publicUrl, s.headers, s.dpopAlgorithms);
      list = s.resources;
      href = s.publicUrl.href;
      algs = a;
    }
    return compiled;
  };
}
