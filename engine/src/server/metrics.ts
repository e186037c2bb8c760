/**
 * Prometheus metrics of a server, rendered in the text exposition format 0.0.4 at GET /metrics.
 * A few dozen lines replace a client library: counters, gauges (set, or read when scraped) and
 * histograms with fixed buckets, label values escaped as the format requires.
 *
 * {@link ServerMetrics} is the one set a `cineseg serve` exports; the parts of the server report
 * into it (frames tracked, live latency and drops, errors by code) and it reads the rest (open
 * sessions, connections, RSS, event-loop delay) when scraped.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';

export type Labels = Readonly<Record<string, string>>;

/** The content type of the text format this module writes. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  for (const k of keys) if (!LABEL.test(k) || k.startsWith('__')) throw new Error(`bad metric label name ${k}`);
  return keys.map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`).join(',');
}

function sample(name: string, key: string, v: number): string {
  return `${name}${key ? `{${key}}` : ''} ${formatValue(v)}`;
}

abstract class Metric {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';

  constructor(
    readonly name: string,
    readonly help: string,
  ) {
    if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
  }

  protected abstract samples(): string[];

  render(): string {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()].join('\n');
  }
}

/** A monotonically increasing count; the name ends in `_total`. */
export class Counter extends Metric {
  readonly type = 'counter' as const;
  private readonly values = new Map<string, number>();

  /** `initial`: label sets shown as 0 before their first increment (default: the unlabelled one). */
  constructor(name: string, help: string, initial: Labels[] = [{}]) {
    super(name, help);
    if (!name.endsWith('_total')) throw new Error(`counter ${name} must end in _total`);
    for (const l of initial) this.values.set(labelKey(l), 0);
  }

  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new Error(`counter ${this.name} cannot go down`);
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }

  protected samples(): string[] {
    return [...this.values].map(([k, v]) => sample(this.name, k, v));
  }
}

/** A value that goes up and down: set, or read from `collect` at every scrape. */
export class Gauge extends Metric {
  readonly type = 'gauge' as const;
  private readonly values = new Map<string, number>();

  constructor(
    name: string,
    help: string,
    private readonly collect?: () => number | [Labels, number][],
  ) {
    super(name, help);
  }

  set(v: number, labels: Labels = {}): void {
    this.values.set(labelKey(labels), v);
  }

  protected samples(): string[] {
    if (this.collect) {
      const c = this.collect();
      return typeof c === 'number' ? [sample(this.name, '', c)] : c.map(([l, v]) => sample(this.name, labelKey(l), v));
    }
    return [...this.values].map(([k, v]) => sample(this.name, k, v));
  }
}

/** Observations counted into cumulative buckets (upper bounds, ascending), with their sum. */
export class Histogram extends Metric {
  readonly type = 'histogram' as const;
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    super(name, help);
    if (buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) throw new Error(`histogram ${name}: buckets must ascend`);
    this.counts = buckets.map(() => 0);
  }

  observe(v: number): void {
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
    this.sum += v;
    this.count++;
  }

  protected samples(): string[] {
    return [
      ...this.buckets.map((b, i) => sample(`${this.name}_bucket`, `le="${formatValue(b)}"`, this.counts[i]!)),
      sample(`${this.name}_bucket`, 'le="+Inf"', this.count),
      sample(`${this.name}_sum`, '', this.sum),
      sample(`${this.name}_count`, '', this.count),
    ];
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  add<M extends Metric>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.push(m);
    return m;
  }

  /** The exposition text: every family with its HELP and TYPE lines, ending in a newline. */
  render(): string {
    return this.metrics.map((m) => m.render()).join('\n') + '\n';
  }
}

/**
 * Events per second over the last `windowS` seconds, from one counter per second (constant
 * memory whatever the rate). Early on, the rate is over the time since the window started (at
 * least one second).
 */
export class RateWindow {
  private readonly counts: Float64Array;
  private readonly seconds: Float64Array;
  private readonly start: number;

  constructor(
    readonly windowS = 10,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.counts = new Float64Array(windowS);
    this.seconds = new Float64Array(windowS).fill(-1);
    this.start = now();
  }

  add(n = 1): void {
    const s = Math.floor(this.now() / 1000);
    const i = s % this.windowS;
    if (this.seconds[i] !== s) {
      this.seconds[i] = s;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
  }

  rate(): number {
    const t = this.now();
    const s = Math.floor(t / 1000);
    let sum = 0;
    for (let i = 0; i < this.windowS; i++) if (this.seconds[i]! > s - this.windowS) sum += this.counts[i]!;
    // At least a second: a few frames just after start would otherwise read as thousands per second.
    const span = Math.max(1, Math.min(this.windowS - 1 + (t / 1000 - s), (t - this.start) / 1000));
    return sum / span;
  }
}

/** Upper bounds of the live latency histogram, in seconds (a 30 fps frame is 0.033 s). */
export const LATENCY_BUCKETS_S = [0.005, 0.01, 0.02, 0.033, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5];

/** Event-loop delay in milliseconds over the last window (0 when nothing was recorded yet). */
export interface EventLoopDelaySnapshot {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Samples behind the figures. */
  samples: number;
}

/**
 * How late this thread's event loop runs timers (perf_hooks.monitorEventLoopDelay), over the last
 * one to two windows: a lifetime histogram would let a bad minute an hour ago set today's p99,
 * and resetting at each scrape would let one scraper hide what another should see. Every
 * `windowS` the current histogram's figures are kept as the previous window's and it restarts;
 * a snapshot gives, per figure, the larger of the two windows (Node cannot merge an event-loop
 * histogram into another, and taking the larger never hides a stall that just happened).
 */
export class EventLoopDelay {
  private readonly current: IntervalHistogram;
  private previous: EventLoopDelaySnapshot = { p50Ms: 0, p99Ms: 0, maxMs: 0, samples: 0 };
  private readonly timer: NodeJS.Timeout;

