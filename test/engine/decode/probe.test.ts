import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CinesegError, probe } from 'cineseg';
import { REAL_CLIPS, exists, ffmpegMake, ffprobeFramePts, ffprobeStream, makeTmp, testClip, vfrClip } from './media-fixtures.js';

const tmp = makeTmp();
const T = (name: string): string => join(tmp.dir, name);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CinesegError);
    expect((e as CinesegError).message).not.toContain('\n');
    return (e as CinesegError).code;
  }
  return 'no error';
}

const rate = (r: unknown): number => {
  const [n, d] = String(r).split('/').map(Number);
  return n! / (d ?? 1);
};

beforeAll(() => {
  testClip(T('cfr.mp4'), { w: 96, h: 64, fps: 25, seconds: 2 });
  ffmpegMake(['-i', T('cfr.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=270', T('rot.mp4')]);
  vfrClip(T('vfr.mkv'), { timebase90k: false });
  testClip(T('clip.webm'), { codec: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8'] });
  testClip(T('clip.avi'), { codec: ['-c:v', 'mjpeg', '-q:v', '3', '-pix_fmt', 'yuvj420p'] });
  testClip(T('clip.gif'), { fps: 10, codec: [] });
  testClip(T('clip.mov'));
});
afterAll(() => tmp.cleanup());

describe('probe', () => {
  for (const clip of REAL_CLIPS) {
    const name = clip.split('/').pop()!;
    const have = exists(clip);
    if (!have) console.warn(`skipping ${name}: samples/real/${name} is missing (the samples workspace copies it)`);
    it.runIf(have)(`real clip ${name} agrees with ffprobe`, async () => {
      const s = ffprobeStream(clip);
      const info = await probe(clip);
      expect([info.width, info.height, info.codec, info.pixFmt]).toEqual([s.width, s.height, s.codec_name, s.pix_fmt]);
      expect(info.fps).toBeCloseTo(rate(s.avg_frame_rate), 6);
      expect(info.frameCount).toBe(ffprobeFramePts(clip).length);
      expect(info.durationUs).toBe(Math.round(Number(s.duration) * 1e6));
      expect([info.rotation, info.isLive, info.variableFrameRate]).toEqual([0, false, false]);
    });
  }

  it('a constant-rate mp4', async () => {
    const info = await probe(T('cfr.mp4'));
    expect(info).toMatchObject({
      width: 96,
      height: 64,
      codedWidth: 96,
      codedHeight: 64,
      rotation: 0,
      fps: 25,
      frameCount: 50,
      durationUs: 2_000_000,
      codec: 'h264',
      pixFmt: 'yuv420p',
      isLive: false,
      variableFrameRate: false,
      startTimeUs: 0,
    });
  });

  it('rotation comes from the display matrix and swaps the displayed size', async () => {
    const info = await probe(T('rot.mp4'));
    expect(info.rotation).toBe(90);
    expect([info.width, info.height, info.codedWidth, info.codedHeight]).toEqual([64, 96, 96, 64]);
  });

  it('a VFR clip is flagged, and its frame count is counted when the container stores none', async () => {
    const info = await probe(T('vfr.mkv'));
    expect(ffprobeStream(T('vfr.mkv')).nb_frames).toBeUndefined(); // Matroska has no frame count
    expect(info.variableFrameRate).toBe(true);
    expect(info.frameCount).toBe(ffprobeFramePts(T('vfr.mkv')).length);
    expect(info.fps).toBeGreaterThan(10);
    expect(info.fps).toBeLessThan(30);
  });

  for (const [name, codec] of [
    ['clip.webm', 'vp9'],
    ['clip.avi', 'mjpeg'],
    ['clip.gif', 'gif'],
    ['clip.mov', 'h264'],
  ] as const) {
    it(`${name}: codec ${codec}, frame count equals decoded frames`, async () => {
      const info = await probe(T(name));
      expect(info.codec).toBe(codec);
      expect([info.width, info.height]).toEqual([64, 48]);
      expect(info.frameCount).toBe(ffprobeFramePts(T(name)).length);
    });
  }

  it('an image folder: natural order, fps option, count', async () => {
    const dir = T('seq');
    mkdirSync(dir);
    ffmpegMake(['-f', 'lavfi', '-i', 'testsrc2=s=40x30:r=10:d=1.2', '-start_number', '1', join(dir, 'frame%d.png')]);
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    const info = await probe(dir, { imageFps: 12 });
    expect(info).toMatchObject({ width: 40, height: 30, frameCount: 12, fps: 12, durationUs: 1_000_000, codec: 'png', isLive: false });
  });

  it('bad inputs give stable codes and one-line messages', async () => {
    writeFileSync(T('empty.mp4'), '');
    writeFileSync(T('text.txt'), 'not a video at all\n'.repeat(40));
    writeFileSync(T('random.bin'), Buffer.from(Array.from({ length: 40_000 }, (_, i) => (i * 2654435761) >>> 24)));
    ffmpegMake(['-f', 'lavfi', '-i', 'sine=d=1', T('audio.m4a')]);
    const whole = readFileSync(T('cfr.mp4'));
    writeFileSync(T('cut.mp4'), whole.subarray(0, whole.length >> 1)); // moov is at the end: gone
    mkdirSync(T('no-images'));
    expect(await codeOf(probe(T('missing.mp4')))).toBe('E_INPUT_NOT_FOUND');
    expect(await codeOf(probe(T('empty.mp4')))).toBe('E_INPUT_EMPTY');
    expect(await codeOf(probe(T('no-images')))).toBe('E_INPUT_EMPTY');
    expect(await codeOf(probe(T('text.txt')))).toBe('E_DECODE_CORRUPT');
    expect(await codeOf(probe(T('random.bin')))).toBe('E_DECODE_CORRUPT');
    expect(await codeOf(probe(T('cut.mp4')))).toBe('E_DECODE_CORRUPT');
    expect(await codeOf(probe(T('audio.m4a')))).toBe('E_DECODE_NO_VIDEO');
    expect(await codeOf(probe('gopher://example.org/x'))).toBe('E_INPUT_UNSUPPORTED');
  });

  describe('live inputs', () => {
    let server: Server;
    let port = 0;
    const sockets = new Set<import('node:net').Socket>();
    beforeAll(async () => {
      // Accepts connections and never sends a byte: the case that hangs naive tools.
      server = createServer((s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as import('node:net').AddressInfo).port;
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    });

    it('a server that never sends is E_LIVE_CONNECT_TIMEOUT within the timeout', async () => {
      const t0 = Date.now();
      expect(await codeOf(probe(`tcp://127.0.0.1:${port}`, { timeoutMs: 800 }))).toBe('E_LIVE_CONNECT_TIMEOUT');
      expect(Date.now() - t0).toBeLessThan(5000);
    });

    it('a refused connection is E_LIVE_CONNECT_FAILED', async () => {
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const freePort = (closed.address() as import('node:net').AddressInfo).port;
      await new Promise((r) => closed.close(r));
      expect(await codeOf(probe(`tcp://127.0.0.1:${freePort}`, { timeoutMs: 5000 }))).toBe('E_LIVE_CONNECT_FAILED');
    });
  });
});
