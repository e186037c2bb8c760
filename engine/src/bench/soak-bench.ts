/**
 * Soak: the live pipeline (decoder child, latest-frame-wins, stream tracker, RLE, JPEG child,
 * SQLite store) runs one tracked object over a looping source for many thousands of frames, and
 * what a long run must not accumulate is read from /proc: resident memory after a forced GC at a
 * checkpoint and at the end (`rssGrowthRatio` = end / checkpoint), open file descriptors, and
 * ffmpeg children left after destroy().
 *
 * The source is a sample clip re-encoded small (192x144) at 120 fps and looped in real time, so
 * the tracker — not the source — sets the pace and every frame it takes costs it the tiny model's
 * time; frames it has no time for are dropped, as on a real camera.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { spawnFfmpeg } from '../decode/ffmpeg.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { loadBundle } from '../model/bundle.js';
import { defaultBundleDir, GENERATED_SAMPLES_DIR } from '../paths.js';
import { ModelSessions, type ExecutionProviderRequest } from '../model/ort-sessions.js';
import { binaryKind, decodeMaskFrame, PROTOCOL_VERSION, type AddPoints } from '../protocol.js';
import { LivePipeline, LiveSession } from '../server/live-session.js';
import type { SessionOutput } from '../server/session-output.js';
import { StoreSink } from '../server/store-sink.js';
import { openStore } from '../store/open-store.js';
import { childProcesses, openFdCount, openFdKinds, rssAfterGc } from './process-stats.js';
import { printResult } from './print-result.js';

export interface SoakOptions {
  /** Tracked frames to run (the bench's full size: 50,000). */
  frames: number;
  /** Tracked frames after which the baseline RSS and fd count are taken (full: 5,000). */
  checkpointFrames: number;
  /** Clip folder with clip.mp4 and prompts.json (default samples/generated/ultrasound-1). */
  clipDir?: string;
  model?: string;
  ep?: ExecutionProviderRequest;
  /** The live store interval (see LivePipelineOptions.storeIntervalMs; default: the server's). */
  storeIntervalMs?: number;
  log?: (line: string) => void;
}

export interface SoakResult {
  /** Frames tracked and sent (with their masks and JPEG). */
  frames: number;
  /** Frames the source delivered; the difference are latest-frame-wins drops. */
  sourceFrames: number;
  seconds: number;
  msPerFrame: number;
  rssCheckpointMb: number;
  rssEndMb: number;
  /** RSS at the end / RSS at the checkpoint, both after a forced GC. */
  rssGrowthRatio: number;
  heapCheckpointMb: number;
  heapEndMb: number;
  /** (tracked frames, RSS MB after GC) at the checkpoint, every tenth of the run, and the end. */
  rssSamples: [number, number][];
  /**
   * At the same points, MB: V8 heap in use, and memory outside it that V8 knows of (typed-array
   * backing stores and Buffers: `arrayBuffers` is part of `external`). RSS growth that none of
   * these show is native (onnxruntime, SQLite, the allocator).
   */
  memorySamples: { frames: number; rss: number; heapUsed: number; external: number; arrayBuffers: number }[];
  fdBefore: number;
  fdCheckpoint: number;
  fdEnd: number;
  fdAfterDestroy: number;
  /** fdEnd − fdCheckpoint: growth while running. */
  fdDelta: number;
  /** fdAfterDestroy − fdBefore: what teardown left open. */
  fdLeftAfterDestroy: number;
  /** Open descriptors by kind (pipe, socket, anon_inode, file) before, at the end, after destroy. */
  fdKindsBefore: Record<string, number>;
  fdKindsEnd: Record<string, number>;
  fdKindsAfterDestroy: Record<string, number>;
  /** ffmpeg children while running (decoder + JPEG encoder). */
  ffmpegRunning: number;
  /** ffmpeg children of this process after destroy() (running or zombie). */
  ffmpegLeft: number;
  /** Frames in the last tenth of the run whose mask of the object was non-empty. */
  trackedShareEnd: number;
  model: string;
  ep: string;
  source: string;
}

