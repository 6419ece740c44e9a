// The process's own metrics in /metrics: CPU, memory, file descriptors, event-loop delay, the V8
// heap, the Node.js version and garbage collections, under the names Prometheus' client
// libraries use (process_*, nodejs_*), so the usual dashboards read them. Everything is read when
// /metrics is scraped; between scrapes only the event-loop monitor (a libuv timer every 10 ms)
// and the garbage-collection observer run, and nothing runs on the request path.
import { readFileSync, readdirSync } from 'node:fs';
import {
  PerformanceObserver,
  constants,
  monitorEventLoopDelay,
  type ELDHistogram,
  type NodeGCPerformanceDetail,
  type PerformanceObserverEntryList,
} from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

/** A label value as the exposition format writes it: backslash, double quote and newline escaped. */
export function labelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** The HELP and TYPE lines of a family. */
export function familyHead(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
}

function gauge(name: string, help: string, value: number): string {
  return `${familyHead(name, 'gauge', help)}${name} ${value}\n`;
}

function counter(name: string, help: string, value: number): string {
  return `${familyHead(name, 'counter', help)}${name} ${value}\n`;
}

// Garbage collections by kind. V8 reports a kind as a GCType flag; a minor mark-sweep (V8's
// alternative young-generation collector) is a minor collection too. Other flags are not counted.
const GC_KINDS = ['major', 'minor', 'incremental', 'weakcb'] as const;
const GC_KIND_OF = new Map<number, number>([
  [constants.NODE_PERFORMANCE_GC_MAJOR, 0],
  [constants.NODE_PERFORMANCE_GC_MINOR, 1],
  [2, 1],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 2],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 3],
]);
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];
const GB = GC_BUCKETS.length;
/** Per kind: one slot per bucket (not cumulative), then the sum, then the count. */
const GC_STRIDE = GB + 2;

/** Counts one batch of gc entries into `gc` (laid out as GC_STRIDE slots per kind). */
function countCollections(gc: Float64Array, list: PerformanceObserverEntryList): void {
  for (const entry of list.getEntries()) {
    const k = GC_KIND_OF.get((entry as { detail?: NodeGCPerformanceDetail }).detail?.kind ?? -1);
    if (k === undefined) continue;
    const seconds = entry.duration / 1000;
    const at = k * GC_STRIDE;
    let b = 0;
    while (b < GB && seconds > (GC_BUCKETS[b] as number)) b++;
    if (b < GB) gc[at + b]! += 1;
    gc[at + GB]! += seconds;
    gc[at + GB + 1]! += 1;
  }
}

// An instance nobody closed: its observer is let go once the instance is collected (Node keeps
// every connected observer, and with it what its callback holds, until it is disconnected).
const unclosed = new FinalizationRegistry<PerformanceObserver>((observer) => observer.disconnect());

const NODE_VERSION = process.versions.node.split('.');

/** A process's own metrics; one per Metrics, closed with it. */
export class ProcessMetrics {
  readonly #loop: ELDHistogram;
  readonly #gc = new Float64Array(GC_KINDS.length * GC_STRIDE);
  readonly #observer: PerformanceObserver;
  #closed = false;

