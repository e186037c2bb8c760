import { describe, expect, it } from 'vitest';
import { promptFromMask } from '../../samples/src/prompts.js';

function draw(w: number, h: number, inside: (x: number, y: number) => boolean): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = inside(x, y) ? 1 : 0;
  return m;
}

describe('promptFromMask', () => {
  it('puts the click at the centre of a rectangle and the box on its pixel edges', () => {
    const m = draw(40, 30, (x, y) => x >= 5 && x <= 25 && y >= 10 && y <= 20);
    const p = promptFromMask(m, 40, 30)!;
    expect(p.box).toEqual([5, 10, 26, 21]);
    expect(p.area).toBe(21 * 11);
    expect(p.point).toEqual([15, 15]);
  });

  it('keeps the click inside a ring, away from its hole and rim', () => {
    const m = draw(60, 60, (x, y) => {
      const d = Math.hypot(x - 30, y - 30);
      return d >= 12 && d <= 24;
    });
    const p = promptFromMask(m, 60, 60)!;
    const [x, y] = p.point;
    expect(m[y * 60 + x]).toBe(1);
    const d = Math.hypot(x - 30, y - 30);
    expect(d).toBeGreaterThan(15);
    expect(d).toBeLessThan(21);
  });

  it('picks the thick part of an L shape', () => {
    // A 20x20 block with a long 3-pixel-wide arm: the deepest point is in the block.
    const m = draw(80, 40, (x, y) => (x >= 2 && x < 22 && y >= 2 && y < 22) || (x >= 2 && x < 78 && y >= 30 && y < 33) || (x >= 2 && x < 5 && y >= 2 && y < 33));
    const [x, y] = promptFromMask(m, 80, 40)!.point;
    expect(x).toBeGreaterThanOrEqual(9);
    expect(x).toBeLessThanOrEqual(14);
    expect(y).toBeGreaterThanOrEqual(9);
    expect(y).toBeLessThanOrEqual(14);
  });

  it('treats the image border as boundary', () => {
    const m = draw(30, 20, (x) => x < 10);
    const p = promptFromMask(m, 30, 20)!;
    expect(p.box).toEqual([0, 0, 10, 20]);
    expect(p.point[0]).toBeGreaterThanOrEqual(4);
    expect(p.point[0]).toBeLessThanOrEqual(5);
    expect(p.point[1]).toBeGreaterThanOrEqual(9);
    expect(p.point[1]).toBeLessThanOrEqual(10);
  });

  it('returns null for an empty mask and handles a single pixel', () => {
    expect(promptFromMask(new Uint8Array(12), 4, 3)).toBeNull();
    const one = new Uint8Array(12);
    one[1 * 4 + 2] = 1;
    expect(promptFromMask(one, 4, 3)).toEqual({ point: [2, 1], box: [2, 1, 3, 2], area: 1 });
  });
});
