/**
 * Resizing of single-channel float maps, numerically matching torch's `F.interpolate`:
 * bilinear with `align_corners=False` (how SAM2 upsamples mask logits) and bilinear with
 * `antialias=True` (how it shrinks mask prompts). Both are separable: a horizontal pass into a
 * scratch buffer, then a vertical pass, with per-axis index/weight tables cached by size so the
 * per-frame cost is two tight loops and no allocation.
 */

export interface LinearTable {
  i0: Int32Array;
  i1: Int32Array;
  w1: Float32Array;
}

interface AaTable {
  start: Int32Array;
  count: Int32Array;
  /** `maxCount` weights per output index, zero-padded. */
  weights: Float32Array;
  maxCount: number;
}

const linearTables = new Map<number, LinearTable>();
const aaTables = new Map<number, AaTable>();

// Sizes stay far below 2^20, so one number keys a table without building strings.
const key = (inSize: number, outSize: number): number => inSize * 1048576 + outSize;

/** torch `area_pixel_compute_source_index` + `compute_indices_weights_linear`, align_corners=False. */
export function linearTable(inSize: number, outSize: number): LinearTable {
  const k = key(inSize, outSize);
  let t = linearTables.get(k);
  if (t) return t;
  const scale = inSize / outSize;
  t = { i0: new Int32Array(outSize), i1: new Int32Array(outSize), w1: new Float32Array(outSize) };
  for (let d = 0; d < outSize; d++) {
    let src = scale * (d + 0.5) - 0.5;
    if (src < 0) src = 0;
    const i0 = Math.min(Math.floor(src), inSize - 1);
    t.i0[d] = i0;
    t.i1[d] = i0 < inSize - 1 ? i0 + 1 : i0;
    t.w1[d] = src - i0;
  }
  linearTables.set(k, t);
  return t;
}

/** torch `_compute_indices_min_size_weights_aa` with the triangle (bilinear) filter. */
function aaTable(inSize: number, outSize: number): AaTable {
  const k = key(inSize, outSize);
  let t = aaTables.get(k);
  if (t) return t;
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const maxCount = Math.ceil(support) * 2 + 1;
  t = { start: new Int32Array(outSize), count: new Int32Array(outSize), weights: new Float32Array(outSize * maxCount), maxCount };
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    // C++ casts truncate toward zero.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xsize = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    const row = i * maxCount;
    for (let j = 0; j < xsize; j++) {
      const x = (j + xmin - center + 0.5) * invScale;
      const w = Math.max(0, 1 - Math.abs(x));
      t.weights[row + j] = w;
      total += w;
    }
    if (total !== 0) for (let j = 0; j < xsize; j++) t.weights[row + j] = t.weights[row + j]! / total;
    t.start[i] = xmin;
    t.count[i] = xsize;
  }
  aaTables.set(k, t);
  return t;
}

let scratch = new Float32Array(0);
function scratchOf(n: number): Float32Array {
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch;
}

/**
 * Bilinear resize, `align_corners=False`, no antialiasing (torch `F.interpolate(mode='bilinear')`).
 * `src` is row-major sh x sw; returns dh x dw (into `out` when given).
 */
export function resizeBilinear(src: Float32Array, sh: number, sw: number, dh: number, dw: number, out: Float32Array = new Float32Array(dh * dw), srcOffset = 0, outOffset = 0): Float32Array {
  const tx = linearTable(sw, dw);
  const ty = linearTable(sh, dh);
  const tmp = scratchOf(sh * dw);
  horizontalLinear(src, srcOffset, sh, sw, dw, tx, tmp);
  const { i0, i1, w1 } = ty;
  for (let y = 0; y < dh; y++) {
    const a = i0[y]! * dw;
    const b = i1[y]! * dw;
    const wb = w1[y]!;
    const wa = 1 - wb;
    const o = outOffset + y * dw;
    for (let x = 0; x < dw; x++) out[o + x] = wa * tmp[a + x]! + wb * tmp[b + x]!;
  }
  return out;
}

let rangeLo = new Int32Array(0);
let rangeHi = new Int32Array(0);

