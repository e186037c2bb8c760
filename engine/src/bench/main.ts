#!/usr/bin/env node
/**
 * `npm run bench [-- --quick] [-- --out file.json]`: every benchmark of the project in one run,
 * printed as ONE JSON object on stdout (progress goes to stderr). Each ratio is measured side by
 * side inside its own bench, on the same clip and the same machine, so the figures are comparable
 * between machines only as ratios. `--quick` is the CI size (well under a minute in all).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, freemem, loadavg, totalmem, platform, release, arch } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { benchAdaptation, type AdaptationBenchResult } from './adaptation-bench.js';
import { benchAnnotationEffort, type EffortSummary } from './annotation-effort.js';
import { benchCluster, type ClusterBenchResult } from './cluster-bench.js';
import { benchDecode, type DecodeBenchResult } from './decode-bench.js';
import { benchEventLoop, type EventLoopBenchResult } from './event-loop-bench.js';
import { benchMask, type MaskBenchResult } from './mask-bench.js';
import { benchRecordedMemory, type RecordedMemoryBenchResult } from './recorded-memory-bench.js';
import { benchRestore, type RestoreBenchResult } from './restore-bench.js';
import { benchCpuSpeed, type CpuSpeedBenchResult } from './cpu-speed-bench.js';
import { benchLiveLatency, type LiveLatencyBenchResult } from './live-latency-bench.js';
import { benchSoak, type SoakResult } from './soak-bench.js';
import { benchTrack, type TrackBenchResult } from './track-bench.js';

/** Soak sizes: tracked frames and the checkpoint the end is compared with. */
export const SOAK_FULL = { frames: 50_000, checkpointFrames: 5_000 };
export const SOAK_QUICK = { frames: 150, checkpointFrames: 50 };

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  onnxruntime: string;
  /** The execution provider the benches ran on. */
  ep: string;
  /** GPUs the NVIDIA driver reports, or null when there is none. */
  gpu: string[] | null;
  /** 1-minute load average at the start and at the end: other work on the machine skews timings. */
  loadAverage: { start: number; end: number };
}

export interface BenchResult {
  quick: boolean;
  decodeRatio: number;
  engineOverheadRatio: number;
  multiObject8to1Ratio: number;
  /** COCO RLE encode of a 1080p mask / the textbook per-pixel encoder on it. */
  rleEncodeVsNaiveRatio: number;
  /** Soak: RSS after a forced GC at the end / at the checkpoint. */
  rssGrowthRatio: number;
  /** Soak: open descriptors at the end − at the checkpoint. */
  soakFdDelta: number;
  /** Soak: ffmpeg children of the process left after destroy(). */
  soakFfmpegLeft: number;
  soakFrames: number;
  liveLatencyP50Ms: number;
  liveLatencyP99Ms: number;
  fps: number;
  /**
   * Robot annotator (DAVIS-interactive style) on the held-out sample clips: mean clicks until
   * every frame has J ≥ 0.85, an object not finished in 20 clicks counted as 20 (a lower bound
   * then; `annotation.unfinished` says how many). Per-object detail in `annotation.perClip`.
   */
  clicksToFinish: number;
  /** Mean J&F over the objects after 1, 3 and 5 robot clicks. */
  jfAfterClicks: { 1: number; 3: number; 5: number };
  /** Adaptation (site e, never in the shipped model's training): see adaptation-bench.ts. */
  siteShiftJfBefore: number;
  siteShiftJfAfter: Record<string, number>;
  zeroClickJf: AdaptationBenchResult['zeroClickJf'];
  clicksToFinishBefore: number;
  clicksToFinishAfter: number;
  finetuneSeconds: number;
  /** Event-loop delay p99 (ms) while a recorded propagation runs, graphs in the inference worker (inline beside it in `eventLoop`). */
  eventLoopP99MsDuringPropagation: number;
  /** Server RSS after propagating a long clip / after a 1-minute one (see recordedMemory for lengths). */
  recordedSessionRssRatio: number;
  /** Acknowledged masks missing after kill -9 + restart + reopen. */
  restoreLostMasks: number;
  /** Restart to every stored mask back on the reopened session's socket, s. */
  restoreSeconds: number;
  /** Real sizes on the CPU (sam2.1_hiera_t, random weights; see cpu-speed-bench.ts). */
  engineVsTorchCpuSpeedup: number;
  msPerFrame512: number;
  msPerFrame512Int8: number;
  int8MaskIoU: number;
  cpuSpeed: CpuSpeedBenchResult;
  /** Mask inserts per second into PostgreSQL (batches of 64, fsync on; SQLite's beside it in `cluster`). */
  postgresMaskInsertsPerSecond: number;
  /** Clips per minute with 1 and 2 `cineseg worker` processes (see cluster.workers). */
  workerClipsPerMinute: Record<string, number>;
  /** Acked masks missing / (object, frame) rows written twice after a worker was SIGKILLed mid-clip. */
  workerKillLostMasks: number;
  workerKillDuplicateMasks: number;
  cluster: ClusterBenchResult;
  /** Each goal of the issues that a bench figure answers: value, goal, met. */
  goals: Record<string, { value: number; goal: string; met: boolean }>;
  adaptation: AdaptationBenchResult;
  eventLoop: EventLoopBenchResult;
  recordedMemory: RecordedMemoryBenchResult;
  restore: RestoreBenchResult;
  decode: DecodeBenchResult;
  track: TrackBenchResult;
  mask: MaskBenchResult;
  live: LiveLatencyBenchResult;
  soak: SoakResult;
  annotation: EffortSummary;
  machine: Machine;
  wallSeconds: number;
  /** Wall time of each part, s. */
  partSeconds: {
    soak: number;
    decode: number;
    track: number;
    mask: number;
    live: number;
    annotation: number;
    adaptation: number;
    eventLoop: number;
    recordedMemory: number;
    restore: number;
    cpuSpeed: number;
    cluster: number;
  };
  date: string;
}

