/**
 * COCO run-length encoding, bit-compatible with pycocotools (common/maskApi.c).
 *
 * Masks in cineseg are row-major (H x W, one byte per pixel, 0 = background, anything else =
 * foreground). COCO runs are column-major (Fortran order): the pixel after (x, y) is (x, y + 1),
 * and after the bottom of a column comes the top of the next. Counts alternate background /
 * foreground and always start with a background run (possibly 0).
 *
 * Encoding works on transitions rather than pixels: a run boundary in column-major order is a
 * pixel whose value differs from the pixel above it (or, on row 0, from the bottom of the previous
 * column). Those are found by comparing consecutive rows in row-major order (cache friendly,
 * four bytes at a time where alignment allows), then bucketed by column. The cost is one pass over
 * the bytes plus work proportional to the number of boundaries, never an object per pixel.
 *
 * This is the one codec of the project: the engine, the player (overlay, brush) and the wire
 * (protocol.ts re-exports the count decoders) all read and write masks through it. No Node imports:
 * the player bundles it for the browser.
 */
import { CinesegError, ErrorCode } from '../errors.js';

/** COCO RLE with explicit counts (pycocotools' "uncompressed RLE"); `size` is [height, width]. */
export interface RleCounts {
  size: [number, number];
  counts: number[];
}

/** COCO RLE with counts in pycocotools' compressed ASCII form, as stored in COCO JSON files. */
export interface CompressedRle {
  size: [number, number];
  counts: string;
}

/** Either COCO RLE form. */
export type Rle = RleCounts | CompressedRle;

/** COCO bbox `[x, y, width, height]` in pixels. */
export type CocoBbox = [number, number, number, number];

function checkSize(height: number, width: number): void {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 0 || width < 0) {
    throw new CinesegError(ErrorCode.E_MASK_INVALID, `mask size must be non-negative integers, got ${height}x${width}`);
  }
}

// Transition scratch space, reused between calls so steady-state encoding allocates only the
// result. Grown geometrically when a mask has more boundaries than ever seen before.
let scratchX = new Uint32Array(4096);
let scratchY = new Uint32Array(4096);

function growScratch(): void {
  const nx = new Uint32Array(scratchX.length * 2);
  nx.set(scratchX);
  scratchX = nx;
  const ny = new Uint32Array(scratchY.length * 2);
  ny.set(scratchY);
  scratchY = ny;
}

/**
 * Encodes a row-major binary mask (H x W bytes, nonzero = foreground) into COCO counts, exactly
 * as `pycocotools.mask.encode(np.asfortranarray(mask))` would.
 */
export function encodeMask(mask: Uint8Array, height: number, width: number): RleCounts {
  checkSize(height, width);
  const total = height * width;
  if (mask.length !== total) {
    throw new CinesegError(ErrorCode.E_MASK_INVALID, `mask has ${mask.length} bytes, expected ${height}x${width} = ${total}`);
  }
  if (total === 0) return { size: [height, width], counts: [0] };
  let n = 0;
  // Row 0: compare with the bottom of the previous column (column -1 is background).
  const lastRow = (height - 1) * width;
  for (let x = 0; x < width; x++) {
    const v = mask[x]! !== 0;
    const prev = x === 0 ? false : mask[lastRow + x - 1]! !== 0;
    if (v !== prev) {
      if (n === scratchX.length) growScratch();
      scratchX[n] = x;
      scratchY[n] = 0;
      n++;
    }
  }
  // Rows 1..H-1: compare with the row above; skip equal 32-bit words when the layout allows.
  const aligned = width % 4 === 0 && mask.byteOffset % 4 === 0;
  const words = aligned ? new Uint32Array(mask.buffer, mask.byteOffset, total >>> 2) : undefined;
  const wordsPerRow = width >>> 2;
  for (let y = 1; y < height; y++) {
    const row = y * width;
    const above = row - width;
    if (words) {
      const rw = y * wordsPerRow;
      const aw = rw - wordsPerRow;
      for (let k = 0; k < wordsPerRow; k++) {
        // Sixteen bytes per test while the rows agree (the common case away from edges).
        while (k + 4 <= wordsPerRow) {
          const a = rw + k;
          const b = aw + k;
          if (((words[a]! ^ words[b]!) | (words[a + 1]! ^ words[b + 1]!) | (words[a + 2]! ^ words[b + 2]!) | (words[a + 3]! ^ words[b + 3]!)) !== 0) break;
          k += 4;
        }
        if (k >= wordsPerRow) break;
        if (words[rw + k] === words[aw + k]) continue;
        const x0 = k << 2;
        for (let x = x0; x < x0 + 4; x++) {
          if ((mask[row + x]! !== 0) !== (mask[above + x]! !== 0)) {
            if (n === scratchX.length) growScratch();
            scratchX[n] = x;
            scratchY[n] = y;
            n++;
          }
        }
      }
    } else {
      for (let x = 0; x < width; x++) {
        if ((mask[row + x]! !== 0) !== (mask[above + x]! !== 0)) {
          if (n === scratchX.length) growScratch();
          scratchX[n] = x;
          scratchY[n] = y;
          n++;
        }
      }
    }
  }
  // Counting sort by column; rows were visited in order, so each column's ys stay sorted.
  const start = new Uint32Array(width + 1);
  for (let i = 0; i < n; i++) start[scratchX[i]! + 1]!++;
  for (let x = 0; x < width; x++) start[x + 1]! += start[x]!;
  const positions = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = scratchX[i]!;
    positions[start[x]!++] = x * height + scratchY[i]!;
  }
  const counts = new Array<number>(n + 1);
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const p = positions[i]!;
    counts[i] = p - prev;
    prev = p;
  }
  counts[n] = total - prev;
  return { size: [height, width], counts };
}