  constructor() {
    // Neither keeps the process alive: the monitor's timer is unreferenced, and an observer is
    // not a handle.
    this.#loop = monitorEventLoopDelay({ resolution: 10 });
    this.#loop.enable();
    const gc = this.#gc;
    this.#observer = new PerformanceObserver((list) => countCollections(gc, list));
    this.#observer.observe({ entryTypes: ['gc'] });
    unclosed.register(this, this.#observer, this);
  }

  /** Stops the event-loop monitor and the collection observer; render() still answers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#loop.disable();
    this.#observer.disconnect();
    unclosed.unregister(this);
  }

  /** The exposition text of each process family (HELP, TYPE, samples), in order. */
  async render(): Promise<string[]> {
    // First the delay of an immediate queued now, before this scrape's own work adds to it.
    const queued = process.hrtime.bigint();
    await new Promise<void>((resolve) => setImmediate(resolve));
    const lag = Number(process.hrtime.bigint() - queued) / 1e9;

    const parts: string[] = [];
    const cpu = process.cpuUsage();
    parts.push(
      counter('process_cpu_user_seconds_total', 'CPU time spent in user mode, in seconds', cpu.user / 1e6),
      counter('process_cpu_system_seconds_total', 'CPU time spent in the kernel, in seconds', cpu.system / 1e6),
      counter('process_cpu_seconds_total', 'CPU time, user and kernel, in seconds', (cpu.user + cpu.system) / 1e6),
      gauge(
        'process_start_time_seconds',
        'when the process started, in seconds since the Unix epoch',
        Math.round(performance.timeOrigin / 1000),
      ),
    );
    const status = procStatus();
    if (status) {
      parts.push(
        gauge('process_resident_memory_bytes', 'resident memory (VmRSS), in bytes', status.rss),
        gauge('process_virtual_memory_bytes', 'virtual memory (VmSize), in bytes', status.virtual),
        gauge('process_heap_bytes', 'data segment and heap (VmData), in bytes', status.data),
      );
    } else {
      parts.push(gauge('process_resident_memory_bytes', 'resident memory, in bytes', process.memoryUsage.rss()));
    }
    const open = openFds();
    if (open !== undefined) parts.push(gauge('process_open_fds', 'open file descriptors', open));
    const max = maxFds();
    if (max !== undefined) parts.push(gauge('process_max_fds', 'the limit on open file descriptors (soft)', max));

    parts.push(gauge('nodejs_eventloop_lag_seconds', 'how long an immediate queued at the scrape waited, in seconds', lag));
    const loop = this.#loop;
    const sampled = loop.count > 0;
    const delay = (suffix: string, what: string, ns: () => number): string =>
      sampled
        ? gauge(`nodejs_eventloop_lag_${suffix}_seconds`, `${what} event-loop delay since the last scrape, in seconds`, ns() / 1e9)
        : familyHead(`nodejs_eventloop_lag_${suffix}_seconds`, 'gauge', `${what} event-loop delay since the last scrape, in seconds`);
    parts.push(
      delay('min', 'the least', () => loop.min),
      delay('max', 'the greatest', () => loop.max),
      delay('mean', 'the mean', () => loop.mean),
      delay('stddev', 'the standard deviation of the', () => loop.stddev),
      delay('p50', 'the median', () => loop.percentile(50)),
      delay('p90', 'the 90th percentile of the', () => loop.percentile(90)),
      delay('p99', 'the 99th percentile of the', () => loop.percentile(99)),
    );
    loop.reset();

    const memory = process.memoryUsage();
    parts.push(
      gauge('nodejs_heap_size_total_bytes', 'the V8 heap committed, in bytes', memory.heapTotal),
      gauge('nodejs_heap_size_used_bytes', 'the V8 heap in use, in bytes', memory.heapUsed),
      gauge('nodejs_external_memory_bytes', 'memory outside the V8 heap held by JavaScript objects (buffers), in bytes', memory.external),
    );
    const spaces = getHeapSpaceStatistics().map((s) => {
      const end = s.space_name.lastIndexOf('_space');
      return { label: `{space="${labelValue(end > 0 ? s.space_name.slice(0, end) : s.space_name)}"}`, s };
    });
    let total = familyHead('nodejs_heap_space_size_total_bytes', 'gauge', 'the size of a V8 heap space, in bytes');
    let used = familyHead('nodejs_heap_space_size_used_bytes', 'gauge', 'the part of a V8 heap space in use, in bytes');
    let available = familyHead('nodejs_heap_space_size_available_bytes', 'gauge', 'the part of a V8 heap space still available, in bytes');
    for (const { label, s } of spaces) {
      total += `nodejs_heap_space_size_total_bytes${label} ${s.space_size}\n`;
      used += `nodejs_heap_space_size_used_bytes${label} ${s.space_used_size}\n`;
      available += `nodejs_heap_space_size_available_bytes${label} ${s.space_available_size}\n`;
    }
    parts.push(total, used, available);

    const [major = '', minor = '', patch = ''] = NODE_VERSION;
    parts.push(
      `${familyHead('nodejs_version_info', 'gauge', 'always 1; the Node.js version is in the labels')}nodejs_version_info{version="${labelValue(process.version)}",major="${labelValue(major)}",minor="${labelValue(minor)}",patch="${labelValue(patch)}"} 1\n`,
    );
    parts.push(this.#gcText());
    return parts;
  }

  #gcText(): string {
    const name = 'nodejs_gc_duration_seconds';
    let out = familyHead(name, 'histogram', 'garbage collections by kind (major, minor, incremental, weakcb), in seconds');
    for (let k = 0; k < GC_KINDS.length; k++) {
      const at = k * GC_STRIDE;
      const count = this.#gc[at + GB + 1] as number;
      if (count === 0) continue;
      const kind = `kind="${GC_KINDS[k]}"`;
      let cumulative = 0;
      for (let b = 0; b < GB; b++) {
        cumulative += this.#gc[at + b] as number;
        out += `${name}_bucket{${kind},le="${GC_BUCKETS[b]}"} ${cumulative}\n`;
      }
      out += `${name}_bucket{${kind},le="+Inf"} ${count}\n`;
      out += `${name}_sum{${kind}} ${this.#gc[at + GB]}\n`;
      out += `${name}_count{${kind}} ${count}\n`;
    }
    return out;
  }
}

/** VmRSS, VmSize and VmData from /proc/self/status, in bytes; undefined where there is no such file. */
function procStatus(): { rss: number; virtual: number; data: number } | undefined {
  if (process.platform !== 'linux') return undefined;
  let text: string;
  try {
    text = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s*(\\d+) kB$`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  const rss = kib('VmRSS');
  if (Number.isNaN(rss)) return undefined;
  return { rss, virtual: kib('VmSize'), data: kib('VmData') };
}

/** Open file descriptors (Linux), less the one reading the directory. */
function openFds(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

/** The soft limit on open files (Linux); undefined when unreadable or unlimited. */
function maxFds(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const line = /^Max open files\s+(\d+)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}
