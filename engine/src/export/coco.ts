/**
 * Per-frame COCO instance JSON: one `images[]` entry per frame, one `annotations[]` entry per
 * object per frame that has a non-empty mask, segmentation as compressed RLE with area, bbox and
 * iscrowd — the shape CVAT's COCO 1.0 importer (datumaro) reads as mask annotations. The object's
 * track id rides in `attributes.track_id` (datumaro keeps unknown attributes) and in `track_id`.
 */
import { basename } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';
import { rleArea, rleToBbox, toCompressed, type CocoBbox, type CompressedRle } from '../mask/rle.js';
import type { VisJson } from '../mask/vis-json.js';
import { writeJson } from './output.js';
import { exportedFrames } from './filter.js';
import { planLabels } from './label-map.js';

export interface CocoImage {
  id: number;
  width: number;
  height: number;
  file_name: string;
  /** 0-based frame index in the clip. */
  frame_index: number;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  segmentation: CompressedRle;
  area: number;
  bbox: CocoBbox;
  iscrowd: 0 | 1;
  track_id: number;
  score?: number;
  attributes: { track_id: number; frame: number };
}

export interface CocoJson {
  info: Record<string, unknown>;
  licenses: { id: number; name: string; url: string }[];
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: { id: number; name: string; supercategory: string }[];
}

export interface CocoExportOptions {
  /**
   * iscrowd of every annotation (default 1: COCO pairs RLE segmentations with iscrowd 1, and
   * CVAT writes its own mask exports that way). Use 0 for trainers that skip crowd regions.
   */
  iscrowd?: 0 | 1;
  /** Image file name of frame i (default `frame_000000.png` style, matching `--format png` names). */
  fileName?: (frame: number) => string;
}

/** Converts a VIS result (first video) to per-frame COCO JSON. Empty masks are left out. */
export function visToCoco(vis: VisJson, opts: CocoExportOptions = {}): CocoJson {
  const { video, annotations } = planLabels(vis);
  const fileName = opts.fileName ?? ((i: number) => `frame_${String(i).padStart(6, '0')}.png`);
  const images: CocoImage[] = [];
  // A result cut to a frame range (filter.ts) lists only those frames; image ids stay frame + 1.
  const [first, last] = exportedFrames(vis) ?? [0, video.length - 1];
  for (let t = first; t <= last; t++) images.push({ id: t + 1, width: video.width, height: video.height, file_name: fileName(t), frame_index: t });
  const out: CocoAnnotation[] = [];
  for (const a of annotations) {
    if (a.segmentations.length > video.length) {
      throw new CinesegError(ErrorCode.E_MASK_INVALID, `object ${a.object_id} has ${a.segmentations.length} frames, the video ${video.length}`);
    }
    a.segmentations.forEach((s, t) => {
      if (!s) return;
      const seg = toCompressed(s);
      const area = rleArea(seg);
      if (area === 0) return;
      const score = a.scores?.[t];
      out.push({
        id: out.length + 1,
        image_id: t + 1,
        category_id: a.category_id,
        segmentation: seg,
        area,
        bbox: rleToBbox(seg),
        iscrowd: opts.iscrowd ?? 1,
        track_id: a.object_id,
        ...(score === null || score === undefined ? {} : { score }),
        attributes: { track_id: a.object_id, frame: t },
      });
    });
  }
  const used = new Set(annotations.map((a) => a.category_id));
  const categories = (vis.categories?.length ? vis.categories : [{ id: 1, name: 'object' }])
    .filter((c) => used.has(c.id) || annotations.length === 0)
    .map((c) => ({ id: c.id, name: c.name, supercategory: (c as { supercategory?: string }).supercategory ?? '' }));
  return {
    info: { description: `cineseg export of ${basename(video.file)}`, version: '1.0', ...(vis.info ?? {}) },
    licenses: [{ id: 0, name: '', url: '' }],
    images,
    annotations: out,
    categories,
  };
}

/** Writes per-frame COCO JSON to `out`. */
export function exportCoco(vis: VisJson, out: string, opts: CocoExportOptions = {}): CocoJson {
  const coco = visToCoco(vis, opts);
  writeJson(out, coco);
  return coco;
}
