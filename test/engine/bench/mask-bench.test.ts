import { describe, expect, it } from 'vitest';
import { benchMask } from '../../../engine/src/bench/mask-bench.js';

describe('mask bench', () => {
  it('reports encode, decode and scan times of one real 1080p mask, and the ratio of the first and last', () => {
    const r = benchMask({ quick: true });
    expect([r.height, r.width]).toEqual([1080, 1920]);
    for (const k of ['rleEncodeMs', 'rleDecodeMs', 'scanMs'] as const) expect(r[k], k).toBeGreaterThan(0);
    expect(r.rleEncodeVsScanRatio).toBeCloseTo(r.rleEncodeMs / r.scanMs, 6);
    // The figures belong to a real mask: a disc and a ring cover a known share of the frame, and
    // its COCO string is far shorter than the pixels.
    expect(r.setPixels / (r.height * r.width)).toBeGreaterThan(0.1);
    expect(r.setPixels / (r.height * r.width)).toBeLessThan(0.5);
    expect(r.rleBytes).toBeGreaterThan(1000);
    expect(r.rleBytes).toBeLessThan(r.setPixels / 10);
  });
});
