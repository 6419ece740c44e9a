// Prometheus metrics on a Registry of our own (not prom-client's global one, so tests can make
// many). Every label value comes from a fixed table below — never a raw URL, host or user — so
// the number of series is bounded whatever clients send.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

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

export type Decision = 'public' | 'allow' | 'deny' | 'authenticate' | 'invalid';
export type SignInResult = 'success' | 'failure' | 'throttled';

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

// Sub-millisecond (forward auth answers in tens of microseconds) to seconds (upstream sign-in).
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const ROUTE_INDEX = new Map<string, number>(ROUTES.map((r, i) => [r, i]));
const METHOD_INDEX = new Map<string, number>(METHODS.map((m, i) => [m, i]));
const OUTCOME_INDEX = new Map<string, number>(OUTCOMES.map((o, i) => [o, i]));
const OTHER_ROUTE = ROUTE_INDEX.get('other') as number;
const OTHER_METHOD = METHOD_INDEX.get('OTHER') as number;

interface CounterChild {
  inc(value?: number): void;
}

const R = ROUTES.length;
const M = METHODS.length;
const O = OUTCOMES.length;
const B = BUCKETS.length;
const OUTCOME_5XX = OUTCOME_INDEX.get('5xx') as number;

export class Metrics {
  readonly registry: Registry;
  readonly #reloads: Counter<'result'>;
  readonly #decisions: Counter<'decision'>;
  readonly #signIns: Counter<'result'>;
  readonly #revoked: Counter;
  readonly #decisionChildren = new Map<string, CounterChild>();
  readonly #signInChildren = new Map<string, CounterChild>();
  readonly #reloadChildren = new Map<string, CounterChild>();
  // The two per-request metrics are plain arrays indexed by (route, method, outcome), rendered
  // by hand: prom-client's labelled inc()+observe() cost ~0.5 µs per request (measured), these
  // a few nanoseconds and no allocation. Every label value comes from the fixed tables above,
  // so nothing needs escaping.
  readonly #requests = new Float64Array(R * M * O);
  readonly #buckets = new Float64Array(R * O * B);
  readonly #sums = new Float64Array(R * O);
  readonly #counts = new Float64Array(R * O);

  constructor(opts: { version: string; defaultMetrics?: boolean }) {
    const registers = [(this.registry = new Registry())];
    this.#reloads = new Counter({
      name: 'config_reloads_total',
      help: 'configuration reloads, by result',
      labelNames: ['result'],
      registers,
    });
    this.#decisions = new Counter({
      name: 'gatehouse_forward_auth_decisions_total',
      help: 'forward-auth decisions',
      labelNames: ['decision'],
      registers,
    });
    this.#signIns = new Counter({
      name: 'gatehouse_sign_in_attempts_total',
      help: 'sign-in attempts, by result',
      labelNames: ['result'],
      registers,
    });
    this.#revoked = new Counter({
      name: 'gatehouse_sessions_revoked_total',
      help: 'sessions revoked (sign-out, admin, expiry of trust)',
      registers,
    });
    const build = new Gauge({
      name: 'gatehouse_build_info',
      help: 'always 1; the version is in the label',
      labelNames: ['version'],
      registers,
    });
    build.set({ version: opts.version }, 1);
    // Series that alerts reference exist from the start (at 0), so a rule never matches nothing.
    for (const d of ['public', 'allow', 'deny', 'authenticate', 'invalid'] as const) this.#decisions.inc({ decision: d }, 0);
    for (const r of ['success', 'failure', 'throttled'] as const) this.#signIns.inc({ result: r }, 0);
    for (const r of ['success', 'failure'] as const) this.#reloads.inc({ result: r }, 0);
    this.#revoked.inc(0);
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Count one answered request and its duration since `startNs` (process.hrtime.bigint()).
   * Unknown route or outcome strings are folded into `other` / `5xx`, unknown methods into OTHER.
   */
  observe(route: RouteLabel, method: string, outcome: Outcome, startNs: bigint): void {
    const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
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
    this.#child(this.#decisionChildren, this.#decisions, decision).inc();
  }
  signIn(result: SignInResult): void {
    this.#child(this.#signInChildren, this.#signIns, result).inc();
  }
  configReload(result: 'success' | 'failure'): void {
    this.#child(this.#reloadChildren, this.#reloads, result).inc();
  }
  sessionsRevoked(count = 1): void {
    this.#revoked.inc(count);
  }

  #child(cache: Map<string, CounterChild>, counter: Counter<string>, value: string): CounterChild {
    let c = cache.get(value);
    if (c === undefined) {
      c = counter.labels(value);
      cache.set(value, c);
    }
    return c;
  }

  /** The exposition text for GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: this.#httpText() + (await this.registry.metrics()) };
  }

  /** Prometheus text format (exposition format 0.0.4) for the two per-request metrics. */
  #httpText(): string {
    let out = '# HELP http_requests_total HTTP requests answered, by route, method and outcome\n# TYPE http_requests_total counter\n';
    for (let r = 0; r < R; r++) {
      for (let m = 0; m < M; m++) {
        for (let o = 0; o < O; o++) {
          const v = this.#requests[(r * M + m) * O + o] as number;
          if (v > 0) out += `http_requests_total{route="${ROUTES[r]}",method="${METHODS[m]}",outcome="${OUTCOMES[o]}"} ${v}\n`;
        }
      }
    }
    out +=
      '\n# HELP http_request_duration_seconds time to answer an HTTP request, by route and outcome\n# TYPE http_request_duration_seconds histogram\n';
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
    return out + '\n';
  }
}