/** Validates counts against the size: non-negative integers summing to height * width. */
function checkCounts(rle: RleCounts): void {
  const [h, w] = rle.size;
  checkSize(h, w);
  let sum = 0;
  for (const c of rle.counts) {
    if (!Number.isInteger(c) || c < 0) throw new CinesegError(ErrorCode.E_RLE_INVALID, `RLE count ${c} is not a non-negative integer`);
    sum += c;
  }
  if (sum !== h * w) {
    throw new CinesegError(ErrorCode.E_RLE_INVALID, `RLE counts sum to ${sum}, expected ${h}x${w} = ${h * w}`, { details: { size: rle.size } });
  }
}

// Column segments scratch, (x, y0, n) triples, reused between calls like the encoder's.
let segScratch = new Uint32Array(3 * 1024);

/**
 * The one walk over COCO counts: the column segments of every foreground run, as `n` triples
 * (x, y0, length) in `segs` (pixels (x, y0) .. (x, y0 + length - 1)), in column-major order.
 * `segs` is shared scratch, valid until the next call. Segments past the last column are left
 * out, so counts that claim more pixels than the mask holds write nothing out of bounds; callers
 * that must refuse such counts check them first (see decodeMask). Triples in an array rather than
 * a callback per segment: every consumer's loop stays monomorphic (the live overlay paints with it).
 */
export function foregroundSegments(counts: ArrayLike<number>, height: number, width: number): { segs: Uint32Array; n: number } {
  let segs = segScratch;
  let n = 0;
  if (height <= 0) return { segs, n };
  let pos = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (i % 2 === 1 && c > 0) {
      let x = Math.floor(pos / height);
      let y = pos - x * height;
      let left = c;
      while (left > 0 && x < width) {
        const take = Math.min(left, height - y);
        if (3 * n + 3 > segs.length) {
          const grown = new Uint32Array(segs.length * 2);
          grown.set(segs);
          segScratch = segs = grown;
        }
        segs[3 * n] = x;
        segs[3 * n + 1] = y;
        segs[3 * n + 2] = take;
        n++;
        left -= take;
        x++;
        y = 0;
      }
    }
    pos += c;
  }
  return { segs, n };
}

/** {@link foregroundSegments} as a callback per segment, for consumers that are not hot loops. */
export function forEachForegroundSegment(counts: ArrayLike<number>, height: number, width: number, visit: (x: number, y0: number, n: number) => void): void {
  const { segs, n } = foregroundSegments(counts, height, width);
  const copy = segs.slice(0, 3 * n); // visit may decode another mask (the scratch is shared)
  for (let i = 0; i < 3 * n; i += 3) visit(copy[i]!, copy[i + 1]!, copy[i + 2]!);
}

/** Writes 1 into a row-major mask for every foreground pixel of the counts (the mask is not cleared). */
function fillCounts(counts: ArrayLike<number>, height: number, width: number, mask: Uint8Array): void {
  const { segs, n } = foregroundSegments(counts, height, width);
  for (let s = 0; s < 3 * n; s += 3) {
    for (let idx = segs[s + 1]! * width + segs[s]!, end = idx + segs[s + 2]! * width; idx < end; idx += width) mask[idx] = 1;
  }
}

