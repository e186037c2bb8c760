import { describe, expect, it } from 'vitest';
import { benchMask } from '../../../engine/src/bench/mask-bench.js';

describe('mask bench', () => {
  it('times our COCO encoder beside the textbook one on a real 1080p mask, and both give the same counts', () => {
    const r = benchMask({ quick: true });
    expect([r.height, r.width]).toEqual([1080, 1920]);
    for (const k of ['rleEncodeMs', 'rleEncodeCompressedMs', 'rleDecodeMs', 'naiveEncodeMs'] as const) expect(r[k], k).toBeGreaterThan(0);
    expect(r.countsAgree).toBe(true);
    // The figures belong to a real mask: a disc and a ring cover a known share of the frame, and
    // its COCO string is far shorter than the pixels.
    expect(r.setPixels / (r.height * r.width)).toBeGreaterThan(0.1);
    expect(r.setPixels / (r.height * r.width)).toBeLessThan(0.5);
    expect(r.rleBytes).toBeGreaterThan(1000);
    expect(r.rleBytes).toBeLessThan(r.setPixels / 10);
  });
});
