import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CinesegError, FrameDecoder, isCinesegError, probe, type Frame } from 'cineseg';
import { REAL_CLIPS, REPO, exists, ffmpegChildren, ffmpegMake, ffmpegRgbFrame, ffprobeFramePts, makeTmp, testClip } from './media-fixtures.js';

async function readAll(dec: FrameDecoder, perFrame?: (f: Frame) => void | Promise<void>): Promise<Frame[]> {
  const out: Frame[] = [];
  try {
    for (;;) {
      const f = await dec.next();
      if (!f) break;
      out.push(f);
      await perFrame?.(f);
    }
  } finally {
    await dec.destroy();
  }
  return out;
}

/** Frames without pixels, so failing assertions print short. */
const timing = (frames: Frame[]): Array<[number, number]> => frames.map((f) => [f.index, f.ptsUs]);

async function decodeAll(file: string, opts: ConstructorParameters<typeof FrameDecoder>[1] = {}): Promise<Frame[]> {
  return readAll(await FrameDecoder.open(file, opts));
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CinesegError);
    return (e as CinesegError).code;
  }
  return 'no error';
}

const tmp = makeTmp();
const T = (name: string): string => join(tmp.dir, name);

beforeAll(() => {
  testClip(T('cfr.mp4'));
  // VFR: 1 s at 30 fps then 1 s at 10 fps, timestamps kept as they are.
  for (const ext of ['mp4', 'mkv']) {
    ffmpegMake([
      '-f', 'lavfi', '-i', 'testsrc2=s=64x48:r=30:d=1', '-f', 'lavfi', '-i', 'testsrc2=s=64x48:r=10:d=1',
      '-filter_complex', '[0][1]concat=n=2:v=1,settb=1/90000', '-fps_mode', 'vfr', '-c:v', 'libx264', '-preset', 'ultrafast', T(`vfr.${ext}`),
    ]);
  }
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

  it('a start past the end is E_SEEK_OUT_OF_RANGE', async () => {
    expect(await codeOf(decodeAll(T('cfr.mp4'), { startFrame: 30 }))).toBe('E_SEEK_OUT_OF_RANGE');
    expect(await codeOf(decodeAll(T('cfr.mp4'), { startTimeUs: 60_000_000 }))).toBe('E_SEEK_OUT_OF_RANGE');
  });
});

describe('damaged input', () => {
  it('corrupt bytes mid-file: frames before and after still arrive, errors counted', async () => {
    const src = testClip(T('long.ts'), { w: 160, h: 120, seconds: 4, codec: ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '20', '-bsf:v', 'h264_mp4toannexb'] });
    const bytes = readFileSync(src);
    const mid = Math.floor(bytes.length / 2);
    for (let i = mid; i < mid + 6000; i++) bytes[i] = (i * 7919) & 0xff;
    writeFileSync(T('damaged.ts'), bytes);
    const total = ffprobeFramePts(src).length;
    const dec = await FrameDecoder.open(T('damaged.ts'), { width: 32, height: 32 });
    const frames = await readAll(dec);
    expect(frames.length).toBeGreaterThan(total / 2);
    expect(frames.length).toBeLessThanOrEqual(total);
    expect(frames.at(-1)!.ptsUs).toBeGreaterThan(frames[0]!.ptsUs + 3_000_000); // the tail after the damage decodes
    expect(dec.stats.decodeErrors).toBeGreaterThan(0);
    expect(dec.stats.warnings.length).toBeGreaterThan(0);
  });

  it('truncated faststart mp4 (moov first) decodes the frames that exist', async () => {
    ffmpegMake(['-i', T('cfr.mp4'), '-c', 'copy', '-movflags', '+faststart', T('fast.mp4')]);
    const bytes = readFileSync(T('fast.mp4'));
    writeFileSync(T('fast-cut.mp4'), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const dec = await FrameDecoder.open(T('fast-cut.mp4'));
    const frames = await readAll(dec);
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.length).toBeLessThan(30);
    expect(frames.map((f) => f.index)).toEqual(frames.map((_, i) => i));
    // The loss is reported, not silent: ffmpeg's "partial file" counts as a decode error.
    expect(dec.stats.decodeErrors).toBeGreaterThan(0);
    expect(dec.stats.warnings.join('\n')).toMatch(/partial file/);
  });

  it('truncated mp4 with moov at the end is E_DECODE_CORRUPT', async () => {
    const bytes = readFileSync(T('cfr.mp4'));
    expect(bytes.subarray(0, 64).includes(Buffer.from('moov'))).toBe(false);
    writeFileSync(T('cut.mp4'), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    expect(await codeOf(decodeAll(T('cut.mp4')))).toBe('E_DECODE_CORRUPT');
  });

  it('bad inputs fail with stable codes', async () => {
    writeFileSync(T('empty.mp4'), '');
    writeFileSync(T('text.txt'), 'this is not a video\n'.repeat(50));
    writeFileSync(T('random.mp4'), Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 2654435761) >>> 24)));
    ffmpegMake(['-f', 'lavfi', '-i', 'sine=d=1', T('audio.m4a')]);
    expect(await codeOf(decodeAll(T('missing.mp4')))).toBe('E_INPUT_NOT_FOUND');
    expect(await codeOf(decodeAll(T('empty.mp4')))).toBe('E_INPUT_EMPTY');
    expect(await codeOf(decodeAll(T('text.txt')))).toBe('E_DECODE_CORRUPT');
    expect(await codeOf(decodeAll(T('random.mp4')))).toBe('E_DECODE_CORRUPT');
    expect(await codeOf(decodeAll(T('audio.m4a')))).toBe('E_DECODE_NO_VIDEO');
  });
});