/**
 * Decodes COCO RLE (either form) into a row-major mask of 0/1 bytes. Throws E_RLE_INVALID when
 * the counts do not cover exactly height * width pixels.
 */
export function decodeMask(rle: Rle, out?: Uint8Array): Uint8Array {
  const r = toCounts(rle);
  checkCounts(r);
  const [h, w] = r.size;
  const mask = out ?? new Uint8Array(h * w);
  if (mask.length !== h * w) throw new CinesegError(ErrorCode.E_MASK_INVALID, `output buffer has ${mask.length} bytes, expected ${h * w}`);
  if (out) mask.fill(0);
  fillCounts(r.counts, h, w, mask);
  return mask;
}

/**
 * Counts already checked (a decoded mask message: decodeMaskFrame verifies they cover the mask)
 * to a row-major 0/1 mask of width x height, without decodeMask's validation pass. Note the
 * (width, height) order of the wire, unlike COCO's [height, width].
 */
export function countsToMask(counts: ArrayLike<number>, width: number, height: number): Uint8Array {
  const m = new Uint8Array(width * height);
  fillCounts(counts, height, width, m);
  return m;
}

/**
 * Paints COCO counts into a row-major RGBA image of width x height: every foreground pixel gets
 * `color`. The player's overlay fills masks with it (30 times a second on a live view, so it
 * writes the pixels directly rather than decoding a mask first).
 */
export function paintCounts(counts: ArrayLike<number>, width: number, height: number, rgba: Uint8ClampedArray | Uint8Array, color: readonly [number, number, number, number]): void {
  const [r, g, b, a] = color;
  const stride = 4 * width;
  const { segs, n } = foregroundSegments(counts, height, width);
  for (let s = 0; s < 3 * n; s += 3) {
    for (let o = 4 * (segs[s + 1]! * width + segs[s]!), end = o + segs[s + 2]! * stride; o < end; o += stride) {
      rgba[o] = r;
      rgba[o + 1] = g;
      rgba[o + 2] = b;
      rgba[o + 3] = a;
    }
  }
}

/** Foreground pixels of COCO counts: the sum of the odd (foreground) runs. */
export function countsArea(counts: ArrayLike<number>): number {
  let a = 0;
  for (let i = 1; i < counts.length; i += 2) a += counts[i]!;
  return a;
}

/**
 * Counts to pycocotools' compressed string: 5 data bits per character (offset by 48, so
 * '0'..'o'), bit 0x20 = more characters follow, sign taken from bit 0x10 of the last character,
 * and from the fourth count on each value is stored as the difference to the count two before
 * (same-polarity runs tend to be similar). The `i > 2` threshold is pycocotools' and must stay.
 */
export function countsToString(counts: ArrayLike<number>): string {
  const bytes: number[] = [];
  for (let i = 0; i < counts.length; i++) {
    // Arithmetic, not 32-bit bit operations, so counts above 2^31 stay exact.
    let x = counts[i]!;
    if (i > 2) x -= counts[i - 2]!;
    let more = true;
    while (more) {
      let c = x - Math.floor(x / 32) * 32; // low 5 bits, two's-complement style
      x = Math.floor(x / 32); // arithmetic shift right by 5
      more = (c & 0x10) !== 0 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      bytes.push(c + 48);
    }
  }
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.slice(i, i + 8192));
  return s;
}

/** Inverse of {@link countsToString}. Throws E_RLE_INVALID on characters outside '0'..'o' or a truncated value. */
export function stringToCounts(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let more = true;
    let scale = 1;
    while (more) {
      if (p >= s.length) throw new CinesegError(ErrorCode.E_RLE_INVALID, 'compressed RLE string ends inside a value');
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new CinesegError(ErrorCode.E_RLE_INVALID, `invalid character ${JSON.stringify(s[p])} in compressed RLE`);
      x += (c & 0x1f) * scale;
      scale *= 32;
      more = (c & 0x20) !== 0;
      p++;
      if (!more && (c & 0x10) !== 0) x -= scale; // sign-extend
    }
    const m = counts.length;
    if (m > 2) x += counts[m - 2]!;
    counts.push(x);
  }
  return counts;
}

/** Any RLE as explicit counts (the array is shared, not copied, when already explicit). */
export function toCounts(rle: Rle): RleCounts {
  if (typeof rle.counts === 'string') return { size: [rle.size[0], rle.size[1]], counts: stringToCounts(rle.counts) };
  if (!Array.isArray(rle.counts)) throw new CinesegError(ErrorCode.E_RLE_INVALID, 'RLE counts must be a string or an array of integers');
  return rle as RleCounts;
}

