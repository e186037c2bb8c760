/**
 * Decode throughput: frames decoded, scaled to 256 x 256 and turned into normalised float32 CHW
 * tensors (the model's input), against plain `ffmpeg -i clip -f null -` on the same clip, measured
 * alternately in one run so both see the same machine load.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnFfmpeg } from '../decode/ffmpeg.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { Preprocessor } from '../model/preprocessor.js';
import { REAL_SAMPLES_DIR, REPO_ROOT } from '../paths.js';
import { FrameSource } from '../decode/frame-source.js';

/** Result of {@link benchDecode}. Ratios are our wall time / ffmpeg's null-output wall time (lower is better). */
export interface DecodeBenchResult {
  /** decode + scale + rgb24 pipe + float32 CHW tensor, relative to `ffmpeg -f null`. */
  decodeRatio: number;
  /** Frames per second of the full decode-to-tensor path. */
  decodeFps: number;
  /** Frames per second of `ffmpeg -i clip -f null -` (decode only, no scaling, no pipe). */
  ffmpegNullFps: number;
  /** decode + scale + pipe only (no tensor conversion), relative to `ffmpeg -f null`. */
  scaleOnlyRatio: number;
  scaleOnlyFps: number;
  /** One-off cost of opening (probing) the clip, not part of the ratios. */
  probeMs: number;
  clip: string;
  frames: number;
  size: number;
  repeats: number;
}

const SIZE = 256;
// ImageNet statistics, as SAM2's image encoder expects.
const MEAN = [0.485, 0.456, 0.406] as const;
const STD = [0.229, 0.224, 0.225] as const;

async function timeFfmpegNull(clip: string): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawnFfmpeg(['-hide_banner', '-nostats', '-v', 'error', '-nostdin', '-i', clip, '-map', '0:v:0', '-f', 'null', '-']);
    let err = '';
    child.stdout!.resume();
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new CinesegError(ErrorCode.E_DECODE_FAILED, `ffmpeg -f null failed: ${err.trim().split('\n').pop() ?? code}`))));
  });
  return performance.now() - t0;
}

async function timeOurs(src: FrameSource, tensors: boolean): Promise<{ ms: number; frames: number; checksum: number }> {
  const pre = new Preprocessor(SIZE, MEAN, STD);
  const t0 = performance.now();
  const dec = src.decoder({ width: SIZE, height: SIZE, readAhead: 4 });
  let frames = 0;
  let checksum = 0;
  try {
    for (;;) {
      const f = await dec.next();
      if (!f) break;
      frames++;
      // Read one value so the conversion cannot be skipped as dead work.
      if (tensors) checksum += pre.run(f.rgb)[frames % (3 * SIZE * SIZE)]!;
    }
  } finally {
    await dec.destroy();
  }
  return { ms: performance.now() - t0, frames, checksum };
}

/** A stand-in clip like the real ultrasound one (800x600, 300 frames), when samples/real is absent. */
async function synthClip(dir: string): Promise<string> {
  const out = join(dir, 'bench-800x600.mp4');
  await new Promise<void>((resolve, reject) => {
    const child = spawnFfmpeg([
      '-hide_banner',
      '-v',
      'error',
      '-nostdin',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=s=800x600:r=30:d=10',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-pix_fmt',
      'yuv420p',
      '-y',
      out,
    ]);
    child.stdout!.resume();
    child.stderr!.resume();
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new CinesegError(ErrorCode.E_ENCODE_FAILED, 'could not make the bench clip'))));
  });
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/**
 * Measures decode-to-tensor throughput on samples/real/ultrasound-catheter.mp4 (800x600, 300
 * frames; a synthetic clip of the same shape if it is missing). `quick`: one round; otherwise three
 * rounds and the median of each measurement.
 */
export async function benchDecode(opts: { quick: boolean }): Promise<DecodeBenchResult> {
  const real = join(REAL_SAMPLES_DIR, 'ultrasound-catheter.mp4');
  let tmp: string | null = null;
  let clip = real;
  if (!existsSync(real)) {
    tmp = mkdtempSync(join(tmpdir(), 'cineseg-bench-'));
    clip = await synthClip(tmp);
  }
  try {
    const t0 = performance.now();
    const src = await FrameSource.open(clip);
    const probeMs = performance.now() - t0;
    const repeats = opts.quick ? 1 : 3;
    const nullMs: number[] = [];
    const fullMs: number[] = [];
    const scaleMs: number[] = [];
    let frames = 0;
    try {
      await timeFfmpegNull(clip); // warm the page cache and the binary for everyone
      for (let r = 0; r < repeats; r++) {
        nullMs.push(await timeFfmpegNull(clip));
        const full = await timeOurs(src, true);
        fullMs.push(full.ms);
        scaleMs.push((await timeOurs(src, false)).ms);
        frames = full.frames;
      }
    } finally {
      await src.destroy();
    }
    const n = median(nullMs);
    const f = median(fullMs);
    const s = median(scaleMs);
    const round = (x: number, d = 3): number => Number(x.toFixed(d));
    return {
      decodeRatio: round(f / n),
      decodeFps: round((frames * 1000) / f, 1),
      ffmpegNullFps: round((frames * 1000) / n, 1),
      scaleOnlyRatio: round(s / n),
      scaleOnlyFps: round((frames * 1000) / s, 1),
      probeMs: round(probeMs, 1),
      clip: clip.startsWith(REPO_ROOT) ? relative(REPO_ROOT, clip) : 'synthetic testsrc2 800x600 300 frames',
      frames,
      size: SIZE,
      repeats,
    };
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}
