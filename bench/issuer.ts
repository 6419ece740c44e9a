// The issuer's stages (issue 5, "Measure"): discovery and the token endpoint of Gatehouse next
// to oidc-provider on its own, in the same run, with the same client and the same grant:
//   oidc-provider-discovery   GET /.well-known/openid-configuration, bare oidc-provider (bench/oidc-provider-server.ts)
//   issuer-discovery          the same document from Gatehouse (portal host)
//   oidc-provider-token       POST /token, client_credentials + resource, Basic auth: a JWT (ES256, at+jwt)
//   issuer-token              POST /oidc/token, the same for a Gatehouse agent (`gatehouse agent create`)
// Every server runs on CPU 0, wrk on CPU 1 (bench/post-form.lua posts the form body).
//
// Called from bench/run.ts with the Gatehouse instance it already runs; `npm run bench:issuer`
// runs these stages alone (its own Gatehouse, no nginx) and writes bench/results/issuer.json.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { request } from '../test/kit/http.ts';
import { gateConfig, type GatehouseProcess, startGatehouse } from '../test/kit/process.ts';
import {
  CONNECTIONS,
  DURATION,
  LOAD_CPU,
  ROUNDS,
  SERVER_CPU,
  here,
  log,
  measure,
  need,
  printSpread,
  roundOf,
  rowJson,
  spread,
  startPinned,
  table,
  type Ratio,
  type Rounds,
  type Row,
} from './stages.ts';

/** The protected resource the bench's tokens are for (a `resources:` entry; its host is under the example.test domain). */
export const RESOURCE = 'http://mcp.example.test/mcp';
export const RESOURCE_SCOPE = 'bench:tools';
export const AGENT_GROUPS = ['ci'];

/** The `resources:` YAML for Gatehouse's config. */
export const resourcesYaml = `resources:\n  - { resource: ${RESOURCE}, name: bench-mcp, scopes: [${RESOURCE_SCOPE}] }`;

/** The client_credentials request both issuers get (RFC 6749 §4.4.2, RFC 8707 §2.1). */
export const TOKEN_FORM = new URLSearchParams({ grant_type: 'client_credentials', resource: RESOURCE, scope: RESOURCE_SCOPE }).toString();

