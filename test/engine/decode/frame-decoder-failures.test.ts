// Damaged input, backpressure and teardown of the frame decoder (timing and pixels are in
// frame-decoder.test.ts; split so each file stays fast).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../../engine/src/decode/frame-decoder.js';
import { codeOf, decodeAll, ffmpegChildren, ffmpegMake, ffprobeFramePts, makeTmp, readAll, testClip } from './media-fixtures.js';

const tmp = makeTmp();
const T = (name: string): string => join(tmp.dir, name);

beforeAll(() => {
  testClip(T('cfr.mp4'));
});
afterAll(() => tmp.cleanup());

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
      if (f.index < 60) await new Promise((r) => setTimeout(r, 25));
      if (f.index % 50 === 0) rssMax = Math.max(rssMax, process.memoryUsage().rss);
      f.rgb = new Uint8Array(0); // drop our reference so only the decoder's buffering counts
    });
    expect(frames.length).toBe(1000);
    expect(frames.every((f, i) => f.index === i)).toBe(true);
    const s = dec.stats;
    expect(s.framesDropped).toBe(0);
    expect(s.pauses).toBeGreaterThan(20); // ffmpeg was held back while the consumer slept
    expect(s.maxBufferedFrames).toBeLessThanOrEqual(3 + 2);
    // readAhead frames + frames completed by the read in flight + one being cut + pipe/socket buffers.
    expect(Math.max(maxBytes, s.maxBufferedBytes)).toBeLessThan(6 * frameBytes + 1024 * 1024);
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
  });
});
