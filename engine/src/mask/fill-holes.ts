/**
 * SAM2's `fill_holes_in_mask_scores`: background regions (score ≤ 0) that form an 8-connected
 * component of at most `maxArea` pixels get the small positive score 0.1. Like Meta's CUDA kernel
 * this includes small background pockets touching the image border, not only enclosed holes.
 * Runs on the low-res logits (4h x 4h), in place.
 *
 * Components are labelled over runs rather than pixels: each row's background runs are joined
 * (union-find) with the runs of the row above that touch them, 8-connected meaning overlapping
 * or diagonal. One tight pass over the pixels finds the runs; everything else is per run, which
 * keeps a 256 x 256 map (SAM2 at 1024 px) well under a millisecond.
 */

let runStart = new Int32Array(1024);
let runEnd = new Int32Array(1024);
let runRow = new Int32Array(1024);
let parent = new Int32Array(1024);
let area = new Int32Array(1024);

function grow(): void {
  const n = runStart.length * 2;
  const g = (a: Int32Array) => {
    const b = new Int32Array(n);
    b.set(a);
    return b;
  };
  runStart = g(runStart);
  runEnd = g(runEnd);
  runRow = g(runRow);
  parent = g(parent);
  area = g(area);
}

function find(x: number): number {
  while (parent[x]! !== x) {
    parent[x] = parent[parent[x]!]!;
    x = parent[x]!;
  }
  return x;
}

/**
 * Fills small background components of a row-major h x w score map in place.
 * @returns how many pixels were filled
 */
export function fillHolesInMaskScores(scores: Float32Array, h: number, w: number, maxArea: number, offset = 0): number {
  if (maxArea <= 0) return 0;
  let n = 0;
  let prevFrom = 0; // runs of the previous row are [prevFrom, prevTo)
  let prevTo = 0;
  for (let y = 0; y < h; y++) {
    const row = offset + y * w;
    const from = n;
    let x = 0;
    while (x < w) {
      while (x < w && scores[row + x]! > 0) x++;
      if (x >= w) break;
      const s = x;
      while (x < w && !(scores[row + x]! > 0)) x++;
      if (n >= runStart.length) grow();
      runStart[n] = s;
      runEnd[n] = x - 1;
      runRow[n] = y;
      parent[n] = n;
      area[n] = x - s;
      n++;
    }
    // Join with touching runs of the row above (both lists are sorted by start).
    let p = prevFrom;
    for (let r = from; r < n; r++) {
      const lo = runStart[r]! - 1;
      const hi = runEnd[r]! + 1;
      while (p < prevTo && runEnd[p]! < lo) p++;
      for (let q = p; q < prevTo && runStart[q]! <= hi; q++) {
        const a = find(r);
        const b = find(q);
        if (a !== b) {
          // Keep the older root so areas accumulate in one place.
          if (a < b) {
            parent[b] = a;
            area[a] = area[a]! + area[b]!;
          } else {
            parent[a] = b;
            area[b] = area[b]! + area[a]!;
          }
        }
      }
    }
    prevFrom = from;
    prevTo = n;
  }
  let filled = 0;
  for (let r = 0; r < n; r++) {
    if (area[find(r)]! > maxArea) continue;
    const row = offset + runRow[r]! * w;
    for (let x = runStart[r]!; x <= runEnd[r]!; x++) scores[row + x] = 0.1;
    filled += runEnd[r]! - runStart[r]! + 1;
  }
  return filled;
}
