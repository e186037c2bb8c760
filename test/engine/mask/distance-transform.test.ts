/**
 * The distance transform against brute force (every pixel against every background pixel, the
 * image border as a ring of background pixels when asked), plus the farthest point and the
 * largest-region helpers against their definitions on small hand-made and random masks.
 */
import { describe, expect, it } from 'vitest';
import { prng } from '../../fixtures/prng.mjs';
import { farthestInteriorPoint, largestRegion, squaredDistanceToBackground } from '../../../engine/src/mask/distance-transform.js';

/** The project's seeded PRNG (mulberry32), so failures reproduce. */
const rng = prng;

/** A random mask: sparse noise, dense noise or a few blobs, so both short and long distances occur. */
function randomMask(r: () => number, w: number, h: number): Uint8Array {
  const m = new Uint8Array(w * h);
  const style = Math.floor(r() * 3);
  if (style < 2) {
    const p = style === 0 ? 0.3 : 0.9;
    for (let i = 0; i < m.length; i++) m[i] = r() < p ? 1 : 0;
  } else {
    const blobs = 1 + Math.floor(r() * 3);
    for (let b = 0; b < blobs; b++) {
      const cx = r() * w;
      const cy = r() * h;
      const rad = 1 + r() * Math.max(w, h) * 0.5;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= rad * rad) m[y * w + x] = 1;
    }
  }
  return m;
}

function bruteForce(m: Uint8Array, w: number, h: number, border: boolean): Float64Array {
  const bg: [number, number][] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (!m[y * w + x]) bg.push([x, y]);
  if (border) {
    for (let x = -1; x <= w; x++) bg.push([x, -1], [x, h]);
    for (let y = 0; y < h; y++) bg.push([-1, y], [w, y]);
  }
  const out = new Float64Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let best = Infinity;
      for (const [bx, by] of bg) best = Math.min(best, (bx - x) ** 2 + (by - y) ** 2);
      out[y * w + x] = best;
    }
  }
  return out;
}

describe('squaredDistanceToBackground', () => {
  it('equals brute force on random masks, with and without the border as background', () => {
    const r = rng(12345);
    for (let trial = 0; trial < 120; trial++) {
      const w = 1 + Math.floor(r() * 23);
      const h = 1 + Math.floor(r() * 19);
      const m = randomMask(r, w, h);
      for (const border of [true, false]) {
        const got = squaredDistanceToBackground(m, w, h, { borderIsBackground: border });
        const want = bruteForce(m, w, h, border);
        expect(Array.from(got), `trial ${trial} ${w}x${h} border=${border}`).toEqual(Array.from(want));
      }
    }
  });

  it('knows a hand-computed case: a 5x5 square in a 7x7 image', () => {
    const w = 7;
    const m = new Uint8Array(49);
    for (let y = 1; y <= 5; y++) for (let x = 1; x <= 5; x++) m[y * w + x] = 1;
    const d = squaredDistanceToBackground(m, w, w, { borderIsBackground: false });
    expect(d[3 * w + 3]).toBe(9);
    expect(d[1 * w + 1]).toBe(1);
    expect(d[2 * w + 3]).toBe(4);
    expect(d[0]).toBe(0);
  });

  it('is Infinity everywhere for an all-foreground mask without border, and the border distance with it', () => {
    const m = new Uint8Array(12).fill(1);
    expect(Array.from(squaredDistanceToBackground(m, 4, 3, { borderIsBackground: false })).every((v) => v === Infinity)).toBe(true);
    // 4x3, centre row: distance to the ring is min(x+1, 4-x, 2) squared.
    expect(Array.from(squaredDistanceToBackground(m, 4, 3)).slice(4, 8)).toEqual([1, 4, 4, 1]);
  });

  it('refuses a mask of the wrong size', () => {
    expect(() => squaredDistanceToBackground(new Uint8Array(5), 2, 2)).toThrow(RangeError);
  });
});