  /** `resolutionMs`: the sampling timer (5 ms: a 5 ms stall is seen whole, 200 wake-ups a second). */
  constructor(windowS = 10, resolutionMs = 5) {
    this.current = monitorEventLoopDelay({ resolution: resolutionMs });
    this.current.enable();
    this.timer = setInterval(() => this.rotate(), windowS * 1000);
    this.timer.unref();
  }

  private rotate(): void {
    this.previous = this.figures();
    this.current.reset();
  }

  private figures(): EventLoopDelaySnapshot {
    const h = this.current;
    if (h.count === 0) return { p50Ms: 0, p99Ms: 0, maxMs: 0, samples: 0 };
    return { p50Ms: h.percentile(50) / 1e6, p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6, samples: h.count };
  }

  snapshot(): EventLoopDelaySnapshot {
    const a = this.figures();
    const b = this.previous;
    return { p50Ms: Math.max(a.p50Ms, b.p50Ms), p99Ms: Math.max(a.p99Ms, b.p99Ms), maxMs: Math.max(a.maxMs, b.maxMs), samples: a.samples + b.samples };
  }

  /** Stops the sampling timer. */
  destroy(): void {
    clearInterval(this.timer);
    this.current.disable();
  }
}

export interface ServerGauges {
  sessions(): { recorded: number; live: number };
  connections(): number;
}

/** The metrics of one server. */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly window: RateWindow;
  readonly framesTotal: Counter;
  readonly liveLatency: Histogram;
  readonly liveDropped: Counter;
  readonly liveReconnects: Counter;
  readonly connectionsTotal: Counter;
  readonly errors: Counter;
  readonly eventLoop: EventLoopDelay;
  private gauges: ServerGauges = { sessions: () => ({ recorded: 0, live: 0 }), connections: () => 0 };

  constructor(opts: { windowS?: number; now?: () => number } = {}) {
    const r = this.registry;
    this.window = new RateWindow(opts.windowS ?? 10, opts.now);
    this.eventLoop = new EventLoopDelay(opts.windowS ?? 10);
    this.framesTotal = r.add(new Counter('cineseg_tracked_frames_total', 'Frames tracked (masks produced), by mode.', [{ mode: 'recorded' }, { mode: 'live' }]));
    r.add(new Gauge('cineseg_tracked_frames_per_second', `Frames tracked per second over the last ${this.window.windowS} s, all sessions.`, () => this.window.rate()));
    this.liveLatency = r.add(new Histogram('cineseg_live_latency_seconds', 'Live mode, server side: a frame leaving the decoder to its masks and picture sent.', LATENCY_BUCKETS_S));
    this.liveDropped = r.add(new Counter('cineseg_live_frames_dropped_total', 'Live frames dropped because tracking was busy with a newer one.'));
    this.liveReconnects = r.add(new Counter('cineseg_live_reconnect_attempts_total', 'Attempts to reconnect the live source after its stream stopped (see decode/live-source.ts).'));
    r.add(
      new Gauge('cineseg_sessions_open', 'Annotation sessions open, by kind.', () => {
        const s = this.gauges.sessions();
        return [
          [{ kind: 'recorded' }, s.recorded],
          [{ kind: 'live' }, s.live],
        ];
      }),
    );
    r.add(new Gauge('cineseg_websocket_connections', 'WebSocket connections open.', () => this.gauges.connections()));
    this.connectionsTotal = r.add(new Counter('cineseg_websocket_connections_total', 'WebSocket connections accepted.'));
    this.errors = r.add(new Counter('cineseg_errors_total', 'Coded errors reported to clients (WebSocket replies and HTTP responses), by code.', []));
    r.add(new Gauge('process_resident_memory_bytes', 'Resident set size of the server process.', () => process.memoryUsage.rss()));
    r.add(
      new Gauge('cineseg_event_loop_delay_seconds', `How late the server's event loop ran timers over the last ${opts.windowS ?? 10}-${2 * (opts.windowS ?? 10)} s (perf_hooks.monitorEventLoopDelay), by stat: p50, p99, max. High values mean every socket, HTTP request and live frame waited.`, () => {
        const d = this.eventLoop.snapshot();
        return [
          [{ stat: 'p50' }, d.p50Ms / 1000],
          [{ stat: 'p99' }, d.p99Ms / 1000],
          [{ stat: 'max' }, d.maxMs / 1000],
        ];
      }),
    );
  }

  /** Stops the event-loop sampling (the server's destroy() calls it). */
  destroy(): void {
    this.eventLoop.destroy();
  }

  /** Where the scrape-time gauges read from (set once the server's parts exist). */
  bind(g: ServerGauges): void {
    this.gauges = g;
  }

  frameTracked(mode: 'recorded' | 'live'): void {
    this.framesTotal.inc({ mode });
    this.window.add();
  }

  error(code: string): void {
    this.errors.inc({ code });
  }

  render(): string {
    return this.registry.render();
  }
}
