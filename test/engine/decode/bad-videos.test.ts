/**
 * The committed bad input corpus (test/fixtures/bad-videos, manifest.json) through probe(), a
 * FrameSource decode at source size and DecodedFrames at the model's size (what `cineseg track`
 * and a server session open): each file gets exactly its manifest's code or outcome, and no
 * ffmpeg child is left behind. The CLI and the server run the same corpus in their own tests.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CinesegError, DecodedFrames, FrameSource, probe, type Frame } from 'cineseg';
import { FrameDecoder } from '../../../engine/src/decode/frame-decoder.js';
import { BAD_VIDEOS, isCode, loadCorpus } from './bad-video-corpus.js';
import { ffmpegChildren } from './media-fixtures.js';

const corpus = loadCorpus();
/** The model's input size (the shipped tiny bundle); only the scale of DecodedFrames depends on it. */
const S = 256;

async function outcome<T>(p: Promise<T>): Promise<{ ok: T } | { code: string; message: string }> {
  try {
    return { ok: await p };
  } catch (e) {
    if (!(e instanceof CinesegError)) throw e;
    return { code: e.code, message: e.message };
  }
}

async function decodeAll(path: string): Promise<{ frames: Frame[]; decodeErrors: number }> {
  const src = await FrameSource.open(path);
  const dec = src.decoder();
  const frames: Frame[] = [];
  try {
    for (;;) {
      const f = await dec.next();
      if (!f) break;
      frames.push(f);
    }
    return { frames, decodeErrors: dec.stats.decodeErrors };
  } finally {
    await dec.destroy();
    await src.destroy();
  }
}

describe('the corpus itself', () => {
  it('has at least 25 files, each listed in the manifest, each small, all under 1 MB', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(25);
    const onDisk = readdirSync(BAD_VIDEOS).filter((f) => !['manifest.json', 'make.mjs'].includes(f));
    expect(onDisk.sort()).toEqual(corpus.map((c) => c.file).sort());
    let total = 0;
    for (const c of corpus) {
      const size = statSync(c.path).size;
      expect(size, c.file).toBeLessThan(20_000);
      total += size;
    }
    expect(total).toBeLessThan(1024 * 1024);
    // Both kinds are in it: inputs that must be refused and odd ones that must work.
    expect(corpus.filter((c) => isCode(c.expect.track)).length).toBeGreaterThanOrEqual(25);
    expect(corpus.filter((c) => c.expect.track === 'ok').length).toBeGreaterThanOrEqual(10);
  });
});

