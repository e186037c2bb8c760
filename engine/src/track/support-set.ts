/**
 * Zero-click start from a support set (in-context segmentation, like UniverSeg's support
 * images): a few annotated frames of OTHER clips of the same view become memories of an object,
 * so it is found on a new clip with no prompt at all.
 *
 * Masks come as YouTube-VIS JSON (the shape `cineseg track` writes and the samples' gt.json
 * has). A support annotation with `object_id` k supplies support for target object k of the new
 * clip: ids are the link between clips, so annotate the same structure with the same id (or
 * map ids with `mapIds`).
 *
 * Each chosen frame is decoded at the model's size, encoded, and sent down exactly the path of
 * a mask prompt (decoder on raw features for the pointer, memory encoder on the binarised mask
 * with a high object score). Only the memory and the pointer are kept; the frame's image
 * features are dropped at once (at 1024 px they are ~20 MB a frame, the memory ~1 MB).
 *
 * Measured zero-click J&F on synthetic clips (tiny-synth-256, seeds 4000-4004, support = other
 * clips of the same kind, ids matched as documented): endoscopy, one support clip (all 20
 * ordered pairs) K=1 0.55, K=2 0.57, K=4 0.62; four clips (leave one out) K=1 0.66, K=2 0.64,
 * K=4 0.72, K=8 0.73. Ultrasound stays low (0.24-0.29 with one clip, < 0.1 pooled over four):
 * cysts and vessels share ids across clips and the tiny model confuses them with the dark
 * look-alike blobs. Hence K = 4 by default.
 *
 * Each chosen frame also gives a mirrored view (image and mask flipped left-right at the model's
 * size), on by default. Why: on a new clip the model segments whatever lies where the support
 * object was (the generator, like a probe held the usual way, puts a structure in similar places
 * in every clip), so position, not appearance, answered. Two views of the object at mirrored
 * places spread that position prior, and appearance has to decide. Measured zero-click J&F
 * (site a/c/d/e seeds 20100-20102, 1 | 3 support clips of seeds 20000-20002, `scoreZeroClick`):
 * a 0.448 | 0.452 -> 0.675 | 0.641, c 0.324 | 0.326 -> 0.446 | 0.451, d 0.241 | 0.257 -> 0.258
 * | 0.280, e 0.177 | 0.236 -> 0.428 | 0.384 (ultrasound 0.02 -> 0.48 on e); endoscopy alone moved
 * by -0.02 to +0.05. Flipping up-down as well lost most of it (e: 0.306 | 0.304): an ultrasound
 * fan upside down is not a view the model knows. It doubles the support's encoder runs and memories.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { decodeMask, rleArea, toCounts, type Rle } from '../mask/rle.js';
import { readVisJson, type VisAnnotation, type VisJson } from '../mask/vis-json.js';
import type { FrameOutput } from './object-state.js';
import type { TrackingEngine } from './tracking-engine.js';
import { maskToModel } from './prompts.js';
import { DecodedFrames } from './decoded-frames.js';

/** One support clip and its masks. */
export interface SupportSpec {
  /** A recorded video (file or image folder) of the same view as the clip to track. */
  clip: string;
  /** YouTube-VIS JSON: a path or the parsed file. Its first video (or `videoId`) is `clip`. */
  masks: string | VisJson;
  /** Only these object ids of the support masks (default: every annotated object). */
  objectIds?: readonly number[];
  /**
   * Support object id → target object id, for support annotated with other ids (ids not listed
   * keep their own). Several support ids may map to one target: their memories are pooled.
   */
  mapIds?: Readonly<Record<number, number>>;
  videoId?: number;
}

export interface SupportSetOptions {
  /** Frames per support clip and object (default DEFAULT_SUPPORT_FRAMES). */
  framesPerObject?: number;
  /** Also file each frame mirrored left-right (default DEFAULT_SUPPORT_MIRROR; see the module comment). */
  mirror?: boolean;
}