/** Any RLE in compressed string form. */
export function toCompressed(rle: Rle): CompressedRle {
  if (typeof rle.counts === 'string') return { size: [rle.size[0], rle.size[1]], counts: rle.counts };
  return { size: [rle.size[0], rle.size[1]], counts: countsToString(rle.counts) };
}

/** Row-major mask straight to compressed COCO RLE (what COCO JSON files hold). */
export function encodeMaskCompressed(mask: Uint8Array, height: number, width: number): CompressedRle {
  const r = encodeMask(mask, height, width);
  return { size: r.size, counts: countsToString(r.counts) };
}

/** Foreground pixel count (pycocotools `area`). */
export function rleArea(rle: Rle): number {
  return countsArea(toCounts(rle).counts);
}

/**
 * Bounding box `[x, y, w, h]` with pycocotools `toBbox` semantics: `[0,0,0,0]` for an empty mask,
 * and a foreground run that spans two columns makes the box cover the full height.
 */
export function rleToBbox(rle: Rle): CocoBbox {
  const { size, counts } = toCounts(rle);
  const [h, w] = size;
  const m = Math.floor(counts.length / 2) * 2;
  if (m === 0 || h === 0) return [0, 0, 0, 0];
  let xs = w;
  let ys = h;
  let xe = 0;
  let ye = 0;
  let cc = 0;
  let xp = 0;
  for (let j = 0; j < m; j++) {
    cc += counts[j]!;
    const t = cc - (j % 2);
    const y = t % h;
    const x = (t - y) / h;
    if (j % 2 === 0) xp = x;
    else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    xs = Math.min(xs, x);
    xe = Math.max(xe, x);
    ys = Math.min(ys, y);
    ye = Math.max(ye, y);
  }
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}

/** Walks two RLEs of equal size run by run and calls `emit(length, a, b)` for each common stretch. */
function walkPair(a: RleCounts, b: RleCounts, emit: (len: number, va: boolean, vb: boolean) => void): void {
  if (a.size[0] !== b.size[0] || a.size[1] !== b.size[1]) {
    throw new CinesegError(ErrorCode.E_MASK_INVALID, `RLE sizes differ: ${a.size.join('x')} vs ${b.size.join('x')}`);
  }
  const ca = a.counts;
  const cb = b.counts;
  let ia = 0;
  let ib = 0;
  let ra = ca.length > 0 ? ca[0]! : 0;
  let rb = cb.length > 0 ? cb[0]! : 0;
  let va = false;
  let vb = false;
  for (;;) {
    while (ra === 0 && ia + 1 < ca.length) {
      ia++;
      ra = ca[ia]!;
      va = !va;
    }
    while (rb === 0 && ib + 1 < cb.length) {
      ib++;
      rb = cb[ib]!;
      vb = !vb;
    }
    if (ra === 0 || rb === 0) return;
    const c = Math.min(ra, rb);
    emit(c, va, vb);
    ra -= c;
    rb -= c;
  }
}

/**
 * Intersection over union of two masks of the same size, pycocotools semantics (not crowd):
 * 0 when the intersection is empty, including when both masks are empty.
 */
export function rleIou(a: Rle, b: Rle): number {
  let inter = 0;
  let union = 0;
  walkPair(toCounts(a), toCounts(b), (len, va, vb) => {
    if (va || vb) {
      union += len;
      if (va && vb) inter += len;
    }
  });
  return inter === 0 ? 0 : inter / union;
}

/** Union (default) or intersection of masks of the same size, as explicit counts (pycocotools `merge`). */
export function rleMerge(rles: readonly Rle[], intersect = false): RleCounts {
  if (rles.length === 0) throw new CinesegError(ErrorCode.E_MASK_INVALID, 'rleMerge needs at least one RLE');
  let acc = toCounts(rles[0]!);
  for (let i = 1; i < rles.length; i++) {
    const counts: number[] = [];
    let cur = false;
    let run = 0;
    walkPair(acc, toCounts(rles[i]!), (len, va, vb) => {
      const v = intersect ? va && vb : va || vb;
      if (v !== cur) {
        counts.push(run);
        run = 0;
        cur = v;
      }
      run += len;
    });
    counts.push(run);
    acc = { size: [acc.size[0], acc.size[1]], counts };
  }
  return { size: [acc.size[0], acc.size[1]], counts: acc.counts.slice() };
}
