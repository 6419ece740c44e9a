// `gatehouse doctor kube`: the kube-apiserver's structured authentication config for this issuer
// (AuthenticationConfiguration, KEP-3331) and RBAC bindings for the configured groups, as YAML.
// Pure: (config, options) -> documents and warnings; the command prints them.
//
// What the apiserver's JWT authenticator checks, and how the output meets it:
//   - issuer.url is compared byte for byte with the token's `iss` and must be https: it is the
//     issuer identifier exactly (publicUrl, no trailing slash); anything else is a warning;
//   - `aud` must contain one of `audiences`: an ID token's aud is the client id, so the
//     audiences are client ids of configured clients (default: the client `kubernetes`);
//   - username from `preferred_username` (prefix "oidc:", so it never collides with another
//     authenticator's users or with "system:") or from `email`; with `email` the apiserver
//     demands that email_verified is checked, so a claimValidationRule says it must be true;
//   - groups from `groups` (a string array), prefix "oidc:": the RBAC subjects carry it too.
import type { Config } from '../config/index.ts';
import { issuerFor } from '../issuer/index.ts';

export const KUBE_CLIENT_ID = 'kubernetes';
export const KUBE_PREFIX = 'oidc:';

export interface KubeOptions {
  /** Client ids the apiserver accepts as `aud` (default: the client `kubernetes`). */
  audiences: string[];
  usernameClaim: 'preferred_username' | 'email';
  apiVersion: 'v1beta1' | 'v1';
  /** The ClusterRole each group is bound to. */
  role: string;
}

export interface KubeOutput {
  yaml: string;
  warnings: string[];
}

/** Thrown for what makes the output useless (no audience); the message names the fix. */
export class KubeConfigProblem extends Error {}

/** Groups named in config, in order of first mention: groups[], apps[].allow.groups, the clients' allowedGroups. */
export function configuredGroups(config: Config, clientIds: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const g of config.groups) seen.add(g.name);
  for (const a of config.apps) for (const g of a.allow?.groups ?? []) seen.add(g);
  for (const c of config.clients) if (clientIds.includes(c.id)) for (const g of c.allowedGroups ?? []) seen.add(g);
  return [...seen];
}

/** A DNS-1123 subdomain for a binding name (lowercase alphanumerics, "-" and "."). */
function bindingName(group: string, taken: Set<string>): string {
  const base = `gatehouse-${
    group
      .toLowerCase()
      .replace(/[^a-z0-9.-]+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '') || 'group'
  }`.slice(0, 240);
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
}

export async function kubeAuthentication(config: Config, opts: KubeOptions): Promise<KubeOutput> {
  const warnings: string[] = [];
  // A config file always has publicUrl (the schema's rule); the embedded defaults' is local http.
  const issuer = issuerFor(new URL(config.publicUrl ?? 'http://localhost:4180'));
  if (!issuer.startsWith('https://'))
    warnings.push(`the issuer ${issuer} is not https: the kube-apiserver refuses it (set publicUrl to an https URL)`);

  const audiences = opts.audiences.length
    ? [...new Set(opts.audiences)]
    : config.clients.some((c) => c.id === KUBE_CLIENT_ID)
      ? [KUBE_CLIENT_ID]
      : [];
  if (audiences.length === 0) {
    throw new KubeConfigProblem(
      `no client for Kubernetes: add clients[] with id "${KUBE_CLIENT_ID}" (kubectl's client, such as a public one with redirect http://localhost:8000) or pass --audience ID`,
    );
  }
  for (const id of audiences) {
    const i = config.clients.findIndex((c) => c.id === id);
    const c = config.clients[i];
    if (!c) throw new KubeConfigProblem(`--audience ${id}: no clients[] entry has this id (an ID token's aud is its client's id)`);
    const needed = ['groups', ...(opts.usernameClaim === 'email' ? ['email', 'email_verified'] : ['preferred_username'])];
    for (const claim of needed) {
      if (c.claims && !c.claims.includes(claim as never))
        warnings.push(`clients[${i}].claims leaves out ${claim}: ID tokens for ${id} lack it, so the apiserver cannot map it`);
    }
  }

  const username = opts.usernameClaim === 'email' ? { claim: 'email', prefix: '' } : { claim: 'preferred_username', prefix: KUBE_PREFIX };
  const jwt: Record<string, unknown> = {
    issuer: {
      url: issuer,
      // The JWKS and discovery are fetched from issuer.url + /.well-known/openid-configuration.
      audiences,
      ...(audiences.length > 1 ? { audienceMatchPolicy: 'MatchAny' } : {}),
    },
    claimValidationRules:
      opts.usernameClaim === 'email'
        ? [{ expression: 'claims.?email_verified.orValue(false) == true', message: 'email_verified must be true' }]
        : undefined,
    claimMappings: {
      username,
      groups: { claim: 'groups', prefix: KUBE_PREFIX },
      uid: { claim: 'sub' },
    },
  };
  if (jwt.claimValidationRules === undefined) delete jwt.claimValidationRules;
  const auth = {
    apiVersion: `apiserver.config.k8s.io/${opts.apiVersion}`,
    kind: 'AuthenticationConfiguration',
    jwt: [jwt],
  };

  const taken = new Set<string>();
  const bindings = configuredGroups(config, audiences).map((group) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: bindingName(group, taken), labels: { 'app.kubernetes.io/managed-by': 'gatehouse' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: opts.role },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: `${KUBE_PREFIX}${group}` }],
  }));
  if (bindings.length === 0) warnings.push('no groups in config (groups[], apps[].allow.groups): no RBAC bindings printed');

  const header = [
    '# kube-apiserver: --authentication-config=<this first document> (Kubernetes 1.30+; v1 from 1.34)',
    `# kubectl: kubectl oidc-login get-token --oidc-issuer-url=${issuer} --oidc-client-id=${audiences[0] ?? ''} --oidc-extra-scope=profile,email,groups`,
    `# RBAC: every group below is bound to the ClusterRole "${opts.role}"; edit roleRef.name per group (view, edit, admin, cluster-admin)`,
  ].join('\n');
  // yaml is loaded here, not with the CLI: `serve` never needs it.
  const { stringify } = await import('yaml');
  const docs = [auth, ...bindings].map((d) => stringify(d, { lineWidth: 0 }).trimEnd());
  return { yaml: `${header}\n${docs.join('\n---\n')}\n`, warnings };
}
