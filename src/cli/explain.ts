// `gatehouse explain URL`: which rule decides a request, and why.
import { silentLogger } from '../core/index.ts';
import { compilePolicy, describeSubject, explain, explainFactors, NO_FACTORS, type FactorState } from '../policy/index.ts';
import { compileResources, explainResource, ownPath } from '../gateway/index.ts';
import { CONFIG, CONFIG_HELP, type Command } from './command.ts';
import { loadFor, withServices } from './context.ts';

const OWN_PATH_DECISION = {
  'no-original':
    'decision: deny: /oauth2/auth is the forward-auth endpoint itself; a proxy that reports it as the original request named none (check trustedProxies[].kind): 403',
  gate: "decision: public: one of the gate's own paths (/oauth2/start, /oauth2/sign_in, /oauth2/sign_out, /oauth2/ticket, /oauth2/callback), passed without an identity",
  portal: "decision: public: the portal's own path on its host (under publicUrl), passed without an identity",
} as const;

export const explainCommand: Command = {
  summary: 'show which rule decides a request, and why',
  usage: `gatehouse explain URL [--user NAME | --session ID] [--method M] [--ip ADDR]

Without --user or --session the request is anonymous. The user's groups come from the store and
config. With --session (an id from \`gatehouse session list\`) the request is that session's: its
user, and how it signed in, judged against the rule's factors (apps[].factors). A URL under a
protected resource (resources[]) is decided by bearer token before any rule: explain says what a
token must carry (scopes, allow, resources[].factors) and, with --session, whether a token from
that session's sign-in meets the factors.
${CONFIG_HELP}`,
  options: { ...CONFIG, user: { type: 'string' }, session: { type: 'string' }, method: { type: 'string' }, ip: { type: 'string' } },
  async run({ values, positionals }, io) {
    const raw = positionals[0];
    if (!raw) {
      io.err('gatehouse: explain needs a URL');
      return 2;
    }
    // The path exactly as written: a URL parser would resolve "..", "%2e" and "\\" before the
    // gate saw them, and explain must read the bytes the proxy passes on (policy/path.ts).
    const m = /^(https?):\/\/([^/?#\\]+)(.*)$/i.exec(raw);
    let host: string;
    try {
      host = new URL(`${m?.[1] ?? ''}://${m?.[2] ?? ''}/`).host;
    } catch {
      io.err(`gatehouse: "${raw}" is not an absolute http(s) URL`);
      return 2;
    }
    const path = m?.[3] === undefined || m[3] === '' ? '/' : m[3];
    const loaded = await loadFor(values.config as string | undefined, io);
    const policy = compilePolicy(loaded.config.apps, loaded.config.headers);
    const req = {
      host,
      path,
      method: ((values.method as string | undefined) ?? 'GET').toUpperCase(),
      ip: (values.ip as string | undefined) ?? '127.0.0.1',
    };
    let identity = null;
    let factorState: FactorState | null = null;
    if (values.user !== undefined && values.session !== undefined) {
      io.err('gatehouse: explain takes --user or --session, not both');
      return 2;
    }
    if (typeof values.session === 'string') {
      const found = await withServices(loaded, silentLogger, async ({ accounts }, store) => {
        const rec = await store.sessions.get(values.session as string);
        const u = rec ? await accounts.get(rec.userId) : undefined;
        return rec && u ? { identity: accounts.identityOf(u), rec } : undefined;
      });
      if (!found) {
        io.err('gatehouse: no session with that id (see gatehouse session list)');
        return 1;
      }
      identity = found.identity;
      factorState = parseFactors(found.rec.factors);
    } else if (values.user) {
      const found = await withServices(loaded, silentLogger, async ({ accounts }) => {
        const u = await accounts.find(values.user as string);
        return u ? accounts.identityOf(u) : undefined;
      });
      if (!found) {
        io.err(`gatehouse: no user named "${String(values.user)}"`);
        return 1;
      }
      identity = found;
    }
    // What forward auth answers before any rule (gateway/forward-auth.ts ownPath).
    const publicUrl = loaded.config.publicUrl === undefined ? undefined : new URL(loaded.config.publicUrl);
    const own =
      publicUrl === undefined
        ? null
        : ownPath({ publicUrl, portalHost: publicUrl.host.toLowerCase() }, host, path.split(/[?#]/, 1)[0] ?? '/');
    if (own !== null) {
      io.out(OWN_PATH_DECISION[own]);
      io.out('rule: none (forward auth answers this path before the rules)');
      const requestLine = explain(policy, req, identity).find((l) => l.startsWith('request: '));
      if (requestLine !== undefined) io.out(requestLine);
      return 0;
    }
    // A protected resource is decided before the rules, by bearer token (gateway/verdict.ts).
    if (publicUrl !== undefined && loaded.config.resources.length > 0) {
      const resources = compileResources(loaded.config.resources, publicUrl, loaded.config.headers);
      const r = resources.match(host, path);
      if (r !== null) {
        const allow = loaded.config.resources.find((c) => c.resource === r.resource)?.allow;
        const request = explain(policy, req, identity).find((l) => l.startsWith('request: ')) ?? '';
        const sid = typeof values.session === 'string' ? `session ${values.session.slice(0, 6)}` : undefined;
        const factorLines =
          r.factors === null
            ? []
            : explainFactors(r.name, r.factors, factorState, Date.now(), sid, {
                what: `resource ${r.name}`,
                short: 'its tokens are refused until the client asks the issuer for the missing step',
              });
        for (const line of explainResource(r, request, allow === undefined ? null : describeSubject(allow), factorLines)) io.out(line);
        return 0;
      }
    }
    for (const line of explain(policy, req, identity)) io.out(line);
    const d = policy.decide(req, identity);
    if (d.factors !== null && (d.action === 'allow' || d.action === 'authenticate')) {
      const sid = typeof values.session === 'string' ? `session ${values.session.slice(0, 6)}` : undefined;
      for (const line of explainFactors(d.app ?? '-', d.factors, factorState, Date.now(), sid)) io.out(line);
    }
    return 0;
  },
};

/** A session record's factors (JSON of FactorState; null: a password only). */
function parseFactors(json: string | null): FactorState {
  if (json === null) return NO_FACTORS;
  try {
    const f = JSON.parse(json) as Partial<FactorState>;
    return {
      amr: Array.isArray(f.amr) ? f.amr.map(String) : [],
      mfaAt: typeof f.mfaAt === 'number' ? f.mfaAt : null,
      passkeyAt: typeof f.passkeyAt === 'number' ? f.passkeyAt : null,
    };
  } catch {
    return NO_FACTORS;
  }
}
