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
    const { s, h, w } = map([
      '..............',
      '.######.#####.',
      '.#..###.#...#.',
      '.#..###.#...#.',
      '.######.#...#.',
      '........#####.',
      '..............',
    ]);
    const n = fillHolesInMaskScores(s, h, w, 8);
    expect(n).toBe(4);
    expect(render(s, h, w)).toEqual([
      '..............',
      '.######.#####.',
      '.#ff###.#...#.',
      '.#ff###.#...#.',
      '.######.#...#.',
      '........#####.',
      '..............',
    ]);
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
