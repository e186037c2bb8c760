import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labelFrame, LogitLabelMaps, planLabels } from '../../../engine/src/export/label-map.js';
import { exportNifti } from '../../../engine/src/export/nifti.js';
import { encodeMaskCompressed } from '../../../engine/src/mask/rle.js';
import type { VisJson } from '../../../engine/src/mask/vis-json.js';

const dir = mkdtempSync(join(tmpdir(), 'cineseg-labelmap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Two objects on a 16 x 16 video: object 1 covers columns 0..9, object 5 columns 6..15, so
// columns 6..9 overlap. Object 1 (the lower id) has the lower logits there.
const W = 16;
const H = 16;
const L = 16; // low-res = video size: upsampling is the identity, so the test reads logits directly
function logits(from: number, to: number, inside: number): Float32Array {
  const a = new Float32Array(L * L).fill(-20);
  for (let y = 0; y < L; y++) for (let x = from; x <= to; x++) a[y * L + x] = inside;
  return a;
}
const obj1 = logits(0, 9, 3);
const obj5 = logits(6, 15, 8);
const binary = (a: Float32Array) => Uint8Array.from(a, (v) => (v > 0 ? 1 : 0));

function vis(scores?: [number, number]): VisJson {
  return {
    videos: [{ id: 1, width: W, height: H, length: 1, fps: 10, file: 'x.mp4' }],
    categories: [{ id: 1, name: 'object' }],
    annotations: [
      // Listed high id first: the plan's order (by id) must not depend on the file's.
      { id: 2, video_id: 1, object_id: 5, category_id: 1, segmentations: [encodeMaskCompressed(binary(obj5), H, W)], ...(scores ? { scores: [scores[1]] } : {}) },
      { id: 1, video_id: 1, object_id: 1, category_id: 1, segmentations: [encodeMaskCompressed(binary(obj1), H, W)], ...(scores ? { scores: [scores[0]] } : {}) },
    ],
  };
}

describe('label maps resolve overlaps by logits', () => {
  it('from a tracking run: the overlap goes to the higher-logit object, whichever id is lower', () => {
    const plan = planLabels(vis());
    expect(plan.labels.map((l) => [l.objectId, l.value])).toEqual([
      [1, 1],
      [5, 2],
    ]);
    const maps = new LogitLabelMaps(W, H);
    maps.add(
      0,
      [
        { objectId: 1, predMasks: obj1 },
        { objectId: 5, predMasks: obj5 },
      ],
      L,
    );
    const out = new Uint8Array(W * H);
    expect(maps.labeler(plan)(0, out)).toBe(true);
    for (let x = 0; x < W; x++) expect(out[3 * W + x]).toBe(x < 6 ? 1 : 2);

    // And the other way round: object 1 more confident takes the overlap.
    const maps2 = new LogitLabelMaps(W, H);
    maps2.add(
      0,
      [
        { objectId: 5, predMasks: logits(6, 15, 2) },
        { objectId: 1, predMasks: logits(0, 9, 9) },
      ],
      L,
    );
    maps2.labeler(plan)(0, out);
    for (let x = 0; x < W; x++) expect(out[3 * W + x]).toBe(x <= 9 ? 1 : 2);
    // A frame never added is empty.
    expect(maps2.labeler(plan)(1, out)).toBe(false);
    expect(out.every((v) => v === 0)).toBe(true);
  });

  it('into a NIfTI volume written from the run’s logits', () => {
    const maps = new LogitLabelMaps(W, H);
    maps.add(
      0,
      [
        { objectId: 5, predMasks: logits(6, 15, 2) },
        { objectId: 1, predMasks: logits(0, 9, 9) },
      ],
      L,
    );
    const out = join(dir, 'l.nii');
    exportNifti(vis(), out, { labels: (p) => maps.labeler(p) });
    const vox = readFileSync(out).subarray(352, 352 + W * H);
    expect([...vox.subarray(5 * W, 6 * W)]).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
  });

  it('from stored binary masks: the higher per-frame score wins, the higher id only on equal or missing scores', () => {
    const out = new Uint8Array(W * H);
    const scratch = new Uint8Array(W * H);
    const overlapValue = (v: VisJson) => {
      labelFrame(planLabels(v), 0, out, scratch);
      return out[2 * W + 7];
    };
    expect(overlapValue(vis([0.99, 0.6]))).toBe(1); // object 1 (value 1) more confident
    expect(overlapValue(vis([0.6, 0.99]))).toBe(2);
    expect(overlapValue(vis([0.8, 0.8]))).toBe(2); // tie: higher id
    expect(overlapValue(vis())).toBe(2); // no scores: higher id, as before
    expect(out[2 * W + 0]).toBe(1);
    expect(out[2 * W + 15]).toBe(2);
  });
});
