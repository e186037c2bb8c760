import { describe, expect, it } from 'vitest';
import { encodeMask, paintCounts } from '../../../engine/src/mask/rle.js';
import { alphaOf, contourOf, rasterizeMasks } from '../../../player/src/overlay/paint.js';

describe('overlay painting', () => {
  it('paints exactly the mask pixels (COCO column-major counts into a row-major RGBA image)', () => {
    const w = 31;
    const h = 17;
    const mask = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if ((x - 12) ** 2 + (y - 8) ** 2 < 40 || x === w - 1) mask[y * w + x] = 1;
    const rgba = new Uint8ClampedArray(w * h * 4);
    paintCounts(encodeMask(mask, h, w).counts, w, h, rgba, [10, 20, 30, 128]);
    for (let i = 0; i < w * h; i++) {
      expect(rgba[4 * i + 3]).toBe(mask[i] ? 128 : 0);
      if (mask[i]) expect([rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]]).toEqual([10, 20, 30]);
    }
  });

  it('fills at global x per-object opacity, and outlines only the contour', () => {
    const w = 12;
    const h = 10;
    const mask = new Uint8Array(w * h);
    for (let y = 2; y < 8; y++) for (let x = 3; x < 9; x++) mask[y * w + x] = 1;
    const m = { objectId: 1, counts: Uint32Array.from(encodeMask(mask, h, w).counts), score: 0 };
    // Node has no ImageData: an image-shaped buffer, which rasterizeMasks clears and reuses.
    const img = () => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }) as unknown as ImageData;
    expect(alphaOf({}, 1)).toBe(128);
    expect(alphaOf({ opacity: 0.8, objectOpacity: new Map([[1, 0.5]]) }, 1)).toBe(102);
    const filled = rasterizeMasks(w, h, [m], new Set(), img(), { opacity: 0.8, objectOpacity: new Map([[1, 0.5]]) });
    for (let i = 0; i < w * h; i++) expect(filled.data[4 * i + 3]).toBe(mask[i] ? 102 : 0);
    const edge = contourOf(mask, w, h);
    // A 6x6 square: its 20 border pixels, not the 16 inside.
    expect(edge.reduce((a, b) => a + b, 0)).toBe(20);
    expect(edge[4 * w + 5]).toBe(0);
    expect(edge[2 * w + 3]).toBe(1);
    const outlined = rasterizeMasks(w, h, [m], new Set(), img(), { outline: true, colorOf: () => [1, 2, 3] });
    for (let i = 0; i < w * h; i++) expect(outlined.data[4 * i + 3]).toBe(edge[i] ? 255 : 0);
    expect([...outlined.data.slice(4 * (2 * w + 3), 4 * (2 * w + 3) + 3)]).toEqual([1, 2, 3]);
    // Hidden objects and zero opacity paint nothing.
    expect(rasterizeMasks(w, h, [m], new Set([1]), img()).data.some((v) => v > 0)).toBe(false);
    expect(rasterizeMasks(w, h, [m], new Set(), img(), { opacity: 0 }).data.some((v) => v > 0)).toBe(false);
  });
});
