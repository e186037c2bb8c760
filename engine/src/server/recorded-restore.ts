/**
 * The tracker side of reopening a stored recorded session (RecordedSession.restore): support
 * rebuilt from its source sessions, then each object handed to VideoTracker.restoreObject with
 * its prompts and stored masks, which are decoded only when the tracker needs one.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { decodeMask } from '../mask/rle.js';
import type { Propagate } from '../protocol.js';
import { buildSupportSet, type SupportMemory } from '../track/support-set.js';
import type { VideoTracker } from '../track/video-tracker.js';
import type { AnnotationSink, SinkPrompt, SinkSupport } from './annotation-sink.js';

/**
 * A stored session as {@link RecordedSession.restore} takes it back (session-restore.ts builds it
 * from the store): prompts in the order they were applied, the current mask of every
 * (object, frame) as COCO counts at the clip's width x height with the tracker's score (a logit)
 * and whether it came from a prompt or a propagation, labels and support as stored.
 */
export interface RestoredState {
  /** In effect, in order, with their stored ids. */
  prompts: SinkPrompt[];
  /** The other stored prompts (taken back, or of removed objects), for undo / redo. */
  dormant?: SinkPrompt[];
  /** Live objects with their labels. */
  objects?: { objectId: number; label: string }[];
  masks: { objectId: number; frame: number; counts: readonly number[]; score: number; origin: 'prompt' | 'propagate'; direction?: Propagate['direction'] }[];
  labels?: Map<number, string> | Record<number, string>;
  support?: SinkSupport[];
  promptVersion?: number;
}

/**
 * Restores `state` into a fresh tracker of a width x height clip; returns the support steps made
 * (for the session's log). Runs the model only for support (image encoder on the source clips).
 * @throws CinesegError E_RLE_INVALID (a stored mask that does not fit the clip), E_TRACKER_STATE
 *   (an object with neither a prompt nor support), supportSource's codes
 */
export async function restoreTracker(tracker: VideoTracker, sink: AnnotationSink, state: RestoredState, w: number, h: number): Promise<{ record: SinkSupport; memories: SupportMemory[] }[]> {
  const support: { record: SinkSupport; memories: SupportMemory[] }[] = [];
  for (const record of state.support ?? []) {
    if (!sink.supportSource) break;
    const src = await sink.supportSource(record.fromSession);
    const target = record.targetObjectId;
    const spec = { clip: src.clip, masks: src.masks, objectIds: record.objectIds, ...(target === undefined ? {} : { mapIds: Object.fromEntries(record.objectIds.map((id) => [id, target])) }) };
    const memories = await buildSupportSet(tracker.engine, [spec], { framesPerObject: record.frames, mirror: record.mirror ?? false });
    tracker.addSupportMemories(memories);
    support.push({ record, memories });
  }
  const byObject = new Map<number, RestoredState['masks']>();
  for (const m of state.masks) {
    let l = byObject.get(m.objectId);
    if (!l) byObject.set(m.objectId, (l = []));
    l.push(m);
  }
  const ids = new Set<number>([...state.prompts.map((p) => p.objectId), ...byObject.keys()]);
  for (const id of ids) {
    const prompts = state.prompts
      .filter((p) => p.objectId === id)
      .map((p) =>
        p.kind === 'points'
          ? { kind: 'points' as const, frame: p.frame, points: p.points, clearOld: p.clearOld }
          : p.kind === 'box'
            ? { kind: 'box' as const, frame: p.frame, box: p.box, points: p.points }
            : { kind: 'mask' as const, frame: p.frame },
      );
    const own = byObject.get(id) ?? [];
    // Checked now (cheap: no decoding), so a mask that does not fit the clip fails the restore.
    for (const m of own) {
      let sum = 0;
      for (const c of m.counts) sum += c;
      if (sum !== w * h) throw new CinesegError(ErrorCode.E_RLE_INVALID, `stored mask of object ${id} on frame ${m.frame} covers ${sum} pixels, the clip has ${w}x${h}`);
    }
    // Decoded only when the tracker needs one (the counts are held by the caller's state anyway).
    const masks = own.map((m) => ({
      frame: m.frame,
      mask: () => decodeMask({ size: [h, w], counts: m.counts as number[] }),
      score: m.score,
      tracked: m.origin === 'propagate',
      reverse: m.direction === 'backward',
    }));
    tracker.restoreObject(id, { prompts, masks });
  }
  return support;
}
