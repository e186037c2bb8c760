import { describe, expect, it } from 'vitest';
import { resizeBilinearToMask } from '../../../engine/src/mask/upsample.js';
import { applyNonOverlapConstraints, labelByLogits, nonOverlapOutputs } from '../../../engine/src/track/non-overlap.js';

describe('SAM 2 non-overlapping constraints', () => {
  it('keeps the highest logit per pixel and clamps the others to at most −10 (first wins a tie)', () => {
    const a = Float32Array.of(5, -3, 2, 7, -20);
    const b = Float32Array.of(4, -1, 2, 9, -30);
    const c = Float32Array.of(-50, -2, 1, 8, -25);
    applyNonOverlapConstraints([a, b, c]);
    expect([...a]).toEqual([5, -10, 2, -10, -20]);
    expect([...b]).toEqual([-10, -1, -10, 9, -30]);
    expect([...c]).toEqual([-50, -10, -10, -10, -25]);
  });

  it('output masks stay disjoint after bilinear upsampling, where Meta’s −10 at low res would not be', () => {
    // Two objects alternating as winner pixel by pixel, both confident: at 2x the pixels between
    // two low-res pixels mix a +20 winner with a clamped loser.
    const L = 8;
    const p = new Float32Array(L * L);
    const q = new Float32Array(L * L);
    for (let i = 0; i < L * L; i++) {
      const odd = (i + Math.floor(i / L)) % 2;
      p[i] = odd ? 20 : 19;
      q[i] = odd ? 19 : 20;
    }
    const overlap = (x: Float32Array, y: Float32Array) => {
      const mx = resizeBilinearToMask(x, L, L, 3 * L, 3 * L);
      const my = resizeBilinearToMask(y, L, L, 3 * L, 3 * L);
      let n = 0;
      for (let i = 0; i < mx.length; i++) if (mx[i] && my[i]) n++;
      return n;
    };
    const metaP = p.slice();
    const metaQ = q.slice();
    applyNonOverlapConstraints([metaP, metaQ]);
    expect(overlap(metaP, metaQ)).toBeGreaterThan(0);
    const outs = nonOverlapOutputs([
      { objectId: 1, output: { predMasks: p } },
      { objectId: 2, output: { predMasks: q } },
    ]);
    expect(overlap(outs[0]!.output.predMasks, outs[1]!.output.predMasks)).toBe(0);
    // Copies: the stored logits are not touched.
    expect(p[0]).toBe(19);
    expect(outs[0]!.output.predMasks).not.toBe(p);
  });

  it('labels each pixel with the object of the highest positive logit', () => {
    const out = new Uint8Array(4);
    expect(labelByLogits([Float32Array.of(1, 5, -1, 3), Float32Array.of(2, 4, -2, 3)], [7, 9], out)).toBe(true);
    expect([...out]).toEqual([9, 7, 0, 7]);
  });
});
