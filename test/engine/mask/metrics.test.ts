import { describe, expect, it } from 'vitest';
import { boundaryF, boundaryMap, jaccard, scoreSequence } from '../../../engine/src/mask/metrics.js';

function rect(h: number, w: number, x0: number, y0: number, x1: number, y1: number): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = 1;
  return m;
}

describe('jaccard', () => {
  it('is intersection over union, and 1 for two empty masks', () => {
    const a = rect(10, 10, 0, 0, 4, 5); // 20 px
    const b = rect(10, 10, 2, 0, 6, 5); // 20 px, 10 shared
    expect(jaccard(a, b)).toBeCloseTo(10 / 30, 10);
    expect(jaccard(new Uint8Array(100), new Uint8Array(100))).toBe(1);
    expect(jaccard(a, new Uint8Array(100))).toBe(0);
  });
});

describe('boundaryMap (DAVIS seg2bmap)', () => {
  it('marks pixels that differ from the east, south or south-east neighbour', () => {
    const m = rect(5, 5, 1, 1, 3, 3);
    const b = boundaryMap(m, 5, 5);
    // The half-pixel offset towards the origin puts the top-left boundary outside the square.
    const rows = [...Array(5).keys()].map((y) => [...b.subarray(y * 5, y * 5 + 5)].join(''));
    expect(rows).toEqual(['11100', '10100', '11100', '00000', '00000']);
  });
});

describe('boundaryF', () => {
  const h = 360;
  const w = 480; // diagonal 600 -> tolerance ceil(4.8) = 5 px
  const gt = rect(h, w, 100, 100, 200, 180);

  it('is 1 for identical masks and for two empty masks', () => {
    expect(boundaryF(gt, gt, h, w)).toBe(1);
    expect(boundaryF(new Uint8Array(h * w), new Uint8Array(h * w), h, w)).toBe(1);
  });

  it('is 0 when one side is empty', () => {
    expect(boundaryF(new Uint8Array(h * w), gt, h, w)).toBe(0);
    expect(boundaryF(gt, new Uint8Array(h * w), h, w)).toBe(0);
  });

  it('forgives shifts within the tolerance disk and punishes larger ones', () => {
    expect(boundaryF(rect(h, w, 105, 100, 205, 180), gt, h, w)).toBe(1);
    const f6 = boundaryF(rect(h, w, 106, 100, 206, 180), gt, h, w);
    expect(f6).toBeLessThan(1);
    expect(f6).toBeGreaterThan(0.3);
    expect(boundaryF(rect(h, w, 130, 100, 230, 180), gt, h, w)).toBeLessThan(f6);
  });
});

describe('scoreSequence', () => {
  it('averages J and F over frames, skipping listed ones and treating null as empty', () => {
    const h = 20;
    const w = 20;
    const a = rect(h, w, 2, 2, 10, 10);
    const preds = [a, a, null];
    const gts = [a, rect(h, w, 6, 2, 14, 10), null];
    const s = scoreSequence(
      3,
      h,
      w,
      (i) => preds[i]!,
      (i) => gts[i]!,
    );
    expect(s.frames).toBe(3);
    expect(s.J).toBeCloseTo((1 + 32 / 96 + 1) / 3, 10);
    expect(s.JF).toBeCloseTo((s.J + s.F) / 2, 12);
    const skipped = scoreSequence(
      3,
      h,
      w,
      (i) => preds[i]!,
      (i) => gts[i]!,
      new Set([1]),
    );
    expect(skipped.frames).toBe(2);
    expect(skipped.J).toBe(1);
  });
});
