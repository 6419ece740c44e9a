// explain(): the decision in words, for `gatehouse explain` and the admin UI. The decision and
// rule come from Policy.decide itself, so explain can never disagree with the gate; the lines for
// the rules before the deciding one say which fact (host, path, method, network) or which subject
// made each of them step aside. A deny list that does not name the user is printed as "passed":
// it is the one rule that hands a request on (engine.ts). A path that backends read more than one
// way lists its readings with each one's decision; the strictest decides.
import type { Policy, PolicyRequest, CompiledRule } from './engine.ts';
import { hostMatchesRule, methodMatches, networkMatches, pathMatches } from './engine.ts';
import { splitHost } from './host.ts';
import type { HostParts } from './host.ts';
import type { PathReading } from './path.ts';
import { describeSubject, viewOf } from './subject.ts';
import type { Identity } from '../core/index.ts';
import type { IdentityView } from './subject.ts';

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

/** Why a rule before the deciding one did not decide: `skipped …` (facts) or `passed …` (a deny list). */
function whySkipped(rule: CompiledRule, req: PolicyRequest, host: HostParts, reading: PathReading, view: IdentityView | null): string {
  const app = rule.app;
  const label = `rule #${rule.index} ${app.name}`;
  if (!hostMatchesRule(rule, host)) return `skipped ${label}: host ${req.host} does not match ${list(app.hosts)}`;
  if (!pathMatches(rule, reading.path, reading.fold))
    return `skipped ${label}: path ${reading.path} does not match ${list(app.paths)}${reading.fold ? ' (case-insensitively)' : ''}`;
  if (!methodMatches(rule, req.method)) return `skipped ${label}: method ${req.method} is not ${list(app.methods)}`;
  if (!networkMatches(rule, req.ip)) return `skipped ${label}: address ${req.ip} is not in ${list(app.networks)}`;
  // Only a deny list without allow hands a request on once its facts match.
  const name = view === null ? 'anonymous' : view.identity.username;
  const deny = rule.deny === null ? '' : describeSubject(rule.deny.source);
  const unverified = view !== null && view.identity.email !== null && !view.identity.emailVerified && rule.deny?.usesEmail === true;
  return `passed ${label}: its deny list ${deny} does not name ${name}${unverified ? ' (email unverified, so emails and emailDomains do not count)' : ''}, and a deny list decides nothing for anyone else, so the next rule decides`;
}

export function explain(policy: Policy, req: PolicyRequest, identity: Identity | null): string[] {
  const { read, each, decision, decidedBy } = policy.decideEach(req, identity);
  const lines = [
    `decision: ${decision.action}: ${decision.reason}`,
    decision.ruleIndex === null ? 'rule: none' : `rule: #${decision.ruleIndex} ${decision.app ?? ''}`,
    `request: ${req.method} ${req.host} ${req.path} from ${req.ip} as ${who(identity)}`,
  ];
  if (!read.ok) {
    lines.push(`path: ${JSON.stringify(read.path)} is malformed (bad percent escape, control character or double encoding)`);
    return lines;
  }
  if (read.path !== req.path) lines.push(`path: ${req.path} normalizes to ${read.path}`);
  if (each.length > 1) {
    lines.push(`path: backends can read it ${each.length} ways; the strictest decides`);
    for (const e of each) {
      lines.push(`  reading ${e.reading.path}${e.reading.fold ? ' (case-insensitively)' : ''}: ${e.decision.action}: ${e.decision.reason}`);
    }
  }
  const deciding = each[decidedBy ?? 0] as { reading: PathReading };
  const host = splitHost(req.host);
  const view = identity === null ? null : viewOf(identity);
  const end = decision.ruleIndex ?? policy.rules.length;
  for (const rule of policy.rules.slice(0, end)) {
    lines.push(whySkipped(rule, req, host, deciding.reading, view));
  }
  return lines;
}
