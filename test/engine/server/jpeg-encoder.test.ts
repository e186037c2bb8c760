/**
 * The live view's JPEG encoder (one long-lived ffmpeg): every encode gets its own frame's picture,
 * whether frames come one at a time (a lone frame is not held back waiting for the next, also while
 * ffmpeg still probes its input) or in a burst; copies pushed to get a frame out never answer
 * another frame. Pictures are decoded back with ffmpeg and compared by colour.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { JpegEncoder } from '../../../engine/src/server/jpeg-encoder.js';

const W = 160;
const H = 120;

function solid(r: number, g: number, b: number): Uint8Array {
  const a = new Uint8Array(W * H * 3);
  for (let i = 0; i < a.length; i += 3) [a[i], a[i + 1], a[i + 2]] = [r, g, b];
  return a;
}

/** Mean colour of each JPEG, all decoded by one ffmpeg run (they are concatenated as an MJPEG stream). */
function meanColours(jpegs: Uint8Array[]): [number, number, number][] {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'image2pipe', '-c:v', 'mjpeg', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], {
    input: Buffer.concat(jpegs),
    maxBuffer: 1 << 26,
  });
  expect(r.status).toBe(0);
  const n = W * H * 3;
  expect(r.stdout.length).toBe(n * jpegs.length);
  return jpegs.map((_, k) => {
    const m = [0, 0, 0];
    for (let i = 0; i < n; i++) m[i % 3]! += r.stdout[k * n + i]!;
    return m.map((v) => Math.round(v / (W * H))) as [number, number, number];
  });
}

const colours: [number, number, number][] = [
  [200, 30, 30],
  [30, 200, 30],
  [30, 30, 200],
  [200, 200, 30],
  [30, 200, 200],
  [200, 30, 200],
  [120, 120, 120],
  [240, 240, 240],
];

function near(a: readonly number[], b: readonly number[]): boolean {
  return a.every((v, i) => Math.abs(v - b[i]!) <= 12);
}

describe('JpegEncoder', () => {
  it('answers each frame with its own picture, alone or in a burst', async () => {
    const enc = new JpegEncoder(W, H, 5);
    const got: Uint8Array[] = [];
    const want: [number, number, number][] = [];
    try {
      // One at a time, each awaited before the next is sent: from the very first frame.
      for (const c of colours.slice(0, 4)) {
        const jpeg = await enc.encode(solid(...c));
        expect([jpeg[0], jpeg[1], jpeg.at(-2), jpeg.at(-1)]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
        got.push(jpeg);
        want.push(c);
      }
      // A burst: all sent before any answer.
      got.push(...(await Promise.all(colours.map((c) => enc.encode(solid(...c))))));
      want.push(...colours);
      // Spaced out again after the burst.
      for (const c of colours.slice(4)) {
        await new Promise((r) => setTimeout(r, 40));
        got.push(await enc.encode(solid(...c)));
        want.push(c);
      }
    } finally {
      await enc.destroy();
    }
    meanColours(got).forEach((m, i) => expect(near(m, want[i]!), `picture ${i}: ${m} vs ${want[i]}`).toBe(true));
    await expect(enc.encode(solid(0, 0, 0))).rejects.toMatchObject({ code: 'E_CANCELLED' });
  });

  it('writes copies only to get the first pictures out, not when the event loop is slow to read', async () => {
    const enc = new JpegEncoder(W, H, 5);
    const got: Uint8Array[] = [];
    const want: [number, number, number][] = [];
    try {
      got.push(await enc.encode(solid(...colours[0]!)));
      want.push(colours[0]!);
      const copiesAtStart = enc.copiesWritten;
      for (const c of colours.slice(1)) {
        const p = enc.encode(solid(...c));
        // The model's graphs run on the event loop: 40 ms in which nothing is read or written.
        const until = performance.now() + 40;
        while (performance.now() < until);
        got.push(await p);
        want.push(c);
      }
      expect(enc.copiesWritten).toBe(copiesAtStart);
      expect(enc.jpegsOut).toBe(1 + copiesAtStart + colours.length - 1);
    } finally {
      await enc.destroy();
    }
    meanColours(got).forEach((m, i) => expect(near(m, want[i]!), `picture ${i}: ${m} vs ${want[i]}`).toBe(true));
  });
});
