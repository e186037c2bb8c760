/**
 * Scores a tracking result against ground truth, both in the gt.json / masks.json shape
 * (YouTube-VIS style, one compressed COCO RLE or null per frame per object).
 *
 * Per object and frame: J = region IoU, F = boundary F-measure (DAVIS style: boundary pixels
 * matched within a tolerance of 0.8% of the image diagonal). When ground truth and prediction are
 * both empty the frame scores 1 for both (correctly reporting absence); when only one is empty
 * it scores 0. Frames before an object's first ground-truth appearance are skipped, as in DAVIS.
 */
import { decodeMask, rleArea, rleIou, type CompressedRle } from 'cineseg';

/** The parts of a gt.json / masks.json file that scoring reads. */
export interface TrackFile {
  videos: Array<{ width: number; height: number; length: number }>;
  annotations: Array<{ object_id: number; segmentations: Array<CompressedRle | null> }>;
}

export interface ObjectScore {
  objectId: number;
  /** Frames scored (from the first ground-truth appearance on). */
  frames: number;
  j: number;
  f: number;
  /** Per scored frame: [frame index, J, F]. */
  perFrame: Array<[number, number, number]>;
}

export interface TrackScore {
  objects: ObjectScore[];
  /** Means over objects. */
  j: number;
  f: number;
  jf: number;
}

/** Boundary pixels: foreground pixels with a 4-neighbour that is background or off-image. */
function boundary(mask: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!mask[i]) continue;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w]) out[i] = 1;
    }
  }
  return out;
}

/** Fraction of `a`'s set pixels that have a set pixel of `b` within Chebyshev distance `tol`. */
function matchedFraction(a: Uint8Array, b: Uint8Array, w: number, h: number, tol: number): [number, number] {
  let total = 0;
  let hit = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!a[y * w + x]) continue;
      total++;
      let found = false;
      for (let yy = Math.max(0, y - tol); yy <= Math.min(h - 1, y + tol) && !found; yy++) {
        for (let xx = Math.max(0, x - tol); xx <= Math.min(w - 1, x + tol); xx++) {
          if (b[yy * w + xx]) {
            found = true;
            break;
          }
        }
      }
      if (found) hit++;
    }
  }
  return [hit, total];
}

/** DAVIS-style boundary F-measure between two masks of the same size. */
export function boundaryF(gt: Uint8Array, pred: Uint8Array, width: number, height: number, tolerance?: number): number {
  const tol = tolerance ?? Math.max(1, Math.round(0.008 * Math.hypot(width, height)));
  const bg = boundary(gt, width, height);
  const bp = boundary(pred, width, height);
  const [hp, np] = matchedFraction(bp, bg, width, height, tol);
  const [hg, ng] = matchedFraction(bg, bp, width, height, tol);
  if (np === 0 && ng === 0) return 1;
  if (np === 0 || ng === 0) return 0;
  const precision = hp / np;
  const recall = hg / ng;
  return precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
}

/**
 * Scores `pred` against `gt`. Objects are matched by object_id; an object missing from `pred`
 * scores 0 on every frame where it is visible. Throws RangeError when sizes or lengths differ.
 */
export function scoreTracks(gt: TrackFile, pred: TrackFile): TrackScore {
  const gv = gt.videos[0];
  const pv = pred.videos[0];
  if (!gv || !pv) throw new RangeError('both files need a videos[0] entry');
  if (gv.width !== pv.width || gv.height !== pv.height) throw new RangeError(`size differs: gt ${gv.width}x${gv.height}, prediction ${pv.width}x${pv.height}`);
  if (gv.length !== pv.length) throw new RangeError(`length differs: gt ${gv.length} frames, prediction ${pv.length}`);
  const { width: w, height: h, length } = gv;
  const objects: ObjectScore[] = [];
  for (const a of gt.annotations) {
    const p = pred.annotations.find((x) => x.object_id === a.object_id);
    const first = a.segmentations.findIndex((s) => s !== null && rleArea(s) > 0);
    if (first < 0) continue;
    const perFrame: Array<[number, number, number]> = [];
    for (let t = first; t < length; t++) {
      const g = a.segmentations[t] ?? null;
      const q = p?.segmentations[t] ?? null;
      const gEmpty = g === null || rleArea(g) === 0;
      const qEmpty = q === null || rleArea(q) === 0;
      if (gEmpty && qEmpty) perFrame.push([t, 1, 1]);
      else if (gEmpty || qEmpty) perFrame.push([t, 0, 0]);
      else perFrame.push([t, rleIou(g, q), boundaryF(decodeMask(g), decodeMask(q), w, h)]);
    }
    const n = perFrame.length;
    objects.push({
      objectId: a.object_id,
      frames: n,
      j: perFrame.reduce((s, x) => s + x[1], 0) / n,
      f: perFrame.reduce((s, x) => s + x[2], 0) / n,
      perFrame,
    });
  }
  const j = objects.length ? objects.reduce((s, o) => s + o.j, 0) / objects.length : 0;
  const f = objects.length ? objects.reduce((s, o) => s + o.f, 0) / objects.length : 0;
  return { objects, j, f, jf: (j + f) / 2 };
}
