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
