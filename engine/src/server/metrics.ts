/**
 * Prometheus metrics of a server (prom-client, one Registry per server), at GET /metrics.
 *
 * {@link ServerMetrics} is the one set a `cineseg serve` exports: the parts of the server report
 * into it (frames tracked, live latency and drops, errors by code), it reads the rest (open
 * sessions, connections, event-loop delay) when scraped, and prom-client's default process and
 * Node metrics (CPU, RSS, heap, GC, handles, `nodejs_eventloop_lag_*`) come with it. A registry
 * of its own, not prom-client's global one: tests run several servers in one process, and each
 * server's figures are its own. The default metrics are the process's, so they live in one
 * registry per process, made on first use: prom-client starts an event-loop histogram and a GC
 * observer for each collectDefaultMetrics() call and has no way to stop them, so one call per
 * server would leave a pair behind for every server destroyed.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The content type of the text format (0.0.4) the registry writes. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

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

let processRegistry: Registry | null = null;

/** The process's default metrics (CPU, RSS, heap, GC, event-loop lag), collected once per process. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** The metrics of one server. */
export class ServerMetrics {
  /** This server's own families; the process's default metrics are rendered with them. */
  readonly registry = new Registry();
  private readonly process: Registry;
  private readonly window: RateWindow;
  readonly framesTotal: Counter<'mode'>;
  readonly liveLatency: Histogram;
  readonly liveDropped: Counter;
  readonly liveReconnects: Counter;
  readonly connectionsTotal: Counter;
  readonly errors: Counter<'code'>;
  readonly eventLoop: EventLoopDelay;
  private gauges: ServerGauges = { sessions: () => ({ recorded: 0, live: 0 }), connections: () => 0 };

  constructor(opts: { windowS?: number; now?: () => number } = {}) {
    const registers = [this.registry];
    const windowS = opts.windowS ?? 10;
    this.window = new RateWindow(windowS, opts.now);
    this.eventLoop = new EventLoopDelay(windowS);
    // process_resident_memory_bytes (which dashboards read) is one of these.
    this.process = processMetrics();
    this.framesTotal = new Counter({ name: 'cineseg_tracked_frames_total', help: 'Frames tracked (masks produced), by mode.', labelNames: ['mode'], registers });
    // Both modes from the first scrape: a rate() over a series that appears late misses its start.
    for (const mode of ['recorded', 'live']) this.framesTotal.inc({ mode }, 0);
    const window = this.window;
    new Gauge({
      name: 'cineseg_tracked_frames_per_second',
      help: `Frames tracked per second over the last ${windowS} s, all sessions.`,
      registers,
      collect() {
        this.set(window.rate());
      },
    });
    this.liveLatency = new Histogram({
      name: 'cineseg_live_latency_seconds',
      help: 'Live mode, server side: a frame leaving the decoder to its masks and picture sent.',
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.liveDropped = new Counter({ name: 'cineseg_live_frames_dropped_total', help: 'Live frames dropped because tracking was busy with a newer one.', registers });
    this.liveReconnects = new Counter({
      name: 'cineseg_live_reconnect_attempts_total',
      help: 'Attempts to reconnect the live source after its stream stopped (see decode/live-source.ts).',
      registers,
    });
    const gauges = () => this.gauges;
    new Gauge({
      name: 'cineseg_sessions_open',
      help: 'Annotation sessions open, by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        const s = gauges().sessions();
        this.set({ kind: 'recorded' }, s.recorded);
        this.set({ kind: 'live' }, s.live);
      },
    });
    new Gauge({
      name: 'cineseg_websocket_connections',
      help: 'WebSocket connections open.',
      registers,
      collect() {
        this.set(gauges().connections());
      },
    });
    this.connectionsTotal = new Counter({ name: 'cineseg_websocket_connections_total', help: 'WebSocket connections accepted.', registers });
    this.errors = new Counter({ name: 'cineseg_errors_total', help: 'Coded errors reported to clients (WebSocket replies and HTTP responses), by code.', labelNames: ['code'], registers });
    const eventLoop = this.eventLoop;
    new Gauge({
      name: 'cineseg_event_loop_delay_seconds',
      help: `How late the server's event loop ran timers over the last ${windowS}-${2 * windowS} s (perf_hooks.monitorEventLoopDelay), by stat: p50, p99, max. High values mean every socket, HTTP request and live frame waited.`,
      labelNames: ['stat'],
      registers,
      collect() {
        const d = eventLoop.snapshot();
        this.set({ stat: 'p50' }, d.p50Ms / 1000);
        this.set({ stat: 'p99' }, d.p99Ms / 1000);
        this.set({ stat: 'max' }, d.maxMs / 1000);
      },
    });
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

  /** One sample's current value (0 when the series has none yet): for tests and the bench. */
  async value(name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
    const m = this.registry.getSingleMetric(name) ?? this.process.getSingleMetric(name);
    if (!m) throw new Error(`no metric ${name}`);
    const keys = Object.keys(labels);
    const s = (await m.get()).values.find((v) => keys.length === Object.keys(v.labels).length && keys.every((k) => String(v.labels[k]) === labels[k]));
    return s?.value ?? 0;
  }

  /** The exposition text (every family with its HELP and TYPE lines). */
  async render(): Promise<string> {
    // Two registries' texts one after the other: their families are disjoint, and the text format
    // is a list of families.
    const [own, proc] = await Promise.all([this.registry.metrics(), this.process.metrics()]);
    return `${own}${own.endsWith('\n') || own === '' ? '' : '\n'}${proc}`;
  }
}
