import { describe, expect, it } from 'vitest';
import { encodeMask } from '../../../engine/src/mask/rle.js';
import { paintCounts } from '../../../engine/src/protocol.js';
import { colorOf, PALETTE } from '../../../player/src/overlay/paint.js';

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

  it('gives neighbouring object ids different colours and cycles the palette', () => {
    for (let id = 1; id < 20; id++) expect(colorOf(id)).not.toEqual(colorOf(id + 1));
    expect(colorOf(1)).toEqual(colorOf(1 + PALETTE.length));
    expect(colorOf(0)).toEqual(PALETTE[PALETTE.length - 1]);
  });
});
