/**
 * Does a recorded propagation block the server? A real server (startServer, in this process) opens
 * a recorded clip over a real WebSocket, prompts several objects and propagates through the clip,
 * while
 *   - perf_hooks.monitorEventLoopDelay samples this process's event loop (1 ms resolution), and
 *   - a probe in a separate Node process GETs /api/info every 10 ms and times each answer (the
 *     probe's own loop is idle, so its figures are what any other client would see).
 * It is done twice in the same run, graphs inline on the event loop and in the inference worker
 * (model/worker-sessions.ts), the two alternated `passes` times; each figure is the median over
 * its passes.
 *
 * The slow model: the issue asks for a model slow enough to show blocking, sam2.1_hiera_t at
 * 256 px. Its graphs with random weights (bench/random-bundle.ts: the cost of the real model, not
 * its masks) are exported once through Debian's PyTorch (about 20 s) and cached. Without PyTorch
 * the shipped tiny bundle is made slower the honest way — one onnxruntime thread and `objects`
 * objects batched into every memory-attention, decoder and memory-encoder run — which gives graph
 * runs of several milliseconds each (see `meanFrameMs`). `model` picks another bundle; `model`
 * in the result says which one ran.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { CinesegError, ErrorCode } from '../errors.js';
import { REPO_ROOT } from '../paths.js';
import { PROTOCOL_VERSION } from '../protocol.js';
import { startServer } from '../server/http-server.js';
import { printResult } from './print-result.js';
import { canExportBundles, ensureRandomBundle, randomBundleDir } from './random-bundle.js';

export interface EventLoopBenchOptions {
  quick: boolean;
  /** Objects prompted (default 8): each graph run batches them. */
  objects?: number;
  /** onnxruntime intra-op threads (default 1: slower graphs, and one core left to the loop). */
  threads?: number;
  /** Inline/worker pairs (default quick 1, else 3). */
  passes?: number;
  /** Clip folder with clip.mp4 and prompts.json (default samples/generated/ultrasound-1). */
  clipDir?: string;
  model?: string;
  /** Frames propagated per pass (default: the whole clip with the tiny model, 30 with Hiera-T). */
  maxFrames?: number;
  log?: (line: string) => void;
}

/** The bundle this run uses and how it is named in the result (see the module comment). */
function slowModel(opts: EventLoopBenchOptions, log: (l: string) => void): { dir?: string; name: string; objects: number; maxFrames?: number } {
  if (opts.model) return { dir: opts.model, name: opts.model, objects: opts.objects ?? 8, ...(opts.maxFrames ? { maxFrames: opts.maxFrames } : {}) };
  const tiny = { name: 'models/tiny/bundle (shipped; 1 thread, objects batched)', objects: opts.objects ?? 8, ...(opts.maxFrames ? { maxFrames: opts.maxFrames } : {}) };
  const cached = existsSync(join(randomBundleDir(HIERA_T, 256), 'manifest.json'));
  if (!cached && !canExportBundles()) return tiny;
  if (!cached) log('event loop: exporting sam2.1_hiera_t at 256 px with random weights (once: about 20 s of CPU)');
  const { dir } = ensureRandomBundle(HIERA_T, 256);
  return { dir, name: `${HIERA_T} 256 px (random weights)`, objects: opts.objects ?? 3, maxFrames: opts.maxFrames ?? 30 };
}
const HIERA_T = 'sam2.1_hiera_t';

export interface EventLoopPass {
  mode: 'inline' | 'worker';
  frames: number;
  seconds: number;
  eventLoopP50Ms: number;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  httpProbeP50Ms: number;
  httpProbeP99Ms: number;
  httpProbeMaxMs: number;
  httpProbes: number;
}

export interface EventLoopBenchResult {
  /** Event-loop delay p99 (ms) during propagation with the graphs in the worker (goal ≤ 20). */
  eventLoopP99MsDuringPropagation: number;
  /** The same with the graphs inline on the event loop (the old way), same run. */
  eventLoopP99MsInline: number;
  eventLoopMaxMs: number;
  eventLoopMaxMsInline: number;
  /** p99 of an HTTP GET /api/info from another process every 10 ms, during propagation. */
  httpProbeP99Ms: number;
  httpProbeP99MsInline: number;
  httpProbeP50Ms: number;
  httpProbeP50MsInline: number;
  /** Propagation speed: the worker must not cost throughput. */
  propagateFps: number;
  propagateFpsInline: number;
  /** Mean wall time per propagated frame, inline (all objects: what one frame blocks the loop for, in pieces). */
  meanFrameMs: number;
  objects: number;
  threads: number;
  frames: number;
  model: string;
  passes: EventLoopPass[];
}

