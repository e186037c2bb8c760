/**
 * GET /metrics of the real server (prom-client, one registry per server), read with a small parser
 * of the Prometheus text format 0.0.4 written here (HELP/TYPE before samples, counters end in _total, histogram buckets cumulative
 * with +Inf equal to _count, label escapes): the values move as a recorded clip is propagated, a
 * live source is tracked, clients connect and leave, and errors are answered.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { decodeLiveFrame } from '../../../engine/src/protocol.js';
import { MemorySink } from '../../../engine/src/server/annotation-sink.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { LATENCY_BUCKETS_S, RateWindow, ServerMetrics } from '../../../engine/src/server/metrics.js';
import { testBundleDir } from '../model/test-bundle.js';
import { rawGet } from './http-client.js';
import { writeTinyClip } from './tiny-clip.js';
import { TestClient } from './ws-client.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  help: string | null;
  type: string | null;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  // prom-client writes NaN as `Nan` (nodejs_eventloop_lag_mean_seconds before the first sample);
  // Prometheus reads it with Go's ParseFloat, which takes any case.
  if (/^nan$/i.test(s)) return NaN;
  if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value ${s}`);
  return Number(s);
}

function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(s.slice(i));
    if (!m) throw new Error(`bad labels ${s}`);
    i += m[0].length;
    let v = '';
    for (;;) {
      const c = s[i++];
      if (c === undefined) throw new Error(`unterminated label value in ${s}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = s[i++];
        v +=
          e === 'n'
            ? '\n'
            : e === '\\'
              ? '\\'
              : e === '"'
                ? '"'
                : (() => {
                    throw new Error(`bad escape \\${e}`);
                  })();
      } else v += c;
    }
    if (m[1]! in out) throw new Error(`label ${m[1]} twice`);
    out[m[1]!] = v;
    if (s[i] === ',') i++;
    else if (i !== s.length) throw new Error(`bad labels ${s}`);
  }
  return out;
}

/** Parses and validates an exposition; throws on anything the format does not allow. */
function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const fams = new Map<string, Family>();
  const fam = (name: string) => {
    let f = fams.get(name);
    if (!f) fams.set(name, (f = { name, help: null, type: null, samples: [] }));
    return f;
  };
  let current: string | null = null;
  const closed = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (meta) {
      const f = fam(meta[2]!);
      if (f.samples.length) throw new Error(`${meta[1]} of ${f.name} after its samples`);
      if (meta[1] === 'HELP') {
        if (f.help !== null) throw new Error(`two HELP lines for ${f.name}`);
        f.help = meta[3]!;
      } else {
        if (f.type !== null) throw new Error(`two TYPE lines for ${f.name}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3]!)) throw new Error(`bad type ${meta[3]}`);
        f.type = meta[3]!;
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`).exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const sampleName = m[1]!;
    const family = [...fams.values()].find((f) => f.type === 'histogram' && /_(bucket|sum|count)$/.test(sampleName) && sampleName.replace(/_(bucket|sum|count)$/, '') === f.name)?.name ?? sampleName;
    const f = fams.get(family);
    if (!f || f.type === null || f.help === null) throw new Error(`sample ${sampleName} without HELP and TYPE`);
    if (current !== family) {
      if (closed.has(family)) throw new Error(`samples of ${family} are not contiguous`);
      if (current) closed.add(current);
      current = family;
    }
    f.samples.push({ name: sampleName, labels: parseLabels(m[2] ?? ''), value: parseValue(m[3]!) });
  }
  for (const f of fams.values()) {
    if (f.type === 'counter') {
      if (!f.name.endsWith('_total')) throw new Error(`counter ${f.name} does not end in _total`);
      for (const s of f.samples) if (!(s.value >= 0)) throw new Error(`counter ${f.name} is ${s.value}`);
    }
    if (f.type === 'histogram') {
      // One series per label set besides `le` (nodejs_gc_duration_seconds has one per GC kind).
      const series = (x: Sample) =>
        JSON.stringify(
          Object.entries(x.labels)
            .filter(([k]) => k !== 'le')
            .sort(),
        );
      for (const key of new Set(f.samples.map(series))) {
        const of = f.samples.filter((x) => series(x) === key);
        const buckets = of.filter((x) => x.name === `${f.name}_bucket`);
        const les = buckets.map((x) => parseValue(x.labels.le!));
        for (let i = 1; i < buckets.length; i++) {
          if (!(les[i]! > les[i - 1]!)) throw new Error(`${f.name}: le not ascending`);
          if (buckets[i]!.value < buckets[i - 1]!.value) throw new Error(`${f.name}: buckets not cumulative`);
        }
        const count = of.find((x) => x.name === `${f.name}_count`)?.value;
        if (les.at(-1) !== Infinity || buckets.at(-1)!.value !== count) throw new Error(`${f.name}: +Inf bucket must equal _count`);
        if (of.find((x) => x.name === `${f.name}_sum`) === undefined) throw new Error(`${f.name}: no _sum`);
      }
    }
  }
  return fams;
}