describe('backpressure and teardown', () => {
  let big = '';
  beforeAll(() => {
    big = testClip(T('big.mkv'), { w: 640, h: 480, fps: 50, seconds: 20, codec: ['-c:v', 'mpeg4', '-q:v', '8'] });
  });

  it('a slow consumer keeps buffering bounded and loses no frame (1000 frames 640x480)', async () => {
    const frameBytes = 640 * 480 * 3;
    const dec = await FrameDecoder.open(big, { readAhead: 3 });
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    let maxBytes = 0;
    const frames = await readAll(dec, async (f) => {
      maxBytes = Math.max(maxBytes, dec.stats.bufferedBytes);
      // Slow for the first 60 frames (ffmpeg could race ahead), then as fast as possible.
      if (f.index < 60) await new Promise((r) => setTimeout(r, 15));
      if (f.index % 50 === 0) rssMax = Math.max(rssMax, process.memoryUsage().rss);
      f.rgb = new Uint8Array(0); // drop our reference so only the decoder's buffering counts
    });
    expect(frames.length).toBe(1000);
    expect(frames.every((f, i) => f.index === i)).toBe(true);
    const s = dec.stats;
    expect(s.framesDropped).toBe(0);
    expect(s.pauses).toBeGreaterThan(50);
    expect(s.maxBufferedFrames).toBeLessThanOrEqual(4);
    // readAhead frames + one being cut + pipe/socket buffers.
    expect(Math.max(maxBytes, s.maxBufferedBytes)).toBeLessThan(5 * frameBytes + 1024 * 1024);
    // 921 MB went through the pipe; the process must not have grown anywhere near that.
    expect(rssMax - rss0).toBeLessThan(150 * 1024 * 1024);
  });

  it('destroy() mid-stream kills ffmpeg and leaves no child', async () => {
    const dec = await FrameDecoder.open(big);
    for (let i = 0; i < 3; i++) expect((await dec.next())?.index).toBe(i);
    expect(ffmpegChildren().length).toBe(1);
    const pending = dec.next(); // resolves once frame 3 is ready or to null on destroy
    await dec.destroy();
    expect([3, undefined]).toContain((await pending)?.index);
    expect(ffmpegChildren()).toEqual([]);
    expect(await dec.next()).toBeNull();
  });

  it('breaking out of for-await destroys the decoder', async () => {
    const dec = await FrameDecoder.open(big, { width: 32, height: 32 });
    let n = 0;
    for await (const f of dec) {
      expect(f.index).toBe(n++);
      if (n === 4) break;
    }
    expect(ffmpegChildren()).toEqual([]);
  });
});

describe('errors are CinesegErrors', () => {
  it('bad options are E_USAGE', async () => {
    expect(await codeOf(FrameDecoder.open(T('cfr.mp4'), { width: 10 }))).toBe('E_USAGE');
    expect(await codeOf(FrameDecoder.open(T('cfr.mp4'), { width: 0, height: 4 }))).toBe('E_USAGE');
    expect(await codeOf(FrameDecoder.open(T('cfr.mp4'), { startFrame: -1 }))).toBe('E_USAGE');
    expect(isCinesegError(new CinesegError('E_USAGE', 'x'), 'E_USAGE')).toBe(true);
  });

  it('fixture files exist', () => {
    expect(statSync(T('cfr.mp4')).size).toBeGreaterThan(0);
    copyFileSync(T('cfr.mp4'), T('copy.mp4'));
  });
});