/** The probe: its own process, GET every 10 ms, prints latencies (ms) as JSON when stdin ends. */
const PROBE_SOURCE = `
const http = require('node:http');
const url = new URL(process.argv[1]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const lat = [];
let on = false;
function once() {
  const t0 = performance.now();
  const req = http.get({ host: url.hostname, port: url.port, path: '/api/info', agent }, (res) => {
    res.resume();
    res.on('end', () => { if (on) lat.push(performance.now() - t0); });
  });
  req.on('error', () => {});
}
const timer = setInterval(() => { if (on) once(); }, 10);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { if (d.includes('start')) on = true; });
process.stdin.on('end', () => {
  on = false;
  clearInterval(timer);
  // Let answers still on their way arrive (they count: they were late).
  setTimeout(() => { process.stdout.write(JSON.stringify(lat)); agent.destroy(); }, 300);
});
process.stdout.write('ready\\n');
`;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function median(xs: readonly number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
}

class Probe {
  private out = '';
  private constructor(private readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => (this.out += d));
  }

  static async start(url: string): Promise<Probe> {
    const child = spawn(process.execPath, ['-e', PROBE_SOURCE, url], { stdio: ['pipe', 'pipe', 'inherit'] });
    const p = new Probe(child);
    const t0 = Date.now();
    while (!p.out.includes('ready\n')) {
      if (Date.now() - t0 > 10_000 || child.exitCode !== null) throw new CinesegError(ErrorCode.E_INTERNAL, 'event-loop bench: the HTTP probe did not start');
      await new Promise((r) => setTimeout(r, 10));
    }
    p.out = '';
    return p;
  }

  begin(): void {
    this.child.stdin!.write('start\n');
  }

  /** Stops probing; the latencies of the answers, ms. */
  async end(): Promise<number[]> {
    this.child.stdin!.end();
    await new Promise<void>((r) => this.child.once('exit', () => r()));
    return JSON.parse(this.out) as number[];
  }

  destroy(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}

/** A bare protocol client: JSON requests by seq, binary masks ignored. */
class Client {
  private seq = 0;
  private readonly waiters: { test: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(String(data)) as Record<string, unknown>;
      const i = this.waiters.findIndex((w) => w.test(m));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
    });
  }

  static connect(url: string): Promise<Client> {
    return new Promise((res, rej) => {
      const ws = new WebSocket(url);
      ws.once('open', () => res(new Client(ws)));
      ws.once('error', rej);
    });
  }

  waitFor(test: (m: Record<string, unknown>) => boolean, timeoutMs = 600_000): Promise<Record<string, unknown>> {
    return new Promise((resolveP, reject) => {
      const timer = setTimeout(() => reject(new CinesegError(ErrorCode.E_INTERNAL, 'event-loop bench: no answer in time')), timeoutMs);
      this.waiters.push({ test, resolve: (m) => (clearTimeout(timer), resolveP(m)) });
    });
  }

  /** Sends a request and waits for the reply with its seq (an error reply throws). */
  async request(msg: Record<string, unknown>): Promise<Record<string, unknown>> {
    const seq = ++this.seq;
    const reply = this.waitFor((m) => m.seq === seq && m.type !== 'propagateProgress' && m.type !== 'propagateDone');
    this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, seq, ...msg }));
    const m = await reply;
    if (m.type === 'error') throw new CinesegError(ErrorCode.E_INTERNAL, `event-loop bench: ${String(msg.type)} answered ${String(m.code)}: ${String(m.message)}`);
    return m;
  }

  get lastSeq(): number {
    return this.seq;
  }

  close(): void {
    this.ws.close();
  }
}