/** Re-encodes the clip small and fast (a 0.75 s loop at 120 fps) for the soak. */
async function soakClip(clip: string, out: string): Promise<void> {
  await new Promise<void>((res, rej) => {
    const child = spawnFfmpeg([
      '-hide_banner',
      '-nostdin',
      '-v',
      'error',
      '-y',
      '-i',
      clip,
      '-an',
      '-vf',
      'setpts=PTS*30/120,scale=192:144',
      '-r',
      '120',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-crf',
      '20',
      '-g',
      '30',
      '-pix_fmt',
      'yuv420p',
      out,
    ]);
    let err = '';
    child.stdout!.resume();
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.once('error', rej);
    child.once('close', (code) => (code === 0 ? res() : rej(new CinesegError(ErrorCode.E_ENCODE_FAILED, `soak clip: ${err.trim().split('\n').pop() ?? code}`))));
  });
}

const mb = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;

/** Runs the soak; see the module comment. */
export async function benchSoak(opts: SoakOptions): Promise<SoakResult> {
  const log = opts.log ?? (() => undefined);
  if (!(opts.checkpointFrames > 0 && opts.frames > opts.checkpointFrames)) throw new CinesegError(ErrorCode.E_USAGE, 'soak: need 0 < checkpointFrames < frames');
  const clipDir = opts.clipDir ?? join(GENERATED_SAMPLES_DIR, 'ultrasound-1');
  if (!existsSync(join(clipDir, 'clip.mp4'))) throw new CinesegError(ErrorCode.E_USAGE, `soak: no ${join(clipDir, 'clip.mp4')} (run \`npm run samples\`)`);
  const prompts = JSON.parse(readFileSync(join(clipDir, 'prompts.json'), 'utf8')) as { width: number; height: number; objects: { point: [number, number] }[] };
  const tmp = mkdtempSync(join(tmpdir(), 'cineseg-soak-'));
  const clip = join(tmp, 'soak.mp4');
  await soakClip(join(clipDir, 'clip.mp4'), clip);

  const sessions = await ModelSessions.create(loadBundle(opts.model ?? defaultBundleDir()), { ep: opts.ep ?? 'auto', log });
  // After the first ORT session: onnxruntime-node opens process-wide files once (its telemetry
  // database under ~/.cache/Microsoft, a /tmp/mat-debug-<pid>.log) and keeps them to the end.
  const fdBefore = openFdCount();
  const fdKindsBefore = openFdKinds();
  const sink = new StoreSink(await openStore(join(tmp, 'soak.db')), true);
  const pipeline = new LivePipeline({ input: `loop:${clip}`, sessions, sink, log, ...(opts.storeIntervalMs === undefined ? {} : { storeIntervalMs: opts.storeIntervalMs }) });
  const session = new LiveSession('soak', 1, pipeline);
  // What a client would receive, counted and dropped (a real socket would queue it).
  const recent: { frame: number; area: number }[] = [];
  const out: SessionOutput = {
    json: () => undefined,
    binary: (d) => {
      if (binaryKind(d) !== 'mask') return;
      const m = decodeMaskFrame(d);
      let area = 0;
      for (let i = 1; i < m.counts.length; i += 2) area += m.counts[i]!;
      recent.push({ frame: m.frame, area });
      if (recent.length > 10_000) recent.splice(0, 5_000);
    },
  };
  session.output.attach(out);
  let destroyed = false;
  try {
    await pipeline.subscribe(session);
    const scale = 192 / prompts.width;
    const [x, y] = prompts.objects[0]!.point;
    const msg: AddPoints = { v: PROTOCOL_VERSION, type: 'addPoints', seq: 1, sessionId: 'soak', frame: 0, objectId: 1, points: [{ x: x * scale, y: y * (144 / prompts.height), label: 1 }] };
    await session.prompt(msg);
    const startFrames = pipeline.framesSent;
    const done = (): number => pipeline.framesSent - startFrames;
    const t0 = performance.now();
    const samples: [number, number][] = [];
    const memorySamples: SoakResult['memorySamples'] = [];
    const sample = (n: number, rss: number): void => {
      const m = process.memoryUsage();
      samples.push([n, mb(rss)]);
      memorySamples.push({ frames: n, rss: mb(rss), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) });
    };
    let check: { rss: number; heap: number; fd: number; ffmpeg: number } | null = null;
    let nextSample = opts.checkpointFrames;
    const step = Math.max(1, Math.floor(opts.frames / 10));
    let lastLog = 0;
    while (done() < opts.frames) {
      if (!pipeline.active) throw new CinesegError(ErrorCode.E_INTERNAL, `soak: the live pipeline stopped after ${done()} frames`);
      await new Promise((r) => setTimeout(r, 50));
      const n = done();
      if (n >= nextSample && n < opts.frames) {
        const rss = await rssAfterGc();
        sample(n, rss);
        if (!check) {
          check = { rss, heap: process.memoryUsage().heapUsed, fd: openFdCount(), ffmpeg: childProcesses('ffmpeg').length };
          nextSample = opts.checkpointFrames + step;
        } else nextSample += step;
      }
      if (performance.now() - lastLog > 30_000) {
        lastLog = performance.now();
        log(`soak: ${n}/${opts.frames} frames, ${((performance.now() - t0) / Math.max(1, n)).toFixed(1)} ms/frame`);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const frames = done();
    const rssEnd = await rssAfterGc();
    sample(frames, rssEnd);
    const heapEnd = process.memoryUsage().heapUsed;
    const fdEnd = openFdCount();
    const fdKindsEnd = openFdKinds();
    const tail = recent.filter((r) => r.frame > recent.at(-1)!.frame - Math.max(10, Math.floor(frames / 10)));
    const trackedShareEnd = tail.length ? tail.filter((r) => r.area > 0).length / tail.length : 0;
    const sourceFrames = pipeline.framesIn;
    const ep = sessions.ep.ep;
    const model = sessions.bundle.name;
    destroyed = true;
    await session.destroy();
    await pipeline.destroy();
    await sink.destroy();
    await sessions.destroy();
    const ffmpegLeft = childProcesses('ffmpeg').length;
    const fdAfterDestroy = openFdCount();
    const fdKindsAfterDestroy = openFdKinds();
    const c = check!;
    return {
      frames,
      sourceFrames,
      seconds,
      msPerFrame: (seconds * 1000) / frames,
      rssCheckpointMb: mb(c.rss),
      rssEndMb: mb(rssEnd),
      rssGrowthRatio: rssEnd / c.rss,
      heapCheckpointMb: mb(c.heap),
      heapEndMb: mb(heapEnd),
      rssSamples: samples,
      memorySamples,
      fdBefore,
      fdCheckpoint: c.fd,
      fdEnd,
      fdAfterDestroy,
      fdDelta: fdEnd - c.fd,
      fdLeftAfterDestroy: fdAfterDestroy - fdBefore,
      fdKindsBefore,
      fdKindsEnd,
      fdKindsAfterDestroy,
      ffmpegRunning: c.ffmpeg,
      ffmpegLeft,
      trackedShareEnd,
      model,
      ep,
      source: `loop:${clip} (192x144, 120 fps)`,
    };
  } finally {
    if (!destroyed) {
      await session.destroy().catch(() => undefined);
      await pipeline.destroy().catch(() => undefined);
      await sink.destroy().catch(() => undefined);
      await sessions.destroy().catch(() => undefined);
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}

// `node --expose-gc engine/dist/bench/soak-bench.js [--frames N] [--checkpoint N]` prints the result as JSON.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string, def: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  const store = process.argv.indexOf('--store-interval');
  printResult(
    benchSoak({
      frames: arg('--frames', 50_000),
      checkpointFrames: arg('--checkpoint', 5_000),
      ...(store > 0 ? { storeIntervalMs: Number(process.argv[store + 1]) } : {}),
      log: (l) => process.stderr.write(`${l}\n`),
    }),
  );
}