function onnxruntimeVersion(): string {
  try {
    const req = createRequire(import.meta.url);
    const pkg = join(dirname(req.resolve('onnxruntime-node')), '..', 'package.json');
    return (JSON.parse(readFileSync(resolve(pkg), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** NVIDIA GPUs by name, from nvidia-smi or the driver's /proc entries; null when none. */
function gpus(): string[] | null {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    const list = out
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    if (list.length) return list;
  } catch {
    // no nvidia-smi: look at the driver directly
  }
  const dir = '/proc/driver/nvidia/gpus';
  if (!existsSync(dir)) return null;
  const names = readdirSync(dir).map((d) => /Model:\s*(.+)/.exec(readFileSync(join(dir, d, 'information'), 'utf8'))?.[1]?.trim() ?? d);
  return names.length ? names : null;
}

/** Runs every bench; `log` gets progress lines. */
export async function runBench(opts: { quick: boolean; soakFrames?: number; log?: (line: string) => void }): Promise<BenchResult> {
  const { quick } = opts;
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const loadStart = loadavg()[0]!;
  const size = quick ? 'quick' : 'full';
  const timed = async <T>(name: string, run: () => Promise<T>): Promise<[T, number]> => {
    log(`${name} (${size})`);
    const t0 = Date.now();
    const r = await run();
    return [r, (Date.now() - t0) / 1000];
  };
  // The soak goes first, so its memory readings are of a process that has run nothing else.
  // --soak-frames N: the same soak at another length (checkpoint at N / 10), e.g. when the
  // 50,000-frame run (about half an hour here) does not fit.
  const s = opts.soakFrames ? { frames: opts.soakFrames, checkpointFrames: Math.max(1, Math.round(opts.soakFrames / 10)) } : quick ? SOAK_QUICK : SOAK_FULL;
  const [soak, soakS] = await timed(`soak, ${s.frames} live frames`, () => benchSoak({ ...s, log }));
  const [decode, decodeS] = await timed('decode', () => benchDecode({ quick }));
  const [track, trackS] = await timed('track', () => benchTrack({ quick }));
  const [mask, maskS] = await timed('mask encoding', async () => benchMask({ quick }));
  const [live, liveS] = await timed('live latency in Chromium', () => benchLiveLatency({ quick }));
  const [annotation, annotationS] = await timed('annotation effort (robot clicks)', () => benchAnnotationEffort({ quick, log }));
  const [adaptation, adaptationS] = await timed('adaptation to an unseen site (finetune, support sets, robot)', () => benchAdaptation({ quick, log }));
  const [eventLoop, eventLoopS] = await timed('event loop during propagation (inference worker vs inline)', () => benchEventLoop({ quick, log }));
  const [recordedMemory, recordedMemoryS] = await timed('recorded session memory (long clip vs 1 minute)', () => benchRecordedMemory({ quick, log }));
  const [restore, restoreS] = await timed('restore after kill -9', () => benchRestore({ quick, log }));
  const [cpuSpeed, cpuSpeedS] = await timed('real sizes on the CPU (engine vs PyTorch, 512 px, int8)', () => benchCpuSpeed({ quick, log }));
  const [cluster, clusterS] = await timed('cluster: PostgreSQL inserts, queue workers, a worker killed', () => benchCluster({ quick, log }));
  const a = adaptation;
  const after3 = a.siteShiftJfAfter['3'] ?? Math.max(...Object.values(a.siteShiftJfAfter));
  const zero = Math.max(...Object.values(a.zeroClickJf.base), ...Object.values(a.zeroClickJf.adapted));
  const goal = (value: number, text: string, met: boolean) => ({ value, goal: text, met });
  const goals = {
    siteShiftJfAfter3: goal(after3, '>= 0.85 after finetune on 3 clips per kind', after3 >= 0.85),
    zeroClickJf: goal(zero, '>= 0.70 with a 1- or 3-clip support set', zero >= 0.7),
    clicksToFinishReduction: goal(1 - a.clicksToFinishAfter / a.clicksToFinishBefore, '>= 0.50 fewer clicks after finetune', a.clicksToFinishAfter <= 0.5 * a.clicksToFinishBefore),
    finetuneSeconds: goal(a.finetuneSeconds, '<= 600 s for 3 clips per kind (tiny model, 2 cores)', a.finetuneSeconds <= 600),
    eventLoopP99MsDuringPropagation: goal(eventLoop.eventLoopP99MsDuringPropagation, '<= 20 ms', eventLoop.eventLoopP99MsDuringPropagation <= 20),
    recordedSessionRssRatio: goal(recordedMemory.recordedSessionRssRatio, '<= 1.15 (long clip / 1-minute clip)', recordedMemory.recordedSessionRssRatio <= 1.15),
    restoreLostMasks: goal(restore.restoreLostMasks, '0 acked masks lost after kill -9', restore.restoreLostMasks === 0),
    liveLatencyP99Ms: goal(live.liveLatencyP99Ms, '<= 40 ms glass to glass', live.liveLatencyP99Ms <= 40),
    engineVsTorchCpuSpeedup: goal(cpuSpeed.engineVsTorchCpuSpeedup, '>= 3 x the PyTorch predictor (sam2.1_hiera_t, 512 px, 2 threads)', cpuSpeed.engineVsTorchCpuSpeedup >= 3),
    msPerFrame512: goal(
      Math.min(cpuSpeed.msPerFrame512, cpuSpeed.msPerFrame512Int8),
      '<= 1000 ms a frame at 512 px (fp32 or int8, 2 threads)',
      Math.min(cpuSpeed.msPerFrame512, cpuSpeed.msPerFrame512Int8) <= 1000,
    ),
    int8MaskIoU: goal(cpuSpeed.int8MaskIoU, '>= 0.95 mean mask IoU int8 vs fp32', cpuSpeed.int8MaskIoU >= 0.95),
    workerKillLostMasks: goal(cluster.workerKillLostMasks, '0 acked masks lost when a worker is SIGKILLed mid-clip', cluster.workerKillLostMasks === 0),
    workerKillDuplicateMasks: goal(cluster.workerKillDuplicateMasks, '0 frames written twice after a worker is SIGKILLed mid-clip', cluster.workerKillDuplicateMasks === 0),
  };
  const cpu = cpus();
  return {
    quick,
    decodeRatio: decode.decodeRatio,
    engineOverheadRatio: track.engineOverheadRatio,
    multiObject8to1Ratio: track.multiObject8to1Ratio,
    rleEncodeVsNaiveRatio: mask.rleEncodeVsNaiveRatio,
    rssGrowthRatio: soak.rssGrowthRatio,
    soakFdDelta: soak.fdDelta,
    soakFfmpegLeft: soak.ffmpegLeft,
    soakFrames: soak.frames,
    liveLatencyP50Ms: live.liveLatencyP50Ms,
    liveLatencyP99Ms: live.liveLatencyP99Ms,
    fps: track.fps,
    siteShiftJfBefore: a.siteShiftJfBefore,
    siteShiftJfAfter: a.siteShiftJfAfter,
    zeroClickJf: a.zeroClickJf,
    clicksToFinishBefore: a.clicksToFinishBefore,
    clicksToFinishAfter: a.clicksToFinishAfter,
    finetuneSeconds: a.finetuneSeconds,
    eventLoopP99MsDuringPropagation: eventLoop.eventLoopP99MsDuringPropagation,
    recordedSessionRssRatio: recordedMemory.recordedSessionRssRatio,
    restoreLostMasks: restore.restoreLostMasks,
    restoreSeconds: restore.restoreSeconds,
    engineVsTorchCpuSpeedup: cpuSpeed.engineVsTorchCpuSpeedup,
    msPerFrame512: cpuSpeed.msPerFrame512,
    msPerFrame512Int8: cpuSpeed.msPerFrame512Int8,
    int8MaskIoU: cpuSpeed.int8MaskIoU,
    cpuSpeed,
    postgresMaskInsertsPerSecond: cluster.postgresMaskInsertsPerSecond,
    workerClipsPerMinute: cluster.workerClipsPerMinute,
    workerKillLostMasks: cluster.workerKillLostMasks,
    workerKillDuplicateMasks: cluster.workerKillDuplicateMasks,
    cluster,
    goals,
    adaptation,
    eventLoop,
    recordedMemory,
    restore,
    clicksToFinish: annotation.clicksToFinish,
    jfAfterClicks: annotation.jfAfterClicks,
    decode,
    track,
    mask,
    live,
    soak,
    annotation,
    machine: {
      cpu: cpu[0]?.model ?? 'unknown',
      cores: cpu.length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      os: `${platform()} ${release()} ${arch()}`,
      node: process.version,
      onnxruntime: onnxruntimeVersion(),
      ep: track.ep,
      gpu: gpus(),
      loadAverage: { start: loadStart, end: loadavg()[0]! },
    },
    wallSeconds: (Date.now() - started) / 1000,
    partSeconds: {
      soak: soakS,
      decode: decodeS,
      track: trackS,
      mask: maskS,
      live: liveS,
      annotation: annotationS,
      adaptation: adaptationS,
      eventLoop: eventLoopS,
      recordedMemory: recordedMemoryS,
      restore: restoreS,
      cpuSpeed: cpuSpeedS,
      cluster: clusterS,
    },
    date: new Date().toISOString(),
  };
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const outArg = process.argv.indexOf('--out');
  const log = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);
  log(`machine has ${Math.round(freemem() / 2 ** 30)} GiB free, load ${loadavg()[0]!.toFixed(2)}`);
  const soakArg = process.argv.indexOf('--soak-frames');
  const soakFrames = soakArg >= 0 ? Number(process.argv[soakArg + 1]) : undefined;
  if (soakFrames !== undefined && !(Number.isInteger(soakFrames) && soakFrames >= 20)) {
    throw new CinesegError(ErrorCode.E_USAGE, '--soak-frames needs a whole number of frames >= 20');
  }
  const result = await runBench({ quick, log, ...(soakFrames ? { soakFrames } : {}) });
  const json = JSON.stringify(result, null, 2);
  process.stdout.write(`${json}\n`);
  const out = outArg >= 0 ? process.argv[outArg + 1] : undefined;
  if (out) {
    mkdirSync(join(out, '..'), { recursive: true });
    writeFileSync(out, json);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${toCinesegError(err).toLine()}\n`);
    process.exitCode = 1;
  });
}
