/**
 * HLS packaging with the real ffmpeg: made once per file content, copied when the clip is H.264,
 * transcoded otherwise, and served over HTTP from the cache.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRgbFrames } from '../../../engine/src/decode/ffmpeg.js';
import { probe } from '../../../engine/src/decode/probe.js';
import { HlsCache, type HlsProgress } from '../../../engine/src/server/hls-cache.js';
import { REPO_ROOT } from '../model/test-bundle.js';

const CLIP = join(REPO_ROOT, 'samples/generated/ultrasound-1/clip.mp4');
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-hls-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('HlsCache', () => {
  it('copies an H.264 clip once and hits the cache afterwards (also from a new cache object)', async () => {
    const cache = new HlsCache(join(tmp, 'a'));
    const [first, concurrent] = await Promise.all([cache.ensure(CLIP), cache.ensure(CLIP)]);
    expect(first.cacheHit).toBe(false);
    expect(first.copied).toBe(true);
    expect(concurrent.dir).toBe(first.dir);
    expect(cache.packagesMade).toBe(1);
    const playlist = readFileSync(join(first.dir, 'index.m3u8'), 'utf8');
    expect(playlist).toContain('#EXT-X-ENDLIST');
    const segs = readdirSync(first.dir).filter((f) => f.endsWith('.ts'));
    expect(segs.length).toBeGreaterThan(0);
    for (const s of segs) expect(playlist).toContain(s);
    // A copy keeps the clip's picture. (probe refuses a local playlist file, which may name any
    // file on the machine, so read a segment.)
    const info = await probe(join(first.dir, segs[0]!));
    expect(info.width).toBe(480);

    const again = await cache.ensure(CLIP);
    expect(again).toMatchObject({ cacheHit: true, dir: first.dir });
    const other = new HlsCache(join(tmp, 'a'));
    expect((await other.ensure(CLIP)).cacheHit).toBe(true);
    expect(other.packagesMade).toBe(0);
    // No temporary folders left behind.
    expect(readdirSync(join(tmp, 'a')).filter((d) => d.includes('.tmp-'))).toEqual([]);
  });

  it('transcodes a clip that is not H.264', async () => {
    const w = 64;
    const h = 48;
    const frames = Array.from({ length: 12 }, (_, i) => new Uint8Array(w * h * 3).fill(i * 20));
    const avi = join(tmp, 'mjpeg.avi');
    await encodeRgbFrames(frames, { width: w, height: h, fps: 12, output: avi });
    expect((await probe(avi)).codec).toBe('mjpeg');
    const cache = new HlsCache(join(tmp, 'b'));
    const pkg = await cache.ensure(avi);
    expect(pkg).toMatchObject({ cacheHit: false, copied: false });
    const seg = readdirSync(pkg.dir).find((f) => f.endsWith('.ts'))!;
    expect((await probe(join(pkg.dir, seg))).codec).toBe('h264');
  });

  it('destroy() cancels a packaging in progress and leaves no folder', async () => {
    const cache = new HlsCache(join(tmp, 'd'));
    const p = cache.ensure(join(REPO_ROOT, 'samples/real/ultrasound-catheter.mp4'));
    cache.destroy();
    await expect(p).rejects.toMatchObject({ code: 'E_HLS_FAILED' });
    expect(existsSync(join(tmp, 'd')) ? readdirSync(join(tmp, 'd')) : []).toEqual([]);
  });

  it('prepare() makes the package in the background and reports hash, package, ready; a cached one skips packaging', async () => {
    const cache = new HlsCache(join(tmp, 'p'));
    const seen: HlsProgress[] = [];
    const done = new Promise<void>((res) => cache.prepare(CLIP, (p) => (seen.push(p), p.stage === 'ready' || p.stage === 'failed') && res()));
    await done;
    expect(seen[0]).toEqual({ stage: 'hash', fraction: 0 });
    expect(seen.map((p) => p.stage).filter((st, i, a) => a[i - 1] !== st)).toEqual(['hash', 'package', 'ready']);
    expect(cache.packagesMade).toBe(1);
    const again: HlsProgress[] = [];
    await new Promise<void>((res) => cache.prepare(CLIP, (p) => (again.push(p), p.stage === 'ready') && res()));
    // The hash is remembered and the package found: nothing to report but the end.
    expect(again.map((p) => p.stage)).toEqual(['ready']);
    expect(cache.packagesMade).toBe(1);
    const failed: HlsProgress[] = [];
    await new Promise<void>((res) => cache.prepare(join(tmp, 'missing.mp4'), (p) => (failed.push(p), p.stage === 'failed') && res()));
    expect(failed.at(-1)).toEqual({ stage: 'failed', fraction: null, code: 'E_INPUT_NOT_FOUND' });
  });

  it('fails with E_INPUT_NOT_FOUND for a missing file and leaves nothing', async () => {
    const cache = new HlsCache(join(tmp, 'c'));
    await expect(cache.ensure(join(tmp, 'missing.mp4'))).rejects.toMatchObject({ code: 'E_INPUT_NOT_FOUND' });
    expect(existsSync(join(tmp, 'c'))).toBe(false);
  });
});
