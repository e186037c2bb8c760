import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeMask, rleArea, rleToBbox } from 'cineseg';
import { createScene, writeClip, type GtFile, type PromptsFile } from '../../samples/src/clip-writer.js';
import { GENERATOR_VERSION, type ClipKind } from '../../samples/src/scene.js';
import { decodeFrames, decodeGray, GENERATED, probe, sha256 } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'cineseg-samples-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const DEFAULT_SET: Array<[ClipKind, number]> = [
  ['ultrasound', 1],
  ['ultrasound', 2],
  ['ultrasound', 3],
  ['endoscopy', 1],
  ['endoscopy', 2],
  ['endoscopy', 3],
];

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

describe('generated default set (samples/generated, made by the global setup)', () => {
  it.each(DEFAULT_SET)('%s-%i: clip.mp4 decodes to the stated frame count, size and fps', (kind, seed) => {
    const dir = join(GENERATED, `${kind}-${seed}`);
    const gt = readJson<GtFile>(join(dir, 'gt.json'));
    const v = gt.videos[0]!;
    expect(gt.info.version).toBe(GENERATOR_VERSION);
    expect(v).toMatchObject({ id: 1, width: 480, height: 360, fps: 30, file: 'clip.mp4', kind, seed });
    expect(v.length).toBeGreaterThanOrEqual(60);
    expect(v.length).toBeLessThanOrEqual(90);
    const p = probe(join(dir, 'clip.mp4'));
    expect(p).toEqual({ width: 480, height: 360, frames: v.length, fps: '30/1', codec: 'h264' });
  });

  it.each(DEFAULT_SET)('%s-%i: gt.json is consistent and prompts sit inside their masks', (kind, seed) => {
    const dir = join(GENERATED, `${kind}-${seed}`);
    const gt = readJson<GtFile>(join(dir, 'gt.json'));
    const prompts = readJson<PromptsFile>(join(dir, 'prompts.json'));
    const { width: W, height: H, length } = gt.videos[0]!;
    expect(gt.annotations.map((a) => a.object_id)).toEqual(gt.annotations.map((_, k) => k + 1));
    expect(prompts.objects.map((o) => o.object_id)).toEqual(gt.annotations.map((a) => a.object_id));
    const catIds = new Set(gt.categories.map((c) => c.id));
    for (const d of gt.info.dropouts) {
      expect(gt.annotations.some((a) => a.object_id === d.object_id)).toBe(true);
      expect(d.start).toBeGreaterThan(0); // never on the prompt frame
      expect(d.end).toBeGreaterThan(d.start);
      expect(d.end).toBeLessThanOrEqual(length);
    }
    for (const a of gt.annotations) {
      expect(catIds.has(a.category_id)).toBe(true);
      expect(a.segmentations).toHaveLength(length);
      expect(a.areas).toHaveLength(length);
      expect(a.bboxes).toHaveLength(length);
      a.segmentations.forEach((s, t) => {
        if (s === null) {
          expect(a.areas[t]).toBeNull();
          expect(a.bboxes[t]).toBeNull();
          return;
        }
        expect(s.size).toEqual([H, W]);
        expect(rleArea(s)).toBe(a.areas[t]);
        expect(rleArea(s)).toBeGreaterThan(0);
        expect(rleToBbox(s)).toEqual(a.bboxes[t]);
      });
    }
    for (const p of prompts.objects) {
      const ann = gt.annotations.find((a) => a.object_id === p.object_id)!;
      const seg = ann.segmentations[p.frame];
      expect(seg, `object ${p.object_id} visible on its prompt frame`).not.toBeNull();
      const mask = decodeMask(seg!);
      const [px, py] = p.point;
      // The click is well inside: its whole 5x5 neighbourhood belongs to the object.
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) expect(mask[(py + dy) * W + px + dx]).toBe(1);
      // The box is tight: it equals the COCO bbox in corner form.
      const [bx, by, bw, bh] = ann.bboxes[p.frame]!;
      expect(p.box).toEqual([bx, by, bx + bw, by + bh]);
      expect(p.area).toBe(ann.areas[p.frame]);
      expect(p.args.point).toEqual(['--point', `${p.frame}:${px},${py}`]);
      expect(p.args.box).toEqual(['--box', `${p.frame}:${p.box.join(',')}`]);
      expect(p.args.mask).toEqual(['--mask', `${p.frame}:${p.mask}`]);
      // The PNG (decoded by ffmpeg) is the RLE mask at 0/255.
      const png = decodeGray(join(dir, p.mask));
      expect(png.length).toBe(W * H);
      let mismatches = 0;
      for (let i = 0; i < mask.length; i++) if (png[i] !== mask[i]! * 255) mismatches++;
      expect(mismatches).toBe(0);
    }
  });

  it('clip.mp4 frames are the rendered frames, in order (codec loss only)', () => {
    for (const [kind, seed] of [
      ['ultrasound', 2],
      ['endoscopy', 1],
    ] as const) {
      const dir = join(GENERATED, `${kind}-${seed}`);
      const gt = readJson<GtFile>(join(dir, 'gt.json'));
      const scene = createScene({ kind, seed, width: 480, height: 360, fps: 30 });
      expect(scene.spec.frames).toBe(gt.videos[0]!.length);
      const t = 30;
      const [decoded] = decodeFrames(join(dir, 'clip.mp4'), 480, 360, t, 1);
      const rendered = new Map([t - 1, t, t + 1].map((i) => [i, scene.renderFrame(i)]));
      const mad = (i: number): number => {
        const ref = rendered.get(i)!.rgb;
        let s = 0;
        for (let k = 0; k < ref.length; k++) s += Math.abs(ref[k]! - decoded![k]!);
        return s / ref.length;
      };
      const here = mad(t);
      expect(here, `${kind}: mean abs error vs the rendered frame`).toBeLessThan(kind === 'ultrasound' ? 12 : 4);
      expect(here).toBeLessThan(mad(t - 1));
      expect(here).toBeLessThan(mad(t + 1));
      // The GT of that frame matches what the scene says for it.
      const masks = rendered.get(t)!.masks;
      gt.annotations.forEach((a, k) => {
        const seg = a.segmentations[t];
        const area = masks[k]!.reduce((x, y) => x + y, 0);
        if (!seg) expect(area).toBe(0);
        else expect(Array.from(decodeMask(seg))).toEqual(Array.from(masks[k]!));
      });
    }
  });
});

