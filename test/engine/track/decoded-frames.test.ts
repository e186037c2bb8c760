/**
 * DecodedFrames bounded: random access anywhere in a clip through seeks and backward windows
 * gives exactly the frames of one sequential decode, while holding at most `cacheFrames` frames.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodedFrames } from '../../../engine/src/track/decoded-frames.js';
import { ffmpegChildren } from '../decode/media-fixtures.js';
import { AQUARIUM } from './fixtures.js';

const S = 64;
let all: Uint8Array[] = [];
let pts: number[] = [];

beforeAll(async () => {
  const d = await DecodedFrames.open(AQUARIUM, S);
  for (let i = 0; i < d.numFrames; i++) all.push((await d.getFrame(i)).slice());
  pts = Array.from({ length: d.numFrames }, (_, i) => d.ptsUs(i)!);
  await d.destroy();
});
afterAll(() => {
  all = [];
});

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe('DecodedFrames, bounded', () => {
  it('knows every PTS up front and serves any frame, forward and backward, bit-exact', async () => {
    const d = await DecodedFrames.open(AQUARIUM, S, { cacheFrames: 12, window: 6 });
    try {
      expect(d.numFrames).toBe(all.length);
      expect(Array.from({ length: d.numFrames }, (_, i) => d.ptsUs(i))).toEqual(pts);
      // Far jumps (seeks past the fast-seek threshold), then a full reverse pass, then forward again.
      for (const i of [200, 3, 150, 226, 100]) expect(same(await d.getFrame(i), all[i]!), `frame ${i}`).toBe(true);
      const before = d.stats.decodeRuns;
      for (let i = d.numFrames - 1; i >= 0; i--) expect(same(await d.getFrame(i), all[i]!), `frame ${i}`).toBe(true);
      // One seek per window of 6, not one per frame.
      expect(d.stats.decodeRuns - before).toBeLessThanOrEqual(Math.ceil(d.numFrames / 6) + 1);
      for (let i = 40; i < 120; i++) expect(same(await d.getFrame(i), all[i]!), `frame ${i}`).toBe(true);
      expect(d.stats.maxHeld).toBeLessThanOrEqual(12);
    } finally {
      await d.destroy();
    }
    expect(ffmpegChildren()).toEqual([]);
  });

  it('concurrent requests (tracking + prefetch) are served in order', async () => {
    const d = await DecodedFrames.open(AQUARIUM, S, { cacheFrames: 8 });
    try {
      const got = await Promise.all([180, 181, 179, 10, 11].map((i) => d.getFrame(i)));
      expect(got.map((f, k) => same(f, all[[180, 181, 179, 10, 11][k]!]!))).toEqual([true, true, true, true, true]);
    } finally {
      await d.destroy();
    }
  });
});
