// The Worker's settings, from its bindings (wrangler `vars` and secrets). Checked whole on the
// first request of an isolate: every problem is reported at once, each naming its binding, and
// the Worker then refuses every request (fails closed) rather than serving anything unchecked.
import { ruleProblems, type Rule } from './rules.ts';
import { secretProblems } from './seal.ts';

export interface EdgeEnv {
  /** The issuer: Gatehouse's publicUrl, e.g. https://auth.example.org */
  GATEHOUSE_ISSUER?: string;
  GATEHOUSE_CLIENT_ID?: string;
  /** Secret: the client's secret in Gatehouse's clients[]. */
  GATEHOUSE_CLIENT_SECRET?: string;
  /** Secret: 32+ characters; several separated by spaces or commas rotate (the first seals). */
  GATEHOUSE_SESSION_SECRET?: string;
  /** The rules, as a JSON array or the array itself (wrangler vars take JSON values). */
  GATEHOUSE_RULES?: unknown;
  /** Seconds a session stays good without asking Gatehouse again (default 300): the revocation bound. */
  GATEHOUSE_SESSION_LIFETIME?: string | number;
  /** "true" only for local development: plain-http issuer and Worker URLs, cookies without Secure. */
  GATEHOUSE_ALLOW_HTTP?: string | boolean;
  [binding: string]: unknown;
}

export interface Settings {
  issuer: URL;
  clientId: string;
  clientSecret: string;
  sessionSecrets: string[];
  rules: Rule[];
  /** Seconds. */
  lifetime: number;
  allowHttp: boolean;
  scope: string;
  callbackPath: string;
  signOutPath: string;
}

export const CALLBACK_PATH = '/.gatehouse/callback';
export const SIGN_OUT_PATH = '/.gatehouse/sign_out';
export const DEFAULT_LIFETIME = 300;
const MIN_LIFETIME = 5;
const MAX_LIFETIME = 86_400;

export class EdgeConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`gatehouse edge: invalid settings: ${problems.join('; ')}`);
    this.name = 'EdgeConfigError';
    this.problems = problems;
  }
}

function text(env: EdgeEnv, name: string, problems: string[]): string {
  const v = env[name];
  if (typeof v !== 'string' || v.trim() === '') {
    problems.push(`${name}: missing`);
    return '';
  }
  return v.trim();
}

/** The settings, or EdgeConfigError listing every problem. */
export function readSettings(env: EdgeEnv): Settings {
  const problems: string[] = [];
  const allowHttp = env.GATEHOUSE_ALLOW_HTTP === true || env.GATEHOUSE_ALLOW_HTTP === 'true';
  if (env.GATEHOUSE_ALLOW_HTTP !== undefined && !allowHttp && env.GATEHOUSE_ALLOW_HTTP !== false && env.GATEHOUSE_ALLOW_HTTP !== 'false') {
    problems.push('GATEHOUSE_ALLOW_HTTP: expected "true" or "false"');
  }
  const issuerText = text(env, 'GATEHOUSE_ISSUER', problems);
  let issuer = new URL('https://invalid.invalid');
  if (issuerText !== '') {
    try {
      issuer = new URL(issuerText);
      if (issuer.protocol !== 'https:' && !(allowHttp && issuer.protocol === 'http:'))
        problems.push('GATEHOUSE_ISSUER: expected an https URL (http only with GATEHOUSE_ALLOW_HTTP=true, for local development)');
      if (issuer.search !== '' || issuer.hash !== '' || issuer.username !== '' || issuer.password !== '')
        problems.push('GATEHOUSE_ISSUER: expected the issuer exactly, without query, fragment or userinfo');
      if (issuerText.endsWith('/'))
        problems.push(
          "GATEHOUSE_ISSUER: no trailing slash: the issuer identifier is compared exactly (Gatehouse's is publicUrl without one)",
        );
    } catch {
      problems.push(`GATEHOUSE_ISSUER: not a URL: ${JSON.stringify(issuerText.slice(0, 100))}`);
    }
  }
  const clientId = text(env, 'GATEHOUSE_CLIENT_ID', problems);
  const clientSecret = typeof env.GATEHOUSE_CLIENT_SECRET === 'string' ? env.GATEHOUSE_CLIENT_SECRET : '';
  if (clientSecret === '')
    problems.push(
      "GATEHOUSE_CLIENT_SECRET: missing; set it with `wrangler secret put GATEHOUSE_CLIENT_SECRET` (the client's secret in Gatehouse)",
    );
  const rawSecrets = typeof env.GATEHOUSE_SESSION_SECRET === 'string' ? env.GATEHOUSE_SESSION_SECRET : '';
  const sessionSecrets = rawSecrets.split(/[\s,]+/).filter((s) => s !== '');
  problems.push(...secretProblems('GATEHOUSE_SESSION_SECRET', sessionSecrets));

  let rules: Rule[] = [];
  const rawRules = env.GATEHOUSE_RULES;
  if (rawRules === undefined || rawRules === '') {
    problems.push(
      'GATEHOUSE_RULES: missing; without rules nothing is served (default deny): e.g. [{"paths":["/"],"public":true},{"allow":{"groups":["staff"]}}]',
    );
  } else {
    let parsed: unknown = rawRules;
    if (typeof rawRules === 'string') {
      try {
        parsed = JSON.parse(rawRules);
      } catch (e) {
        problems.push(`GATEHOUSE_RULES: not JSON: ${(e as Error).message}`);
        parsed = undefined;
      }
    }
    if (parsed !== undefined) {
      const rp = ruleProblems(parsed).map((p) => `GATEHOUSE_RULES: ${p}`);
      problems.push(...rp);
      if (rp.length === 0) rules = parsed as Rule[];
    }
  }

  let lifetime = DEFAULT_LIFETIME;
  if (env.GATEHOUSE_SESSION_LIFETIME !== undefined && env.GATEHOUSE_SESSION_LIFETIME !== '') {
    const n = Number(env.GATEHOUSE_SESSION_LIFETIME);
    if (!Number.isInteger(n) || n < MIN_LIFETIME || n > MAX_LIFETIME)
      problems.push(`GATEHOUSE_SESSION_LIFETIME: expected whole seconds from ${MIN_LIFETIME} to ${MAX_LIFETIME}`);
    else lifetime = n;
  }
  if (problems.length > 0) throw new EdgeConfigError(problems);
  return {
    issuer,
    clientId,
    clientSecret,
    sessionSecrets,
    rules,
    lifetime,
    allowHttp,
    scope: 'openid profile email groups',
    callbackPath: CALLBACK_PATH,
    signOutPath: SIGN_OUT_PATH,
  };
}
