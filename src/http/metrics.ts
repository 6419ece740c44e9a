// Prometheus metrics, rendered by hand in the text exposition format (0.0.4): every series is a
// slot in a Float64Array indexed by fixed tables, so counting is an array increment (no
// allocation, no label hashing: the forward-auth check counts its decision on every request), and
// an instance is self-contained (tests make many). Every label value comes from a fixed table
// below — never a raw URL, host or user — so the number of series is bounded whatever clients send.
import { ProcessMetrics, familyHead, labelValue } from './process-metrics.ts';

/** Route labels. The app maps each of its routes to one of these; anything else is `other`. */
export const ROUTES = [
  'forward_auth',
  'start',
  'sign_in',
  'callback',
  'sign_out',
  'userinfo',
  'portal',
  'static',
  'issuer',
  'admin',
  'proxy',
  'healthz',
  'readyz',
  'metrics',
  'not_found',
  'other',
] as const;
export type RouteLabel = (typeof ROUTES)[number];

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER'] as const;

/** Outcome labels: a status class, or the forward-auth decision. */
export const OUTCOMES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'public', 'allow', 'deny', 'authenticate', 'invalid'] as const;
export type Outcome = (typeof OUTCOMES)[number];

// The feature counters' label values, in the order their series are written. Every series exists
// from the start (at 0), so an alert rule never matches nothing.
const DECISIONS = ['public', 'allow', 'deny', 'authenticate', 'invalid'] as const;
export type Decision = (typeof DECISIONS)[number];
const SIGN_IN_RESULTS = ['success', 'failure', 'throttled'] as const;
export type SignInResult = (typeof SIGN_IN_RESULTS)[number];
const RELOAD_RESULTS = ['success', 'failure'] as const;
export type ReloadResult = (typeof RELOAD_RESULTS)[number];

const STATUS_CLASS: readonly Outcome[] = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx'];
/** The status class of an HTTP status, as an outcome label. */
export function outcomeOf(status: number): Outcome {
  return STATUS_CLASS[(status / 100) | 0] ?? '5xx';
}

/** Known paths to route labels (exact paths; the app may pass labels directly instead). */
const PATH_ROUTES: ReadonlyMap<string, RouteLabel> = new Map<string, RouteLabel>([
  ['/oauth2/auth', 'forward_auth'],
  ['/oauth2/start', 'start'],
  ['/oauth2/sign_in', 'sign_in'],
  ['/oauth2/callback', 'callback'],
  ['/oauth2/sign_out', 'sign_out'],
  ['/oauth2/userinfo', 'userinfo'],
  ['/healthz', 'healthz'],
  ['/readyz', 'readyz'],
  ['/metrics', 'metrics'],
]);

/** The route label for a request path (the query is ignored); `other` when unknown. */
export function routeFor(url: string): RouteLabel {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return PATH_ROUTES.get(path) ?? 'other';
}

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// Sub-millisecond (forward auth answers in tens of microseconds) to seconds (upstream sign-in).
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const ROUTE_INDEX = new Map<string, number>(ROUTES.map((r, i) => [r, i]));
const METHOD_INDEX = new Map<string, number>(METHODS.map((m, i) => [m, i]));
const OUTCOME_INDEX = new Map<string, number>(OUTCOMES.map((o, i) => [o, i]));
const OTHER_ROUTE = ROUTE_INDEX.get('other') as number;
const OTHER_METHOD = METHOD_INDEX.get('OTHER') as number;

const R = ROUTES.length;
const M = METHODS.length;
const O = OUTCOMES.length;
const B = BUCKETS.length;
const OUTCOME_5XX = OUTCOME_INDEX.get('5xx') as number;
// Where a value outside its table is counted (the types make one impossible; a caller that casts
// gets no new series).
const INVALID_DECISION = DECISIONS.indexOf('invalid');
const FAILED_SIGN_IN = SIGN_IN_RESULTS.indexOf('failure');
const FAILED_RELOAD = RELOAD_RESULTS.indexOf('failure');

/** A labelled counter's family: one series per value of its one label, in table order. */
function labelledCounter(name: string, help: string, label: string, values: readonly string[], counts: Float64Array): string {
  let out = familyHead(name, 'counter', help);
  for (let i = 0; i < values.length; i++) out += `${name}{${label}="${values[i]}"} ${counts[i]}\n`;
  return out;
}

export class Metrics {
  // The per-request metrics are indexed by (route, method, outcome); each counter below by its
  // one label's table. Label values from the tables need no escaping; the version is escaped.
  readonly #requests = new Float64Array(R * M * O);
  readonly #buckets = new Float64Array(R * O * B);
  readonly #sums = new Float64Array(R * O);
  readonly #counts = new Float64Array(R * O);
  readonly #reloads = new Float64Array(RELOAD_RESULTS.length);
  readonly #decisions = new Float64Array(DECISIONS.length);
  readonly #signIns = new Float64Array(SIGN_IN_RESULTS.length);
  #revoked = 0;
  readonly #buildInfo: string;
  readonly #process: ProcessMetrics | undefined;

