/**
 * The review queue's rules on hand-made COCO RLEs (column-major counts): area and centroid read
 * from the runs match a brute-force pass over the decoded bitmap, and each rule flags exactly
 * the frame it should.
 */
import { describe, expect, it } from 'vitest';
import { encodeMask } from '../../../engine/src/mask/rle.js';
import { flagTracks, rleStats, stepFlagged, type FrameMaskInfo } from '../../../player/src/review/flags.js';

const W = 40;
const H = 30;

/** Counts of a filled rectangle [x0, x1) × [y0, y1), built by hand in column-major order. */
function rectCounts(x0: number, y0: number, x1: number, y1: number): number[] {
  const counts: number[] = [];
  let bg = 0;
  for (let x = 0; x < W; x++) {
    if (x < x0 || x >= x1) {
      bg += H;
      continue;
    }
    bg += y0;
    counts.push(bg, y1 - y0);
    bg = H - y1;
  }
  counts.push(bg);
  return counts;
}

const info = (counts: number[], score = 5, stability?: number): FrameMaskInfo => ({ ...rleStats(counts, H), score, ...(stability === undefined ? {} : { stability }) });
const track = (frames: FrameMaskInfo[]) => new Map([[1, new Map(frames.map((m, i) => [i, m] as const))]]);

describe('review flags', () => {
  it('reads area and centroid from the runs, equal to a pass over the bitmap', () => {
    // Hand-made: a 1-pixel mask at (x 2, y 3): 2 full columns + 3 pixels of background first.
    expect(rleStats([2 * H + 3, 1, W * H - 2 * H - 4], H)).toEqual({ area: 1, cx: 2, cy: 3 });
    // A run that wraps from the bottom of column 0 into the top of column 1.
    const s = rleStats([H - 2, 4, W * H - H - 2], H);
    expect(s.area).toBe(4);
    expect(s.cx).toBeCloseTo(0.5);
    expect(s.cy).toBeCloseTo((H - 2 + H - 1 + 0 + 1) / 4);
    expect(rleStats([W * H], H)).toEqual({ area: 0, cx: NaN, cy: NaN });
    // An irregular shape against brute force.
    const mask = new Uint8Array(W * H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((x - 11) ** 2 / 2 + (y - 17) ** 2 < 60 || (y === H - 1 && x > 30)) mask[y * W + x] = 1;
    let area = 0;
    let sx = 0;
    let sy = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (mask[y * W + x]) (area++, (sx += x), (sy += y));
    const r = rleStats(encodeMask(mask, H, W).counts, H);
    expect(r.area).toBe(area);
    expect(r.cx).toBeCloseTo(sx / area, 9);
    expect(r.cy).toBeCloseTo(sy / area, 9);
  });

  it('flags nothing on a steady track', () => {
    const frames = [0, 1, 2, 3, 4].map((i) => info(rectCounts(10 + i, 10, 20 + i, 20)));
    expect(flagTracks(track(frames), W, H)).toEqual([]);
  });

  it('flags an absent frame between present ones, but not an exit', () => {
    const box = rectCounts(10, 10, 20, 20);
    const dropout = flagTracks(track([info(box), info(box, -3), info(box)]), W, H);
    expect(dropout).toEqual([{ frame: 1, objectId: 1, reasons: [{ kind: 'absent', score: -3, empty: false }] }]);
    // An empty mask counts as absent too, whatever the score.
    expect(flagTracks(track([info(box), info([W * H], 2), info(box)]), W, H).map((f) => [f.frame, f.reasons[0]!.kind])).toEqual([[1, 'absent']]);
    // The object leaves and stays gone: not a dropout.
    expect(flagTracks(track([info(box), info(box, -3), info(box, -4)]), W, H)).toEqual([]);
  });

  it('flags an area jump over 50 % and a centroid jump over 10 % of the diagonal', () => {
    // 10×10 → 10×16: +60 % area; the centroid moves 3 px (< 5 px, 10 % of the 50 px diagonal).
    const grow = flagTracks(track([info(rectCounts(10, 10, 20, 20)), info(rectCounts(10, 10, 20, 26))]), W, H);
    expect(grow).toHaveLength(1);
    expect(grow[0]!.frame).toBe(1);
    expect(grow[0]!.reasons.map((r) => r.kind)).toEqual(['areaJump']);
    // +40 %: not flagged.
    expect(flagTracks(track([info(rectCounts(10, 10, 20, 20)), info(rectCounts(10, 10, 20, 24))]), W, H)).toEqual([]);
    // Same size, moved 6 px (12 % of the diagonal).
    const move = flagTracks(track([info(rectCounts(10, 10, 20, 20)), info(rectCounts(16, 10, 26, 20))]), W, H);
    expect(move.map((f) => [f.frame, f.reasons.map((r) => r.kind)])).toEqual([[1, ['centroidJump']]]);
    // Moved 4 px (8 %): not flagged.
    expect(flagTracks(track([info(rectCounts(10, 10, 20, 20)), info(rectCounts(14, 10, 24, 20))]), W, H)).toEqual([]);
  });

  it('flags low stability when the server sends it', () => {
    const box = rectCounts(10, 10, 20, 20);
    const f = flagTracks(track([info(box, 5, 0.95), info(box, 5, 0.8), info(box)]), W, H);
    expect(f).toEqual([{ frame: 1, objectId: 1, reasons: [{ kind: 'lowStability', stability: 0.8 }] }]);
  });

  it('does not measure jumps across an untracked gap, and steps through flagged frames with wrap-around', () => {
    const tracks = new Map([
      [
        2,
        new Map([
          [0, info(rectCounts(0, 0, 5, 5))],
          [5, info(rectCounts(30, 20, 40, 30))],
        ]),
      ],
    ]);
    expect(flagTracks(tracks, W, H)).toEqual([]);
    expect(stepFlagged([3, 8, 20], 8, 1)).toBe(20);
    expect(stepFlagged([3, 8, 20], 20, 1)).toBe(3);
    expect(stepFlagged([3, 8, 20], 8, -1)).toBe(3);
    expect(stepFlagged([3, 8, 20], 3, -1)).toBe(20);
    expect(stepFlagged([], 3, 1)).toBeNull();
  });
});
