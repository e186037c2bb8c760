/**
 * `recordedSessionRssRatio`: a recorded session's resident memory after propagating a long clip
 * over the same after a 1-minute clip (goal ≤ 1.15: memory must not grow with the clip).
 *
 * Each clip is a generated one (the synthetic ultrasound sample looped, 160x120, 30 fps, H.264
 * with a keyframe every 2 s, made by ffmpeg), and each run is a fresh Node process that opens a
 * RecordedSession with the shipped tiny model and the real SQLite store (as `cineseg serve`
 * does), clicks the object on frame 0, propagates forward over the whole clip, then reports its
 * RSS after a GC. Fresh processes, so one run's heap cannot flatter or burden the other.
 *
 * Full: 20 min (36,000 frames) over 1 min (1,800), ≈ 15 min on two cores. Quick (`--quick`):
 * 3 min (5,400) over 1 min, ≈ 4 min (the store commits every frame's mask, as a server does).
 *
 * Measured (two shared cores): full 1.18–1.19 in two runs, JS heap +2.8 MB from 1 to 20 min; the
 * rest of the growth (≈ 44 MB) is native memory outside V8 that reaches the same level by a
 * 2-minute run (600 → 3,600 frames: +43 MB as well), i.e. warm-up of native allocators
 * (onnxruntime, glibc, SQLite), not state growing with the clip. RSS varies ±20 MB between runs.
 * Runnable alone: `node engine/dist/bench/recorded-memory-bench.js [--quick]` prints the JSON.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnFfmpeg } from '../decode/ffmpeg.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { loadBundle } from '../model/bundle.js';
import { defaultBundleDir, GENERATED_SAMPLES_DIR, REPO_ROOT } from '../paths.js';
import { ModelSessions } from '../model/ort-sessions.js';
import { PROTOCOL_VERSION, type AddPoints, type Propagate } from '../protocol.js';
import { RecordedSession } from '../server/recorded-session.js';
import { serverArena } from '../server/http-server.js';
import { StoreSink } from '../server/store-sink.js';
import { openStore } from '../store/open-store.js';

const FPS = 30;
const W = 160;
const H = 120;
/** The sample's object 1 (ultrasound-1 prompts.json: (213, 181) in 480x360), scaled to 160x120. */
const CLICK = { x: 71, y: 60 };

export interface RecordedMemoryRun {
  frames: number;
  minutes: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** Memory of ArrayBuffers and other V8-external objects (frame buffers, packed masks' pool). */
  externalBytes: number;
  propagateSeconds: number;
  framesPerSecond: number;
  /** Most frames the session's decode cache held, and how many tracked outputs stayed whole. */
  maxFramesHeld: number;
  wholeOutputs: number;
  packedOutputs: number;
}

export interface RecordedMemoryBenchResult {
  recordedSessionRssRatio: number;
  goal: number;
  met: boolean;
  short: RecordedMemoryRun;
  long: RecordedMemoryRun;
  clip: string;
  command: string;
}

/** Runs both clips, each in its own process; see the module comment. */
export async function benchRecordedMemory(opts: { quick: boolean; log?: (m: string) => void }): Promise<RecordedMemoryBenchResult> {
  const log = opts.log ?? (() => undefined);
  const shortFrames = 60 * FPS;
  const longFrames = (opts.quick ? 3 : 20) * 60 * FPS;
  const tmp = mkdtempSync(join(tmpdir(), 'cineseg-recmem-'));
  try {
    const runs: RecordedMemoryRun[] = [];
    for (const frames of [shortFrames, longFrames]) {
      const clip = join(tmp, `clip-${frames}.mp4`);
      log(`recorded memory: generating ${frames} frames`);
      await makeClip(clip, frames);
      log(`recorded memory: propagating ${frames} frames in a fresh process`);
      runs.push(await runChild(clip, join(tmp, `store-${frames}.db`)));
    }
    const [short, long] = runs as [RecordedMemoryRun, RecordedMemoryRun];
    const ratio = long.rssBytes / short.rssBytes;
    return {
      recordedSessionRssRatio: Math.round(ratio * 1000) / 1000,
      goal: 1.15,
      met: ratio <= 1.15,
      short,
      long,
      clip: `samples/generated/ultrasound-1 looped, ${W}x${H}, ${FPS} fps; ${shortFrames} vs ${longFrames} frames`,
      command: `node engine/dist/bench/recorded-memory-bench.js${opts.quick ? ' --quick' : ''}`,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The looped sample as an H.264 file of `frames` frames. */
async function makeClip(out: string, frames: number): Promise<void> {
  const src = join(GENERATED_SAMPLES_DIR, 'ultrasound-1', 'clip.mp4');
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-stream_loop',
    '-1',
    '-i',
    src,
    '-frames:v',
    String(frames),
    '-vf',
    `scale=${W}:${H},fps=${FPS}`,
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    String(2 * FPS),
    '-pix_fmt',
    'yuv420p',
    '-an',
    out,
  ];
  const child = spawnFfmpeg(args);
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) throw new CinesegError(ErrorCode.E_INTERNAL, `generating the bench clip failed: ${err.trim().split('\n').pop() ?? code}`);
}

function runChild(clip: string, store: string): Promise<RecordedMemoryRun> {
  // Run from the TypeScript sources (vitest), Node 20 cannot start this file: use the build's copy.
  const here = fileURLToPath(import.meta.url);
  const self = here.endsWith('.ts') ? join(REPO_ROOT, 'engine', 'dist', 'bench', 'recorded-memory-bench.js') : here;
  if (!existsSync(self)) throw new CinesegError(ErrorCode.E_INTERNAL, `${self} is missing: run npm run build first`);
  return new Promise((resolvePromise, reject) => {
    // --expose-gc: RSS after a full collection, not whatever garbage the last frame left.
    const child = spawn(process.execPath, ['--expose-gc', self, '--child', clip, store], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new CinesegError(ErrorCode.E_INTERNAL, `recorded memory run exited with ${code}: ${line}`));
      else resolvePromise(JSON.parse(line) as RecordedMemoryRun);
    });
  });
}

