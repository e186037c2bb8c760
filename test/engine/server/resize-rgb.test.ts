/**
 * The live pipeline's resize to the model's size (integer bilinear, align_corners=False) against
 * the same interpolation in floating point, and into a caller's buffer.
 */
import { describe, expect, it } from 'vitest';
import { resizeRgb } from '../../../engine/src/server/live-session.js';

/** Reference: bilinear, align_corners=False, in doubles, rounded half up. */
function reference(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  const out = new Uint8Array(dw * dh * 3);
  for (let y = 0; y < dh; y++) {
    const fy = Math.max(0, (y + 0.5) * (sh / dh) - 0.5);
    const y0 = Math.min(Math.floor(fy), sh - 1);
    const y1 = Math.min(y0 + 1, sh - 1);
    for (let x = 0; x < dw; x++) {
      const fx = Math.max(0, (x + 0.5) * (sw / dw) - 0.5);
      const x0 = Math.min(Math.floor(fx), sw - 1);
      const x1 = Math.min(x0 + 1, sw - 1);
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number) => src[(yy * sw + xx) * 3 + c]!;
        const top = p(y0, x0) + (p(y0, x1) - p(y0, x0)) * (fx - x0);
        const bot = p(y1, x0) + (p(y1, x1) - p(y1, x0)) * (fx - x0);
        out[(y * dw + x) * 3 + c] = Math.round(top + (bot - top) * (fy - y0));
      }
    }
  }
  return out;
}

function noise(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = s >>> 24;
  }
  return a;
}

describe('resizeRgb', () => {
  it('equals the float interpolation where positions fall on 1/2048ths (480x360 -> 256)', () => {
    const src = noise(480 * 360 * 3, 1);
    expect(resizeRgb(src, 480, 360, 256, 256)).toEqual(reference(src, 480, 360, 256, 256));
  });

  it('is within one level of it for any sizes, up and down', () => {
    for (const [sw, sh, dw, dh] of [
      [640, 480, 1024, 1024],
      [1920, 1080, 512, 512],
      [333, 217, 256, 256],
      [7, 5, 16, 16],
    ] as const) {
      const src = noise(sw * sh * 3, sw + sh);
      const a = resizeRgb(src, sw, sh, dw, dh);
      const b = reference(src, sw, sh, dw, dh);
      let worst = 0;
      let off = 0;
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs(a[i]! - b[i]!);
        worst = Math.max(worst, d);
        if (d) off++;
      }
      expect(worst, `${sw}x${sh} -> ${dw}x${dh}`).toBeLessThanOrEqual(1);
      expect(off / a.length).toBeLessThan(0.01);
    }
  });

  it('writes into the buffer it is given', () => {
    const src = noise(48 * 36 * 3, 3);
    const out = new Uint8Array(32 * 32 * 3);
    expect(resizeRgb(src, 48, 36, 32, 32, out)).toBe(out);
    expect(out).toEqual(reference(src, 48, 36, 32, 32));
  });
});
