/**
 * Validation of a bundle on the held-out part of a site's annotations: through the engine itself
 * (ONNX sessions, the tracker the server uses), not the trainer's PyTorch copy, so "after" is what
 * the user will get from the exported bundle.
 *
 * The split is in time: the trainer sees frames [0, trainEnd) of every clip; each object is
 * tracked from its first clearly visible frame at or after trainEnd to the clip's end, once from
 * the ground-truth mask and once from one click (the interior point farthest from the boundary,
 * what the robot annotator clicks), and scored with DAVIS J&F on the frames after the prompt.
 * A time split works for a single clip, and the tail of a procedure is exactly what a model
 * adapted on its beginning must handle.
 *
 * A time split cannot see a model that learnt the annotated clips' own objects and lost the
 * site's other clips (docs/benchmarks.md, adaptation: validation 0.37 -> 0.74 while other clips of
 * the site stayed level). So once a kind of clip (the same set of labels) has 4 or more annotated
 * clips, whole clips of it are held out instead (every 4th in the order given, never trained on,
 * each object tracked from its first clearly visible frame): the refusal rule then guards what a
 * user wants, other clips of the site. `planValidation` decides; `split: 'time' | 'clips'` forces one.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { farthestInteriorPoint } from '../mask/distance-transform.js';
import { scoreSequence } from '../mask/metrics.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import { VideoTracker } from '../track/video-tracker.js';
import { DecodedFrames } from '../track/decoded-frames.js';
import type { AnnotatedClip } from './training-data.js';

/** One tracked segment of one object. */
export interface ValidationItem {
  clip: string;
  objectId: number;
  /** Prompted frame; frames after it (to the clip's end) are scored. */
  startFrame: number;
  endFrame: number;
}

export interface ValidationScore {
  /** Mean J&F over items, per prompt kind, and their mean. */
  mask: number;
  click: number;
  mean: number;
  items: (ValidationItem & { mask: number; click: number })[];
}

/** Smallest mask area (pixels at video size) that counts as "clearly visible" for a prompt. */
const MIN_PROMPT_AREA = 24;

function area(m: Uint8Array | null): number {
  if (!m) return 0;
  let a = 0;
  for (let i = 0; i < m.length; i++) a += m[i] ? 1 : 0;
  return a;
}

export type ValidationSplit = 'auto' | 'time' | 'clips';

/** Clips of a kind needed before whole clips of it are held out (auto). */
export const MIN_CLIPS_FOR_CLIP_SPLIT = 4;

/** What trains and what validates. */
export interface ValidationPlan {
  /** Per clip (same order): the frames training may use, or null for a clip held out whole. */
  trainFrames: ([number, number] | null)[];
  items: ValidationItem[];
  /** How, in words (printed, and recorded in the manifest). */
  description: string;
}

/** A clip's kind: its set of object labels ("polyp", "artery+vein"). */
function kindOf(c: AnnotatedClip): string {
  return [...new Set(c.objects.map((o) => o.label))].sort().join('+') || 'object';
}

/**
 * Chooses the split (see the module comment). auto: kinds with ≥ MIN_CLIPS_FOR_CLIP_SPLIT clips
 * hold out every 4th clip whole, the others the last `valFraction` of each clip; clips: every kind
 * holds out whole clips (at least one; a kind with one clip is refused); time: every clip's tail.
 * @throws CinesegError E_USAGE (clips asked for a kind with a single clip)
 */