async function onePass(
  mode: 'inline' | 'worker',
  o: Required<Pick<EventLoopBenchOptions, 'objects' | 'threads'>> & { clipDir: string; model?: string; maxFrames?: number; tmp: string; log: (l: string) => void },
): Promise<EventLoopPass> {
  const prompts = JSON.parse(readFileSync(join(o.clipDir, 'prompts.json'), 'utf8')) as { width: number; height: number; objects: { point: [number, number] }[] };
  const server = await startServer({
    port: 0,
    worker: mode === 'worker',
    threads: o.threads,
    media: [resolve(o.clipDir, '..')],
    cacheDir: join(o.tmp, 'hls'),
    playerDir: join(o.tmp, 'no-player'),
    ...(o.model ? { model: o.model } : {}),
    limits: { promptBurst: 1000, promptsPerSecond: 1000 },
  });
  let probe: Probe | null = null;
  let client: Client | null = null;
  try {
    probe = await Probe.start(server.url);
    client = await Client.connect(`${server.url.replace('http', 'ws')}ws`);
    const clipId = `${resolve(o.clipDir, '..').split(/[\\/]/).pop()}/${o.clipDir.split(/[\\/]/).pop()}`;
    const st = await client.request({ type: 'startSession', clip: clipId });
    const sessionId = String(st.sessionId);
    // The clip's own objects first, then points on a grid (objects of their own to SAM 2: each
    // is one more row in every batched graph run).
    for (let k = 0; k < o.objects; k++) {
      const given = prompts.objects[k]?.point;
      const x = given ? given[0] : Math.round(((k % 4) + 0.5) * (prompts.width / 4));
      const y = given ? given[1] : Math.round(((Math.floor(k / 4) % 4) + 0.5) * (prompts.height / 4));
      await client.request({ type: 'addPoints', sessionId, frame: 0, objectId: k + 1, points: [{ x, y, label: 1 }] });
    }
    const eld = monitorEventLoopDelay({ resolution: 1 });
    probe.begin();
    eld.enable();
    const t0 = performance.now();
    await client.request({ type: 'propagate', sessionId, ...(o.maxFrames ? { maxFrames: o.maxFrames } : {}) });
    const done = await client.waitFor((m) => m.type === 'propagateDone' && m.seq === client!.lastSeq);
    const seconds = (performance.now() - t0) / 1000;
    eld.disable();
    const lat = (await probe.end()).sort((a, b) => a - b);
    probe = null;
    const pass: EventLoopPass = {
      mode,
      frames: Number(done.frames),
      seconds,
      eventLoopP50Ms: eld.percentile(50) / 1e6,
      eventLoopP99Ms: eld.percentile(99) / 1e6,
      eventLoopMaxMs: eld.max / 1e6,
      httpProbeP50Ms: percentile(lat, 50),
      httpProbeP99Ms: percentile(lat, 99),
      httpProbeMaxMs: lat[lat.length - 1] ?? NaN,
      httpProbes: lat.length,
    };
    o.log(`event loop (${mode}): ${pass.frames} frames in ${seconds.toFixed(1)} s, loop p99 ${pass.eventLoopP99Ms.toFixed(1)} ms, http p99 ${pass.httpProbeP99Ms.toFixed(1)} ms`);
    return pass;
  } finally {
    client?.close();
    probe?.destroy();
    await server.destroy();
  }
}

/** Runs the measurement; see the module comment. */
export async function benchEventLoop(opts: EventLoopBenchOptions): Promise<EventLoopBenchResult> {
  const log = opts.log ?? (() => undefined);
  const model = slowModel(opts, log);
  const objects = model.objects;
  const threads = opts.threads ?? 1;
  const nPasses = opts.passes ?? (opts.quick ? 1 : 3);
  const clipDir = resolve(opts.clipDir ?? join(REPO_ROOT, 'samples', 'generated', 'ultrasound-1'));
  const tmp = mkdtempSync(join(tmpdir(), 'cineseg-eventloop-'));
  const passes: EventLoopPass[] = [];
  try {
    for (let i = 0; i < nPasses; i++) {
      // Alternated so that drift of the machine (other load, thermal) falls on both modes.
      const order: ('inline' | 'worker')[] = i % 2 === 0 ? ['inline', 'worker'] : ['worker', 'inline'];
      for (const mode of order)
        passes.push(await onePass(mode, { objects, threads, clipDir, ...(model.dir ? { model: model.dir } : {}), ...(model.maxFrames ? { maxFrames: model.maxFrames } : {}), tmp, log }));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const of = (mode: 'inline' | 'worker', f: (p: EventLoopPass) => number) => median(passes.filter((p) => p.mode === mode).map(f));
  const frames = passes[0]!.frames;
  return {
    eventLoopP99MsDuringPropagation: of('worker', (p) => p.eventLoopP99Ms),
    eventLoopP99MsInline: of('inline', (p) => p.eventLoopP99Ms),
    eventLoopMaxMs: of('worker', (p) => p.eventLoopMaxMs),
    eventLoopMaxMsInline: of('inline', (p) => p.eventLoopMaxMs),
    httpProbeP99Ms: of('worker', (p) => p.httpProbeP99Ms),
    httpProbeP99MsInline: of('inline', (p) => p.httpProbeP99Ms),
    httpProbeP50Ms: of('worker', (p) => p.httpProbeP50Ms),
    httpProbeP50MsInline: of('inline', (p) => p.httpProbeP50Ms),
    propagateFps: of('worker', (p) => p.frames / p.seconds),
    propagateFpsInline: of('inline', (p) => p.frames / p.seconds),
    meanFrameMs: of('inline', (p) => (p.seconds * 1000) / p.frames),
    objects,
    threads,
    frames,
    model: model.name,
    passes,
  };
}

// `node engine/dist/bench/event-loop-bench.js [--quick] [--objects n] [--threads n] [--passes n] [--model dir]` prints the result as JSON.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const objects = arg('--objects');
  const threads = arg('--threads');
  const passes = arg('--passes');
  const model = arg('--model');
  printResult(
    benchEventLoop({
      quick: process.argv.includes('--quick'),
      ...(objects ? { objects: Number(objects) } : {}),
      ...(threads ? { threads: Number(threads) } : {}),
      ...(passes ? { passes: Number(passes) } : {}),
      ...(model ? { model } : {}),
      log: (l) => process.stderr.write(`${l}\n`),
    }),
  );
}