describe('farthestInteriorPoint', () => {
  it('returns a foreground pixel at the maximal brute-force distance', () => {
    const r = rng(7);
    for (let trial = 0; trial < 60; trial++) {
      const w = 2 + Math.floor(r() * 20);
      const h = 2 + Math.floor(r() * 20);
      const m = randomMask(r, w, h);
      const p = farthestInteriorPoint(m, w, h);
      const bf = bruteForce(m, w, h, true);
      let max = 0;
      for (let i = 0; i < m.length; i++) if (m[i]) max = Math.max(max, bf[i]!);
      if (max === 0) {
        expect(p).toBeNull();
        continue;
      }
      expect(p).not.toBeNull();
      expect(m[p!.y * w + p!.x]).toBe(1);
      expect(bf[p!.y * w + p!.x]).toBe(max);
      expect(p!.distance).toBeCloseTo(Math.sqrt(max), 12);
    }
  });

  it('picks the centre of a thick bar, not its ends', () => {
    const w = 21;
    const h = 9;
    const m = new Uint8Array(w * h);
    for (let y = 2; y <= 6; y++) for (let x = 2; x <= 18; x++) m[y * w + x] = 1;
    const p = farthestInteriorPoint(m, w, h)!;
    expect(p.y).toBe(4);
    expect(p.distance).toBe(3);
    expect(p.x).toBeGreaterThanOrEqual(4);
    expect(p.x).toBeLessThanOrEqual(16);
  });
});

describe('largestRegion', () => {
  it('joins diagonal neighbours (8-connectivity) and keeps only the largest region', () => {
    const rows = ['#....##', '.#...##', '..#....', '.......', '###....'];
    const w = rows[0]!.length;
    const h = rows.length;
    const m = new Uint8Array(w * h);
    rows.forEach((row, y) => [...row].forEach((c, x) => (m[y * w + x] = c === '#' ? 1 : 0)));
    const r = largestRegion(m, w, h)!;
    // Diagonal of 3 ties with the bottom bar of 3 but the 2x2 block has 4.
    expect(r.area).toBe(4);
    const on: number[] = [];
    r.mask.forEach((v, i) => v && on.push(i));
    expect(on).toEqual([5, 6, 12, 13]);
    expect(largestRegion(new Uint8Array(6), 3, 2)).toBeNull();
  });

  it('region areas match a brute-force union-find on random masks', () => {
    const r = rng(99);
    for (let trial = 0; trial < 40; trial++) {
      const w = 1 + Math.floor(r() * 25);
      const h = 1 + Math.floor(r() * 25);
      const m = randomMask(r, w, h);
      // Union-find over 8-neighbours: a different algorithm from the flood fill under test.
      const parent = Int32Array.from({ length: w * h }, (_, i) => i);
      const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          if (!m[y * w + x]) continue;
          for (const [dx, dy] of [
            [1, 0],
            [0, 1],
            [1, 1],
            [-1, 1],
          ] as const) {
            const xx = x + dx;
            const yy = y + dy;
            if (xx >= 0 && xx < w && yy < h && m[yy * w + xx]) parent[find(y * w + x)] = find(yy * w + xx);
          }
        }
      }
      const sizes = new Map<number, number>();
      for (let i = 0; i < m.length; i++) if (m[i]) sizes.set(find(i), (sizes.get(find(i)) ?? 0) + 1);
      const max = Math.max(0, ...sizes.values());
      const got = largestRegion(m, w, h);
      if (max === 0) {
        expect(got).toBeNull();
        continue;
      }
      expect(got!.area).toBe(max);
      // The returned pixels are one whole union-find set.
      const roots = new Set<number>();
      let count = 0;
      got!.mask.forEach((v, i) => {
        if (v) {
          roots.add(find(i));
          count++;
        }
      });
      expect(roots.size).toBe(1);
      expect(count).toBe(max);
    }
  });
});
