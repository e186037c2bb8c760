import { describe, expect, it } from 'vitest';
import { decodeMask, encodeMask } from '../../../engine/src/mask/rle.js';
import { MaskBrush, MAX_RADIUS, MIN_RADIUS, stepRadius } from '../../../player/src/edit/brush.js';

describe('mask brush', () => {
  it('paints a disc, erases part of it, and encodes column-major COCO counts', () => {
    const w = 40;
    const h = 30;
    const b = new MaskBrush(w, h);
    b.stamp(20, 15, 5, 1);
    const disc = b.area();
    // A radius-5 disc covers about pi r^2 pixels.
    expect(disc).toBeGreaterThan(70);
    expect(disc).toBeLessThan(90);
    expect(b.mask[15 * w + 20]).toBe(1);
    expect(b.mask[15 * w + 26]).toBe(0);
    b.lift();
    b.stamp(20, 15, 2, 0);
    expect(b.area()).toBeLessThan(disc);
    expect(b.mask[15 * w + 20]).toBe(0);
    const rle = b.toRle();
    expect(rle.size).toEqual([h, w]);
    expect(decodeMask(rle)).toEqual(b.mask);
  });

  it('starts from the current mask and leaves no gaps along a fast stroke', () => {
    const w = 64;
    const h = 16;
    const start = new Uint8Array(w * h);
    start[0] = 1;
    const b = new MaskBrush(w, h, Uint32Array.from(encodeMask(start, h, w).counts));
    expect(b.mask[0]).toBe(1);
    b.moveTo(5, 8, 3, 1);
    b.moveTo(58, 8, 3, 1);
    for (let x = 5; x <= 58; x++) expect(b.mask[8 * w + x], `pixel ${x}`).toBe(1);
    expect(b.changed).toBeGreaterThan(53 * 5);
    expect(b.mask[0]).toBe(1);
  });

  it('clips at the picture edge and changes the radius by [ and ] within limits', () => {
    const b = new MaskBrush(10, 10);
    b.stamp(0, 0, 4, 1);
    expect(b.area()).toBeGreaterThan(0);
    expect(b.area()).toBeLessThan(20);
    expect(stepRadius(8, true)).toBe(10);
    expect(stepRadius(8, false)).toBe(6);
    expect(stepRadius(2, true)).toBe(3);
    expect(stepRadius(MIN_RADIUS, false)).toBe(MIN_RADIUS);
    expect(stepRadius(MAX_RADIUS, true)).toBe(MAX_RADIUS);
  });
});
