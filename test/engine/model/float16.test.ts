/**
 * Half-precision conversion used at the graph boundary of fp16 bundles: every half value survives
 * a round trip, and float -> half picks the nearest half (ties to even), checked against the
 * neighbouring half values rather than against a table.
 */
import { describe, expect, it } from 'vitest';
import { floatToHalf, halfToFloat } from '../../../engine/src/model/float16.js';

describe('float16', () => {
  it('round-trips every finite half and keeps NaN / infinities', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = halfToFloat(all);
    const back = floatToHalf(f);
    for (let i = 0; i < 65536; i++) {
      const exp = (i >> 10) & 0x1f;
      if (exp === 31 && i & 0x3ff) {
        expect(Number.isNaN(f[i]!)).toBe(true);
        expect((back[i]! & 0x7c00) === 0x7c00 && (back[i]! & 0x3ff) !== 0).toBe(true);
      } else {
        expect(back[i]).toBe(i);
      }
    }
    expect(f[0x3c00]).toBe(1);
    expect(f[0x7c00]).toBe(Infinity);
  });

  it('rounds floats to the nearest half, ties to even, overflow to infinity', () => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const xs = new Float32Array(20000);
    for (let i = 0; i < xs.length; i++) xs[i] = (rnd() - 0.5) * 2 ** (rnd() * 40 - 26);
    const h = floatToHalf(xs);
    const t = halfToFloat(new Uint16Array(65536).map((_, i) => i));
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]!;
      const d = Math.abs(t[h[i]!]! - x);
      // Same-sign neighbours one ulp away must not be closer.
      for (const n of [h[i]! - 1, h[i]! + 1]) {
        if ((n & 0x7fff) >= 0x7c00 || n < 0 || (n & 0x8000) !== (h[i]! & 0x8000)) continue;
        const dn = Math.abs(t[n]! - x);
        expect(d <= dn).toBe(true);
        if (d === dn) expect(h[i]! & 1).toBe(0);
      }
    }
    expect(halfToFloat(floatToHalf(Float32Array.of(1e6, -1e6)))).toEqual(Float32Array.of(Infinity, -Infinity));
    expect(halfToFloat(floatToHalf(Float32Array.of(65504, 1e-9)))).toEqual(Float32Array.of(65504, 0));
  });
});
