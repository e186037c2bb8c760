import { describe, expect, it } from 'vitest';
import { logitsToRle } from '../../../engine/src/mask/logits-rle.js';
import { encodeMask } from '../../../engine/src/mask/rle.js';
import { resizeBilinearToMask } from '../../../engine/src/mask/upsample.js';

/** A deterministic field of blobs (some touching the border), L x L logits. */
function field(L: number, seed: number, blobs: number): Float32Array {
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const f = new Float32Array(L * L).fill(-8);
  for (let b = 0; b < blobs; b++) {
    const cx = rnd() * L;
    const cy = rnd() * L;
    const r = 1 + rnd() * L * 0.15;
    for (let y = 0; y < L; y++) for (let x = 0; x < L; x++) f[y * L + x] = Math.max(f[y * L + x]!, r - Math.hypot(x - cx, y - cy));
  }
  return f;
}

describe('logitsToRle', () => {
  const sizes: [number, number][] = [
    [360, 480],
    [600, 800],
    [37, 53],
    [64, 64],
  ];
  for (const [h, w] of sizes) {
    for (const blobs of [0, 1, 5]) {
      it(`equals encode(resize > 0) at ${w}x${h} with ${blobs} blob(s)`, () => {
        const L = 64;
        const src = field(L, h * 7 + blobs, blobs);
        const want = encodeMask(resizeBilinearToMask(src, L, L, h, w), h, w);
        const got = logitsToRle(src, L, L, h, w);
        expect(got.counts).toEqual(want.counts);
        let area = 0;
        for (let i = 1; i < want.counts.length; i += 2) area += want.counts[i]!;
        expect(got.area).toBe(area);
      });
    }
  }

  it('handles a full mask, a mask starting on pixel 0 and an offset', () => {
    const full = new Float32Array(3 + 16 * 16).fill(1);
    expect(logitsToRle(full, 16, 16, 10, 12, 0, 3).counts).toEqual([0, 120]);
    const corner = new Float32Array(16 * 16).fill(-5);
    corner[0] = 5;
    const want = encodeMask(resizeBilinearToMask(corner, 16, 16, 40, 40), 40, 40);
    expect(want.counts[0]).toBe(0);
    expect(logitsToRle(corner, 16, 16, 40, 40).counts).toEqual(want.counts);
  });
});
