/**
 * fp16 bundles in the engine: the exporter's float16 variant of a bundle (half weights, half graph
 * inputs/outputs) tracks a real clip through the same VideoTracker as the fp32 bundle, with
 * float16 tensors converted at the session boundary. Masks must stay close to fp32 (IoU >= 0.98
 * on every frame and object).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../engine/src/model/bundle.js';
import { ModelSessions } from '../../engine/src/model/ort-sessions.js';
import { readPngMask } from '../../engine/src/mask/png-mask.js';
import { VideoTracker } from '../../engine/src/track/video-tracker.js';
import { DecodedFrames } from '../../engine/src/track/decoded-frames.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLIP = join(REPO, 'samples/generated/ultrasound-1');
const FRAMES = 16;

let work = '';

function exportTiny(out: string, extra: string[]): string {
  execFileSync('/usr/bin/python3', ['-m', 'models.export.export_bundle', '--config', 'tiny-synth', '--random-weights', '--seed', '0', '--no-selftest', '--out', out, ...extra], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out;
}

/** Per frame, per object: the mask at video size. */
async function track(dir: string): Promise<{ masks: Uint8Array[][]; precision: string; W: number; H: number }> {
  const bundle = loadBundle(dir);
  const sessions = await ModelSessions.create(bundle, { ep: 'cpu', threads: 1 });
  const frames = await DecodedFrames.open(join(CLIP, 'clip.mp4'), bundle.imageSize, { maxFrames: FRAMES });
  const W = frames.info.width;
  const H = frames.info.height;
  try {
    const t = new VideoTracker(sessions, frames, { width: W, height: H });
    await t.addPoints(0, 1, [{ x: Math.round(W * 0.45), y: Math.round(H / 2) }]);
    await t.addMask(0, 2, readPngMask(join(CLIP, 'mask-obj2-f0.png')).mask);
    const masks: Uint8Array[][] = [];
    for await (const f of t.propagate()) masks[f.frame] = [1, 2].map((id) => t.maskAt(f.frame, id)!);
    t.destroy();
    return { masks, precision: bundle.precision, W, H };
  } finally {
    await sessions.destroy();
    await frames.destroy();
  }
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! > 0;
    const y = b[i]! > 0;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union === 0 ? 1 : inter / union;
}

describe('fp16 bundle in the engine', () => {
  let fp32: Awaited<ReturnType<typeof track>>;
  let fp16: Awaited<ReturnType<typeof track>>;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cineseg-fp16-'));
    fp32 = await track(exportTiny(join(work, 'fp32'), []));
    fp16 = await track(exportTiny(join(work, 'fp16'), ['--fp16']));
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('loads as an fp16 bundle and tracks every frame', () => {
    expect(fp16.precision).toBe('fp16');
    expect(fp32.precision).toBe('fp32');
    expect(fp16.masks.filter(Boolean).length).toBe(FRAMES);
  });

  it('gives masks within IoU 0.98 of the fp32 bundle on every frame', () => {
    let foreground = 0;
    const ious: number[] = [];
    for (let f = 0; f < FRAMES; f++) {
      for (let o = 0; o < 2; o++) {
        ious.push(iou(fp32.masks[f]![o]!, fp16.masks[f]![o]!));
        for (const v of fp32.masks[f]![o]!) foreground += v > 0 ? 1 : 0;
      }
    }
    // Not a vacuous comparison of two empty videos.
    expect(foreground).toBeGreaterThan(FRAMES * 100);
    expect(Math.min(...ious)).toBeGreaterThanOrEqual(0.98);
  });
});
