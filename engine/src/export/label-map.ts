/**
 * What every label-map exporter (PNG, NIfTI, DICOM SEG) starts from: the objects of a YouTube-VIS
 * result in a fixed order, each given a label value 1..N, and per-frame decoding of their masks.
 * Label maps hold one value per pixel, so overlaps must be decided; COCO, VIS and DICOM SEG keep
 * them. Objects are tracked independently and each claims a pixel by its own logit, so the fair
 * judge is the logit, not the object id:
 * - from a tracking run (`LogitLabelMaps`, fed the tracker's FrameOutputs): per pixel the object
 *   with the highest upsampled mask logit (SAM 2's `_apply_non_overlapping_constraints` rule);
 * - from binary masks only (a VIS file, a session stored in SQLite, where per-pixel logits are
 *   gone): the object with the higher per-frame score on that frame (the sigmoid of the object
 *   score logit, VIS `scores[t]`, monotone in the logit), and only on equal or missing scores the
 *   higher object id, as before.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { decodeMask } from '../mask/rle.js';
import { resizeBilinear } from '../mask/upsample.js';
import type { VisAnnotation, VisJson, VisVideo } from '../mask/vis-json.js';
import { labelByLogits } from '../track/non-overlap.js';

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

/** Writes frame t's label map (W x H, row-major, 0 = background) into `out`; returns whether any pixel is labelled. */
export type FrameLabeler = (t: number, out: Uint8Array | Uint16Array) => boolean;

/**
 * Writes frame `t`'s label map into `out` (W x H, row-major) from binary masks: 0 = background,
 * else the label value of the covering object with the highest score on frame t (missing score =
 * lowest); equal scores go to the higher object id. Returns whether any pixel is labelled.
 */
export function labelFrame(plan: LabelPlan, t: number, out: Uint8Array | Uint16Array, scratch: Uint8Array): boolean {
  const { width, height } = plan.video;
  out.fill(0);
  let any = false;
  // Paint in ascending score (then id) order: whoever paints last holds the pixel.
  const order = plan.annotations.map((a, i) => ({ a, i, score: a.scores?.[t] ?? -Infinity })).sort((x, y) => x.score - y.score || x.a.object_id - y.a.object_id);
  for (const { a, i } of order) {
    const rle = a.segmentations[t];
    if (!rle) continue;
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
  }
  return any;
}

/** `labelFrame` over a plan, as a FrameLabeler. */
export function binaryLabeler(plan: LabelPlan): FrameLabeler {
  const scratch = new Uint8Array(plan.video.width * plan.video.height);
  return (t, out) => labelFrame(plan, t, out, scratch);
}

/**
 * Label maps of a tracking run, decided by logits: `add` takes a frame's objects' low-res logits
 * (the tracker's FrameOutput.predMasks), upsamples them to video size exactly as the masks are
 * (bilinear, align_corners=False) and keeps, per pixel, the object id with the highest positive
 * logit. Each frame is kept as runs of object ids (label maps are mostly background), so a long
 * clip costs kilobytes per frame, not W x H. A frame added again (a second pass) is replaced.
 */
export class LogitLabelMaps {
  /** Per frame: [objectId, runLength, objectId, runLength, …], objectId −1 = background. */
  private readonly frames = new Map<number, Int32Array>();
  private logits: Float32Array[] = [];
  private readonly winner: Uint16Array;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.winner = new Uint16Array(width * height);
  }

  add(frame: number, objects: readonly { objectId: number; predMasks: Float32Array }[], L: number): void {
    const { width: W, height: H } = this;
    while (this.logits.length < objects.length) this.logits.push(new Float32Array(W * H));
    const used = objects.map((o, b) => resizeBilinear(o.predMasks, L, L, H, W, this.logits[b]!));
    // Values are slots 1..B here (0 = background); runs store the object ids.
    labelByLogits(
      used,
      objects.map((_, b) => b + 1),
      this.winner,
    );
    const runs: number[] = [];
    let cur = this.winner[0]!;
    let len = 0;
    for (let p = 0; p < this.winner.length; p++) {
      const v = this.winner[p]!;
      if (v === cur) len++;
      else {
        runs.push(cur === 0 ? -1 : objects[cur - 1]!.objectId, len);
        cur = v;
        len = 1;
      }
    }
    runs.push(cur === 0 ? -1 : objects[cur - 1]!.objectId, len);
    this.frames.set(frame, Int32Array.from(runs));
  }

  /** A FrameLabeler giving each object the value `plan` assigns it; frames never added are empty. */
  labeler(plan: LabelPlan): FrameLabeler {
    if (plan.video.width !== this.width || plan.video.height !== this.height) {
      throw new CinesegError(ErrorCode.E_MASK_INVALID, `label maps are ${this.width}x${this.height}, the video is ${plan.video.width}x${plan.video.height}`);
    }
    const valueOf = new Map(plan.labels.map((l) => [l.objectId, l.value]));
    return (t, out) => {
      out.fill(0);
      const runs = this.frames.get(t);
      if (!runs) return false;
      let any = false;
      let p = 0;
      for (let k = 0; k < runs.length; k += 2) {
        const id = runs[k]!;
        const len = runs[k + 1]!;
        const v = id < 0 ? 0 : (valueOf.get(id) ?? 0);
        if (v) {
          out.fill(v, p, p + len);
          any = true;
        }
        p += len;
      }
      return any;
    };
  }
}

/** The object's mask on frame `t` (0/1 bytes), or null when it has none there. */
export function objectFrame(a: VisAnnotation, t: number, out: Uint8Array): Uint8Array | null {
  const rle = a.segmentations[t];
  return rle ? decodeMask(rle, out) : null;
}
