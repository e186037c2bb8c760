import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { exportCoco } from '../../../engine/src/export/coco.js';
import { exportVis } from '../../../engine/src/export/vis.js';
import { fixtureVis, masksOf, OVERLAP_ID } from './fixture-vis.js';

const READER = fileURLToPath(new URL('./pycoco_rle.py', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cineseg-coco-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha1 = (m: Uint8Array) => createHash('sha1').update(m).digest('hex');
const pyRead = (path: string) => JSON.parse(execFileSync('/usr/bin/python3', [READER, path], { encoding: 'utf8' })) as Record<string, unknown>[];

describe('COCO export', () => {
  it('one image per frame, one RLE annotation per object per non-empty frame; an independent reader gets the same masks', () => {
    const vis = fixtureVis(8);
    const out = join(dir, 'coco.json');
    const coco = exportCoco(vis, out);
    const file = JSON.parse(readFileSync(out, 'utf8')) as typeof coco;
    expect(file.images).toHaveLength(8);
    expect(file.images[3]).toMatchObject({ id: 4, width: vis.videos[0]!.width, height: vis.videos[0]!.height, frame_index: 3 });
    expect(file.categories.map((c) => c.id).sort()).toEqual([1, 2]);
    const masks = masksOf(vis);
    let expected = 0;
    for (const [, segs] of masks) expected += segs.filter((m) => m && m.some((v) => v)).length;
    expect(file.annotations).toHaveLength(expected);
    expect(file.annotations.filter((a) => a.track_id === OVERLAP_ID)).toHaveLength(masks.get(OVERLAP_ID)!.filter(Boolean).length);
    for (const a of file.annotations) {
      expect(typeof a.segmentation.counts).toBe('string');
      expect(a.iscrowd).toBe(1);
      expect(a.attributes.track_id).toBe(a.track_id);
    }
    const back = pyRead(out);
    expect(back).toHaveLength(file.annotations.length);
    for (const [i, r] of back.entries()) {
      const a = file.annotations[i]!;
      const m = masks.get(a.track_id)![a.image_id - 1]!;
      expect(r.hash).toBe(sha1(m));
      expect(r.area).toBe(a.area);
      expect(r.bbox).toEqual(a.bbox);
    }
  });

  it('iscrowd 0 on request', () => {
    const coco = exportCoco(fixtureVis(3), join(dir, 'c0.json'), { iscrowd: 0 });
    expect(coco.annotations.every((a) => a.iscrowd === 0)).toBe(true);
  });
});

describe('YouTube-VIS export', () => {
  it('round trips through an independent reader, nulls kept where an object is absent', () => {
    const vis = fixtureVis(8);
    const out = join(dir, 'vis.json');
    exportVis(vis, out);
    const file = JSON.parse(readFileSync(out, 'utf8')) as typeof vis;
    const nine = file.annotations.find((a) => a.object_id === OVERLAP_ID)!;
    expect(nine.segmentations[2]).toBeNull();
    const masks = masksOf(vis);
    const back = pyRead(out);
    expect(back.length).toBe([...masks.values()].reduce((n, s) => n + s.filter(Boolean).length, 0));
    for (const r of back) expect(r.hash).toBe(sha1(masks.get(r.object_id as number)![r.frame as number]!));
  });
});