describe.each(corpus)('$file', (c) => {
  it(`probe: ${typeof c.expect.probe === 'string' ? c.expect.probe : 'reports the manifest facts'}`, async () => {
    const r = await outcome(probe(c.path));
    if (typeof c.expect.probe === 'string') {
      expect('code' in r ? r.code : `no error (${JSON.stringify(r.ok)})`).toBe(c.expect.probe);
      if ('code' in r) expect(r.message).not.toContain('\n');
    } else {
      if ('code' in r) throw new Error(`probe failed: ${r.code}: ${r.message}`);
      expect(r.ok).toMatchObject(c.expect.probe);
    }
  });

  it(`decode at source size: ${typeof c.expect.decode === 'string' ? c.expect.decode : 'frames as listed'}`, async () => {
    const want = c.expect.decode;
    const r = await outcome(decodeAll(c.path));
    expect(ffmpegChildren()).toEqual([]);
    if (typeof want === 'string') {
      expect('code' in r ? r.code : `no error (${(r as { ok: { frames: Frame[] } }).ok.frames.length} frames)`).toBe(want);
      return;
    }
    if ('code' in r) throw new Error(`decode failed: ${r.code}: ${r.message}`);
    const { frames, decodeErrors } = r.ok;
    if (want.frames !== undefined) expect(frames.length).toBe(want.frames);
    if (want.minFrames !== undefined) expect(frames.length).toBeGreaterThanOrEqual(want.minFrames);
    if (want.maxFrames !== undefined) expect(frames.length).toBeLessThanOrEqual(want.maxFrames);
    if (want.decodeErrors) expect(decodeErrors).toBeGreaterThan(0);
    // Indices are the decoded sequence, PTS never go back, every frame is whole.
    expect(frames.map((f) => f.index)).toEqual(frames.map((_, i) => i));
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.ptsUs).toBeGreaterThan(frames[i - 1]!.ptsUs);
    for (const f of frames) expect(f.rgb.length).toBe(f.width * f.height * 3);
    if (want.width !== undefined) expect([frames[0]!.width, frames[0]!.height]).toEqual([want.width, want.height]);
    if (want.orientation) {
      // The same picture from ffmpeg itself, stored orientation turned explicitly.
      const truth = execFileSync('ffmpeg', ['-v', 'error', '-noautorotate', '-i', c.path, '-vf', want.orientation, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
      expect(Buffer.from(frames[0]!.rgb).equals(truth)).toBe(true);
    }
  });

  it(`track-size decode (CLI track, server session): ${c.expect.track}`, async () => {
    const r = await outcome(
      (async () => {
        const d = await DecodedFrames.open(c.path, S);
        try {
          await d.decodeAll();
          const first = await d.getFrame(0);
          return { n: d.numFrames, bytes: first.length };
        } finally {
          await d.destroy();
        }
      })(),
    );
    expect(ffmpegChildren()).toEqual([]);
    if (c.expect.track === 'ok') {
      if ('code' in r) throw new Error(`DecodedFrames failed: ${r.code}: ${r.message}`);
      expect(r.ok.bytes).toBe(S * S * 3);
      if (typeof c.expect.probe === 'object' && typeof c.expect.probe.frameCount === 'number') expect(r.ok.n).toBe(c.expect.probe.frameCount);
    } else {
      expect('code' in r ? r.code : 'no error').toBe(c.expect.track);
    }
  });
});

describe('huge headers are refused before anything is allocated', () => {
  it('an unprobed decoder (live, stdin, library use) gets E_DECODE_TOO_LARGE from ffmpeg itself', async () => {
    // No probe: ffmpeg's own decoder refuses the picture (-max_pixels), not a failed frame later.
    const dec = await FrameDecoder.open(`${BAD_VIDEOS}/huge-12000x12000.mkv`);
    const rss0 = process.memoryUsage().rss;
    const r = await outcome(dec.next());
    await dec.destroy();
    expect('code' in r ? r.code : 'no error').toBe('E_DECODE_TOO_LARGE');
    // 12000 x 12000 x 3 bytes would be 432 MB.
    expect(process.memoryUsage().rss - rss0).toBeLessThan(100 * 1024 * 1024);
  });

  it('asking to scale to a size over the limit is E_USAGE, before ffmpeg starts', async () => {
    const r = await outcome(FrameDecoder.open(`${BAD_VIDEOS}/single-frame.mp4`, { width: 16384, height: 16384 }));
    expect('code' in r ? r.code : 'no error').toBe('E_USAGE');
  });
});

describe('a live stream that stalls', () => {
  it('delivers what it sent, then fails with E_LIVE_STALLED while the connection stays open', async () => {
    const entry = corpus.find((c) => c.expect.live)!;
    const payload = readFileSync(entry.path);
    const held: Socket[] = [];
    // Sends 2 s of valid MPEG-TS at once, then nothing, and never closes the connection.
    const server = createServer((s) => {
      held.push(s);
      s.write(payload);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const t0 = Date.now();
      const dec = await FrameDecoder.open(`tcp://127.0.0.1:${(server.address() as AddressInfo).port}`, { stallTimeoutMs: 1500 });
      let frames = 0;
      const r = await outcome(
        (async () => {
          for (;;) {
            const f = await dec.next();
            if (!f) return 'ended';
            frames++;
          }
        })(),
      );
      const stillOpen = held.some((s) => !s.destroyed); // it stalled; nobody hung up
      await dec.destroy();
      expect('code' in r ? r.code : r.ok).toBe(entry.expect.live);
      expect(frames).toBeGreaterThan(0);
      expect(stillOpen).toBe(true);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(ffmpegChildren()).toEqual([]);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
