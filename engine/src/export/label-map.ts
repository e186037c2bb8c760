/**
 * What every label-map exporter (PNG, NIfTI, DICOM SEG) starts from: the objects of a YouTube-VIS
 * result in a fixed order, each given a label value 1..N, and per-frame decoding of their masks.
 * Label maps hold one value per pixel, so where objects overlap the later object in that order
 * (the higher object id) wins; COCO, VIS and DICOM SEG keep overlaps.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { decodeMask } from '../mask/rle.js';
import type { VisAnnotation, VisJson, VisVideo } from '../mask/vis-json.js';

/** One object of the export and the value it gets in label maps. */
export interface LabelEntry {
  /** Value in PNG / NIfTI label maps and DICOM SEG segment number (1..N). */
  value: number;
  objectId: number;
  categoryId: number;
  /** Category name, or "object". */
  name: string;
}

/** The first video of a VIS result, its annotations in object-id order and their label values. */
export interface LabelPlan {
  video: VisVideo;
  annotations: VisAnnotation[];
  labels: LabelEntry[];
}

/** Orders the first video's objects by object id and numbers them 1..N. */
export function planLabels(vis: VisJson): LabelPlan {
  const video = vis.videos[0];
  if (!video) throw new CinesegError(ErrorCode.E_MASK_INVALID, 'nothing to export: the result has no video');
  const annotations = vis.annotations.filter((a) => a.video_id === video.id).sort((a, b) => a.object_id - b.object_id);
  const names = new Map((vis.categories ?? []).map((c) => [c.id, c.name]));
  const labels = annotations.map((a, i) => ({ value: i + 1, objectId: a.object_id, categoryId: a.category_id, name: names.get(a.category_id) ?? 'object' }));
  return { video, annotations, labels };
}

/**
 * Writes frame `t`'s label map into `out` (W x H, row-major): 0 = background, else the label value
 * of the last object covering the pixel. Returns whether any pixel is labelled.
 */
export function labelFrame(plan: LabelPlan, t: number, out: Uint8Array | Uint16Array, scratch: Uint8Array): boolean {
  const { width, height } = plan.video;
  out.fill(0);
  let any = false;
  plan.annotations.forEach((a, i) => {
    const rle = a.segmentations[t];
    if (!rle) return;
    if (rle.size[0] !== height || rle.size[1] !== width) {
      throw new CinesegError(ErrorCode.E_MASK_INVALID, `object ${a.object_id} frame ${t}: mask is ${rle.size[1]}x${rle.size[0]}, the video is ${width}x${height}`);
    }
    decodeMask(rle, scratch);
    const v = i + 1;
    for (let p = 0; p < scratch.length; p++) {
      if (scratch[p]) {
        out[p] = v;
        any = true;
      }
    }
  });
  return any;
}

/** The object's mask on frame `t` (0/1 bytes), or null when it has none there. */
export function objectFrame(a: VisAnnotation, t: number, out: Uint8Array): Uint8Array | null {
  const rle = a.segmentations[t];
  return rle ? decodeMask(rle, out) : null;
}
