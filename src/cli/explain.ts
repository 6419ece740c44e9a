// `gatehouse explain URL`: which rule decides a request, and why.
import { silentLogger } from '../core/index.ts';
import { compilePolicy, explain } from '../policy/index.ts';
import { ownPath } from '../gateway/index.ts';
import { CONFIG, CONFIG_HELP, type Command } from './command.ts';
import { loadFor, withServices } from './context.ts';

const OWN_PATH_DECISION = {
  'no-original': 'decision: deny: /oauth2/auth is the forward-auth endpoint itself; a proxy that reports it as the original request named none (check trustedProxies[].kind): 403',
  gate: "decision: public: one of the gate's own paths (/oauth2/start, /oauth2/sign_in, /oauth2/sign_out, /oauth2/ticket, /oauth2/callback), passed without an identity",
  portal: "decision: public: the portal's own path on its host (under publicUrl), passed without an identity",
} as const;

export const explainCommand: Command = {
  summary: 'show which rule decides a request, and why',
  usage: `gatehouse explain URL [--user NAME] [--method M] [--ip ADDR]

Without --user the request is anonymous. The user's groups come from the store and config.
${CONFIG_HELP}`,
  options: { ...CONFIG, user: { type: 'string' }, method: { type: 'string' }, ip: { type: 'string' } },
  async run({ values, positionals }, io) {
    const raw = positionals[0];
    if (!raw) { io.err('gatehouse: explain needs a URL'); return 2; }
    // The path exactly as written: a URL parser would resolve "..", "%2e" and "\\" before the
    // gate saw them, and explain must read the bytes the proxy passes on (policy/path.ts).
    const m = /^(https?):\/\/([^/?#\\]+)(.*)$/i.exec(raw);
    let host: string;
    try { host = new URL(`${m?.[1] ?? ''}://${m?.[2] ?? ''}/`).host; } catch { io.err(`gatehouse: "${raw}" is not an absolute http(s) URL`); return 2; }
    const path = m?.[3] === undefined || m[3] === '' ? '/' : m[3];
    const loaded = await loadFor(values.config as string | undefined, io);
    const policy = compilePolicy(loaded.config.apps, loaded.config.headers);
    const req = { host, path, method: ((values.method as string | undefined) ?? 'GET').toUpperCase(), ip: (values.ip as string | undefined) ?? '127.0.0.1' };
    let identity = null;
    if (values.user) {
      const found = await withServices(loaded, silentLogger, async ({ accounts }) => {
        const u = await accounts.find(values.user as string);
        return u ? accounts.identityOf(u) : undefined;
      });
      if (!found) { io.err(`gatehouse: no user named "${String(values.user)}"`); return 1; }
      identity = found;
    }
    // What forward auth answers before any rule (gateway/forward-auth.ts ownPath).
    const publicUrl = loaded.config.publicUrl === undefined ? undefined : new URL(loaded.config.publicUrl);
    const own = publicUrl === undefined ? null : ownPath({ publicUrl, portalHost: publicUrl.host.toLowerCase() }, host, path.split(/[?#]/, 1)[0] ?? '/');
    if (own !== null) {
      io.out(OWN_PATH_DECISION[own]);
      io.out('rule: none (forward auth answers this path before the rules)');
      const requestLine = explain(policy, req, identity).find((l) => l.startsWith('request: '));
      if (requestLine !== undefined) io.out(requestLine);
      return 0;
    }
    for (const line of explain(policy, req, identity)) io.out(line);
    return 0;
  },
};
