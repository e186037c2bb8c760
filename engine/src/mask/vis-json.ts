/**
 * Tracking results as YouTube-VIS style JSON (the same shape as the samples' gt.json):
 * `{videos:[{id,width,height,length,fps,file}], categories, annotations:[{id, video_id,
 * object_id, category_id, segmentations:[rle|null], scores:[...]}]}`, masks as COCO compressed
 * RLE at the video's own resolution, null on frames the tracker never visited.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';
import { logitsToRle } from './logits-rle.js';
import { countsToString, decodeMask, type CompressedRle, type Rle } from './rle.js';
import { scoreSequence, type SequenceScore } from './metrics.js';

export interface VisVideo {
  id: number;
  width: number;
  height: number;
  length: number;
  fps: number;
  file: string;
}

export interface VisAnnotation {
  id: number;
  video_id: number;
  object_id: number;
  category_id: number;
  segmentations: (Rle | null)[];
  /** Per frame: probability the object is present (sigmoid of the object score), null if not visited. */
  scores?: (number | null)[];
  areas?: (number | null)[];
}

export interface VisJson {
  info?: Record<string, unknown>;
  videos: VisVideo[];
  categories: { id: number; name: string }[];
  annotations: VisAnnotation[];
}

/**
 * Collects per-frame low-res logits of each object and turns them straight into video-size RLE
 * (upsample, threshold and run-length coding fused), so no full-size mask is ever built.
 */
export class VisCollector {
  private readonly tracks = new Map<number, { segs: (CompressedRle | null)[]; scores: (number | null)[]; areas: (number | null)[] }>();
  constructor(readonly video: VisVideo) {}

  /** Records (or overwrites) an object's mask on a frame from its L x L logits. */
  add(frame: number, objectId: number, lowRes: Float32Array, L: number, objectScore: number): void {
    let t = this.tracks.get(objectId);
    if (!t) {
      const n = this.video.length;
      t = { segs: new Array(n).fill(null), scores: new Array(n).fill(null), areas: new Array(n).fill(null) };
      this.tracks.set(objectId, t);
    }
    const { width, height } = this.video;
    const { counts, area } = logitsToRle(lowRes, L, L, height, width);
    t.segs[frame] = { size: [height, width], counts: countsToString(counts) };
    t.areas[frame] = area;
    t.scores[frame] = Math.round((1 / (1 + Math.exp(-objectScore))) * 1e4) / 1e4;
  }

  toJson(info: Record<string, unknown> = {}): VisJson {
    const annotations: VisAnnotation[] = [];
    let id = 1;
    for (const [objectId, t] of [...this.tracks].sort((a, b) => a[0] - b[0])) {
      annotations.push({ id: id++, video_id: this.video.id, object_id: objectId, category_id: 1, segmentations: t.segs, scores: t.scores, areas: t.areas });
    }
    return { info, videos: [this.video], categories: [{ id: 1, name: 'object' }], annotations };
  }
}

/** Writes JSON to a file, creating its folder. */
export function writeVisJson(path: string, json: VisJson): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(json));
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_OUTPUT_WRITE, `cannot write ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** Reads and checks a YouTube-VIS style file. */
export function readVisJson(path: string): VisJson {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? ErrorCode.E_INPUT_NOT_FOUND : ErrorCode.E_RLE_INVALID;
    throw new CinesegError(code, `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  const j = raw as Partial<VisJson>;
  if (!j || !Array.isArray(j.videos) || !Array.isArray(j.annotations) || j.videos.length === 0) {
    throw new CinesegError(ErrorCode.E_RLE_INVALID, `${path}: not a YouTube-VIS style file (videos and annotations arrays expected)`);
  }
  return j as VisJson;
}

export interface ObjectScore extends SequenceScore {
  objectId: number;
}

export interface EvalResult {
  objects: ObjectScore[];
  mean: { J: number; F: number; JF: number };
}

/**
 * DAVIS J, F and J&F per object of the first video, matching prediction and ground truth by
 * `object_id`. A frame with no mask on either side counts as empty. `skipFirstLast` drops the
 * first and last frame as the DAVIS 2017 evaluation does.
 */
export function evaluateVis(pred: VisJson, gt: VisJson, opts: { skipFirstLast?: boolean; videoId?: number } = {}): EvalResult {
  const video = opts.videoId === undefined ? gt.videos[0]! : gt.videos.find((v) => v.id === opts.videoId);
  if (!video) throw new CinesegError(ErrorCode.E_USAGE, `video ${opts.videoId} not in ground truth`);
  const { width, height, length } = video;
  const gtAnns = gt.annotations.filter((a) => a.video_id === video.id);
  const predVideo = pred.videos.find((v) => v.width === width && v.height === height) ?? pred.videos[0]!;
  if (predVideo.width !== width || predVideo.height !== height) {
    throw new CinesegError(ErrorCode.E_MASK_INVALID, `prediction is ${predVideo.width}x${predVideo.height}, ground truth ${width}x${height}`);
  }
  const predAnns = pred.annotations.filter((a) => a.video_id === predVideo.id);
  const skip = new Set<number>(opts.skipFirstLast ? [0, length - 1] : []);
  const objects: ObjectScore[] = [];
  const bufA = new Uint8Array(width * height);
  const bufB = new Uint8Array(width * height);
  for (const g of gtAnns) {
    const p = predAnns.find((a) => a.object_id === g.object_id);
    const get = (segs: (Rle | null)[] | undefined, buf: Uint8Array) => (i: number) => {
      const r = segs?.[i];
      return r ? decodeMask(r, buf) : null;
    };
    const s = scoreSequence(length, height, width, get(p?.segmentations, bufA), get(g.segmentations, bufB), skip);
    objects.push({ objectId: g.object_id, ...s });
  }
  const n = objects.length || 1;
  const J = objects.reduce((a, o) => a + o.J, 0) / n;
  const F = objects.reduce((a, o) => a + o.F, 0) / n;
  return { objects, mean: { J, F, JF: (J + F) / 2 } };
}
