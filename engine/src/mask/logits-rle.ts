/**
 * Low-res mask logits → COCO RLE counts at video size in one step: the bilinear upsampling
 * (align_corners=False) and the `> 0` threshold are evaluated column by column (COCO's order),
 * and only inside the rows an object can reach; everything else is one background run. The cost
 * follows the object's bounding box rather than the frame, and the counts equal
 * `encodeMask(resizeBilinearToMask(...))` exactly.
 */

import { linearTable, type LinearTable } from './upsample.js';

/** upsample.ts's interpolation table plus, per source index, the output span it can reach. */
interface AxisTable extends LinearTable {
  /** Per source index r: first output index whose upper tap is ≥ r. */
  first: Int32Array;
  /** Per source index r: last output index whose lower tap is ≤ r. */
  last: Int32Array;
}

const tables = new Map<number, AxisTable>();

function table(inSize: number, outSize: number): AxisTable {
  const k = inSize * 1048576 + outSize;
  let t = tables.get(k);
  if (t) return t;
  t = { ...linearTable(inSize, outSize), first: new Int32Array(inSize), last: new Int32Array(inSize) };
  for (let r = 0, d = 0; r < inSize; r++) {
    while (d < outSize && t.i1[d]! < r) d++;
    t.first[r] = d;
  }
  for (let r = inSize - 1, d = outSize - 1; r >= 0; r--) {
    while (d >= 0 && t.i0[d]! > r) d--;
    t.last[r] = d;
  }
  tables.set(k, t);
  return t;
}

let tmp = new Float32Array(0);

export interface LogitsRle {
  /** COCO counts (column-major, background first). */
  counts: number[];
  /** Foreground pixels. */
  area: number;
}

/**
 * Upsamples `src` (sh x sw logits, row-major, from `offset`) to dh x dw and encodes `> threshold`
 * as COCO RLE counts.
 */
export function logitsToRle(src: Float32Array, sh: number, sw: number, dh: number, dw: number, threshold = 0, offset = 0): LogitsRle {
  const tx = table(sw, dw);
  const ty = table(sh, dh);
  // Bounding box of the source pixels above the threshold: outside it every tap is below.
  let r0 = sh;
  let r1 = -1;
  let c0 = sw;
  let c1 = -1;
  for (let y = 0; y < sh; y++) {
    const row = offset + y * sw;
    for (let x = 0; x < sw; x++) {
      if (src[row + x]! > threshold) {
        if (y < r0) r0 = y;
        r1 = y;
        if (x < c0) c0 = x;
        if (x > c1) c1 = x;
      }
    }
  }
  if (r1 < 0) return { counts: [dh * dw], area: 0 };
  const xlo = tx.first[c0]!;
  const xhi = Math.max(xlo - 1, tx.last[c1]!);
  // Horizontal pass for the reachable columns, stored column-major; rows one beyond the box on
  // each side too, because output rows at the box edge mix them in.
  if (tmp.length < sh * dw) tmp = new Float32Array(sh * dw);
  const ra = Math.max(0, r0 - 1);
  const rb = Math.min(sh - 1, r1 + 1);
  for (let y = ra; y <= rb; y++) {
    const row = offset + y * sw;
    for (let x = xlo; x <= xhi; x++) {
      const wb = tx.w1[x]!;
      tmp[x * sh + y] = (1 - wb) * src[row + tx.i0[x]!]! + wb * src[row + tx.i1[x]!]!;
    }
  }
  const { i0, i1, w1 } = ty;
  const counts: number[] = [];
  let area = 0;
  let fg = false; // state of the run being counted
  let run = 0;
  for (let x = 0; x < dw; x++) {
    const col = x * sh;
    let rmin = -1;
    let rmax = -1;
    if (x >= xlo && x <= xhi) {
      for (let r = r0; r <= r1; r++) {
        if (tmp[col + r]! > threshold) {
          if (rmin < 0) rmin = r;
          rmax = r;
        }
      }
    }
    if (rmin < 0) {
      // Whole column background.
      if (fg) {
        counts.push(run);
        run = 0;
        fg = false;
      }
      run += dh;
      continue;
    }
    // Output rows that read a source row in [rmin, rmax]; outside them both taps are ≤ threshold.
    const ylo = ty.first[rmin]!;
    const yhi = Math.max(ylo - 1, ty.last[rmax]!);
    if (fg && ylo > 0) {
      counts.push(run);
      run = 0;
      fg = false;
    }
    run += ylo;
    for (let y = ylo; y <= yhi; y++) {
      const wb = w1[y]!;
      const on = (1 - wb) * tmp[col + i0[y]!]! + wb * tmp[col + i1[y]!]! > threshold;
      if (on !== fg) {
        counts.push(run);
        run = 0;
        fg = on;
      }
      run++;
      if (on) area++;
    }
    const rest = dh - 1 - yhi;
    if (rest > 0) {
      if (fg) {
        counts.push(run);
        run = 0;
        fg = false;
      }
      run += rest;
    }
  }
  counts.push(run);
  return { counts, area };
}
