/**
 * DAVIS video-object-segmentation measures, following davis2017-evaluation's `metrics.py`:
 * J = region IoU (1 when both masks are empty) and F = boundary F-measure, where boundaries are
 * the one-pixel `seg2bmap` maps matched within a disk of radius ceil(0.008 × image diagonal).
 * Masks are row-major bytes, nonzero = foreground.
 */

/** Region similarity J (Jaccard index). */
export function jaccard(pred: Uint8Array, gt: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < gt.length; i++) {
    const a = pred[i] !== 0;
    const b = gt[i] !== 0;
    if (a && b) inter++;
    if (a || b) union++;
  }
  return union === 0 ? 1 : inter / union;
}

/**
 * One-pixel boundary map as DAVIS's `_seg2bmap`: a pixel is on the boundary when it differs from
 * its east, south or south-east neighbour (last row: east only; last column: south only).
 */
export function boundaryMap(seg: Uint8Array, h: number, w: number, out: Uint8Array = new Uint8Array(h * w)): Uint8Array {
  for (let y = 0; y < h - 1; y++) {
    const r = y * w;
    const s = r + w;
    for (let x = 0; x < w - 1; x++) {
      const v = seg[r + x] !== 0;
      out[r + x] = v !== (seg[r + x + 1] !== 0) || v !== (seg[s + x] !== 0) || v !== (seg[s + x + 1] !== 0) ? 1 : 0;
    }
    out[r + w - 1] = (seg[r + w - 1] !== 0) !== (seg[s + w - 1] !== 0) ? 1 : 0;
  }
  const r = (h - 1) * w;
  for (let x = 0; x < w - 1; x++) out[r + x] = (seg[r + x] !== 0) !== (seg[r + x + 1] !== 0) ? 1 : 0;
  out[r + w - 1] = 0;
  return out;
}

/** skimage `disk(r)` offsets: all (dx, dy) with dx² + dy² ≤ r². */
function diskOffsets(r: number): Int32Array {
  const pts: number[] = [];
  for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= r * r) pts.push(dx, dy);
  return Int32Array.from(pts);
}

/**
 * Counts boundary pixels of `a` that have a boundary pixel of `b` within the disk (what DAVIS
 * gets from `a * dilate(b, disk)`), without building the dilated image: each boundary pixel of a
 * looks around itself, which is cheap because boundaries are sparse.
 */
function matched(a: Uint8Array, b: Uint8Array, h: number, w: number, offsets: Int32Array): number {
  let n = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!a[y * w + x]) continue;
      for (let k = 0; k < offsets.length; k += 2) {
        const xx = x + offsets[k]!;
        const yy = y + offsets[k + 1]!;
        if (xx >= 0 && yy >= 0 && xx < w && yy < h && b[yy * w + xx]) {
          n++;
          break;
        }
      }
    }
  }
  return n;
}

let scratchA = new Uint8Array(0);
let scratchB = new Uint8Array(0);

/** Boundary F-measure with DAVIS's tolerance (`boundTh` < 1: fraction of the diagonal). */
export function boundaryF(pred: Uint8Array, gt: Uint8Array, h: number, w: number, boundTh = 0.008): number {
  const r = boundTh >= 1 ? boundTh : Math.ceil(boundTh * Math.hypot(h, w));
  if (scratchA.length !== h * w) {
    scratchA = new Uint8Array(h * w);
    scratchB = new Uint8Array(h * w);
  }
  const fb = boundaryMap(pred, h, w, scratchA);
  const gb = boundaryMap(gt, h, w, scratchB);
  let nFg = 0;
  let nGt = 0;
  for (let i = 0; i < fb.length; i++) {
    nFg += fb[i]!;
    nGt += gb[i]!;
  }
  let precision: number;
  let recall: number;
  if (nFg === 0 && nGt > 0) {
    precision = 1;
    recall = 0;
  } else if (nFg > 0 && nGt === 0) {
    precision = 0;
    recall = 1;
  } else if (nFg === 0 && nGt === 0) {
    precision = 1;
    recall = 1;
  } else {
    const offsets = diskOffsets(r);
    precision = matched(fb, gb, h, w, offsets) / nFg;
    recall = matched(gb, fb, h, w, offsets) / nGt;
  }
  return precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
}

export interface SequenceScore {
  /** Mean J over the evaluated frames. */
  J: number;
  /** Mean F over the evaluated frames. */
  F: number;
  /** (J + F) / 2. */
  JF: number;
  frames: number;
}

/**
 * Scores one object over a video. `pred(i)` / `gt(i)` return frame i's mask (null = empty).
 * Frames listed in `skip` (e.g. DAVIS leaves out the first and last) are not counted.
 */
export function scoreSequence(
  length: number,
  h: number,
  w: number,
  pred: (i: number) => Uint8Array | null,
  gt: (i: number) => Uint8Array | null,
  skip: ReadonlySet<number> = new Set(),
): SequenceScore {
  const empty = new Uint8Array(h * w);
  let js = 0;
  let fs = 0;
  let n = 0;
  for (let i = 0; i < length; i++) {
    if (skip.has(i)) continue;
    const p = pred(i);
    const g = gt(i);
    n++;
    if (!p && !g) {
      // Both empty: DAVIS gives J = 1 and F = 1.
      js += 1;
      fs += 1;
      continue;
    }
    js += jaccard(p ?? empty, g ?? empty);
    fs += boundaryF(p ?? empty, g ?? empty, h, w);
  }
  const J = n ? js / n : 0;
  const F = n ? fs / n : 0;
  return { J, F, JF: (J + F) / 2, frames: n };
}
