/**
 * A recorded session's log (recorded-session.ts): the prompts in effect and the support it took,
 * in the order applied, and what is read off it: the support records the store keeps, the log
 * without one object (removeObject), and how many frames a propagation visits.
 */
import type { Propagate } from '../protocol.js';
import type { SupportMemory } from '../track/support-set.js';
import type { SinkPrompt, SinkSupport } from './annotation-sink.js';

/** One addSupport as applied: its stored record and the memories built for it. */
export interface SupportStep {
  kind: 'support';
  record: SinkSupport;
  memories: SupportMemory[];
}
export type Step = SinkPrompt | SupportStep;

/** The support records of a log, in order. */
export function supportRecords(steps: readonly Step[]): SinkSupport[] {
  return steps.flatMap((s) => (s.kind === 'support' ? [s.record] : []));
}

/**
 * The log without an object: its prompts go, and its support memories (filed under the object
 * they serve); a support step that changed (or went) is a new object in the result.
 */
export function withoutObject(steps: readonly Step[], objectId: number): Step[] {
  const keep: Step[] = [];
  for (const s of steps) {
    if (s.kind !== 'support') {
      if (s.objectId !== objectId) keep.push(s);
      continue;
    }
    const memories = s.memories.filter((m) => m.objectId !== objectId);
    if (memories.length === 0) continue;
    const objectIds = s.record.objectIds.filter((id) => memories.some((m) => m.supportObjectId === id));
    keep.push(memories.length === s.memories.length ? s : { kind: 'support', record: { ...s.record, objectIds }, memories });
  }
  return keep;
}

/**
 * How many frames a propagation visits (the progress bar's end): from its start frame (default the
 * earliest prompted one; an object with support only counts as frame 0, or the last frame
 * backward) to the clip's end, to frame 0, or both ways (the start frame twice), each at most
 * maxFrames + 1 frames, as VideoTracker.propagate walks them.
 */
export function framesToVisit(steps: readonly Step[], objectIds: readonly number[], msg: Propagate, n: number): number {
  let start = msg.startFrame ?? Infinity;
  if (msg.startFrame === undefined) {
    for (const id of objectIds) {
      const own = steps.filter((p): p is SinkPrompt => p.kind !== 'support' && p.objectId === id).map((p) => p.frame);
      start = Math.min(start, ...(own.length ? own : [msg.direction === 'backward' ? n - 1 : 0]));
    }
  }
  const max = msg.maxFrames ?? n;
  const forward = Math.min(start + max, n - 1) - start + 1;
  const backward = start > 0 ? start - Math.max(start - max, 0) + 1 : 0;
  return msg.direction === 'both' ? forward + backward : msg.direction === 'backward' ? backward : forward;
}
