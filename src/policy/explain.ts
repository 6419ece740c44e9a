// explain(): the decision in words, for `gatehouse explain` and the admin UI. The decision and
// rule come from Policy.decide itself, so explain can never disagree with the gate; the lines for
// the rules before the deciding one say which fact (host, path, method, network) or which subject
// made each of them step aside.
import type { Policy, PolicyRequest, CompiledRule } from './engine.ts';
import { hostMatchesRule, methodMatches, networkMatches, pathMatches } from './engine.ts';
import { splitHost } from './host.ts';
import type { HostParts } from './host.ts';
import { normalizePath } from './path.ts';
import { describeSubject, viewOf } from './subject.ts';
import type { Identity, IdentityView } from './subject.ts';

function list(items: readonly string[] | undefined): string {
  return items === undefined || items.length === 0 ? '(none)' : items.join(', ');
}

function who(identity: Identity | null): string {
  if (identity === null) return 'anonymous';
  const details: string[] = [];
  if (identity.email !== null) details.push(`email ${identity.email}${identity.emailVerified ? '' : ', unverified'}`);
  if (identity.groups.length > 0) details.push(`groups: ${identity.groups.join(', ')}`);
  return details.length === 0 ? identity.username : `${identity.username} (${details.join('; ')})`;
}

function whySkipped(rule: CompiledRule, req: PolicyRequest, host: HostParts, path: string, view: IdentityView | null): string {
  const app = rule.app;
  if (!hostMatchesRule(rule, host)) return `host ${req.host} does not match ${list(app.hosts)}`;
  if (!pathMatches(rule, path)) return `path ${path} does not match ${list(app.paths)}`;
  if (!methodMatches(rule, req.method)) return `method ${req.method} is not ${list(app.methods)}`;
  if (!networkMatches(rule, req.ip)) return `address ${req.ip} is not in ${list(app.networks)}`;
  if (rule.allow === null && rule.deny === null) return 'no public, allow or deny';
  const parts: string[] = [];
  if (rule.allow !== null) parts.push(`allow ${describeSubject(rule.allow.source)}`);
  if (rule.deny !== null) parts.push(`deny ${describeSubject(rule.deny.source)}`);
  const name = view === null ? 'anonymous' : view.identity.username;
  const subject = parts.length === 1 ? `subject: ${name} does not match ${parts[0]}` : `subject: ${name} matches neither ${parts[0]} nor ${parts[1]}`;
  const usesEmail = rule.allow?.usesEmail === true || rule.deny?.usesEmail === true;
  const unverified = view !== null && view.identity.email !== null && !view.identity.emailVerified && usesEmail;
  return unverified ? `${subject} (email unverified, so emails and emailDomains do not count)` : subject;
}

export function explain(policy: Policy, req: PolicyRequest, identity: Identity | null): string[] {
  const decision = policy.decide(req, identity);
  const lines = [
    `decision: ${decision.action}: ${decision.reason}`,
    decision.ruleIndex === null ? 'rule: none' : `rule: #${decision.ruleIndex} ${decision.app ?? ''}`,
    `request: ${req.method} ${req.host} ${req.path} from ${req.ip} as ${who(identity)}`,
  ];
  const normalized = normalizePath(req.path);
  if (!normalized.ok) {
    lines.push(`path: ${JSON.stringify(normalized.path)} is malformed (bad percent escape, control character or double encoding)`);
    return lines;
  }
  if (normalized.path !== req.path) lines.push(`path: ${req.path} normalizes to ${normalized.path}`);
  const host = splitHost(req.host);
  const view = identity === null ? null : viewOf(identity);
  const end = decision.ruleIndex ?? policy.rules.length;
  for (const rule of policy.rules.slice(0, end)) {
    lines.push(`skipped rule #${rule.index} ${rule.app.name}: ${whySkipped(rule, req, host, normalized.path, view)}`);
  }
  return lines;
}
