/**
 * Real-size models on the CPU (issue 17, part 3). SAM 2.1 Hiera-T with random weights (seed 0,
 * random-bundle.ts) on a real clip, one click at the centre of frame 0, a few frames:
 * - engineVsTorchCpuSpeedup: the engine (ModelSessions + VideoTracker) over the project's own
 *   PyTorch video predictor (models/sam2/video.py `track_video`, which matches Meta's to 1e-5) on
 *   the same decoded S x S frames, the same weights (the exporter's torch.manual_seed(0) +
 *   build_model), the same click and the same thread count, measured back to back in one run.
 *   Both clocks start at the click and stop after the last frame; model load, session creation
 *   and decoding are outside both. PyTorch gets OpenBLAS (Debian's torch otherwise calls the
 *   reference BLAS), with as many BLAS threads as the engine has ORT threads.
 * - msPerFrame512 / msPerFrame512Int8 (+ ms per graph per frame): fp32 and the dynamic-int8
 *   bundle (models/export/quantize_int8.py; INT8_GRAPHS says which) at 512 px; the full run adds 1024 px.
 * - int8MaskIoU: mean IoU of the int8 bundle's tracked masks against fp32's on the same frames.
 *   Random weights make masks without meaning (an object score near 0 could flip a whole frame),
 *   so the same figure is also taken on the shipped tiny bundle (trained) on a generated clip;
 *   `int8MaskIoU` is the lower of the two (`int8MaskIoUJudgedOn`).
 * - settings: threads 1 vs 2 and ORT's memory arena on vs off, fp32 and int8 at 512 px (full run).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CinesegError, ErrorCode } from '../errors.js';
import { GRAPH_KEYS, loadBundle, type Bundle, type GraphKey } from '../model/bundle.js';
import { ModelSessions } from '../model/ort-sessions.js';
import { GENERATED_SAMPLES_DIR, REAL_SAMPLES_DIR, REPO_ROOT, SHIPPED_BUNDLE_DIR, trainerBlasDir } from '../paths.js';
import { VideoTracker } from '../track/video-tracker.js';
import { DecodedFrames } from '../track/decoded-frames.js';
import { ensureRandomBundle, EXPORT_PYTHON } from './random-bundle.js';

const CONFIG = 'sam2.1_hiera_t';
const VIDEO = join(REAL_SAMPLES_DIR, 'ultrasound-catheter.mp4');
const TINY = SHIPPED_BUNDLE_DIR;
const TINY_CLIP = join(GENERATED_SAMPLES_DIR, 'ultrasound-1', 'clip.mp4');
const THREADS = 2;

export interface CpuSpeedBenchOptions {
  quick: boolean;
  /** Frames tracked per run (default 8, quick 3). */
  frames?: number;
  /** Model config (default sam2.1_hiera_t; tests use tiny-synth) and sizes (default 512, full +1024). */
  config?: string;
  sizes?: number[];
  /** Try threads 1/2 and arena on/off (default: full run only). */
  settings?: boolean;
  log?: (line: string) => void;
}

export interface EngineRun {
  imageSize: number;
  precision: 'fp32' | 'int8';
  threads: number;
  arena: boolean;
  frames: number;
  msPerFrame: number;
  /**
   * CPU ms of this process per frame (ORT's threads included): on a machine shared with other
   * work, wall time is inflated by waiting for a core and this is not.
   */
  cpuMsPerFrame: number;
  fps: number;
  /** ms per frame spent in each graph's session.run. */
  msPerGraph: Record<GraphKey, number>;
  sessionSeconds: number;
  /** Quantised graphs when not INT8_GRAPHS. */
  int8Graphs?: GraphKey[];
}

