import { describe, expect, it } from 'vitest';
import { decodeMask, encodeMask, encodeMaskCompressed, isCinesegError, rleArea, rleIou, rleToBbox } from 'cineseg';
import { countsArea, countsToMask, countsToString, forEachForegroundSegment, paintCounts, rleMerge, stringToCounts } from '../../../engine/src/mask/rle.js';

/** Row-major H x W mask with the rectangle rows [r0, r1) x cols [c0, c1) set. */
function rect(h: number, w: number, r0: number, r1: number, c0: number, c1: number): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let y = r0; y < r1; y++) for (let x = c0; x < c1; x++) m[y * w + x] = 1;
  return m;
}

/** Straightforward per-pixel column-major encoder, the reference the fast encoder must match. */
function naiveCounts(mask: Uint8Array, h: number, w: number): number[] {
  const counts: number[] = [];
  let p = 0;
  let c = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const v = mask[y * w + x] ? 1 : 0;
      if (v !== p) {
        counts.push(c);
        c = 0;
        p = v;
      }
      c++;
    }
  }
  counts.push(c);
  return counts;
}

/** Small deterministic PRNG so failures reproduce. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('COCO RLE: published pycocotools vectors', () => {
  // 25x25 masks with a 5x5 square; strings are pycocotools' output as quoted in the
  // pytorchcocotools test-suite (EncodeCases: start, center and end squares).
  it.each([
    [0, 5, '05d00000000d?'],
    [5, 10, 'R45d00000000b;'],
    [20, 25, 'X`05d00000000'],
  ])('square rows/cols [%i,%i) of 25x25 encodes to %s', (lo, hi, expected) => {
    const m = rect(25, 25, lo, hi, lo, hi);
    const enc = encodeMaskCompressed(m, 25, 25);
    expect(enc).toEqual({ size: [25, 25], counts: expected });
    expect(Array.from(decodeMask(enc))).toEqual(Array.from(m));
    expect(rleArea(enc)).toBe(25);
    expect(rleToBbox(enc)).toEqual([lo, lo, 5, 5]);
  });

  // A 50x70 mask as pycocotools encoded it, quoted in the README of armengot/COCOtoolsFORK
  // (python/README.md). Its counts must cover the image exactly, the picture is mirror
  // symmetric, and re-encoding the decoded mask must give the very same string.
  it('round-trips a published 50x70 pycocotools string', () => {
    const counts =
      '0g05b08J4M2N2NA^O1`0OCO=0E090H080IO68DH;>@C>a0_O_O`0j0OWOF<:CM72I24NL43JM92FN;1ENKO72L0LO91J0MO92INO0NO122OO0M031O000NO31OO11MO40N011MO41MO21L06OL021L06OL021L06OL021L060J040L060J040L060J040L060J040L060J040L060J040L060KO31L060KO31L06OL021L06OL021L06OL021MO41MO21MO40N100NO310O00M0310O00NO1220NO92IONO91KOMO72M0<1EO:2GN63KM34OLM73JF<;=1G_O_Ob0=AC`07EH=1IO71H090F0:1DO>1_O1b0>2N2N3L6H]O';
    const explicit = stringToCounts(counts);
    expect(explicit.reduce((a, b) => a + b, 0)).toBe(50 * 70);
    expect(Math.min(...explicit)).toBeGreaterThanOrEqual(0);
    const m = decodeMask({ size: [50, 70], counts });
    let asymmetric = 0;
    for (let y = 0; y < 50; y++) for (let x = 0; x < 70; x++) if (m[y * 70 + x] !== m[y * 70 + 69 - x]) asymmetric++;
    expect(asymmetric).toBe(0);
    expect(encodeMaskCompressed(m, 50, 70).counts).toBe(counts);
  });

  // ppwwyyxx/cocoapi tests/test_cases.py: toBbox on a full-image and a non-full-image mask.
  it('toBbox matches pycocotools on its regression cases', () => {
    expect(rleToBbox(encodeMask(Uint8Array.from([0, 1, 1, 1]), 2, 2))).toEqual([0, 0, 2, 2]);
    expect(rleToBbox(encodeMask(rect(10, 10, 2, 4, 3, 6), 10, 10))).toEqual([3, 2, 3, 2]);
  });
});

describe('COCO RLE: vectors derived by hand from maskApi.c', () => {
  it('3x3 with a 2x2 block at the bottom right', () => {
    // Column-major: col0 = 000, col1 = 011, col2 = 011 -> runs 0x4, 1x2, 0x1, 1x2.
    const m = Uint8Array.from([0, 0, 0, 0, 1, 1, 0, 1, 1]);
    const r = encodeMask(m, 3, 3);
    expect(r.counts).toEqual([4, 2, 1, 2]);
    // 4 -> '4', 2 -> '2', 1 -> '1', then 2 - counts[1] = 0 -> '0'.
    expect(countsToString(r.counts)).toBe('4210');
  });

  it('a leading foreground pixel gives a zero first count', () => {
    const r = encodeMask(Uint8Array.from([1, 0, 0, 0]), 2, 2);
    expect(r.counts).toEqual([0, 1, 3]);
    expect(countsToString(r.counts)).toBe('013');
  });

  it('encodes multi-character and negative deltas', () => {
    // 100 = 3*32 + 4 -> (4|0x20)+48 = 'T', then 3+48 = '3'; 3 -> '3'; 7 -> '7'.
    // i=3: 200 - counts[1] = 197 = 6*32 + 5 -> 'U' '6'. i=4: 40 - 7 = 33 = 1*32 + 1 -> 'Q' '1'.
    // i=5: 5 - 200 = -195 = -7*32 + 29 -> (29|0x20)+48 = 'm'; -7 = -1*32 + 25, 25 has 0x10 and
    // the rest is -1, so it ends there: 25+48 = 'I'.
    const counts = [100, 3, 7, 200, 40, 5];
    const s = countsToString(counts);
    expect(s).toBe('T337U6Q1mI');
    expect(stringToCounts(s)).toEqual(counts);
  });

  it('an all-zero and an all-one mask', () => {
    expect(encodeMask(new Uint8Array(6), 2, 3).counts).toEqual([6]);
    expect(encodeMask(new Uint8Array(6).fill(1), 2, 3).counts).toEqual([0, 6]);
    expect(rleToBbox(encodeMask(new Uint8Array(6), 2, 3))).toEqual([0, 0, 0, 0]);
  });
});

describe('COCO RLE: round trips and set operations', () => {
  it('random masks of odd sizes match the per-pixel reference and round-trip', () => {
    const rnd = lcg(7);
    for (let trial = 0; trial < 60; trial++) {
      const h = 1 + Math.floor(rnd() * 40);
      const w = 1 + Math.floor(rnd() * 40);
      const density = rnd();
      const m = new Uint8Array(h * w);
      // Blobby masks: flip state with low probability so runs are long, like real masks.
      let v = rnd() < density ? 1 : 0;
      for (let i = 0; i < m.length; i++) {
        if (rnd() < 0.08) v = 1 - v;
        m[i] = v;
      }
      const r = encodeMask(m, h, w);
      expect(r.counts).toEqual(naiveCounts(m, h, w));
      expect(stringToCounts(countsToString(r.counts))).toEqual(r.counts);
      expect(Array.from(decodeMask(r))).toEqual(Array.from(m));
      const area = m.reduce((a, b) => a + b, 0);
      expect(rleArea(r)).toBe(area);
    }
  });

  it('an unaligned view encodes the same as a copy', () => {
    const buf = new Uint8Array(1 + 8 * 12);
    const view = buf.subarray(1);
    view.set(rect(8, 12, 1, 6, 2, 9));
    expect(encodeMask(view, 8, 12).counts).toEqual(naiveCounts(view, 8, 12));
  });

  it('iou and merge agree with pixel counts', () => {
    const a = rect(20, 30, 2, 12, 3, 18);
    const b = rect(20, 30, 6, 16, 10, 25);
    const ra = encodeMask(a, 20, 30);
    const rb = encodeMask(b, 20, 30);
    let inter = 0;
    let union = 0;
    for (let i = 0; i < a.length; i++) {
      inter += a[i]! & b[i]!;
      union += a[i]! | b[i]!;
    }
    expect(rleIou(ra, rb)).toBeCloseTo(inter / union, 12);
    expect(rleIou(ra, ra)).toBe(1);
    expect(rleArea(rleMerge([ra, rb]))).toBe(union);
    expect(rleArea(rleMerge([ra, rb], true))).toBe(inter);
    const u = decodeMask(rleMerge([ra, rb]));
    for (let i = 0; i < a.length; i++) expect(u[i]).toBe(a[i]! | b[i]!);
  });

  it('rejects counts that do not cover the image and bad characters', () => {
    const bad = (fn: () => unknown, code: string): void => {
      try {
        fn();
        expect.unreachable();
      } catch (err) {
        expect(isCinesegError(err)).toBe(true);
        expect((err as { code: string }).code).toBe(code);
      }
    };
    bad(() => decodeMask({ size: [2, 2], counts: [1, 1] }), 'E_RLE_INVALID');
    bad(() => stringToCounts('0 5'), 'E_RLE_INVALID');
    bad(() => encodeMask(new Uint8Array(5), 2, 3), 'E_MASK_INVALID');
  });

  it('round-trips a 1080p mask with thousands of runs (npm run bench times it)', () => {
    const h = 1080;
    const w = 1920;
    const m = new Uint8Array(h * w);
    // A disc plus a ring: about 6k boundary pixels, like a large tracked object.
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const d = Math.hypot(x - 900, y - 500);
        m[y * w + x] = d < 300 || (d > 380 && d < 420) ? 1 : 0;
      }
    }
    const rle = encodeMaskCompressed(m, h, w);
    expect(rle.size).toEqual([h, w]);
    expect(Array.from(decodeMask(rle))).toEqual(Array.from(m));
  });
});

/**
 * Independent reference decoder (on purpose not the codec's walk): visit pixels in column-major
 * order, toggling at each count; pixels past the mask are never written.
 */
