import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { maskToFloat, resizeBilinear, resizeBilinearAntialias, resizeBilinearToMask } from '../../../engine/src/mask/upsample.js';

interface Case {
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  antialias: boolean;
  input: number[];
  output: number[];
}
// Reference values from torch.nn.functional.interpolate (see fixtures/make-torch-interp.py).
const fixture = JSON.parse(readFileSync(new URL('./fixtures/torch-interp.json', import.meta.url), 'utf8')) as { cases: Case[] };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('resizeBilinear (align_corners=False)', () => {
  for (const c of fixture.cases.filter((x) => !x.antialias)) {
    it(`matches torch ${c.sh}x${c.sw} -> ${c.dh}x${c.dw}`, () => {
      const out = resizeBilinear(Float32Array.from(c.input), c.sh, c.sw, c.dh, c.dw);
      expect(out.length).toBe(c.dh * c.dw);
      expect(maxAbsDiff(out, c.output)).toBeLessThan(1e-4);
    });
  }

  it('writes at offsets without touching the rest of the buffer', () => {
    const c = fixture.cases[1]!;
    const src = new Float32Array(5 + c.input.length);
    src.set(c.input, 5);
    const out = new Float32Array(3 + c.dh * c.dw).fill(7);
    resizeBilinear(src, c.sh, c.sw, c.dh, c.dw, out, 5, 3);
    expect(out.subarray(0, 3)).toEqual(Float32Array.of(7, 7, 7));
    expect(maxAbsDiff(out.subarray(3), c.output)).toBeLessThan(1e-4);
  });

  it('fused threshold equals resize then > 0', () => {
    const c = fixture.cases[2]!;
    const f = resizeBilinear(Float32Array.from(c.input), c.sh, c.sw, c.dh, c.dw);
    const m = resizeBilinearToMask(Float32Array.from(c.input), c.sh, c.sw, c.dh, c.dw);
    let on = 0;
    for (let i = 0; i < m.length; i++) {
      expect(m[i]).toBe(f[i]! > 0 ? 1 : 0);
      on += m[i]!;
    }
    expect(on).toBeGreaterThan(0);
    expect(on).toBeLessThan(m.length);
  });

  it('fused threshold is exact for a small object in a big frame (spans skipped)', () => {
    const L = 64;
    const src = new Float32Array(L * L);
    for (let y = 0; y < L; y++) for (let x = 0; x < L; x++) src[y * L + x] = 6 - Math.hypot(x - 40.3, y - 12.7);
    src[5 * L + 60] = 0.5; // an isolated positive pixel
    const f = resizeBilinear(src, L, L, 600, 800);
    const out = new Uint8Array(600 * 800).fill(9); // stale contents must be overwritten
    resizeBilinearToMask(src, L, L, 600, 800, out);
    let diff = 0;
    let on = 0;
    for (let i = 0; i < out.length; i++) {
      if (out[i] !== (f[i]! > 0 ? 1 : 0)) diff++;
      on += out[i]!;
    }
    expect(diff).toBe(0);
    expect(on).toBeGreaterThan(1000);
  });
});

describe('resizeBilinearAntialias (antialias=True)', () => {
  for (const c of fixture.cases.filter((x) => x.antialias)) {
    it(`matches torch ${c.sh}x${c.sw} -> ${c.dh}x${c.dw}`, () => {
      const out = resizeBilinearAntialias(Float32Array.from(c.input), c.sh, c.sw, c.dh, c.dw);
      expect(maxAbsDiff(out, c.output)).toBeLessThan(1e-4);
    });
  }

  it('differs from plain bilinear when shrinking (the filter widens)', () => {
    const c = fixture.cases.find((x) => x.antialias && x.dh < x.sh)!;
    const plain = resizeBilinear(Float32Array.from(c.input), c.sh, c.sw, c.dh, c.dw);
    expect(maxAbsDiff(plain, c.output)).toBeGreaterThan(0.1);
  });

  it('keeps a constant image constant', () => {
    const out = resizeBilinearAntialias(new Float32Array(360 * 480).fill(3), 360, 480, 256, 256);
    expect(maxAbsDiff(out, new Float32Array(256 * 256).fill(3))).toBeLessThan(1e-5);
  });
});

describe('maskToFloat', () => {
  it('maps nonzero bytes to 1', () => {
    expect(maskToFloat(Uint8Array.of(0, 1, 255, 0))).toEqual(Float32Array.of(0, 1, 1, 0));
  });
});