export interface Agent {
  clientId: string;
  clientSecret: string;
  basic: string;
}

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic encoding ("agent:NAME" holds a colon). */
export function basicAuth(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** `gatehouse agent create NAME --groups ci --ttl 8h` through the CLI, as an operator makes one. */
export async function createAgent(gh: GatehouseProcess, name: string): Promise<Agent> {
  const r = await gh.run(['agent', 'create', name, '--groups', AGENT_GROUPS.join(','), '--ttl', '8h']);
  const clientId = /client_id: +(\S+)/.exec(r.stdout)?.[1];
  const clientSecret = /client_secret: +(\S+)/.exec(r.stdout)?.[1];
  if (r.code !== 0 || clientId === undefined || clientSecret === undefined) {
    // The output holds the secret only on success, and then this branch is not taken.
    throw new Error(`gatehouse agent create ${name} exited ${r.code}: ${r.stderr.trim()}`);
  }
  return { clientId, clientSecret, basic: basicAuth(clientId, clientSecret) };
}

/** One access token for the agent, for RESOURCE (the bearer stage's token). */
export async function agentToken(gh: GatehouseProcess, portalHost: string, agent: Agent): Promise<string> {
  const res = await request(`${gh.url}/oidc/token`, {
    method: 'POST',
    headers: { Host: portalHost, Authorization: agent.basic, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: TOKEN_FORM,
  });
  if (res.status !== 200) throw new Error(`token for ${agent.clientId}: ${res.status} ${res.body.slice(0, 200)}`);
  const token = (JSON.parse(res.body) as { access_token?: unknown }).access_token;
  if (typeof token !== 'string' || token.split('.').length !== 3) throw new Error(`token for ${agent.clientId}: not a JWT`);
  return token;
}

export const ISSUER_RATIOS: Ratio[] = [
  { label: 'issuer-token / oidc-provider-token', num: 'issuer-token', den: 'oidc-provider-token', goal: '>= 0.8' },
  { label: 'issuer-discovery / oidc-provider-discovery', num: 'issuer-discovery', den: 'oidc-provider-discovery', goal: '>= 0.9' },
];

/**
 * The four issuer stages, each Gatehouse stage right after its oidc-provider one, ROUNDS times
 * (both servers stay up; the one not measured is idle). `gh` must have `resourcesYaml` in its
 * config and `portalHost` is its publicUrl's host (the issuer answers only there). Starts and
 * stops the bare oidc-provider. The first round's rows are pushed onto `rows` as they are
 * measured, so a failing stage keeps the ones before it; every round goes onto `rounds`.
 */
export async function measureIssuer(
  gh: GatehouseProcess,
  portalHost: string,
  agent: Agent,
  rows: Row[] = [],
  rounds: Rounds = [],
): Promise<Row[]> {
  const bare = await startPinned([path.join(here, 'oidc-provider-server.ts')], SERVER_CPU, {
    BENCH_CLIENT_ID: agent.clientId,
    BENCH_CLIENT_SECRET: agent.clientSecret,
    BENCH_RESOURCE: RESOURCE,
    BENCH_SCOPE: RESOURCE_SCOPE,
    BENCH_GROUPS: AGENT_GROUPS.join(','),
  });
  try {
    const discovery = '/.well-known/openid-configuration';
    for (let round = 0; round < ROUNDS; round++) {
      if (ROUNDS > 1) log(`issuer round ${round + 1} of ${ROUNDS}`);
      const r: Row[] = [];
      const keep = async (row: Promise<Row>) => {
        const x = await row;
        r.push(x);
        if (round === 0) rows.push(x);
      };
      await keep(
        measure('oidc-provider-discovery', `oidc-provider alone: GET ${discovery}`, {
          url: `${bare.url}${discovery}`,
          headers: {},
          expectStatus: 200,
        }),
      );
      await keep(
        measure(
          'issuer-discovery',
          `Gatehouse: GET ${discovery} on the portal host`,
          { url: `${gh.url}${discovery}`, headers: { Host: portalHost }, expectStatus: 200 },
          'oidc-provider-discovery',
        ),
      );
      await keep(
        measure('oidc-provider-token', 'oidc-provider alone: POST /token client_credentials + resource, Basic: JWT ES256', {
          url: `${bare.url}/token`,
          headers: { Authorization: agent.basic },
          form: TOKEN_FORM,
          expectStatus: 200,
        }),
      );
      await keep(
        measure(
          'issuer-token',
          'Gatehouse: POST /oidc/token, the same grant for an agent (sqlite store, audit event per token)',
          { url: `${gh.url}/oidc/token`, headers: { Host: portalHost, Authorization: agent.basic }, form: TOKEN_FORM, expectStatus: 200 },
          'oidc-provider-token',
        ),
      );
      rounds.push(roundOf(r));
    }
  } finally {
    await bare.stop();
  }
  return rows;
}

/** `npm run bench:issuer`: the issuer stages alone. */
async function main(): Promise<void> {
  if (os.availableParallelism() < 2) throw new Error('the benchmark needs 2 CPUs: the servers on CPU 0, wrk on CPU 1');
  const loadAtStart = os.loadavg();
  const versions = { node: process.version, wrk: need('wrk', ['-v']).replace(/ Copyright.*/, ''), taskset: need('taskset', ['--version']) };
  const portalBase = 'http://auth.example.test:8080';
  const gh = await startGatehouse(gateConfig({ publicUrl: portalBase, extra: resourcesYaml }), {
    wrap: ['taskset', '-c', String(SERVER_CPU)],
    env: { NODE_OPTIONS: process.env.BENCH_GATEHOUSE_NODE_OPTIONS ?? '--max-semi-space-size=4', MALLOC_MMAP_THRESHOLD_: '1048576' },
  });
  const rows: Row[] = [];
  const rounds: Rounds = [];
  try {
    const agent = await createAgent(gh, 'bench');
    await measureIssuer(gh, new URL(portalBase).host, agent, rows, rounds);
  } finally {
    await gh.stop();
  }
  const report = {
    date: new Date().toISOString(),
    // Load averages at the start and the end: other work on the machine shows up in every figure.
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cpus: os.availableParallelism(),
      kernel: os.release(),
      loadAverage: { start: loadAtStart, end: os.loadavg() },
    },
    settings: { duration: DURATION, connections: CONNECTIONS, wrkThreads: 1, serverCpu: SERVER_CPU, loadCpu: LOAD_CPU },
    versions,
    issuer: rows.map((r) => rowJson(r, rows, null)),
    rounds,
    ratios: ISSUER_RATIOS.map((x) => ({ ratio: x.label, goal: x.goal, ...spread(rounds, x.num, x.den, x.key) })),
  };
  const out = path.join(here, 'results');
  await mkdir(out, { recursive: true });
  await writeFile(path.join(out, 'issuer.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(table(rows, null));
  printSpread(rounds, ISSUER_RATIOS);
  console.log(`\nwritten to ${path.relative(process.cwd(), path.join(out, 'issuer.json'))}`);
}

if (import.meta.main) {
  log('issuer stages: oidc-provider alone vs Gatehouse');
  main().catch((e: unknown) => {
    console.error(`bench:issuer: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 1;
  });
}
