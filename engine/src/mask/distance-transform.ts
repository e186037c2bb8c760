/**
 * Exact Euclidean distance transform (Felzenszwalb & Huttenlocher's lower envelope of parabolas,
 * one pass over columns, one over rows: O(w·h)) and the helpers a robot annotator needs: the
 * interior point farthest from a mask's boundary and the largest connected region of a mask.
 * Masks are row-major bytes, nonzero = foreground.
 */

export interface DistanceOptions {
  /**
   * Count the outside of the image as background (default true), as the DAVIS interactive robot
   * does by zero-padding before `cv2.distanceTransform`: a region touching the image edge then
   * gets its click away from the edge, not on it.
   */
  borderIsBackground?: boolean;
}

/**
 * 1-D squared distance transform of f (Infinity = no site) into d. Parabolas with an infinite
 * base are skipped instead of using a large finite stand-in, so rows with no site stay Infinity
 * and the arithmetic never mixes huge and small numbers.
 */
function edt1d(f: Float64Array, n: number, d: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[q]!;
    if (fq === Infinity) continue;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    let p = v[k]!;
    let s = (fq + q * q - (f[p]! + p * p)) / (2 * (q - p));
    while (s <= z[k]!) {
      k--;
      p = v[k]!;
      s = (fq + q * q - (f[p]! + p * p)) / (2 * (q - p));
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  if (k < 0) {
    d.fill(Infinity, 0, n);
    return;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1]! < q) k++;
    const p = v[k]!;
    d[q] = (q - p) * (q - p) + f[p]!;
  }
}

/**
 * Squared Euclidean distance from every pixel to the nearest background pixel (0 on background;
 * Infinity everywhere when there is no background and the border does not count as one).
 * Distances are between pixel centres, so they are exact integers.
 */
export function squaredDistanceToBackground(mask: Uint8Array, width: number, height: number, opts: DistanceOptions = {}): Float64Array {
  if (mask.length !== width * height) throw new RangeError(`mask has ${mask.length} bytes, expected ${width}x${height}`);
  const pad = (opts.borderIsBackground ?? true) ? 1 : 0;
  // With the border as background, work on a grid one pixel larger on every side whose ring is
  // background: that is exactly "outside the image is background".
  const W = width + 2 * pad;
  const H = height + 2 * pad;
  const g = new Float64Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const ix = x - pad;
      const iy = y - pad;
      const inside = ix >= 0 && iy >= 0 && ix < width && iy < height;
      g[y * W + x] = inside && mask[iy * width + ix] !== 0 ? Infinity : 0;
    }
  }
  const m = Math.max(W, H);
  const f = new Float64Array(m);
  const d = new Float64Array(m);
  const v = new Int32Array(m);
  const z = new Float64Array(m + 1);
  for (let x = 0; x < W; x++) {
    for (let y = 0; y < H; y++) f[y] = g[y * W + x]!;
    edt1d(f, H, d, v, z);
    for (let y = 0; y < H; y++) g[y * W + x] = d[y]!;
  }
  for (let y = 0; y < H; y++) {
    const r = y * W;
    for (let x = 0; x < W; x++) f[x] = g[r + x]!;
    edt1d(f, W, d, v, z);
    for (let x = 0; x < W; x++) g[r + x] = d[x]!;
  }
  if (!pad) return g;
  const out = new Float64Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = g[(y + 1) * W + x + 1]!;
  return out;
}

export interface InteriorPoint {
  x: number;
  y: number;
  /** Euclidean distance to the nearest background pixel. */
  distance: number;
}

/**
 * The foreground pixel farthest from the background (the first in raster order among equals),
 * or null for an empty mask.
 */
export function farthestInteriorPoint(mask: Uint8Array, width: number, height: number, opts: DistanceOptions = {}): InteriorPoint | null {
  const d = squaredDistanceToBackground(mask, width, height, opts);
  let best = -1;
  let bestD = 0;
  for (let i = 0; i < d.length; i++) {
    if (mask[i] !== 0 && d[i]! > bestD) {
      bestD = d[i]!;
      best = i;
    }
  }
  if (best < 0) return null;
  return { x: best % width, y: Math.floor(best / width), distance: Math.sqrt(bestD) };
}

export interface Region {
  /** The region alone, 1 = in it. */
  mask: Uint8Array;
  area: number;
}

/**
 * The largest 8-connected foreground region (skimage's default connectivity in 2-D), or null
 * for an empty mask. Ties go to the region met first in raster order.
 */
export function largestRegion(mask: Uint8Array, width: number, height: number): Region | null {
  const label = new Int32Array(width * height);
  const stack = new Int32Array(width * height);
  let next = 0;
  let bestLabel = 0;
  let bestArea = 0;
  for (let s = 0; s < mask.length; s++) {
    if (mask[s] === 0 || label[s] !== 0) continue;
    const l = ++next;
    let top = 0;
    stack[top++] = s;
    label[s] = l;
    let area = 0;
    while (top > 0) {
      const p = stack[--top]!;
      area++;
      const px = p % width;
      const py = (p - px) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = py + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = px + dx;
          if (xx < 0 || xx >= width || (dx === 0 && dy === 0)) continue;
          const q = yy * width + xx;
          if (mask[q] !== 0 && label[q] === 0) {
            label[q] = l;
            stack[top++] = q;
          }
        }
      }
    }
    if (area > bestArea) {
      bestArea = area;
      bestLabel = l;
    }
  }
  if (!bestLabel) return null;
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = label[i] === bestLabel ? 1 : 0;
  return { mask: out, area: bestArea };
}