function naiveDecode(counts: ArrayLike<number>, h: number, w: number): Uint8Array {
  const m = new Uint8Array(h * w);
  let k = 0;
  for (let i = 0; i < counts.length; i++) {
    for (let j = 0; j < counts[i]!; j++, k++) {
      if (k >= h * w) return m;
      if (i % 2 === 1) m[(k % h) * w + Math.floor(k / h)] = 1;
    }
  }
  return m;
}

describe('COCO RLE: the one decoder every consumer uses', () => {
  it('decodeMask, countsToMask, paintCounts and countsArea agree with a per-pixel reference', () => {
    const rnd = lcg(19);
    for (let trial = 0; trial < 40; trial++) {
      const h = 1 + Math.floor(rnd() * 33);
      const w = 1 + Math.floor(rnd() * 33);
      const m = new Uint8Array(h * w);
      let v = rnd() < 0.5 ? 1 : 0;
      for (let i = 0; i < m.length; i++) {
        if (rnd() < 0.1) v = 1 - v;
        m[i] = v;
      }
      const { counts } = encodeMask(m, h, w);
      const ref = naiveDecode(counts, h, w);
      expect(Array.from(ref)).toEqual(Array.from(m)); // the reference itself reads masks right
      expect(Array.from(decodeMask({ size: [h, w], counts }))).toEqual(Array.from(ref));
      expect(Array.from(countsToMask(Uint32Array.from(counts), w, h))).toEqual(Array.from(ref));
      const rgba = new Uint8ClampedArray(4 * w * h);
      paintCounts(counts, w, h, rgba, [1, 2, 3, 200]);
      for (let i = 0; i < w * h; i++) expect([rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2], rgba[4 * i + 3]]).toEqual(ref[i] ? [1, 2, 3, 200] : [0, 0, 0, 0]);
      expect(countsArea(counts)).toBe(m.reduce((a, b) => a + b, 0));
      // A reused output buffer is cleared first.
      const out = new Uint8Array(h * w).fill(1);
      expect(Array.from(decodeMask({ size: [h, w], counts }, out))).toEqual(Array.from(ref));
    }
  });

  it('counts that claim more pixels than the mask never write outside it (nor wrap into the next row)', () => {
    // 2x2: background 3, then a run of 3 that starts on the last pixel (x=1, y=1) and runs past
    // the end. A walk without the bound would wrap pixel 4 onto (x=2, y=0) = row-major index 2.
    expect(Array.from(countsToMask([3, 3], 2, 2))).toEqual([0, 0, 0, 1]);
    const rgba = new Uint8Array(16);
    paintCounts([3, 3], 2, 2, rgba, [9, 9, 9, 9]);
    expect(Array.from(rgba)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9]);
    const seen: Array<[number, number, number]> = [];
    forEachForegroundSegment([1, 4, 10], 3, 2, (x, y0, n) => seen.push([x, y0, n]));
    expect(seen).toEqual([
      [0, 1, 2],
      [1, 0, 2],
    ]);
  });
});
