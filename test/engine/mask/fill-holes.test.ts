import { describe, expect, it } from 'vitest';
import { fillHolesInMaskScores } from '../../../engine/src/mask/fill-holes.js';

/** A w x h score map: '#' = +5 (object), '.' = -5 (background). */
function map(rows: string[]): { s: Float32Array; h: number; w: number } {
  const h = rows.length;
  const w = rows[0]!.length;
  const s = new Float32Array(h * w);
  rows.forEach((r, y) => [...r].forEach((ch, x) => (s[y * w + x] = ch === '#' ? 5 : -5)));
  return { s, h, w };
}

function render(s: Float32Array, h: number, w: number): string[] {
  const out: string[] = [];
  for (let y = 0; y < h; y++) {
    let r = '';
    for (let x = 0; x < w; x++) r += Math.abs(s[y * w + x]! - 0.1) < 1e-6 ? 'f' : s[y * w + x]! > 0 ? '#' : '.';
    out.push(r);
  }
  return out;
}

describe('fillHolesInMaskScores', () => {
  it('fills an enclosed hole up to maxArea with 0.1 and leaves bigger ones', () => {
    const { s, h, w } = map(['..............', '.######.#####.', '.#..###.#...#.', '.#..###.#...#.', '.######.#...#.', '........#####.', '..............']);
    const n = fillHolesInMaskScores(s, h, w, 8);
    expect(n).toBe(4);
    expect(render(s, h, w)).toEqual(['..............', '.######.#####.', '.#ff###.#...#.', '.#ff###.#...#.', '.######.#...#.', '........#####.', '..............']);
  });

  it('uses 8-connectivity: diagonal neighbours are one component', () => {
    // Two 4-pixel pockets touching at a corner form one 8-pixel component (filled at 8, not 7).
    const rows = ['######', '#..###', '#..###', '###..#', '###..#', '######'];
    const a = map(rows);
    expect(fillHolesInMaskScores(a.s, a.h, a.w, 7)).toBe(0);
    const b = map(rows);
    expect(fillHolesInMaskScores(b.s, b.h, b.w, 8)).toBe(8);
  });

  it('also fills small background pockets on the border, as Meta kernel does', () => {
    const { s, h, w } = map(['..####', '######', '######']);
    expect(fillHolesInMaskScores(s, h, w, 8)).toBe(2);
    expect(s[0]).toBeCloseTo(0.1);
  });

  it('leaves an absent object (all -1024) alone and honours offsets', () => {
    const s = new Float32Array(3 + 64 * 64).fill(-1024);
    expect(fillHolesInMaskScores(s, 64, 64, 8, 3)).toBe(0);
    expect(s.every((v) => v === -1024)).toBe(true);
  });

  it('does nothing when maxArea is 0', () => {
    const { s, h, w } = map(['###', '#.#', '###']);
    expect(fillHolesInMaskScores(s, h, w, 0)).toBe(0);
    expect(s[4]).toBe(-5);
  });
});

/** Plain flood fill, the obvious algorithm, as a reference for the run-based labelling. */
function reference(s: Float32Array, h: number, w: number, maxArea: number): number {
  const seen = new Uint8Array(h * w);
  let filled = 0;
  for (let i = 0; i < h * w; i++) {
    if (seen[i] || s[i]! > 0) continue;
    const comp = [i];
    seen[i] = 1;
    for (let k = 0; k < comp.length; k++) {
      const y = Math.floor(comp[k]! / w);
      const x = comp[k]! % w;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          const q = yy * w + xx;
          if (yy >= 0 && yy < h && xx >= 0 && xx < w && !seen[q] && !(s[q]! > 0)) {
            seen[q] = 1;
            comp.push(q);
          }
        }
      }
    }
    if (comp.length <= maxArea) {
      for (const q of comp) s[q] = 0.1;
      filled += comp.length;
    }
  }
  return filled;
}

describe('fillHolesInMaskScores vs a flood-fill reference', () => {
  it('agrees on 300 random maps of random sizes, densities and limits', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    let total = 0;
    for (let k = 0; k < 300; k++) {
      const h = 1 + Math.floor(rnd() * 40);
      const w = 1 + Math.floor(rnd() * 40);
      const p = rnd();
      const s = new Float32Array(h * w);
      for (let i = 0; i < s.length; i++) s[i] = rnd() < p ? 1 : -1;
      const a = s.slice();
      const b = s.slice();
      const maxArea = Math.floor(rnd() * 12);
      const n = fillHolesInMaskScores(a, h, w, maxArea);
      expect(n).toBe(reference(b, h, w, maxArea));
      expect(a).toEqual(b);
      total += n;
    }
    expect(total).toBeGreaterThan(100);
  });
});
