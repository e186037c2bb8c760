/**
 * Dynamic int8 bundles (models/export/quantize_int8.py) in the engine: the shipped tiny bundle
 * (trained weights, so its masks mean something) quantised in all four graphs loads through the
 * usual manifest checks, tracks a generated clip through the same VideoTracker, and stays close to
 * the fp32 masks; its graph files are smaller, the manifest says what was quantised, and a graph
 * name the bundle does not have is refused with a message listing the valid ones.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, type Bundle } from '../../engine/src/model/bundle.js';
import { ModelSessions } from '../../engine/src/model/ort-sessions.js';
import { VideoTracker } from '../../engine/src/track/video-tracker.js';
import { DecodedFrames } from '../../engine/src/track/decoded-frames.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TINY = join(REPO, 'models/tiny/bundle');
const CLIP = join(REPO, 'samples/generated/ultrasound-1/clip.mp4');
const FRAMES = 8;
const GRAPHS = ['imageEncoder', 'memoryAttention', 'maskDecoder', 'memoryEncoder'] as const;
// Measured IoU int8 vs fp32 on these 8 frames: 0.9968-0.9994 (mean 0.999); the bar sits just below
// the worst frame. The goal for real sizes is a mean of 0.95.
const IOU_BAR = 0.99;

let work = '';

function quantize(src: string, dst: string, extra: string[] = []) {
  return spawnSync('/usr/bin/python3', ['-m', 'models.export.quantize_int8', src, dst, ...extra], { cwd: REPO, encoding: 'utf8' });
}

/** Masks at video size, per frame, of one clicked object. */
async function track(bundle: Bundle): Promise<Uint8Array[]> {
  const sessions = await ModelSessions.create(bundle, { ep: 'cpu', threads: 1 });
  const frames = await DecodedFrames.open(CLIP, bundle.imageSize, { maxFrames: FRAMES });
  const W = frames.info.width;
  const H = frames.info.height;
  try {
    const t = new VideoTracker(sessions, frames, { width: W, height: H });
    await t.addPoints(0, 1, [{ x: Math.round(W * 0.45), y: Math.round(H / 2) }]);
    const masks: Uint8Array[] = [];
    for await (const f of t.propagate()) masks[f.frame] = t.maskAt(f.frame, 1)!;
    t.destroy();
    return masks;
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

describe('int8 bundle (dynamic quantisation) in the engine', () => {
  let int8Dir = '';
  let fp32: Uint8Array[];
  let int8: Uint8Array[];
  let int8Bundle: Bundle;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cineseg-int8-'));
    int8Dir = join(work, 'int8');
    execFileSync('/usr/bin/python3', ['-m', 'models.export.quantize_int8', TINY, int8Dir], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    int8Bundle = loadBundle(int8Dir);
    fp32 = await track(loadBundle(TINY));
    int8 = await track(int8Bundle);
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('records the quantisation in the manifest, keeping float32 graph I/O', () => {
    const q = (int8Bundle.raw as { quantization?: { method: string; graphs: string[]; nodes: Record<string, { matmul: number; gemm: number }> } }).quantization;
    expect(q?.method).toBe('dynamic-int8');
    expect(q?.graphs).toEqual([...GRAPHS]);
    for (const g of GRAPHS) expect(q!.nodes[g]!.matmul + q!.nodes[g]!.gemm).toBeGreaterThan(0);
    expect(int8Bundle.precision).toBe('fp32');
  });

  it('has graph files smaller than the fp32 ones, with integer products inside', () => {
    const fp = loadBundle(TINY);
    for (const g of GRAPHS) {
      expect(statSync(int8Bundle.graphs[g].path).size).toBeLessThan(statSync(fp.graphs[g].path).size);
      expect(readFileSync(int8Bundle.graphs[g].path).includes('MatMulInteger')).toBe(true);
    }
  });

  it(`tracks every frame with masks within IoU ${IOU_BAR} of fp32 on each`, () => {
    expect(int8.filter(Boolean).length).toBe(FRAMES);
    const ious = fp32.map((m, f) => iou(m, int8[f]!));
    const foreground = fp32.reduce((s, m) => s + m.reduce((a, v) => a + (v > 0 ? 1 : 0), 0), 0);
    console.log(`int8 vs fp32 IoU per frame: ${ious.map((v) => v.toFixed(4)).join(' ')}`);
    // Not a vacuous comparison of two empty videos.
    expect(foreground).toBeGreaterThan(FRAMES * 100);
    expect(Math.min(...ious)).toBeGreaterThanOrEqual(IOU_BAR);
  });

  it('refuses an unknown graph name, listing the valid ones', () => {
    const r = quantize(TINY, join(work, 'bad'), ['--graphs', 'imageEncoder,imageEncodr']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown graph name(s) imageEncodr');
    expect(r.stderr).toContain('imageEncoder, memoryAttention, maskDecoder, memoryEncoder');
  });
});
