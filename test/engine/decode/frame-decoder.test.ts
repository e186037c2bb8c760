import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from 'cineseg';
import { FrameDecoder } from '../../../engine/src/decode/frame-decoder.js';
import { REAL_CLIPS, REPO, decodeAll, exists, ffmpegChildren, ffmpegMake, ffmpegRgbFrame, ffprobeFramePts, makeTmp, testClip, timing, vfrClip } from './media-fixtures.js';

const tmp = makeTmp();
const T = (name: string): string => join(tmp.dir, name);

beforeAll(() => {
  testClip(T('cfr.mp4'));
  // VFR: 1 s at 30 fps then 1 s at 10 fps, timestamps kept as they are.
  for (const ext of ['mp4', 'mkv']) vfrClip(T(`vfr.${ext}`));
  // ffmpeg 5.1 turns a `rotate` tag on stream copy into a display matrix.
  ffmpegMake(['-i', T('cfr.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', T('rot-a.mp4')]);
  ffmpegMake(['-i', T('cfr.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=270', T('rot-b.mp4')]);
  ffmpegMake(['-i', T('cfr.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=180', T('rot-c.mp4')]);
  testClip(T('clip.mkv'));
  testClip(T('clip.mov'));
  testClip(T('clip.webm'), { codec: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8'] });
  testClip(T('clip.avi'), { codec: ['-c:v', 'mjpeg', '-q:v', '3', '-pix_fmt', 'yuvj420p'] });
  testClip(T('clip.gif'), { fps: 10, codec: [] });
  // MPEG-TS starts its clock at 1.4 s: PTS must stay on the stream clock, like ffprobe's.
  testClip(T('clip.ts'), { seconds: 3, codec: ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15'] });
});
afterAll(() => tmp.cleanup());

describe('frame count and PTS equal ffprobe -show_frames', () => {
  for (const clip of REAL_CLIPS) {
    const name = clip.split('/').pop()!;
    const have = exists(clip);
    if (!have) console.warn(`skipping ${name}: samples/real/${name} is missing (the samples workspace copies it)`);
    it.runIf(have)(`real clip ${name} (scaled to 64x64)`, async () => {
      const expected = ffprobeFramePts(clip);
      const info = await probe(clip);
      const frames = await decodeAll(clip, { width: 64, height: 64 });
      expect(frames.length).toBe(expected.length);
      expect(info.frameCount).toBe(expected.length);
      expect(timing(frames)).toEqual(expected.map((pts, i) => [i, pts]));
      for (const f of frames) {
        expect([f.width, f.height, f.rgb.length]).toEqual([64, 64, 64 * 64 * 3]);
        expect([f.sourceWidth, f.sourceHeight]).toEqual([info.width, info.height]);
      }
    });
  }

  // Synthetic clips made by the samples workspace (test/global-setup.ts guarantees them); their
  // gt.json states the size and length the generator wrote.
  const generated = join(REPO, 'samples', 'generated');
  const genClips = exists(generated) ? readdirSync(generated).filter((d) => exists(join(generated, d, 'clip.mp4'))) : [];
  it('samples/generated holds synthetic clips', () => expect(genClips.length).toBeGreaterThan(0));
  for (const d of genClips) {
    it(`generated clip ${d}: size and length as in gt.json, PTS as ffprobe`, async () => {
      const clip = join(generated, d, 'clip.mp4');
      const gt = JSON.parse(readFileSync(join(generated, d, 'gt.json'), 'utf8')) as { videos: Array<{ width: number; height: number; length: number }> };
      const v = gt.videos[0]!;
      const info = await probe(clip);
      expect([info.width, info.height, info.frameCount]).toEqual([v.width, v.height, v.length]);
      const frames = await decodeAll(clip, { width: 32, height: 32 });
      expect(timing(frames)).toEqual(ffprobeFramePts(clip).map((pts, i) => [i, pts]));
      expect(frames.length).toBe(v.length);
    });
  }

  for (const name of ['cfr.mp4', 'vfr.mp4', 'vfr.mkv', 'clip.mkv', 'clip.mov', 'clip.webm', 'clip.avi', 'clip.gif', 'clip.ts', 'rot-a.mp4']) {
    it(name, async () => {
      const expected = ffprobeFramePts(T(name));
      const frames = await decodeAll(T(name));
      expect(frames.length).toBeGreaterThan(5);
      expect(timing(frames)).toEqual(expected.map((pts, i) => [i, pts]));
    });
  }

  it('VFR clip really has two frame intervals', async () => {
    const frames = await decodeAll(T('vfr.mkv'));
    // Matroska stores milliseconds, so 1/30 s gaps are 33 or 34 ms.
    const gaps = frames.slice(1).map((f, i) => (f.ptsUs - frames[i]!.ptsUs) / 1000);
    expect(gaps.filter((g) => g >= 33 && g <= 34).length).toBe(30); // 29 inside the 30 fps part, 1 into the 10 fps part
    expect(gaps.filter((g) => g >= 99 && g <= 101).length).toBe(frames.length - 1 - 30);
    expect(frames.length).toBeGreaterThan(35);
  });

  it('MPEG-TS PTS keep the stream start offset', async () => {
    const info = await probe(T('clip.ts'));
    const [first] = await decodeAll(T('clip.ts'), { maxFrames: 1 });
    expect(info.startTimeUs).toBeGreaterThan(0);
    expect(first!.ptsUs).toBe(info.startTimeUs);
  });
});

describe('pixels', () => {
  it('source-size frames equal ffmpeg rgb24 output', async () => {
    const frames = await decodeAll(T('cfr.mp4'), { maxFrames: 3 });
    for (const f of frames) expect(Buffer.from(f.rgb).equals(ffmpegRgbFrame(T('cfr.mp4'), f.index, 'null'))).toBe(true);
  });

  it('scaled frames equal ffmpeg scale=WxH:flags=bicubic', async () => {
    const [f] = await decodeAll(T('cfr.mp4'), { width: 40, height: 40, startFrame: 7, maxFrames: 1 });
    expect(f!.index).toBe(7);
    expect(Buffer.from(f!.rgb).equals(ffmpegRgbFrame(T('cfr.mp4'), 7, 'scale=40:40:flags=bicubic'))).toBe(true);
  });

  const turns: Array<[string, number, string]> = [
    ['rot-a.mp4', 270, 'transpose=cclock'],
    ['rot-b.mp4', 90, 'transpose=clock'],
    ['rot-c.mp4', 180, 'hflip,vflip'],
  ];
  for (const [name, cw, vf] of turns) {
    it(`rotated ${name}: probe says ${cw} degrees, frames come turned`, async () => {
      const info = await probe(T(name));
      expect(info.rotation).toBe(cw);
      expect([info.codedWidth, info.codedHeight]).toEqual([64, 48]);
      expect([info.width, info.height]).toEqual(cw === 180 ? [64, 48] : [48, 64]);
      const [f] = await decodeAll(T(name), { maxFrames: 1 });
      expect([f!.width, f!.height, f!.sourceWidth, f!.sourceHeight]).toEqual([info.width, info.height, info.width, info.height]);
      // Ground truth: the stored picture turned explicitly, autorotation off.
      expect(Buffer.from(f!.rgb).equals(ffmpegRgbFrame(T(name), 0, vf, ['-noautorotate']))).toBe(true);
    });
  }
});

describe('recycled frame buffers', () => {
  it('frames decoded into handed-back buffers are byte for byte the frames decoded fresh', async () => {
    // Frames larger than a pipe read (64 KiB), as live pictures are: each read fills one buffer.
    const clip = testClip(T('recycle.mp4'), { w: 480, h: 360, seconds: 2 });
    const fresh = await decodeAll(clip);
    const dec = await FrameDecoder.open(clip);
    const seen = new Set<Uint8Array>();
    let i = 0;
    try {
      for (let f = await dec.next(); f; f = await dec.next(), i++) {
        expect(Buffer.from(f.rgb).equals(Buffer.from(fresh[i]!.rgb)), `frame ${i}`).toBe(true);
        seen.add(f.rgb);
        dec.recycle(f);
        dec.recycle(f); // twice: must not be handed out twice
        dec.recycle({ rgb: new Uint8Array(7) }); // another size: ignored
      }
    } finally {
      await dec.destroy();
    }
    expect(i).toBe(fresh.length);
    // The decoder reads ahead of the consumer by two frames; beyond that, buffers come back
    // round instead of 60 new ones.
    expect(fresh.length).toBe(60);
    expect(seen.size).toBeLessThanOrEqual(6);
    for (const b of seen) expect(b.length).toBe(fresh[0]!.rgb.length);
  });
});

describe('flow control', () => {
  it("stays paused when ffmpeg exits with frames still in the pipe (Node resumes a dead child's stdout)", async () => {
    // Frames larger than a pipe read, so the read that completes frame 1 cannot complete frame 2 too;
    // and a clip short enough that ffmpeg writes it all and exits while we hold frame 1.
    const clip = testClip(T('exit-paused.mp4'), { w: 160, h: 160, frames: 3 });
    const frameBytes = 160 * 160 * 3;
    const dec = await FrameDecoder.open(clip, { readAhead: 1 });
    try {
      expect((await dec.next())?.index).toBe(0);
      const t0 = Date.now();
      while (ffmpegChildren().length > 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
      expect(ffmpegChildren()).toEqual([]);
      // Time for Node to see the exit and run its stdio flush.
      await new Promise((r) => setTimeout(r, 300));
      expect(dec.stats.bufferedFrames).toBe(1);
      expect(dec.stats.maxBufferedFrames).toBe(1);
      const rest = [await dec.next(), await dec.next(), await dec.next()];
      expect(rest.map((f) => f?.index ?? null)).toEqual([1, 2, null]);
      expect(rest[1]!.rgb.length).toBe(frameBytes);
    } finally {
      await dec.destroy();
    }
  });
});