/** One support memory, ready for ObjectState.support. */
export interface SupportMemory {
  /** Target object id (after `mapIds`). */
  objectId: number;
  /** Object id in the support masks. */
  supportObjectId: number;
  clip: string;
  /** Frame of the support clip. */
  frame: number;
  /** Mask area in support-video pixels. */
  area: number;
  /** The frame's left-right mirrored view (image and mask flipped at the model's size). */
  mirrored: boolean;
  output: FrameOutput;
}

/** Support frames per clip and object when not given (measured: see the module comment). */
export const DEFAULT_SUPPORT_FRAMES = 4;
/** Mirrored views on when not said (measured: see the module comment). */
export const DEFAULT_SUPPORT_MIRROR = true;

/** An S x S plane of `channels` interleaved values, flipped left-right into a new array. */
export function mirrorPlane<T extends Uint8Array | Float32Array>(src: T, S: number, channels = 1): T {
  const out = new (src.constructor as new (n: number) => T)(src.length);
  for (let y = 0; y < S; y++) {
    const row = y * S;
    for (let x = 0; x < S; x++) {
      const from = (row + S - 1 - x) * channels;
      const to = (row + x) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = src[from + c]!;
    }
  }
  return out;
}

/**
 * A frame is usable when the object covers at least this fraction of its median present area:
 * a sliver (entering or leaving the view, a dropout) teaches the memory little and its pointer
 * says "barely there".
 */
const MIN_AREA_OF_MEDIAN = 0.5;
/** ...and at least this many pixels at any resolution. */
const MIN_AREA_PX = 16;

/**
 * Picks `k` frames of one annotation: evenly spread over the usable frames (so motion and shape
 * changes over the clip are covered), each the middle of its share.
 */
export function chooseSupportFrames(segs: readonly (Rle | null)[], k: number, numFrames = segs.length): { frame: number; area: number }[] {
  const present: { frame: number; area: number }[] = [];
  for (let f = 0; f < Math.min(segs.length, numFrames); f++) {
    const r = segs[f];
    if (!r) continue;
    const area = rleArea(r);
    if (area > 0) present.push({ frame: f, area });
  }
  if (present.length === 0) return [];
  const sorted = present.map((p) => p.area).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const usable = present.filter((p) => p.area >= Math.max(MIN_AREA_PX, MIN_AREA_OF_MEDIAN * median));
  const n = usable.length;
  if (n === 0) return [];
  const picked: { frame: number; area: number }[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < Math.min(k, n); i++) {
    const p = usable[Math.floor(((i + 0.5) * n) / Math.min(k, n))]!;
    if (!seen.has(p.frame)) picked.push(p);
    seen.add(p.frame);
  }
  return picked;
}

/**
 * Builds the support memories of every spec with `engine`'s model. Frames are decoded and
 * encoded one at a time, in order, and released right after.
 *
 * @throws CinesegError E_INPUT_NOT_FOUND (clip or masks missing), E_RLE_INVALID (not VIS JSON),
 *   E_MASK_INVALID (masks not at the clip's size), E_PROMPT_INVALID (no usable support frame,
 *   unknown object id, bad frame count)
 */
export async function buildSupportSet(engine: TrackingEngine, specs: readonly SupportSpec[], opts: SupportSetOptions = {}): Promise<SupportMemory[]> {
  const k = opts.framesPerObject ?? DEFAULT_SUPPORT_FRAMES;
  if (!Number.isInteger(k) || k < 1) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `support frames per object must be a positive integer, got ${k}`);
  const mirror = opts.mirror ?? DEFAULT_SUPPORT_MIRROR;
  const all: SupportMemory[] = [];
  for (const spec of specs) all.push(...(await buildOne(engine, spec, k, mirror)));
  return all;
}

