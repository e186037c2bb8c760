// Seeking: by index and by time, the keyframe jump and its fallback, range errors.
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameSource } from 'cineseg';
import { codeOf, decodeAll, ffmpegMake, ffprobeFramePts, makeTmp, testClip, timing, vfrClip } from './media-fixtures.js';

const tmp = makeTmp();
const T = (name: string): string => join(tmp.dir, name);

beforeAll(() => {
  testClip(T('cfr.mp4'));
  vfrClip(T('vfr.mkv'));
});
afterAll(() => tmp.cleanup());

describe('seeking', () => {
  it('startFrame keeps absolute indices and PTS', async () => {
    const pts = ffprobeFramePts(T('cfr.mp4'));
    const frames = await decodeAll(T('cfr.mp4'), { startFrame: 10 });
    expect(timing(frames)).toEqual(pts.slice(10).map((p, i) => [10 + i, p]));
  });

  it('startTimeUs on a VFR clip starts at the first frame at or after the time', async () => {
    const pts = ffprobeFramePts(T('vfr.mkv'));
    const target = pts[33]!; // inside the 10 fps part
    const frames = await decodeAll(T('vfr.mkv'), { startTimeUs: target, maxFrames: 3 });
    expect(timing(frames)).toEqual([33, 34, 35].map((i) => [i, pts[i]]));
    const between = await decodeAll(T('vfr.mkv'), { startTimeUs: pts[33]! + 1, maxFrames: 1 });
    expect(between[0]!.index).toBe(34);
  });

  it('maxFrames stops early, also past the end', async () => {
    expect((await decodeAll(T('cfr.mp4'), { maxFrames: 5 })).map((f) => f.index)).toEqual([0, 1, 2, 3, 4]);
    expect((await decodeAll(T('cfr.mp4'), { startFrame: 27, maxFrames: 100 })).map((f) => f.index)).toEqual([27, 28, 29]);
    expect(await decodeAll(T('cfr.mp4'), { maxFrames: 0 })).toEqual([]);
  });

  describe('keyframe jump for seeks far into a file', () => {
    beforeAll(() => {
      // 40 s with B-frames and 2 s GOPs; the .ts copy starts its clock at 1.4 s.
      testClip(T('long.mp4'), { w: 96, h: 64, seconds: 40, codec: ['-c:v', 'libx264', '-preset', 'fast', '-g', '60', '-bf', '3'] });
      ffmpegMake(['-i', T('long.mp4'), '-c', 'copy', '-bsf:v', 'h264_mp4toannexb', '-f', 'mpegts', T('long.ts')]);
    });

    for (const name of ['long.mp4', 'long.ts']) {
      it(`${name}: same frames (index, PTS, pixels) as decoding from the start`, async () => {
        const src = await FrameSource.open(T(name), { width: 24, height: 16 });
        const args: string[][] = [];
        try {
          for (const seek of [{ startFrame: 700 }, { startFrame: 1199 }, { startTimeUs: src.info!.startTimeUs + 30_000_000 + 1 }]) {
            const fast = await lastValueFrom(src.frames({ ...seek, maxFrames: 4, onDecoder: (d) => args.push(d.ffmpegArgs()) }).pipe(toArray()));
            const slow = await decodeAll(T(name), { ...seek, maxFrames: 4, width: 24, height: 16 });
            expect(timing(fast)).toEqual(timing(slow));
            expect(fast.length).toBeGreaterThan(0);
            fast.forEach((f, i) => expect(Buffer.from(f.rgb).equals(Buffer.from(slow[i]!.rgb))).toBe(true));
          }
        } finally {
          await src.destroy();
        }
        expect(args.length).toBe(3);
        // MPEG-TS has no seek index: a jump can overshoot, so it always decodes from the start.
        for (const a of args) expect(a.slice(0, a.indexOf('-i')).includes('-noaccurate_seek')).toBe(name.endsWith('.mp4'));
      });
    }

    it('a forced jump on MPEG-TS (may overshoot) still gives exactly the frames from the start', async () => {
      const times = ffprobeFramePts(T('long.ts'));
      for (const seek of [{ startFrame: 700 }, { startFrame: 1199 }]) {
        const jumped = await decodeAll(T('long.ts'), { ...seek, maxFrames: 3, width: 24, height: 16, frameTimesUs: times });
        const slow = await decodeAll(T('long.ts'), { ...seek, maxFrames: 3, width: 24, height: 16 });
        expect(timing(jumped)).toEqual(timing(slow));
        expect(jumped[0]!.index).toBe(seek.startFrame);
      }
    });

    it('near the start there is no jump; past the end is E_SEEK_OUT_OF_RANGE', async () => {
      const src = await FrameSource.open(T('long.mp4'), { width: 8, height: 8 });
      try {
        await src.prepareSeek();
        const near = src.decoder({ startFrame: 10 });
        expect(near.ffmpegArgs()).not.toContain('-noaccurate_seek');
        await near.destroy();
        expect(() => src.decoder({ startFrame: 1200 })).toThrow(/past the last frame/);
        expect(await codeOf(lastValueFrom(src.frames({ startTimeUs: 99_000_000 })))).toBe('E_SEEK_OUT_OF_RANGE');
      } finally {
        await src.destroy();
      }
    });
  });

  it('a start past the end is E_SEEK_OUT_OF_RANGE', async () => {
    expect(await codeOf(decodeAll(T('cfr.mp4'), { startFrame: 30 }))).toBe('E_SEEK_OUT_OF_RANGE');
    expect(await codeOf(decodeAll(T('cfr.mp4'), { startTimeUs: 60_000_000 }))).toBe('E_SEEK_OUT_OF_RANGE');
  });
});
