/**
 * A small multi-object result for export tests: the first frames of a synthetic clip's ground
 * truth (the same shape as `cineseg track` output), plus an extra object that overlaps object 1
 * on some frames and is absent on others, so label-map rules and null frames are exercised.
 */
import { join } from 'node:path';
import { decodeMask, encodeMaskCompressed, type VisJson } from 'cineseg';
import { readVisJson } from '../../../engine/src/mask/vis-json.js';
import { GENERATED_DIR } from '../../global-setup.js';

export const CLIP_DIR = join(GENERATED_DIR, 'ultrasound-2');
export const OVERLAP_ID = 9;

export function fixtureVis(frames = 8): VisJson {
  const vis = readVisJson(join(CLIP_DIR, 'gt.json'));
  const v = vis.videos[0]!;
  v.length = frames;
  for (const a of vis.annotations) {
    a.segmentations = a.segmentations.slice(0, frames);
    delete a.scores;
    delete a.areas;
  }
  const { width: W, height: H } = v;
  const first = vis.annotations.find((a) => a.object_id === 1)!;
  const segs = first.segmentations.map((s, t) => {
    if (!s || t % 3 === 2) return null; // absent on every third frame
    // A box over the right half of object 1's mask: overlaps it, and spills outside it.
    const m = decodeMask(s);
    let x0 = W;
    let x1 = 0;
    let y0 = H;
    let y1 = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (m[y * W + x]) ((x0 = Math.min(x0, x)), (x1 = Math.max(x1, x)), (y0 = Math.min(y0, y)), (y1 = Math.max(y1, y)));
    const box = new Uint8Array(W * H);
    const mid = (x0 + x1) >> 1;
    for (let y = Math.max(0, y0 - 5); y <= Math.min(H - 1, y1 + 5); y++) for (let x = mid; x <= Math.min(W - 1, x1 + 10); x++) box[y * W + x] = 1;
    return encodeMaskCompressed(box, H, W);
  });
  vis.annotations.push({ id: 99, video_id: v.id, object_id: OVERLAP_ID, category_id: 1, segmentations: segs });
  return vis;
}

/** Object masks per frame (null where absent), keyed by object id. */
export function masksOf(vis: VisJson): Map<number, (Uint8Array | null)[]> {
  return new Map(vis.annotations.map((a) => [a.object_id, a.segmentations.map((s) => (s ? decodeMask(s) : null))]));
}

/**
 * The label map the exporters promise: objects in id order get values 1..N; where they overlap,
 * the higher id wins.
 */
export function expectedLabelMap(vis: VisJson, t: number): Uint8Array {
  const v = vis.videos[0]!;
  const out = new Uint8Array(v.width * v.height);
  const ids = vis.annotations.map((a) => a.object_id).sort((a, b) => a - b);
  const masks = masksOf(vis);
  ids.forEach((id, i) => {
    const m = masks.get(id)![t];
    if (m) for (let p = 0; p < m.length; p++) if (m[p]) out[p] = i + 1;
  });
  return out;
}