function value(fams: Map<string, Family>, sample: string, labels: Record<string, string> = {}): number {
  const family = fams.get(sample) ?? fams.get(sample.replace(/_(bucket|sum|count)$/, ''));
  const s = family?.samples.find((x) => x.name === sample && Object.keys(labels).every((k) => x.labels[k] === labels[k]) && Object.keys(x.labels).length === Object.keys(labels).length);
  if (!s) throw new Error(`no sample ${sample} ${JSON.stringify(labels)}`);
  return s.value;
}

let tmp: string;
let sessions: ModelSessions;
const servers: CinesegServer[] = [];

async function scrape(s: CinesegServer): Promise<Map<string, Family>> {
  const r = await rawGet('127.0.0.1', s.port, '/metrics');
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(r.body);
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-metrics-'));
  mkdirSync(join(tmp, 'media'));
  await writeTinyClip(join(tmp, 'media', 'square.mp4'), { frames: 30 });
  // A fast source (120 fps) that tracking cannot keep up with: live drops are certain.
  await writeTinyClip(join(tmp, 'fast.mp4'), { frames: 120, fps: 120 });
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
});

afterAll(async () => {
  for (const s of servers) await s.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

describe('the registry', () => {
  it("one per server: each server's figures its own, prom-client's process metrics in each, a valid exposition", async () => {
    const a = new ServerMetrics();
    const b = new ServerMetrics();
    try {
      for (let i = 0; i < 3; i++) a.frameTracked('live');
      a.error('E_X "quoted"\\ and\nnewline');
      for (const v of [0.004, 0.03, 0.03, 7]) a.liveLatency.observe(v);
      const fa = parseExposition(await a.render());
      const fb = parseExposition(await b.render());
      expect(value(fa, 'cineseg_tracked_frames_total', { mode: 'live' })).toBe(3);
      expect(value(fb, 'cineseg_tracked_frames_total', { mode: 'live' })).toBe(0);
      expect(await a.value('cineseg_tracked_frames_total', { mode: 'live' })).toBe(3);
      // Label values come back as they went in, through the format's escapes.
      expect(value(fa, 'cineseg_errors_total', { code: 'E_X "quoted"\\ and\nnewline' })).toBe(1);
      expect(fb.get('cineseg_errors_total')!.samples).toEqual([]);
      // Cumulative buckets at the live latency bounds.
      const les = fa.get('cineseg_live_latency_seconds')!.samples.filter((x) => x.name.endsWith('_bucket'));
      expect(les.map((x) => x.labels.le)).toEqual([...LATENCY_BUCKETS_S.map(String), '+Inf']);
      expect(les.map((x) => x.value)).toEqual([1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4]);
      expect(value(fa, 'cineseg_live_latency_seconds_sum')).toBeCloseTo(7.064, 9);
      for (const f of [fa, fb]) {
        expect(f.get('process_resident_memory_bytes')?.type).toBe('gauge');
        expect(value(f, 'process_resident_memory_bytes')).toBeGreaterThan(10e6);
        expect(f.get('process_cpu_user_seconds_total')?.type).toBe('counter');
        expect(f.get('nodejs_eventloop_lag_p99_seconds')?.type).toBe('gauge');
        expect(f.get('nodejs_heap_size_used_bytes')?.type).toBe('gauge');
      }
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('RateWindow: events per second over the window, falling to 0 when they stop', () => {
    let t = 0;
    const w = new RateWindow(10, () => t);
    w.add();
    t = 1;
    // One event a millisecond after start is not a thousand per second.
    expect(w.rate()).toBe(1);
    for (let i = 1; i < 60; i++) {
      t = i * (1000 / 30);
      w.add();
    }
    t = 2000;
    expect(w.rate()).toBeCloseTo(30, 0);
    for (let i = 0; i < 300; i++) {
      t = 2000 + i * 40;
      w.add();
    }
    t = 14_000;
    expect(w.rate()).toBeGreaterThan(20);
    expect(w.rate()).toBeLessThan(28);
    t = 40_000;
    expect(w.rate()).toBe(0);
  });
});

describe('GET /metrics', () => {
  it('moves with a recorded propagation, connections and errors', async () => {
    const s = await startServer({ port: 0, sessions, sink: new MemorySink(), media: [join(tmp, 'media')], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'no-player') });
    servers.push(s);
    const m0 = await scrape(s);
    const types = Object.fromEntries([...m0.values()].map((f) => [f.name, f.type]));
    expect(types).toMatchObject({
      cineseg_tracked_frames_total: 'counter',
      cineseg_tracked_frames_per_second: 'gauge',
      cineseg_live_latency_seconds: 'histogram',
      cineseg_live_frames_dropped_total: 'counter',
      cineseg_sessions_open: 'gauge',
      cineseg_websocket_connections: 'gauge',
      cineseg_websocket_connections_total: 'counter',
      cineseg_errors_total: 'counter',
      process_resident_memory_bytes: 'gauge',
    });
    expect(value(m0, 'cineseg_tracked_frames_total', { mode: 'recorded' })).toBe(0);
    expect(value(m0, 'cineseg_tracked_frames_per_second')).toBe(0);
    expect(value(m0, 'cineseg_websocket_connections')).toBe(0);
    expect(value(m0, 'process_resident_memory_bytes')).toBeGreaterThan(10e6);

    const c = await TestClient.connect(s.url.replace('http', 'ws') + 'ws');
    const st = await c.request({ type: 'startSession', clip: 'media/square' });
    if (st.type !== 'sessionStarted') throw new Error(JSON.stringify(st));
    await c.request({ type: 'addPoints', sessionId: st.sessionId, frame: 0, objectId: 1, points: [{ x: 18, y: 22 }] });
    await c.request({ type: 'propagate', sessionId: st.sessionId });
    const done = await c.waitFor((m) => m.type === 'propagateDone', true);
    const frames = (done as { frames: number }).frames;
    expect(frames).toBe(30);
    c.sendRaw('{not json');
    await c.waitFor((m) => m.type === 'error' && m.code === 'E_PROTOCOL_JSON', true);
    await c.request({ type: 'closeSession', sessionId: 'no-such-session' });

    const m1 = await scrape(s);
    expect(value(m1, 'cineseg_tracked_frames_total', { mode: 'recorded' })).toBe(frames);
    expect(value(m1, 'cineseg_tracked_frames_total', { mode: 'live' })).toBe(0);
    expect(value(m1, 'cineseg_tracked_frames_per_second')).toBeGreaterThan(0);
    expect(value(m1, 'cineseg_sessions_open', { kind: 'recorded' })).toBe(1);
    expect(value(m1, 'cineseg_websocket_connections')).toBe(1);
    expect(value(m1, 'cineseg_websocket_connections_total')).toBe(1);
    expect(value(m1, 'cineseg_errors_total', { code: 'E_PROTOCOL_JSON' })).toBe(1);
    expect(value(m1, 'cineseg_errors_total', { code: 'E_SESSION_UNKNOWN' })).toBe(1);

    await c.close();
    await s.manager.idle();
    for (let i = 0; i < 100 && s.ws.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));
    const m2 = await scrape(s);
    expect(value(m2, 'cineseg_sessions_open', { kind: 'recorded' })).toBe(0);
    expect(value(m2, 'cineseg_websocket_connections')).toBe(0);
    expect(value(m2, 'cineseg_websocket_connections_total')).toBe(1);
    // A 404 over HTTP is counted as well.
    await rawGet('127.0.0.1', s.port, '/hls/media%2Fnope/index.m3u8');
    expect(value(await scrape(s), 'cineseg_errors_total', { code: 'E_CLIP_UNKNOWN' })).toBe(1);
  });

  it('moves with a live source: frames, server-side latency, drops, live sessions', async () => {
    const s = await startServer({
      port: 0,
      sessions,
      sink: new MemorySink(),
      media: [join(tmp, 'media')],
      cacheDir: join(tmp, 'hls'),
      playerDir: join(tmp, 'no-player'),
      live: `loop:${join(tmp, 'fast.mp4')}`,
    });
    servers.push(s);
    const c = await TestClient.connect(s.url.replace('http', 'ws') + 'ws');
    const st = await c.request({ type: 'startSession', live: true });
    if (st.type !== 'sessionStarted') throw new Error(JSON.stringify(st));
    for (let i = 0; i < 600 && c.frames.length < 1; i++) await new Promise((r) => setTimeout(r, 25));
    const last = decodeLiveFrame(c.frames.at(-1)!);
    expect(await c.request({ type: 'addPoints', sessionId: st.sessionId, frame: last.frame, objectId: 1, points: [{ x: 18, y: 22 }] })).toMatchObject({ type: 'ack' });
    for (let i = 0; i < 800 && c.frames.length < 25; i++) await new Promise((r) => setTimeout(r, 25));
    expect(c.frames.length).toBeGreaterThanOrEqual(25);

    const got = c.frames.length;
    const m = await scrape(s);
    const live = value(m, 'cineseg_tracked_frames_total', { mode: 'live' });
    expect(live).toBeGreaterThanOrEqual(got);
    expect(value(m, 'cineseg_tracked_frames_total', { mode: 'recorded' })).toBe(0);
    expect(value(m, 'cineseg_tracked_frames_per_second')).toBeGreaterThan(0);
    const count = value(m, 'cineseg_live_latency_seconds_count');
    expect(count).toBe(live);
    const sum = value(m, 'cineseg_live_latency_seconds_sum');
    expect(sum).toBeGreaterThan(0);
    // Each frame's latency is what its header reports as server time, so the mean agrees with the headers'.
    const headerMeanS = c.frames.map((f) => decodeLiveFrame(f).serverUs! / 1e6).reduce((a, b) => a + b, 0) / got;
    expect(sum / count).toBeGreaterThan(headerMeanS * 0.5);
    expect(sum / count).toBeLessThan(headerMeanS * 2 + 0.01);
    const dropped = value(m, 'cineseg_live_frames_dropped_total');
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThanOrEqual(decodeLiveFrame(c.frames.at(-1)!).drops);
    expect(value(m, 'cineseg_sessions_open', { kind: 'live' })).toBe(1);
    await c.close();
  });
});
