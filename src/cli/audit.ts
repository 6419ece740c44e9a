// `gatehouse audit`: read the audit log (the store's audit table) with filters. Prints the newest
// matching events, oldest first (like `tail`), as a table or as JSON lines (--json). Names in the
// log can come from outside (a username typed into a failed sign-in): control characters are
// escaped in both forms, so an event cannot rewrite the operator's terminal.
import { parseDuration, silentLogger } from '../core/index.ts';
import type { AuditEvent, AuditQuery } from '../store/index.ts';
import type { CliIO } from './io.ts';
import type { Command } from './command.ts';
import { loadFor, withStore } from './context.ts';

const CONFIG_HELP = '  -c, --config PATH   config file or directory (default: $GATEHOUSE_CONFIG, else the embedded defaults)';

const TIME_HELP = 'a duration back from now (90s, 15m, 1h, 7d) or an ISO 8601 time (2026-01-31, 2026-01-31T12:00:00Z)';

/** `--since 1h` or `--since 2026-01-31T12:00:00Z` as epoch ms; undefined when neither. */
export function parseTime(text: string, now: number): number | undefined {
  const d = parseDuration(text);
  if (d !== undefined) return now - d;
  // ISO 8601 only (Date.parse also takes "March 7" and the like); a date alone is UTC midnight.
  if (!/^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,3})?)?(?:Z|[+-]\d\d:?\d\d))?$/.test(text)) return undefined;
  const t = Date.parse(text.replace(' ', 'T'));
  return Number.isNaN(t) ? undefined : t;
}

/** C0, DEL and C1 controls (and the line separators) as \u escapes: safe on a terminal, still JSON. */
function escapeControls(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 ? `\\u${c.toString(16).padStart(4, '0')}` : s[i];
  }
  return out;
}

export type AuditRow = AuditEvent & { id: number };

/** One event as a JSON line. JSON.stringify escapes C0 controls itself; DEL, C1 and U+2028/9 it leaves raw, inside strings, where \u escapes mean the same. */
export function auditJsonLine(e: AuditRow): string {
  return escapeControls(
    JSON.stringify({
      id: e.id,
      at: new Date(e.at).toISOString(),
      actor: e.actor,
      action: e.action,
      target: e.target,
      outcome: e.outcome,
      detail: e.detail,
    }),
  );
}

export function auditTable(events: readonly AuditRow[]): string[] {
  const rows = events.map((e) => [
    new Date(e.at).toISOString(),
    escapeControls(e.actor),
    escapeControls(e.action),
    escapeControls(e.target ?? '-'),
    e.outcome,
    Object.keys(e.detail).length ? escapeControls(JSON.stringify(e.detail)) : '',
  ]);
  const head = ['TIME', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME', 'DETAIL'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

export const auditCommand: Command = {
  summary: 'read the audit log: sign-ins, sign-outs, consents, agents and their tokens, operator actions',
  usage: `gatehouse audit [--actor WHO] [--action ACTION] [--target WHAT] [--outcome ok|denied|error]
                [--since TIME] [--until TIME] [--limit N] [--json] [--config PATH]

Prints the newest matching events (default 100), oldest first: a table, or with --json one JSON
object per line ({"id","at","actor","action","target","outcome","detail"}). Filters match exactly
and all must match; --since is inclusive, --until exclusive. TIME is
${TIME_HELP}.
Actors: a person's username, agent:NAME for an agent, cli for a command run by an operator.
Actions and fields: docs/audit.md.
  --actor WHO        only events by WHO (alice, agent:builder, cli)
  --action ACTION    only this action (sign_in, oidc_consent, agent_token, …)
  --target WHAT      only events about WHAT (a client id, agent:NAME, a resource URL, a username)
  --outcome OUTCOME  ok, denied or error
  --since TIME       events at or after TIME
  --until TIME       events before TIME
  --limit N          at most N events, the newest (default 100)
  --json             JSON lines instead of the table
${CONFIG_HELP}`,
  options: {
    config: { type: 'string', short: 'c' },
    actor: { type: 'string' },
    action: { type: 'string' },
    target: { type: 'string' },
    outcome: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values, positionals }, io: CliIO) {
    if (positionals.length) {
      io.err(`gatehouse: audit takes no arguments (got "${positionals[0]}"); filter with --actor, --action, --target, --since`);
      return 2;
    }
    const now = Date.now();
    const query: AuditQuery = {};
    for (const k of ['actor', 'action', 'target'] as const) if (typeof values[k] === 'string') query[k] = values[k];
    if (typeof values.outcome === 'string') {
      if (!['ok', 'denied', 'error'].includes(values.outcome)) {
        io.err('gatehouse: --outcome expects ok, denied or error');
        return 2;
      }
      query.outcome = values.outcome as AuditEvent['outcome'];
    }
    for (const k of ['since', 'until'] as const) {
      const raw = values[k];
      if (typeof raw !== 'string') continue;
      const t = parseTime(raw, now);
      if (t === undefined) {
        io.err(`gatehouse: --${k} expects ${TIME_HELP}`);
        return 2;
      }
      query[k] = t;
    }
    if (query.since !== undefined && query.until !== undefined && query.since > query.until) {
      io.err(`gatehouse: --since (${new Date(query.since).toISOString()}) is after --until (${new Date(query.until).toISOString()})`);
      return 2;
    }
    if (typeof values.limit === 'string') {
      const n = /^\d+$/.test(values.limit) ? Number(values.limit) : NaN;
      if (!Number.isSafeInteger(n) || n < 1) {
        io.err('gatehouse: --limit expects a positive whole number');
        return 2;
      }
      query.limit = n;
    }
    const loaded = await loadFor(values.config as string | undefined, io);
    const events = await withStore(loaded, silentLogger, (store) => store.audit.list(query));
    const chronological = [...events].reverse();
    if (values.json === true) {
      for (const e of chronological) io.out(auditJsonLine(e));
      return 0;
    }
    if (chronological.length === 0) {
      io.out('no matching audit events');
      return 0;
    }
    for (const l of auditTable(chronological)) io.out(l);
    return 0;
  },
};
