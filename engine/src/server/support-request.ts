/**
 * One addSupport request turned into a log step (recorded-session.ts): another stored session's
 * masks built into support memories for objects here, checked before anything changes. All or
 * nothing: every refusal is thrown before the caller stores or applies the step.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import type { AddSupport } from '../protocol.js';
import type { TrackingEngine } from '../track/tracking-engine.js';
import { buildSupportSet, DEFAULT_SUPPORT_FRAMES, DEFAULT_SUPPORT_MIRROR } from '../track/support-set.js';
import type { SinkSupport, SupportSource } from './annotation-sink.js';
import type { Step, SupportStep } from './session-log.js';

/**
 * Support memories one object may hold. Each is attended on every frame (like a prompted frame),
 * so memory attention grows with them; repeated addSupport messages must not grow it without end.
 * Measured gains stop by 4 clips x 8 frames (support-set.ts).
 */
export const MAX_SUPPORT_MEMORIES_PER_OBJECT = 64;

/** The step, and each target object's support memories in all once it is applied. */
export interface PreparedSupport {
  step: SupportStep;
  totals: { objectId: number; memories: number }[];
}

/**
 * @throws CinesegError E_PROMPT_INVALID (no object, an object with no usable mask, too many
 *   memories for an object); what buildSupportSet throws
 */
export async function prepareSupport(engine: TrackingEngine, src: SupportSource, msg: AddSupport, steps: readonly Step[]): Promise<PreparedSupport> {
  const frames = msg.frames ?? DEFAULT_SUPPORT_FRAMES;
  const mirror = msg.mirror ?? DEFAULT_SUPPORT_MIRROR;
  const ids = msg.objectIds ?? src.masks.annotations.map((a) => a.object_id);
  if (ids.length === 0) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `session "${msg.fromSession}" has no object to take support from`);
  const target = msg.targetObjectId;
  const spec = { clip: src.clip, masks: src.masks, objectIds: ids, ...(target === undefined ? {} : { mapIds: Object.fromEntries(ids.map((id) => [id, target])) }) };
  const memories = await buildSupportSet(engine, [spec], { framesPerObject: frames, mirror });
  // Objects named in the request that gave nothing (every mask empty or tiny) are refused, not skipped.
  const empty = msg.objectIds?.filter((id) => !memories.some((m) => m.supportObjectId === id)) ?? [];
  if (empty.length) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `object ${empty.join(', ')} of session "${msg.fromSession}" has no usable mask`, { details: { objectIds: empty } });
  const counts = new Map<number, number>();
  for (const m of [...steps.flatMap((s) => (s.kind === 'support' ? s.memories : [])), ...memories]) counts.set(m.objectId, (counts.get(m.objectId) ?? 0) + 1);
  const targets = [...new Set(memories.map((m) => m.objectId))];
  for (const id of targets) {
    if (counts.get(id)! > MAX_SUPPORT_MEMORIES_PER_OBJECT) {
      throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `object ${id} would have ${counts.get(id)} support memories; at most ${MAX_SUPPORT_MEMORIES_PER_OBJECT}`);
    }
  }
  const record: SinkSupport = {
    fromSession: msg.fromSession,
    objectIds: ids.filter((id) => memories.some((m) => m.supportObjectId === id)),
    ...(target === undefined ? {} : { targetObjectId: target }),
    frames,
    // Recorded either way, so a restore rebuilds the same memories whatever the default becomes.
    mirror,
    ...(src.promptVersion === undefined ? {} : { sourcePromptVersion: src.promptVersion }),
  };
  return { step: { kind: 'support', record, memories }, totals: targets.map((id) => ({ objectId: id, memories: counts.get(id)! })) };
}
