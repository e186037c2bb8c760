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