  /**
   * `defaultMetrics: false` leaves out the process's own metrics (process_*, nodejs_*) and
   * starts no event-loop monitor or collection observer. Call close() when done with an
   * instance that has them.
   */
  constructor(opts: { version: string; defaultMetrics?: boolean }) {
    this.#buildInfo = `${familyHead('gatehouse_build_info', 'gauge', 'always 1; the version is in the label')}gatehouse_build_info{version="${labelValue(opts.version)}"} 1\n`;
    this.#process = opts.defaultMetrics === false ? undefined : new ProcessMetrics();
  }

  /** Stops what watches the process between scrapes (the event-loop monitor, the collection observer). */
  close(): void {
    this.#process?.close();
  }

  /**
   * Count one answered request and its duration since `startMs` (performance.now(): a double,
   * where process.hrtime.bigint() allocated a BigInt at each end of every request).
   * Unknown route or outcome strings are folded into `other` / `5xx`, unknown methods into OTHER.
   */
  observe(route: RouteLabel, method: string, outcome: Outcome, startMs: number): void {
    const seconds = (performance.now() - startMs) / 1e3;
    const r = ROUTE_INDEX.get(route) ?? OTHER_ROUTE;
    const m = METHOD_INDEX.get(method) ?? OTHER_METHOD;
    const o = OUTCOME_INDEX.get(outcome) ?? OUTCOME_5XX;
    this.#requests[(r * M + m) * O + o]! += 1;
    const h = r * O + o;
    this.#counts[h]! += 1;
    this.#sums[h]! += seconds;
    // A bucket counts values <= its bound; past the last bound only +Inf (the count) has it.
    let b = 0;
    while (b < B && seconds > (BUCKETS[b] as number)) b++;
    if (b < B) this.#buckets[h * B + b]! += 1;
  }

  decision(decision: Decision): void {
    const i = DECISIONS.indexOf(decision);
    this.#decisions[i < 0 ? INVALID_DECISION : i]! += 1;
  }
  signIn(result: SignInResult): void {
    const i = SIGN_IN_RESULTS.indexOf(result);
    this.#signIns[i < 0 ? FAILED_SIGN_IN : i]! += 1;
  }
  configReload(result: ReloadResult): void {
    const i = RELOAD_RESULTS.indexOf(result);
    this.#reloads[i < 0 ? FAILED_RELOAD : i]! += 1;
  }
  sessionsRevoked(count = 1): void {
    if (count > 0) this.#revoked += count;
  }

  /** The exposition text for GET /metrics: every family once, HELP and TYPE first, a blank line between families. */
  async render(): Promise<{ contentType: string; body: string }> {
    const families = [
      this.#requestsText(),
      this.#durationsText(),
      labelledCounter('config_reloads_total', 'configuration reloads, by result', 'result', RELOAD_RESULTS, this.#reloads),
      labelledCounter('gatehouse_forward_auth_decisions_total', 'forward-auth decisions', 'decision', DECISIONS, this.#decisions),
      labelledCounter('gatehouse_sign_in_attempts_total', 'sign-in attempts, by result', 'result', SIGN_IN_RESULTS, this.#signIns),
      `${familyHead('gatehouse_sessions_revoked_total', 'counter', 'sessions revoked (sign-out, admin, expiry of trust)')}gatehouse_sessions_revoked_total ${this.#revoked}\n`,
      this.#buildInfo,
    ];
    if (this.#process) families.push(...(await this.#process.render()));
    return { contentType: CONTENT_TYPE, body: families.join('\n') };
  }

  #requestsText(): string {
    let out = familyHead('http_requests_total', 'counter', 'HTTP requests answered, by route, method and outcome');
    for (let r = 0; r < R; r++) {
      for (let m = 0; m < M; m++) {
        for (let o = 0; o < O; o++) {
          const v = this.#requests[(r * M + m) * O + o] as number;
          if (v > 0) out += `http_requests_total{route="${ROUTES[r]}",method="${METHODS[m]}",outcome="${OUTCOMES[o]}"} ${v}\n`;
        }
      }
    }
    return out;
  }

  #durationsText(): string {
    let out = familyHead('http_request_duration_seconds', 'histogram', 'time to answer an HTTP request, by route and outcome');
    for (let r = 0; r < R; r++) {
      for (let o = 0; o < O; o++) {
        const h = r * O + o;
        const count = this.#counts[h] as number;
        if (count === 0) continue;
        const labels = `route="${ROUTES[r]}",outcome="${OUTCOMES[o]}"`;
        let cumulative = 0;
        for (let b = 0; b < B; b++) {
          cumulative += this.#buckets[h * B + b] as number;
          out += `http_request_duration_seconds_bucket{${labels},le="${BUCKETS[b]}"} ${cumulative}\n`;
        }
        out += `http_request_duration_seconds_bucket{${labels},le="+Inf"} ${count}\n`;
        out += `http_request_duration_seconds_sum{${labels}} ${this.#sums[h]}\n`;
        out += `http_request_duration_seconds_count{${labels}} ${count}\n`;
      }
    }
    return out;
  }
}
