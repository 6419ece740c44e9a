// `gatehouse doctor edge --client ID`: the settings of a Cloudflare Worker that signs visitors in
// through this issuer with @gatehouse/edge (edge/), as a wrangler.jsonc fragment on stdout, and
// what to fix in the client on stderr. Pure: (config, options) -> text and warnings.
//
// The Worker's rules are Gatehouse's own for the Worker's host: every app whose hosts match the
// host of the client's edge callback (…/.gatehouse/callback), in config order, reduced to what
// the edge applies (paths, methods, public, allow, deny). A rule limited to client networks
// cannot be applied at the edge (a Worker sees the visitor, not a proxy's trusted peer): it is
// left out when it would open something (public, allow), kept when it closes (deny), and said.
import { readFile } from 'node:fs/promises';
import type { AppConfig, Config } from '../config/index.ts';
import { loadFor } from './context.ts';
import type { CliIO } from './io.ts';
import { issuerFor } from '../issuer/index.ts';
import { hostMatches } from '../policy/index.ts';
import { checkWranglerConfig, parseJsonc } from '../../edge/src/wrangler.ts';
import type { Rule } from '../../edge/src/rules.ts';

export const EDGE_CALLBACK = '/.gatehouse/callback';

export class EdgeConfigProblem extends Error {}

export interface EdgeOptions {
  clientId: string;
  /** The Worker's wrangler.json(c) text, to check for the assets-before-Worker trap. */
  wrangler?: { path: string; text: string };
}

export interface EdgeOutput {
  text: string;
  warnings: string[];
  /** Problems of the wrangler file: the command exits 1 when there are any. */
  problems: string[];
}

function edgeRule(app: AppConfig): Rule {
  const r: Rule = { name: app.name };
  if (app.paths) r.paths = [...app.paths];
  if (app.methods) r.methods = [...app.methods];
  if (app.public) r.public = true;
  if (app.allow) r.allow = { ...app.allow };
  if (app.deny !== undefined) r.deny = app.deny === true ? true : { ...app.deny };
  return r;
}