export interface CpuSpeedBenchResult {
  engineVsTorchCpuSpeedup: number;
  /** The same ratio in CPU seconds of each process (steadier on a loaded machine). */
  engineVsTorchCpuTimeSpeedup: number;
  /** The engine on the int8 bundle over PyTorch fp32 (not the goal: other weights), wall time. */
  engineInt8VsTorchCpuSpeedup: number;
  msPerFrame512: number;
  msPerFrame512Int8: number;
  int8MaskIoU: number;
  int8MaskIoUJudgedOn: string;
  /** Mean IoU int8 vs fp32: the random bundle at the first size, and the trained tiny bundle. */
  int8MaskIoURandom: number;
  int8MaskIoUTrainedTiny: number;
  torch: {
    fps: number;
    msPerFrame: number;
    cpuMsPerFrame: number;
    threads: number;
    blas: string;
    /** Time inside the predictor's pure-Python fill_holes (part of its cost, not of the model's). */
    fillHolesMsPerFrame: number;
    buildSeconds: number;
  };
  engineFps: number;
  /** Mean low-res mask IoU engine fp32 vs PyTorch: both sides did the same work (≈ 1). */
  engineTorchMaskIoU: number;
  runs: EngineRun[];
  /** int8 bundle size / fp32, graph files. */
  int8SizeRatio: number;
  config: string;
  video: string;
  frames: number;
  exportSeconds: number;
}

/** Decoded S x S frames of the clip, all decoded before any clock starts. */
async function openFrames(video: string, size: number, n: number): Promise<DecodedFrames> {
  const frames = await DecodedFrames.open(video, size, { maxFrames: n });
  await frames.decodeAll();
  return frames;
}

export interface Tracked {
  run: EngineRun;
  /** Per frame: the mask at video size, and the L x L logits of object 1. */
  masks: Uint8Array[];
  lowRes: Float32Array[];
}

/** One engine run: `n` frames of `video` from a click at the centre of frame 0, timed from the click. */
export async function trackEngine(bundle: Bundle, video: string, n: number, precision: 'fp32' | 'int8', threads: number, arena: boolean): Promise<Tracked> {
  const t0 = performance.now();
  const sessions = await ModelSessions.create(bundle, { ep: 'cpu', threads, arena, worker: false });
  const sessionSeconds = (performance.now() - t0) / 1000;
  const frames = await openFrames(video, bundle.imageSize, n);
  // Warm-up, untimed: a click and one tracked frame on a tracker of its own. A session's first
  // runs pay for allocations and first touches of the weights (the first fp32 run at 512 px was
  // 831 ms a frame, the same bundle's later run 449 ms); PyTorch gets the same warm-up.
  const warm = new VideoTracker(sessions, frames, { width: frames.info.width, height: frames.info.height, prefetch: false });
  await warm.addPoints(0, 1, [{ x: Math.round(frames.info.width / 2), y: Math.round(frames.info.height / 2) }]);
  for await (const _ of warm.propagate({ maxFrameNumToTrack: 1 })) void _;
  warm.destroy();
  const graphMs = Object.fromEntries(GRAPH_KEYS.map((k) => [k, 0])) as Record<GraphKey, number>;
  const run = sessions.run.bind(sessions);
  sessions.run = async (key, feeds) => {
    const s = performance.now();
    try {
      return await run(key, feeds);
    } finally {
      graphMs[key] += performance.now() - s;
    }
  };
  const W = frames.info.width;
  const H = frames.info.height;
  const masks: Uint8Array[] = [];
  const lowRes: Float32Array[] = [];
  try {
    const tracker = new VideoTracker(sessions, frames, { width: W, height: H, prefetch: false });
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    await tracker.addPoints(0, 1, [{ x: Math.round(W / 2), y: Math.round(H / 2) }]);
    for await (const f of tracker.propagate()) {
      lowRes[f.frame] = Float32Array.from(f.objects[0]!.output.predMasks);
      masks[f.frame] = tracker.maskAt(f.frame, 1)!;
    }
    const ms = performance.now() - start;
    const cpu = process.cpuUsage(cpu0);
    tracker.destroy();
    const count = masks.filter(Boolean).length;
    const msPerGraph = Object.fromEntries(GRAPH_KEYS.map((k) => [k, round(graphMs[k] / count)])) as Record<GraphKey, number>;
    return {
      run: {
        imageSize: bundle.imageSize,
        precision,
        threads,
        arena,
        frames: count,
        msPerFrame: round(ms / count),
        cpuMsPerFrame: round((cpu.user + cpu.system) / 1000 / count),
        fps: round((1000 * count) / ms, 3),
        msPerGraph,
        sessionSeconds: round(sessionSeconds),
      },
      masks,
      lowRes,
    };
  } finally {
    await sessions.destroy();
    await frames.destroy();
  }
}