/** The measured side: one session, one click, one forward pass over the whole clip. */
async function childMain(clip: string, storePath: string): Promise<RecordedMemoryRun> {
  // The server's setting (serverArena): what a day of `cineseg serve` holds is what is measured.
  const sessions = await ModelSessions.create(loadBundle(defaultBundleDir()), { ep: 'cpu', arena: serverArena() });
  const sink = new StoreSink(await openStore(storePath), true);
  const catalogClip = { id: 'bench/clip', name: 'clip', path: clip, rootReal: dirname(clip) };
  const s = await RecordedSession.open('bench', 1, catalogClip, sessions, sink);
  const sid = s.sessionId;
  await s.prompt({ v: PROTOCOL_VERSION, type: 'addPoints', seq: 1, sessionId: sid, objectId: 1, frame: 0, points: [{ x: CLICK.x, y: CLICK.y, label: 1 }], clearOld: true } as AddPoints);
  const t0 = performance.now();
  await s.propagate({ v: PROTOCOL_VERSION, type: 'propagate', seq: 2, sessionId: sid, direction: 'forward' } as Propagate);
  await s.settle();
  const seconds = (performance.now() - t0) / 1000;
  const o = s.videoTracker.objectState(1)!;
  const held = s.decodedFrames.stats.maxHeld;
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 200));
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  const run: RecordedMemoryRun = {
    frames: s.decodedFrames.numFrames,
    minutes: Math.round((s.decodedFrames.numFrames / FPS / 60) * 100) / 100,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    externalBytes: mem.external,
    propagateSeconds: Math.round(seconds * 10) / 10,
    framesPerSecond: Math.round((s.decodedFrames.numFrames / seconds) * 10) / 10,
    maxFramesHeld: held,
    wholeOutputs: o.nonCond.size + o.cond.size,
    packedOutputs: o.compact.size,
  };
  await s.destroy();
  await sink.destroy();
  await sessions.destroy();
  return run;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    childMain(argv[1]!, argv[2]!).then(
      (r) => {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        process.exit(0);
      },
      (e: unknown) => {
        process.stderr.write(`${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  } else {
    benchRecordedMemory({ quick: argv.includes('--quick'), log: (m) => void process.stderr.write(`bench: ${m}\n`) }).then(
      (r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`),
      (e: unknown) => {
        process.stderr.write(`${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  }
}
