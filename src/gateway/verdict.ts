// The gate's decision for one original request, shared by forward auth and reverse-proxy mode:
//   1. the first matching rule, anonymously; deny-everyone answers at once
//   2. the session (a map lookup for sessions this process has seen)
//   3. the rule again with the identity
//   4. oauth2-proxy's allowed_groups / allowed_emails / allowed_email_domains, ANDed on top
import type { Identity } from '../policy/index.ts';
import type { OriginalRequest } from '../http/index.ts';
import { sessionFromCookies } from './session-cookie.ts';
import type { Sessions, SessionView } from '../sessions/index.ts';
import type { GateSettings, HeaderNames } from './settings.ts';

export type Verdict =
  | { kind: 'pass'; names: HeaderNames; identity: Identity | null; upstream: string | null; app: string | null }
  | { kind: 'authenticate' }
  | { kind: 'deny'; reason: string };

type Decision = ReturnType<GateSettings['policy']['decide']>;
interface Facts { host: string; path: string; method: string; ip: string }

export function decide(
  s: GateSettings, sessions: Sessions, orig: OriginalRequest, cookieHeader: string | undefined, restrictions: URLSearchParams | null,
): Verdict | Promise<Verdict> {
  const facts: Facts = { host: orig.host, path: orig.uri, method: orig.method, ip: orig.clientIp };
  const anon = s.policy.decide(facts, null);
  if (anon.action === 'deny') return { kind: 'deny', reason: anon.reason };
  const found = sessionFromCookies(sessions, cookieHeader, s.cookieName);
  if (found instanceof Promise) return found.then((f) => withSession(s, facts, anon, f ? f.view : null, restrictions));
  return withSession(s, facts, anon, found ? found.view : null, restrictions);
}

function pass(s: GateSettings, d: Decision, identity: Identity | null): Verdict {
  return { kind: 'pass', names: d.headers ?? s.defaultHeaders, identity, upstream: d.upstream, app: d.app };
}

function withSession(s: GateSettings, facts: Facts, anon: Decision, view: SessionView | null, restrictions: URLSearchParams | null): Verdict {
  // A public rule passes whoever it is; the identity is passed along when there is one.
  if (anon.action === 'public') return pass(s, anon, view ? view.identity : null);
  if (!view) return { kind: 'authenticate' };
  const d = s.policy.decide(facts, view.identity);
  if (d.action !== 'allow' && d.action !== 'public') return { kind: 'deny', reason: d.reason };
  if (restrictions && !passesQueryRestrictions(restrictions, view.identity)) {
    return { kind: 'deny', reason: 'an allowed_* restriction on the auth URL did not match' };
  }
  return pass(s, d, view.identity);
}

/**
 * `allowed_groups`, `allowed_emails`, `allowed_email_domains` on the auth URL (oauth2-proxy's
 * per-ingress restrictions): comma-separated; each parameter present must match. Emails count
 * only when verified and with exactly one "@".
 */
export function passesQueryRestrictions(q: URLSearchParams, id: Identity): boolean {
  const groups = q.get('allowed_groups');
  if (groups !== null) {
    const want = groups.split(',').map((g) => g.trim()).filter(Boolean);
    if (!want.some((g) => id.groups.includes(g))) return false;
  }
  const emails = q.get('allowed_emails');
  const domains = q.get('allowed_email_domains');
  if (emails !== null || domains !== null) {
    const email = id.emailVerified && id.email ? id.email.toLowerCase() : null;
    const at = email ? email.indexOf('@') : -1;
    if (!email || at <= 0 || at !== email.lastIndexOf('@')) return false;
    if (emails !== null && !emails.split(',').some((e) => e.trim().toLowerCase() === email)) return false;
    if (domains !== null) {
      const domain = email.slice(at + 1);
      if (!domains.split(',').some((d) => d.trim().toLowerCase().replace(/^@/, '') === domain)) return false;
    }
  }
  return true;
}

export type { SessionView };