/**
 * Bilinear resize (align_corners=False) fused with `> threshold`: writes 1/0 bytes. This is the
 * output path (low-res logits → video-size binary mask) and never materialises the float image.
 * An output pixel mixes two horizontally interpolated rows with non-negative weights, so it can
 * only pass the threshold where one of them does: each row's passing span is found once and
 * everything outside the union of two spans is zero-filled. The cost follows the object's size,
 * not the video's, and the result is exactly that of the plain formula.
 */
export function resizeBilinearToMask(src: Float32Array, sh: number, sw: number, dh: number, dw: number, out: Uint8Array = new Uint8Array(dh * dw), threshold = 0, srcOffset = 0): Uint8Array {
  const tx = linearTable(sw, dw);
  const ty = linearTable(sh, dh);
  const tmp = scratchOf(sh * dw);
  horizontalLinear(src, srcOffset, sh, sw, dw, tx, tmp);
  if (rangeLo.length < sh) {
    rangeLo = new Int32Array(sh);
    rangeHi = new Int32Array(sh);
  }
  for (let y = 0; y < sh; y++) {
    const o = y * dw;
    let lo = 0;
    while (lo < dw && !(tmp[o + lo]! > threshold)) lo++;
    let hi = dw - 1;
    while (hi > lo && !(tmp[o + hi]! > threshold)) hi--;
    rangeLo[y] = lo;
    rangeHi[y] = lo < dw ? hi : -1;
  }
  const { i0, i1, w1 } = ty;
  for (let y = 0; y < dh; y++) {
    const ra = i0[y]!;
    const rb = i1[y]!;
    const lo = Math.min(rangeLo[ra]!, rangeLo[rb]!);
    const hi = Math.max(rangeHi[ra]!, rangeHi[rb]!);
    const o = y * dw;
    if (hi < lo) {
      out.fill(0, o, o + dw);
      continue;
    }
    if (lo > 0) out.fill(0, o, o + lo);
    if (hi < dw - 1) out.fill(0, o + hi + 1, o + dw);
    const a = ra * dw;
    const b = rb * dw;
    const wb = w1[y]!;
    const wa = 1 - wb;
    for (let x = lo; x <= hi; x++) out[o + x] = wa * tmp[a + x]! + wb * tmp[b + x]! > threshold ? 1 : 0;
  }
  return out;
}

function horizontalLinear(src: Float32Array, off: number, sh: number, sw: number, dw: number, t: LinearTable, tmp: Float32Array): void {
  const { i0, i1, w1 } = t;
  for (let y = 0; y < sh; y++) {
    const row = off + y * sw;
    const o = y * dw;
    for (let x = 0; x < dw; x++) {
      const wb = w1[x]!;
      tmp[o + x] = (1 - wb) * src[row + i0[x]!]! + wb * src[row + i1[x]!]!;
    }
  }
}

/**
 * Bilinear resize with `antialias=True` (torch's separable triangle filter whose support widens
 * with the downscale factor). Upscaling gives the same result as `resizeBilinear`.
 */
export function resizeBilinearAntialias(src: Float32Array, sh: number, sw: number, dh: number, dw: number, out: Float32Array = new Float32Array(dh * dw)): Float32Array {
  const tx = aaTable(sw, dw);
  const ty = aaTable(sh, dh);
  const tmp = scratchOf(sh * dw);
  for (let y = 0; y < sh; y++) {
    const row = y * sw;
    const o = y * dw;
    for (let x = 0; x < dw; x++) {
      const s = row + tx.start[x]!;
      const n = tx.count[x]!;
      const w = x * tx.maxCount;
      let acc = 0;
      for (let j = 0; j < n; j++) acc += tx.weights[w + j]! * src[s + j]!;
      tmp[o + x] = acc;
    }
  }
  for (let y = 0; y < dh; y++) {
    const s = ty.start[y]!;
    const n = ty.count[y]!;
    const w = y * ty.maxCount;
    const o = y * dw;
    for (let x = 0; x < dw; x++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += ty.weights[w + j]! * tmp[(s + j) * dw + x]!;
      out[o + x] = acc;
    }
  }
  return out;
}

/** Row-major uint8 mask (nonzero = in) → float 0/1, the form SAM2 resizes. */
export function maskToFloat(mask: Uint8Array, out: Float32Array = new Float32Array(mask.length)): Float32Array {
  for (let i = 0; i < mask.length; i++) out[i] = mask[i] ? 1 : 0;
  return out;
}