// The PyTorch side: models/sam2/video.py's track_video on the frames the engine decoded.
const TORCH_SCRIPT = String.raw`
import json, sys, time
import numpy as np, torch
a = json.loads(sys.argv[1])
torch.set_num_threads(a["threads"]); torch.set_num_interop_threads(1)
import models.sam2.video as V
from models.sam2 import build_model
t = time.time()
torch.manual_seed(a["seed"])  # as export_bundle does before build_model: the bundle's weights
m = build_model(a["config"], image_size=a["S"]).eval()
build = time.time() - t
S, N = a["S"], a["frames"]
u8 = np.fromfile(a["framesFile"], dtype=np.uint8).reshape(N, S, S, 3)
x = torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 255.0
x = (x - torch.tensor(a["mean"]).view(1, 3, 1, 1)) / torch.tensor(a["std"]).view(1, 3, 1, 1)
fh = [0.0]
orig = V.fill_holes
def timed(*args, **kw):
    s = time.time(); r = orig(*args, **kw); fh[0] += time.time() - s; return r
V.fill_holes = timed
p = V.Prompt(points=torch.tensor([a["point"]], dtype=torch.float32), labels=torch.tensor([1.0]))
with torch.no_grad():
    V.track_video(m, x[:2], {0: p}, num_frames=2, fill_hole_area=a["fillHoleArea"])  # warm-up, as the engine's
    fh[0] = 0.0
    s, c = time.time(), time.process_time()
    out = V.track_video(m, x, {0: p}, num_frames=N, fill_hole_area=a["fillHoleArea"])
    sec, cpu = time.time() - s, time.process_time() - c
low = np.stack([out[i].low_res_masks[0, 0].numpy().astype(np.float32) for i in range(N)])
low.tofile(a["lowResFile"])
print(json.dumps({"seconds": sec, "cpuSeconds": cpu, "fillHolesSeconds": fh[0], "buildSeconds": build, "frames": len(out)}))
`;