describe('writeClip', () => {
  const spec = { kind: 'ultrasound' as const, seed: 4242, width: 128, height: 96, fps: 24, frames: 6 };

  it('same seed -> identical files; another seed -> different frames', async () => {
    const a = await writeClip(spec, join(tmp, 'a'));
    const b = await writeClip(spec, join(tmp, 'b'));
    const c = await writeClip({ ...spec, seed: 4243 }, join(tmp, 'c'));
    expect(a.skipped).toBe(false);
    expect(a.frames).toBe(6);
    for (const f of ['gt.json', 'prompts.json', 'mask-obj1-f0.png']) {
      expect(sha256(readFileSync(join(a.dir, f)))).toBe(sha256(readFileSync(join(b.dir, f))));
    }
    const ga = readJson<GtFile>(join(a.dir, 'gt.json'));
    const gc = readJson<GtFile>(join(c.dir, 'gt.json'));
    expect(ga.info.raw_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(gc.info.raw_sha256).not.toBe(ga.info.raw_sha256);
    expect(probe(join(a.dir, 'clip.mp4'))).toEqual({ width: 128, height: 96, frames: 6, fps: '24/1', codec: 'h264' });
  });

  it('skips an up-to-date clip, re-renders a stale or different one', async () => {
    const out = join(tmp, 'skip');
    const first = await writeClip(spec, out);
    const mtime = statSync(join(first.dir, 'clip.mp4')).mtimeMs;
    const again = await writeClip(spec, out);
    expect(again.skipped).toBe(true);
    expect(statSync(join(first.dir, 'clip.mp4')).mtimeMs).toBe(mtime);
    // Another frame count is another clip.
    expect((await writeClip({ ...spec, frames: 5 }, out)).skipped).toBe(false);
    // A clip from another generator version is re-rendered.
    const gtFile = join(first.dir, 'gt.json');
    const gt = readJson<GtFile>(gtFile);
    gt.info.version = '0.0.0-old';
    writeFileSync(gtFile, JSON.stringify(gt));
    expect((await writeClip({ ...spec, frames: 5 }, out)).skipped).toBe(false);
    expect(readJson<GtFile>(gtFile).info.version).toBe(GENERATOR_VERSION);
    expect((await writeClip({ ...spec, frames: 5 }, out, { skipExisting: false })).skipped).toBe(false);
    // Asking for the seed's default length again must not keep the 5-frame clip.
    const { frames: _omit, ...defaultLength } = spec;
    const d = await writeClip(defaultLength, out);
    expect(d.skipped).toBe(false);
    expect(d.frames).toBeGreaterThanOrEqual(60);
    expect((await writeClip(defaultLength, out)).skipped).toBe(true);
  });

  it('--raw writes the exact rendered frames and masks', async () => {
    const r = await writeClip({ ...spec, kind: 'endoscopy', frames: 3 }, join(tmp, 'raw'), { raw: true });
    const raw = readFileSync(join(r.dir, 'frames.u8'));
    expect(raw.length).toBe(3 * 128 * 96 * 3);
    const gt = readJson<GtFile>(join(r.dir, 'gt.json'));
    expect(sha256(raw)).toBe(gt.info.raw_sha256);
    const scene = createScene({ ...spec, kind: 'endoscopy', frames: 3 });
    const last = scene.renderFrame(2);
    expect(sha256(raw.subarray(128 * 96 * 3 * 2))).toBe(sha256(last.rgb));
    const masks = readFileSync(join(r.dir, 'masks.u8'));
    const k = gt.annotations.length;
    expect(masks.length).toBe(3 * k * 128 * 96);
    last.masks.forEach((m, j) => {
      const off = (2 * k + j) * 128 * 96;
      expect(sha256(masks.subarray(off, off + 128 * 96))).toBe(sha256(m));
    });
  });

  it('rejects sizes the codec cannot take', () => {
    expect(() => createScene({ ...spec, width: 127 })).toThrow(RangeError);
    expect(() => createScene({ ...spec, frames: 0 })).toThrow(RangeError);
  });
});
