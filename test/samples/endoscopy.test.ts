import { describe, expect, it } from 'vitest';
import { createScene } from '../../samples/src/clip-writer.js';
import { edgeStrength, meanRgb, ringAround, sha256, shiftMask } from './helpers.js';

const W = 480;
const H = 360;
const scene = (seed: number, frames?: number) => createScene({ kind: 'endoscopy', seed, width: W, height: H, fps: 30, ...(frames ? { frames } : {}) });

describe('synthetic endoscopy', () => {
  it('is deterministic per seed, independent of render order, and differs between seeds', () => {
    const a = scene(21);
    const b = scene(21);
    const last = a.spec.frames - 1;
    expect(b.spec.frames).toBe(a.spec.frames);
    const fb = [last, 9].map((i) => b.renderFrame(i)).reverse();
    [9, last].forEach((i, k) => {
      const fa = a.renderFrame(i);
      expect(sha256(fa.rgb)).toBe(sha256(fb[k]!.rgb));
      fa.masks.forEach((m, j) => expect(sha256(m)).toBe(sha256(fb[k]!.masks[j]!)));
    });
    expect(sha256(scene(22, 2).renderFrame(0).rgb)).not.toBe(sha256(a.renderFrame(0).rgb));
  });

  it('looks like endoscopy: pinkish-red tissue in a circular field of view, black corners', () => {
    const s = scene(3, 2);
    const f = s.renderFrame(0);
    const fov = s.fieldOfView;
    // Corners are outside the circular view and black.
    for (const [x, y] of [
      [0, 0],
      [W - 1, 0],
      [0, H - 1],
      [W - 1, H - 1],
    ] as const) {
      expect(fov[y * W + x]).toBe(0);
      expect(f.rgb[(y * W + x) * 3]).toBe(0);
    }
    const [r, g, b] = meanRgb(f.rgb, fov);
    expect(r).toBeGreaterThan(g * 1.4);
    expect(r).toBeGreaterThan(b * 1.4);
    expect(r).toBeGreaterThan(90);
    // Vignetting: the centre is brighter than the rim of the view.
    const centre = new Uint8Array(W * H);
    const rim = new Uint8Array(W * H);
    let maxD = 0;
    for (let i = 0; i < fov.length; i++) if (fov[i]) maxD = Math.max(maxD, Math.hypot((i % W) - W / 2, Math.floor(i / W) - H / 2));
    for (let i = 0; i < fov.length; i++) {
      if (!fov[i]) continue;
      const d = Math.hypot((i % W) - W / 2, Math.floor(i / W) - H / 2) / maxD;
      if (d < 0.3) centre[i] = 1;
      else if (d > 0.85) rim[i] = 1;
    }
    expect(meanRgb(f.rgb, centre)[0]).toBeGreaterThan(meanRgb(f.rgb, rim)[0] * 1.2);
  });

  it('ground truth is exactly the drawn polyp, clipped to the field of view', () => {
    for (const seed of [1, 2, 4]) {
      const s = scene(seed);
      for (const t of [0, Math.floor(s.spec.frames / 2)]) {
        const f = s.renderFrame(t);
        f.masks.forEach((mask, k) => {
          let area = 0;
          let outside = 0;
          for (let i = 0; i < mask.length; i++) {
            if (!mask[i]) continue;
            area++;
            if (!s.fieldOfView[i]) outside++;
          }
          expect(outside).toBe(0);
          if (area < 300) return;
          const label = `seed ${seed} frame ${t} polyp ${k + 1}`;
          // The polyp's colour differs clearly from the tissue ring around it.
          const [r1, g1, b1] = meanRgb(f.rgb, mask);
          const [r2, g2, b2] = meanRgb(f.rgb, ringAround(mask, W, H, 3), s.fieldOfView);
          expect(Math.hypot(r1 - r2, g1 - g2, b1 - b2), label).toBeGreaterThan(25);
          const exact = edgeStrength(f.rgb, mask, W, H, s.fieldOfView);
          for (const [dx, dy] of [
            [2, 0],
            [-2, 0],
            [0, 2],
            [0, -2],
            [2, -2],
            [-2, 2],
          ] as const) {
            expect(edgeStrength(f.rgb, shiftMask(mask, W, H, dx, dy), W, H, s.fieldOfView), label).toBeLessThan(exact);
          }
        });
      }
    }
  });

  it('polyps move with the camera and are clearly visible on the prompt frame', () => {
    const s = scene(5);
    expect(s.objects.map((o) => o.id)).toEqual(s.objects.map((_, k) => k + 1));
    const f0 = s.renderFrame(0);
    const f1 = s.renderFrame(25);
    f0.masks.forEach((m, k) => {
      expect(m.reduce((a, b) => a + b, 0)).toBeGreaterThan(600);
      const m1 = f1.masks[k]!;
      let inter = 0;
      let union = 0;
      for (let i = 0; i < m.length; i++) {
        inter += m[i]! & m1[i]!;
        union += m[i]! | m1[i]!;
      }
      expect(inter / union).toBeLessThan(0.95);
    });
  });

  it('renders at other sizes with masks of that size', () => {
    const s = createScene({ kind: 'endoscopy', seed: 7, width: 320, height: 240, fps: 25, frames: 3 });
    const f = s.renderFrame(2);
    expect(f.rgb.length).toBe(320 * 240 * 3);
    f.masks.forEach((m) => expect(m.length).toBe(320 * 240));
    expect(s.spec).toMatchObject({ width: 320, height: 240, fps: 25, frames: 3 });
  });
});