export function planValidation(clips: readonly AnnotatedClip[], valFraction: number, split: ValidationSplit = 'auto'): ValidationPlan {
  const byKind = new Map<string, number[]>();
  clips.forEach((c, i) => byKind.set(kindOf(c), [...(byKind.get(kindOf(c)) ?? []), i]));
  const heldOut = new Set<number>();
  for (const [kind, idx] of byKind) {
    if (split === 'time') continue;
    if (split === 'clips' && idx.length < 2) throw new CinesegError(ErrorCode.E_USAGE, `--val-split clips needs at least 2 clips of each kind; "${kind}" has 1`);
    if (split === 'auto' && idx.length < MIN_CLIPS_FOR_CLIP_SPLIT) continue;
    // Every 4th clip (the 4th, 8th, ...); with 2-3 clips (forced) the last one.
    const pick = idx.filter((_, j) => j % 4 === 3);
    for (const i of pick.length ? pick : [idx[idx.length - 1]!]) heldOut.add(i);
  }
  const trainEnd = (c: AnnotatedClip) => Math.max(1, Math.floor(c.numFrames * (1 - valFraction)));
  const trainFrames = clips.map((c, i): [number, number] | null => (heldOut.has(i) ? null : [0, trainEnd(c)]));
  const timeClips = clips.filter((_, i) => !heldOut.has(i));
  // A held-out clip validates from its start, the others on their tails.
  const items = validationItems(clips, (c) => (heldOut.has(clips.indexOf(c)) ? 0 : trainEnd(c)));
  const parts: string[] = [];
  if (heldOut.size) parts.push(`${heldOut.size} whole clip(s) held out (${[...heldOut].map((i) => clips[i]!.name).join(', ')})`);
  if (timeClips.length) parts.push(`the last ${Math.round(valFraction * 100)} % of ${heldOut.size ? 'the other clips' : 'each clip'}`);
  return { trainFrames, items, description: parts.join('; ') };
}

/** The segments to validate on: per object, from its first clearly visible frame ≥ trainEnd. */
export function validationItems(clips: readonly AnnotatedClip[], trainEnd: (c: AnnotatedClip) => number): ValidationItem[] {
  const items: ValidationItem[] = [];
  for (const c of clips) {
    const from = trainEnd(c);
    for (const o of c.objects) {
      for (let t = from; t < c.numFrames - 1; t++) {
        if (area(o.masks[t] ?? null) >= MIN_PROMPT_AREA) {
          items.push({ clip: c.clip, objectId: o.objectId, startFrame: t, endFrame: c.numFrames - 1 });
          break;
        }
      }
    }
  }
  return items;
}

/** Tracks every item with `sessions` and scores it. */
export async function validateBundle(sessions: ModelSessions, clips: readonly AnnotatedClip[], items: readonly ValidationItem[]): Promise<ValidationScore> {
  if (items.length === 0) throw new CinesegError(ErrorCode.E_INPUT_EMPTY, 'no validation segment: every object is absent from the held-out frames');
  const S = sessions.bundle.imageSize;
  const scored: ValidationScore['items'] = [];
  for (const it of items) {
    const c = clips.find((x) => x.clip === it.clip)!;
    const o = c.objects.find((x) => x.objectId === it.objectId)!;
    const res: Record<'mask' | 'click', number> = { mask: 0, click: 0 };
    for (const kind of ['mask', 'click'] as const) {
      const frames = await DecodedFrames.open(c.clip, S);
      const tracker = new VideoTracker(sessions, frames, { width: c.width, height: c.height });
      try {
        const gt0 = o.masks[it.startFrame]!;
        if (kind === 'mask') await tracker.addMask(it.startFrame, it.objectId, gt0);
        else {
          const p = farthestInteriorPoint(gt0, c.width, c.height)!;
          await tracker.addPoints(it.startFrame, it.objectId, [{ x: p.x, y: p.y, label: 1 }]);
        }
        const pred = new Map<number, Uint8Array>();
        for await (const tf of tracker.propagate({ startFrame: it.startFrame, dropStaleMemory: true })) {
          frames.releaseBefore(tf.frame);
          if (tf.frame > it.startFrame) pred.set(tf.frame, tracker.maskAt(tf.frame, it.objectId)!);
        }
        const n = it.endFrame - it.startFrame;
        const s = scoreSequence(
          n,
          c.height,
          c.width,
          (i) => pred.get(it.startFrame + 1 + i) ?? null,
          (i) => o.masks[it.startFrame + 1 + i] ?? null,
        );
        res[kind] = s.JF;
      } finally {
        tracker.destroy();
        await frames.destroy();
      }
    }
    scored.push({ ...it, ...res });
  }
  const mean = (k: 'mask' | 'click') => scored.reduce((a, s) => a + s[k], 0) / scored.length;
  const mask = mean('mask');
  const click = mean('click');
  return { mask, click, mean: (mask + click) / 2, items: scored };
}
