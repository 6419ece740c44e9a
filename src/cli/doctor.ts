// `gatehouse doctor`: a deployment's config checked for known traps; `doctor kube` and
// `doctor edge` print what the Kubernetes API server and a Cloudflare Worker need.
import { silentLogger } from '../core/index.ts';
import { lintConfig, type LoadedConfig } from '../config/index.ts';
import type { CliIO } from './io.ts';
import { CONFIG, CONFIG_HELP, type Command } from './command.ts';
import { configPath, loadFor, reportError, withStore } from './context.ts';
import { kubeAuthentication, KubeConfigProblem } from './doctor-kube.ts';
import { doctorEdge, EDGE_OPTIONS, EDGE_USAGE } from './doctor-edge.ts';

export const doctorCommand: Command = {
  summary: "check a deployment's config for known traps and say what to fix; `doctor kube` prints the kube-apiserver config",
  usage: `gatehouse doctor [--config PATH] [--url URL]
     gatehouse doctor kube [--config PATH] [--audience ID]... [--username preferred_username|email] [--api-version v1beta1|v1] [--role NAME]

--url           a running instance's internal address (e.g. http://gatehouse.gatehouse.svc:4180): also checks it answers
kube            print a kube-apiserver AuthenticationConfiguration for this issuer and RBAC ClusterRoleBindings
              for the groups in config, as YAML on stdout (warnings on stderr)
--audience      a client id the apiserver accepts as aud (repeatable; default: the client "kubernetes")
--username      the claim usernames come from: preferred_username (prefix "oidc:", default) or email
--api-version   v1beta1 (Kubernetes 1.30+, default) or v1 (1.34+)
--role          the ClusterRole each group is bound to (default: view)
${EDGE_USAGE}
${CONFIG_HELP}`,
  options: {
    ...CONFIG,
    url: { type: 'string' },
    audience: { type: 'string', multiple: true },
    username: { type: 'string' },
    'api-version': { type: 'string' },
    role: { type: 'string' },
    ...EDGE_OPTIONS,
  },
  async run({ values, positionals }, io) {
    const [what, ...rest] = positionals;
    if (what === 'kube' && rest.length === 0) return doctorKube(values, io);
    if (what === 'edge' && rest.length === 0) return doctorEdge(values, io);
    if (what !== undefined) {
      io.err(`gatehouse doctor: unknown check "${positionals.join(' ')}" (known: kube, edge)`);
      return 2;
    }
    for (const flag of ['audience', 'username', 'api-version', 'role', 'client', 'wrangler']) {
      if (values[flag] !== undefined) {
        io.err(`gatehouse doctor: --${flag} is for \`gatehouse doctor ${flag in EDGE_OPTIONS ? 'edge' : 'kube'}\``);
        return 2;
      }
    }
    return doctor(values, io);
  },
};

async function doctorKube(values: Record<string, string | boolean | undefined>, io: CliIO): Promise<number> {
  const username = (values.username as string | undefined) ?? 'preferred_username';
  if (username !== 'preferred_username' && username !== 'email') {
    io.err('gatehouse doctor kube: --username must be preferred_username or email');
    return 2;
  }
  const apiVersion = (values['api-version'] as string | undefined) ?? 'v1beta1';
  if (apiVersion !== 'v1beta1' && apiVersion !== 'v1') {
    io.err('gatehouse doctor kube: --api-version must be v1beta1 or v1');
    return 2;
  }
  const role = (values.role as string | undefined) ?? 'view';
  const loaded = await loadFor(values.config as string | undefined, io);
  let out;
  try {
    out = await kubeAuthentication(loaded.config, {
      audiences: (values.audience as unknown as string[] | undefined) ?? [],
      usernameClaim: username,
      apiVersion,
      role,
    });
  } catch (err) {
    if (!(err instanceof KubeConfigProblem)) throw err;
    io.err(`gatehouse doctor kube: ${err.message}`);
    return 1;
  }
  for (const w of out.warnings) io.err(`gatehouse: warning: ${w}`);
  io.out(out.yaml.trimEnd());
  return 0;
}

async function doctor(values: Record<string, string | boolean | undefined>, io: CliIO): Promise<number> {
  let problems = 0;
  const bad = (msg: string) => {
    problems++;
    io.out(`✗ ${msg}`);
  };
  const ok = (msg: string) => io.out(`✓ ${msg}`);
  const path = configPath(values.config as string | undefined, io);
  let loaded: LoadedConfig;
  try {
    loaded = await loadFor(path, io);
  } catch (err) {
    reportError(err, io);
    return 1;
  }
  ok(`config is valid (${path ?? 'embedded defaults'})`);
  for (const l of await lintConfig(loaded.config, { fromFile: loaded.fromFile, referencePaths: loaded.referencePaths })) {
    if (l.severity === 'error') bad(`${l.path}: ${l.message}`);
    else io.out(`! ${l.path}: ${l.message}`);
  }
  const c = loaded.config;
  if (!c.secrets.session?.length) {
    io.out(
      `! secrets.session is unset: the secret generated in ${c.dataDir} is used; with several replicas every one needs the SAME secret (set secrets.session from a Kubernetes Secret)`,
    );
  }
  if (c.database.url === undefined || c.database.url.startsWith('sqlite:')) {
    io.out('! the embedded SQLite store serves one replica; run several replicas against PostgreSQL (database.url: postgres://…)');
  }
  try {
    await withStore(loaded, silentLogger, async (store) => {
      const st = await store.schemaStatus();
      ok(`store reachable; schema version ${st.current} of ${st.latest}`);
    });
  } catch (err) {
    bad(`store: ${(err as { detail?: string }).detail ?? (err as Error).message}`);
  }
  const url = values.url as string | undefined;
  if (url) {
    try {
      const r = await fetch(new URL('/readyz', url), { signal: AbortSignal.timeout(5000) });
      if (r.status === 200) ok(`${url} is ready`);
      else bad(`${url}/readyz answered ${r.status}: ${await r.text()}`);
      const host = new URL(url).hostname;
      if (c.publicUrl && host === new URL(c.publicUrl).hostname) {
        bad(
          `--url is the public name ${host}: proxies must call /oauth2/auth on the cluster-internal address (for example http://gatehouse.<namespace>.svc.cluster.local:4180), not through the public ingress`,
        );
      }
    } catch (err) {
      bad(`cannot reach ${url}: ${(err as Error).message}`);
    }
  }
  io.out(problems ? `${problems} problem(s) to fix` : 'no problems found');
  return problems ? 1 : 0;
}