async function buildOne(engine: TrackingEngine, spec: SupportSpec, k: number, mirror: boolean): Promise<SupportMemory[]> {
  const name = typeof spec.masks === 'string' ? spec.masks : `${spec.clip} (masks)`;
  const vis = typeof spec.masks === 'string' ? readVisJson(spec.masks) : spec.masks;
  const video = spec.videoId === undefined ? vis.videos[0] : vis.videos.find((v) => v.id === spec.videoId);
  if (!video) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `${name}: no video ${spec.videoId ?? ''} in the support masks`);
  let anns: VisAnnotation[] = vis.annotations.filter((a) => a.video_id === video.id);
  if (spec.objectIds) {
    const missing = spec.objectIds.filter((id) => !anns.some((a) => a.object_id === id));
    if (missing.length) {
      throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `${name}: no annotation for object ${missing.join(', ')}`, { details: { missing } });
    }
    anns = anns.filter((a) => spec.objectIds!.includes(a.object_id));
  }
  for (const a of anns) {
    for (const r of a.segmentations ?? []) {
      if (!r) continue;
      const [h, w] = toCounts(r).size;
      if (h !== video.height || w !== video.width) {
        throw new CinesegError(ErrorCode.E_MASK_INVALID, `${name}: object ${a.object_id} has a ${w}x${h} mask, its video is ${video.width}x${video.height}`);
      }
    }
  }

  const S = engine.runner.S;
  const frames = await DecodedFrames.open(spec.clip, S);
  try {
    const { width, height } = frames.info;
    if (width !== video.width || height !== video.height) {
      throw new CinesegError(ErrorCode.E_MASK_INVALID, `${name} is for a ${video.width}x${video.height} video, ${spec.clip} is ${width}x${height}`, {
        details: { masks: [video.width, video.height], video: [width, height] },
      });
    }
    // frame -> the objects to take from it, so a frame shared by two objects is encoded once.
    const plan = new Map<number, { ann: VisAnnotation; area: number }[]>();
    for (const ann of anns) {
      for (const p of chooseSupportFrames(ann.segmentations ?? [], k, frames.numFrames)) {
        let l = plan.get(p.frame);
        if (!l) plan.set(p.frame, (l = []));
        l.push({ ann, area: p.area });
      }
    }
    if (plan.size === 0) {
      throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `${name}: no usable support frame (every mask is empty or tiny)`, { details: { clip: spec.clip } });
    }
    const out: SupportMemory[] = [];
    const mask = new Uint8Array(width * height);
    for (const frame of [...plan.keys()].sort((a, b) => a - b)) {
      const rgb = await frames.getFrame(frame);
      // Each object's mask at S x S, decoded once for both views.
      const objs = plan.get(frame)!.map(({ ann, area }) => {
        decodeMask(ann.segmentations[frame]!, mask);
        return { ann, area, maskS: maskToModel(mask, width, height, S) };
      });
      for (const mirrored of mirror ? [false, true] : [false]) {
        engine.stats.imageEncoderRuns++;
        // rgb24 S x S, so a flip is 3 interleaved channels; the mask is flipped after its resize
        // to S x S, so both views see the same pixels of the object.
        const features = await engine.runner.encodeImage(frame, mirrored ? mirrorPlane(rgb, S, 3) : rgb);
        for (const { ann, area, maskS } of objs) {
          const output = await engine.supportOutput(features, mirrored ? mirrorPlane(maskS, S) : maskS);
          out.push({ objectId: spec.mapIds?.[ann.object_id] ?? ann.object_id, supportObjectId: ann.object_id, clip: spec.clip, frame, area, mirrored, output });
        }
      }
      frames.releaseBefore(frame + 1);
    }
    // Keep a stable order: object, then frame, the frame before its mirror (the bank's memory order depends on it).
    out.sort((a, b) => a.objectId - b.objectId || a.supportObjectId - b.supportObjectId || a.frame - b.frame || Number(a.mirrored) - Number(b.mirrored));
    return out;
  } finally {
    await frames.destroy();
  }
}
