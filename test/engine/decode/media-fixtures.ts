/**
 * Test fixtures for the decode tests: clips made on the spot with ffmpeg's lavfi sources, and the
 * ground truth read back with ffprobe. Not a test file itself.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { CinesegError, type Frame } from 'cineseg';
import { FrameDecoder } from '../../../engine/src/decode/frame-decoder.js';
import { childProcesses } from '../../../engine/src/bench/process-stats.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const REAL_CLIPS = ['ultrasound-catheter.mp4', 'aquarium.mp4', 'bedroom.mp4'].map((f) => join(REPO, 'samples', 'real', f));

/** A fresh temp folder, removed by the returned function. */
export function makeTmp(prefix = 'cineseg-dec-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs ffmpeg quietly to make a fixture; throws with stderr on failure. */
export function ffmpegMake(args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Variable frame rate: 1 s of 64x48 testsrc2 at 30 fps, then 1 s at 10 fps, timestamps kept as
 * they are. `timebase90k` puts both halves on a 1/90000 time base (as broadcast streams have);
 * without it ffmpeg keeps the concat filter's own.
 */
export function vfrClip(out: string, opts: { timebase90k?: boolean } = {}): string {
  const concat = `[0][1]concat=n=2:v=1${opts.timebase90k === false ? '' : ',settb=1/90000'}`;
  ffmpegMake([
    '-f',
    'lavfi',
    '-i',
    'testsrc2=s=64x48:r=30:d=1',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=s=64x48:r=10:d=1',
    '-filter_complex',
    concat,
    '-fps_mode',
    'vfr',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    out,
  ]);
  return out;
}

/** testsrc2 clip: `seconds` long at `fps`, size WxH, written with the given codec args. */
export function testClip(out: string, opts: { w?: number; h?: number; fps?: number; seconds?: number; frames?: number; codec?: string[] } = {}): string {
  const { w = 64, h = 48, fps = 30, seconds = 1 } = opts;
  ffmpegMake([
    '-f',
    'lavfi',
    '-i',
    `testsrc2=s=${w}x${h}:r=${fps}:d=${seconds}`,
    ...(opts.frames !== undefined ? ['-frames:v', String(opts.frames)] : []),
    ...(opts.codec ?? ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p']),
    out,
  ]);
  return out;
}

/** ffprobe's decoded video frames: PTS in µs (best-effort timestamp where pts is missing). */
export function ffprobeFramePts(file: string, extra: string[] = []): number[] {
  const out = execFileSync('ffprobe', ['-v', 'error', ...extra, '-select_streams', 'v:0', '-show_entries', 'frame=pts_time,best_effort_timestamp_time', '-of', 'json', file], {
    maxBuffer: 64 * 1024 * 1024,
  }).toString();
  const json = JSON.parse(out) as { frames: Array<{ pts_time?: string; best_effort_timestamp_time?: string }> };
  return json.frames.map((f) => Math.round(Number(f.pts_time ?? f.best_effort_timestamp_time) * 1e6));
}

/** ffprobe's stream fields for the first video stream. */
export function ffprobeStream(file: string): Record<string, unknown> {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_streams', '-of', 'json', file]).toString();
  return (JSON.parse(out) as { streams: Array<Record<string, unknown>> }).streams[0] ?? {};
}

/** One frame as rgb24 bytes, decoded by ffmpeg itself with `vf` (ground truth for pixels). */
export function ffmpegRgbFrame(file: string, index: number, vf: string, preInput: string[] = []): Buffer {
  return execFileSync(
    'ffmpeg',
    ['-hide_banner', '-v', 'error', ...preInput, '-i', file, '-vf', `select='eq(n,${index})',${vf}`, '-fps_mode', 'passthrough', '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    {
      maxBuffer: 256 * 1024 * 1024,
    },
  );
}

/**
 * PIDs of ffmpeg children of this process, zombies included: read from /proc (no procps needed).
 * A zombie keeps its /proc entry until reaped, so "none" also means "none left unreaped".
 */
export function ffmpegChildren(): number[] {
  return childProcesses('ffmpeg').map((c) => c.pid);
}

export function exists(path: string): boolean {
  return existsSync(path);
}

export async function readAll(dec: FrameDecoder, perFrame?: (f: Frame) => void | Promise<void>): Promise<Frame[]> {
  const out: Frame[] = [];
  try {
    for (;;) {
      const f = await dec.next();
      if (!f) break;
      out.push(f);
      await perFrame?.(f);
    }
  } finally {
    await dec.destroy();
  }
  return out;
}

/** Frames without pixels, so failing assertions print short. */
export const timing = (frames: Frame[]): Array<[number, number]> => frames.map((f) => [f.index, f.ptsUs]);

export async function decodeAll(file: string, opts: ConstructorParameters<typeof FrameDecoder>[1] = {}): Promise<Frame[]> {
  return readAll(await FrameDecoder.open(file, opts));
}

export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CinesegError);
    return (e as CinesegError).code;
  }
  return 'no error';
}
