/**
 * Mask encoding cost: COCO RLE of a 1080p mask (what every tracked object costs per frame on a
 * full-HD clip before it reaches the socket or the store), beside one plain pass over the same
 * pixels, the floor any encoder pays. The ratio is the encoder's overhead over reading the mask.
 */
import { decodeMask, encodeMaskCompressed } from '../mask/rle.js';

export interface MaskBenchResult {
  height: number;
  width: number;
  /** Mean time of encode + compress (counts to the COCO string) of one mask, ms. */
  rleEncodeMs: number;
  /** Mean time to decode it back to pixels, ms. */
  rleDecodeMs: number;
  /** Mean time of one pass that counts the mask's set pixels, ms. */
  scanMs: number;
  /** rleEncodeMs / scanMs, measured side by side. */
  rleEncodeVsScanRatio: number;
  /** Length of the COCO string against the mask's bytes. */
  rleBytes: number;
  /** Set pixels the scan counted (returned so the scan cannot be optimised away). */
  setPixels: number;
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

export function benchMask(opts: { quick?: boolean } = {}): MaskBenchResult {
  const height = 1080;
  const width = 1920;
  const runs = opts.quick ? 20 : 200;
  const m = discAndRing(height, width);
  let rle = encodeMaskCompressed(m, height, width);
  let set = 0;
  // Interleaved rounds, so a busy moment on the machine lands on both sides alike.
  let enc = 0;
  let scan = 0;
  let dec = 0;
  const rounds = 5;
  const out = new Uint8Array(height * width);
  for (let r = 0; r < rounds; r++) {
    enc += meanMs(runs / rounds, () => void (rle = encodeMaskCompressed(m, height, width)));
    scan += meanMs(runs / rounds, () => {
      let n = 0;
      for (let i = 0; i < m.length; i++) n += m[i]!;
      set = n;
    });
    dec += meanMs(runs / rounds, () => void decodeMask(rle, out));
  }
  return {
    height,
    width,
    rleEncodeMs: enc / rounds,
    rleDecodeMs: dec / rounds,
    scanMs: scan / rounds,
    rleEncodeVsScanRatio: enc / scan,
    rleBytes: rle.counts.length,
    setPixels: set,
    runs,
  };
}
