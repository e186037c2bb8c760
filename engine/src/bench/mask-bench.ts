/**
 * Mask encoding cost: COCO RLE of a 1080p mask (what every tracked object costs per frame on a
 * full-HD clip before it reaches the socket or the store), beside the textbook encoder on the same
 * mask: one column-major walk over every pixel, counting runs. Ours compares each row with the one
 * above, four bytes at a time, and sorts the few changes into column order.
 */
import { decodeMask, encodeMask, encodeMaskCompressed } from '../mask/rle.js';

export interface MaskBenchResult {
  height: number;
  width: number;
  /** Mean time to encode one mask to COCO counts, ms. */
  rleEncodeMs: number;
  /** The same plus compressing the counts to COCO's string, ms. */
  rleEncodeCompressedMs: number;
  /** Mean time to decode it back to pixels, ms. */
  rleDecodeMs: number;
  /** Mean time of the textbook column-major per-pixel encoder, ms. */
  naiveEncodeMs: number;
  /** rleEncodeMs / naiveEncodeMs, measured side by side (below 1: ours is faster). */
  rleEncodeVsNaiveRatio: number;
  /** Both encoders gave the same counts. */
  countsAgree: boolean;
  /** Length of the COCO counts string, bytes (the mask itself is height x width bytes). */
  rleBytes: number;
  /** Pixels inside the mask, from the counts. */
  setPixels: number;
  /** Timed calls of each function. */
  runs: number;
}

/** A disc plus a ring, about 6k boundary pixels: a large tracked structure. */
function discAndRing(h: number, w: number): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const d = Math.hypot(x - w * 0.47, y - h * 0.46);
      m[y * w + x] = d < h * 0.28 || (d > h * 0.35 && d < h * 0.39) ? 1 : 0;
    }
  }
  return m;
}

function meanMs(runs: number, body: () => void): number {
  body(); // JIT warm-up
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) body();
  return (performance.now() - t0) / runs;
}

/** COCO counts the plain way: walk the pixels in column-major order and count runs. */
function naiveCounts(m: Uint8Array, h: number, w: number): number[] {
  const counts: number[] = [];
  let cur = 0;
  let run = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const v = m[y * w + x]! !== 0 ? 1 : 0;
      if (v !== cur) {
        counts.push(run);
        run = 0;
        cur = v;
      }
      run++;
    }
  }
  counts.push(run);
  return counts;
}

export function benchMask(opts: { quick?: boolean } = {}): MaskBenchResult {
  const height = 1080;
  const width = 1920;
  const runs = opts.quick ? 10 : 100;
  const m = discAndRing(height, width);
  let counts: number[] = [];
  let naive: number[] = [];
  let rle = encodeMaskCompressed(m, height, width);
  const out = new Uint8Array(height * width);
  // Interleaved rounds, so a busy moment on the machine lands on every side alike.
  let enc = 0;
  let encStr = 0;
  let nai = 0;
  let dec = 0;
  const rounds = 5;
  const per = Math.max(1, Math.round(runs / rounds));
  for (let r = 0; r < rounds; r++) {
    enc += meanMs(per, () => void (counts = encodeMask(m, height, width).counts));
    encStr += meanMs(per, () => void (rle = encodeMaskCompressed(m, height, width)));
    nai += meanMs(per, () => void (naive = naiveCounts(m, height, width)));
    dec += meanMs(per, () => void decodeMask(rle, out));
  }
  let setPixels = 0;
  for (let i = 1; i < counts.length; i += 2) setPixels += counts[i]!;
  return {
    height,
    width,
    rleEncodeMs: enc / rounds,
    rleEncodeCompressedMs: encStr / rounds,
    rleDecodeMs: dec / rounds,
    naiveEncodeMs: nai / rounds,
    rleEncodeVsNaiveRatio: enc / nai,
    countsAgree: counts.length === naive.length && counts.every((c, i) => c === naive[i]),
    rleBytes: rle.counts.length,
    setPixels,
    runs: per * rounds,
  };
}