export function edgeSettings(config: Config, o: EdgeOptions): EdgeOutput {
  const client = config.clients.find((c) => c.id === o.clientId);
  if (!client) {
    const known = config.clients.map((c) => c.id);
    throw new EdgeConfigProblem(
      `no client "${o.clientId}" in clients[] (${known.length ? `known: ${known.join(', ')}` : 'there are none'}); add one: { id: ${o.clientId}, secret: \${env:EDGE_OIDC_SECRET}, redirectUris: [https://<worker host>${EDGE_CALLBACK}], firstParty: true }`,
    );
  }
  const at = `clients[${config.clients.indexOf(client)}]`;
  if (client.public)
    throw new EdgeConfigProblem(
      `${at} (${client.id}) is public; the Worker is a confidential client: give it a secret (a Worker secret) and remove public: true`,
    );
  const callbacks = client.redirectUris.map((u) => new URL(u)).filter((u) => u.pathname === EDGE_CALLBACK && u.search === '');
  if (callbacks.length === 0)
    throw new EdgeConfigProblem(`${at}.redirectUris has no https://<worker host>${EDGE_CALLBACK}: the Worker's callback; add it`);
  const warnings: string[] = [];
  const issuer = issuerFor(new URL(config.publicUrl ?? 'http://localhost:4180'));
  if (!issuer.startsWith('https://'))
    warnings.push(
      `publicUrl is not https: the Worker refuses a plain-http issuer unless GATEHOUSE_ALLOW_HTTP is "true" (local development only)`,
    );
  for (const u of callbacks)
    if (u.protocol !== 'https:' && u.hostname !== 'localhost' && u.hostname !== '127.0.0.1')
      warnings.push(`${at}.redirectUris: ${u.href} is not https`);
  if (!client.firstParty)
    warnings.push(`${at}.firstParty is false: visitors are asked to consent once; set firstParty: true for your own Worker`);
  if (client.claims && !client.claims.includes('groups'))
    warnings.push(`${at}.claims leaves out groups: rules by group never match at the edge`);
  if (client.claims && !client.claims.includes('preferred_username'))
    warnings.push(`${at}.claims leaves out preferred_username: the edge's username (and rules by user) fall back to sub`);
  if (client.claims && !client.claims.includes('email'))
    warnings.push(`${at}.claims leaves out email: rules by email never match at the edge`);

  const host = callbacks[0]!.host;
  const rules: Rule[] = [];
  config.apps.forEach((app, i) => {
    if (!app.hosts.some((h) => hostMatches(h, host))) return;
    const r = edgeRule(app);
    if (app.networks) {
      if (app.public || app.allow) {
        warnings.push(
          `apps[${i}] (${app.name}) is limited to networks, which the edge cannot see: left out of GATEHOUSE_RULES (fails closed)`,
        );
        return;
      }
      warnings.push(`apps[${i}] (${app.name}) is limited to networks, which the edge cannot see: its deny applies to everyone at the edge`);
    }
    if (app.audience)
      warnings.push(`apps[${i}] (${app.name}): bearer tokens (audience) are not taken at the edge; only the session cookie`);
    rules.push(r);
  });
  if (rules.length === 0)
    warnings.push(
      `no app in apps[] matches the Worker's host ${host}: GATEHOUSE_RULES is empty, so the Worker serves nothing (default deny); add an app with hosts: [${callbacks[0]!.hostname}]`,
    );

  const settings = {
    assets: { directory: './public', binding: 'ASSETS', run_worker_first: true },
    vars: {
      GATEHOUSE_ISSUER: issuer,
      GATEHOUSE_CLIENT_ID: client.id,
      GATEHOUSE_SESSION_LIFETIME: '300',
      ...(issuer.startsWith('https://') ? {} : { GATEHOUSE_ALLOW_HTTP: 'true' }),
      GATEHOUSE_RULES: rules,
    },
  };
  const text = [
    `// gatehouse doctor edge: the Worker at ${callbacks[0]!.origin} signing in through ${issuer} as client "${client.id}".`,
    '// Merge into wrangler.jsonc. "run_worker_first": true keeps every file in ./public behind the',
    '// Worker; GATEHOUSE_SESSION_LIFETIME (seconds) bounds how long a revoked Gatehouse session still',
    '// works at the edge. Secrets, never in this file:',
    `//   wrangler secret put GATEHOUSE_CLIENT_SECRET    # ${at}.secret`,
    "//   wrangler secret put GATEHOUSE_SESSION_SECRET   # openssl rand -base64 32 (the Worker's own)",
    JSON.stringify(settings, null, 2),
  ].join('\n');

  const problems: string[] = [];
  if (o.wrangler) {
    let parsed: unknown;
    try {
      parsed = parseJsonc(o.wrangler.text);
    } catch (e) {
      problems.push(`${o.wrangler.path}: not JSON/JSONC: ${(e as Error).message}`);
    }
    if (parsed !== undefined) problems.push(...checkWranglerConfig(parsed).problems.map((p) => `${o.wrangler!.path}: ${p}`));
  }
  return { text, warnings, problems };
}

export const EDGE_USAGE = `       gatehouse doctor edge --client ID [--wrangler FILE] [--config PATH]

edge            print the settings of a Cloudflare Worker using @gatehouse/edge (docs/edge.md) for the
                client ID, as a wrangler.jsonc fragment; --wrangler also checks that file for assets
                served before the Worker (exit 1 when it is unsafe)`;

export const EDGE_OPTIONS = { client: { type: 'string' }, wrangler: { type: 'string' } } as const;

/** `gatehouse doctor edge`: 0 printed, 1 a problem (client or wrangler file), 2 usage. */
export async function doctorEdge(values: Record<string, string | boolean | undefined>, io: CliIO): Promise<number> {
  const clientId = values.client;
  if (typeof clientId !== 'string' || clientId === '') {
    io.err("gatehouse doctor edge: --client ID is required (the Worker's client in clients[])");
    return 2;
  }
  const loaded = await loadFor(values.config as string | undefined, io);
  let wrangler: EdgeOptions['wrangler'];
  if (typeof values.wrangler === 'string') {
    try {
      wrangler = { path: values.wrangler, text: await readFile(values.wrangler, 'utf8') };
    } catch (e) {
      io.err(`gatehouse doctor edge: ${values.wrangler}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return 1;
    }
  }
  let out: EdgeOutput;
  try {
    out = edgeSettings(loaded.config, { clientId, ...(wrangler ? { wrangler } : {}) });
  } catch (err) {
    if (!(err instanceof EdgeConfigProblem)) throw err;
    io.err(`gatehouse doctor edge: ${err.message}`);
    return 1;
  }
  for (const w of out.warnings) io.err(`gatehouse: warning: ${w}`);
  io.out(out.text);
  for (const p of out.problems) io.err(`✗ ${p}`);
  if (wrangler && out.problems.length === 0) io.err(`✓ ${wrangler.path}: no protected path can be served before the Worker`);
  return out.problems.length > 0 ? 1 : 0;
}
