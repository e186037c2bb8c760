import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeMask, encodeMaskCompressed, rleIou, type CompressedRle } from 'cineseg';
import { boundaryF, scoreTracks, type TrackFile } from '../../samples/src/evaluate.js';
import { GENERATED, shiftMask } from './helpers.js';

const gt = JSON.parse(readFileSync(join(GENERATED, 'ultrasound-1', 'gt.json'), 'utf8')) as TrackFile;
const { width: W, height: H, length } = gt.videos[0]!;

function mapSegs(file: TrackFile, fn: (s: CompressedRle | null, t: number, objectId: number) => CompressedRle | null): TrackFile {
  return {
    videos: file.videos,
    annotations: file.annotations.map((a) => ({ object_id: a.object_id, segmentations: a.segmentations.map((s, t) => fn(s, t, a.object_id)) })),
  };
}

describe('scoreTracks', () => {
  it('scores the ground truth against itself as perfect', () => {
    const s = scoreTracks(gt, gt);
    expect(s.objects.length).toBe(gt.annotations.length);
    expect(s.j).toBe(1);
    expect(s.f).toBe(1);
    expect(s.jf).toBe(1);
  });

  it('a prediction shifted beyond the boundary tolerance (5 px here) loses J as rleIou says, and F', () => {
    const shifted = mapSegs(gt, (s) => (s ? encodeMaskCompressed(shiftMask(decodeMask(s), W, H, 8, 0), H, W) : null));
    const score = scoreTracks(gt, shifted);
    const o = score.objects[0]!;
    const a = gt.annotations[0]!;
    for (const [t, j, f] of o.perFrame) {
      const g = a.segmentations[t];
      const p = shifted.annotations[0]!.segmentations[t];
      if (g && p) {
        expect(j).toBeCloseTo(rleIou(g, p), 12);
        expect(f).toBeLessThan(1);
      }
    }
    expect(o.j).toBeGreaterThan(0.3);
    expect(o.j).toBeLessThan(0.95);
  });

  it('scores a missing object 0 where it is visible and 1 where it is correctly absent', () => {
    const pred = { videos: gt.videos, annotations: gt.annotations.slice(1) };
    const s = scoreTracks(gt, pred);
    const visible = gt.annotations[0]!.segmentations.filter((x) => x !== null).length;
    const first = gt.annotations[0]!.segmentations.findIndex((x) => x !== null);
    expect(s.objects[0]!.j).toBeCloseTo((length - first - visible) / (length - first), 12);
    expect(s.objects[1]!.j).toBe(1);
  });

  it('rejects files of different size or length', () => {
    expect(() => scoreTracks(gt, { ...gt, videos: [{ width: W + 2, height: H, length }] })).toThrow(RangeError);
    expect(() => scoreTracks(gt, { ...gt, videos: [{ width: W, height: H, length: length - 1 }] })).toThrow(RangeError);
  });
});

describe('boundaryF', () => {
  it('is 1 for identical masks, within tolerance for a 1-pixel shift, low for a far shift', () => {
    const m = new Uint8Array(100 * 80);
    for (let y = 20; y < 60; y++) for (let x = 30; x < 70; x++) m[y * 100 + x] = 1;
    expect(boundaryF(m, m, 100, 80)).toBe(1);
    expect(boundaryF(m, shiftMask(m, 100, 80, 1, 0), 100, 80, 1)).toBe(1);
    expect(boundaryF(m, shiftMask(m, 100, 80, 10, 0), 100, 80, 1)).toBeLessThan(0.6);
    expect(boundaryF(m, new Uint8Array(m.length), 100, 80)).toBe(0);
    expect(boundaryF(new Uint8Array(m.length), new Uint8Array(m.length), 100, 80)).toBe(1);
  });
});