async function trackTorch(bundle: Bundle, config: string, video: string, n: number, threads: number, work: string) {
  const frames = await openFrames(video, bundle.imageSize, n);
  const S = bundle.imageSize;
  const W = frames.info.width;
  const H = frames.info.height;
  const buf = new Uint8Array(n * S * S * 3);
  for (let i = 0; i < n; i++) buf.set(await frames.getFrame(i), i * S * S * 3);
  await frames.destroy();
  const framesFile = join(work, `frames-${S}.u8`);
  const lowResFile = join(work, `torch-low-${S}.f32`);
  writeFileSync(framesFile, buf);
  const seed = Number((bundle.raw.source as { seed?: number } | undefined)?.seed ?? 0);
  const args = {
    threads,
    seed,
    config,
    S,
    frames: n,
    framesFile,
    lowResFile,
    mean: bundle.pixelMean,
    std: bundle.pixelStd,
    // The engine's click in video pixels, in the model frame (video.py's Prompt convention).
    point: [(Math.round(W / 2) * S) / W, (Math.round(H / 2) * S) / H],
    fillHoleArea: bundle.memory.fillHoleArea,
  };
  const blas = trainerBlasDir();
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: 'PASSIVE' };
  if (existsSync(blas)) {
    env.LD_LIBRARY_PATH = [blas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
    env.OPENBLAS_NUM_THREADS = String(threads);
  }
  const r = spawnSync(EXPORT_PYTHON, ['-c', TORCH_SCRIPT, JSON.stringify(args)], { cwd: REPO_ROOT, env, encoding: 'utf8', maxBuffer: 16 << 20, timeout: 60 * 60_000 });
  if (r.status !== 0) throw new CinesegError(ErrorCode.E_MODEL_RUN, `PyTorch predictor failed: ${(r.stderr ?? '').slice(-2000)}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; cpuSeconds: number; fillHolesSeconds: number; buildSeconds: number; frames: number };
  const L = bundle.lowResMaskSize;
  const low = new Float32Array(readFileSync(lowResFile).buffer.slice(0));
  const lowRes = [...Array(n).keys()].map((i) => low.subarray(i * L * L, (i + 1) * L * L));
  return { ...out, lowRes, blas: existsSync(blas) ? 'OpenBLAS (pthread)' : "Debian's default BLAS" };
}

function iou(a: ArrayLike<number>, b: ArrayLike<number>, threshold = 0): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! > threshold;
    const y = b[i]! > threshold;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union === 0 ? 1 : inter / union;
}

const meanIou = (a: ArrayLike<number>[], b: ArrayLike<number>[]) => round(a.reduce((s, m, i) => s + iou(m, b[i]!), 0) / a.length, 4);
const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;

/**
 * Graphs the bench quantises. Not the mask decoder: its products are small (a few tokens, or
 * C x C weights on one frame's 4h x 4w upscaled grid), so quantising each input costs more than
 * the integer product saves — measured 35.6 -> 93.5 ms a frame at 512 px.
 */
export const INT8_GRAPHS: readonly GraphKey[] = ['imageEncoder', 'memoryAttention', 'memoryEncoder'];

/** Short hash of the quantiser: a changed quantiser makes new int8 bundles, not stale reuse. */
function quantizerHash(): string {
  return createHash('sha256')
    .update(readFileSync(join(REPO_ROOT, 'models/export/quantize_int8.py')))
    .digest('hex')
    .slice(0, 8);
}

/** The int8 twin of a bundle folder (made once per source bundle and quantiser, beside it in the cache). */
export function ensureInt8Bundle(src: string, graphs: readonly GraphKey[] = INT8_GRAPHS, dst = `${src}-int8-${graphs.join('+')}-${quantizerHash()}`): string {
  if (existsSync(join(dst, 'manifest.json'))) return dst;
  execFileSync(EXPORT_PYTHON, ['-m', 'models.export.quantize_int8', src, dst, '--graphs', graphs.join(',')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return dst;
}

function graphBytes(b: Bundle): number {
  return GRAPH_KEYS.reduce((s, k) => s + readFileSync(b.graphs[k].path).length, 0);
}

export async function benchCpuSpeed(opts: CpuSpeedBenchOptions): Promise<CpuSpeedBenchResult> {
  const log = opts.log ?? (() => undefined);
  const config = opts.config ?? CONFIG;
  const n = opts.frames ?? (opts.quick ? 3 : 8);
  const sizes = opts.sizes ?? (opts.quick ? [512] : [512, 1024]);
  const settings = opts.settings ?? !opts.quick;
  const threads = Math.min(THREADS, cpus().length);
  const work = mkdtempSync(join(tmpdir(), 'cineseg-cpu-speed-'));
  const runs: EngineRun[] = [];
  let exportSeconds = 0;
  try {
    const main = sizes[0]!;
    const made = ensureRandomBundle(config, main);
    exportSeconds += made.exportSeconds;
    const fp = loadBundle(made.dir);
    const q = loadBundle(ensureInt8Bundle(made.dir));
    log(`cpu speed: ${config} ${main} px, ${n} frames, engine fp32 then PyTorch (threads ${threads})`);
    const eng = await trackEngine(fp, VIDEO, n, 'fp32', threads, true);
    runs.push(eng.run);
    const torch = await trackTorch(fp, config, VIDEO, n, threads, work);
    log(`cpu speed: engine ${eng.run.msPerFrame} ms/frame, PyTorch ${round((1000 * torch.seconds) / n)} ms/frame; int8`);
    const int8 = await trackEngine(q, VIDEO, n, 'int8', threads, true);
    runs.push(int8.run);
    if (settings) {
      for (const [t, arena] of [
        [1, true],
        [threads, false],
      ] as const) {
        log(`cpu speed: settings threads ${t} arena ${arena ? 'on' : 'off'}`);
        runs.push((await trackEngine(fp, VIDEO, n, 'fp32', t, arena)).run);
        runs.push((await trackEngine(q, VIDEO, n, 'int8', t, arena)).run);
      }
    }
    // 1024 px: fp32, int8 (INT8_GRAPHS), and int8 in the image encoder alone, which tells the
    // graphs' shares apart (at 4096 queries memory attention is mostly activation x activation
    // products that weight quantisation does not touch).
    for (const size of sizes.slice(1)) {
      const big = ensureRandomBundle(config, size);
      exportSeconds += big.exportSeconds;
      log(`cpu speed: ${size} px fp32 and int8`);
      runs.push((await trackEngine(loadBundle(big.dir), VIDEO, n, 'fp32', threads, true)).run);
      runs.push((await trackEngine(loadBundle(ensureInt8Bundle(big.dir)), VIDEO, n, 'int8', threads, true)).run);
      runs.push({ ...(await trackEngine(loadBundle(ensureInt8Bundle(big.dir, ['imageEncoder'])), VIDEO, n, 'int8', threads, true)).run, int8Graphs: ['imageEncoder'] });
    }
    const tinyFp = await trackEngine(loadBundle(TINY), TINY_CLIP, n, 'fp32', threads, true);
    const tinyQ = await trackEngine(loadBundle(ensureInt8Bundle(TINY, INT8_GRAPHS, join(work, 'tiny-int8'))), TINY_CLIP, n, 'int8', threads, true);
    const iouRandom = meanIou(eng.masks, int8.masks);
    const iouTiny = meanIou(tinyFp.masks, tinyQ.masks);
    const torchMs = (1000 * torch.seconds) / n;
    return {
      engineVsTorchCpuSpeedup: round(torchMs / eng.run.msPerFrame, 2),
      engineVsTorchCpuTimeSpeedup: round((1000 * torch.cpuSeconds) / n / eng.run.cpuMsPerFrame, 2),
      engineInt8VsTorchCpuSpeedup: round(torchMs / int8.run.msPerFrame, 2),
      msPerFrame512: main === 512 ? eng.run.msPerFrame : NaN,
      msPerFrame512Int8: main === 512 ? int8.run.msPerFrame : NaN,
      int8MaskIoU: Math.min(iouRandom, iouTiny),
      int8MaskIoUJudgedOn: 'the lower of the real-size random bundle (the model in question, masks without meaning) and the trained tiny bundle (masks with meaning)',
      int8MaskIoURandom: iouRandom,
      int8MaskIoUTrainedTiny: iouTiny,
      torch: {
        fps: round(n / torch.seconds, 3),
        msPerFrame: round(torchMs),
        cpuMsPerFrame: round((1000 * torch.cpuSeconds) / n),
        threads,
        blas: torch.blas,
        fillHolesMsPerFrame: round((1000 * torch.fillHolesSeconds) / n),
        buildSeconds: round(torch.buildSeconds),
      },
      engineFps: eng.run.fps,
      engineTorchMaskIoU: meanIou(eng.lowRes, torch.lowRes),
      runs,
      int8SizeRatio: round(graphBytes(q) / graphBytes(fp), 3),
      config,
      video: 'samples/real/ultrasound-catheter.mp4',
      frames: n,
      exportSeconds: round(exportSeconds),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
