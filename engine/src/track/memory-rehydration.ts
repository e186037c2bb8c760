/**
 * Bounded tracker memory: what SAM 2 can still select is kept whole, everything else is kept as a
 * packed mask (compact-mask.ts) and rebuilt from it when it is needed again.
 *
 * During a pass, frame t selects the conditioning frames, the memories of the num_maskmem − 1
 * frames before it (stride 1 at eval) and the object pointers of the max_obj_ptrs − 1 frames
 * before it (SAM2-NOTES.md). So once a pass has moved max_obj_ptrs frames past a tracked frame,
 * nothing in this pass reads it: its logits, pointer and memory are replaced by its packed low-res
 * mask and its score. A long clip then costs ~hundreds of bytes per frame and object instead of
 * logits + memory (≈ 1.3 MB per frame and object at 1024 px).
 *
 * What another step may still need of a compacted frame — a correction on it (its logits as mask
 * input, its neighbours' memories and pointers), a pass in the other direction starting near it,
 * a restored session (restore.ts) — is rebuilt through the mask-prompt path (`supportOutput`:
 * the frame's features, the mask as output, the decoder for the pointer, the memory encoder on
 * the binarised mask). That is how SAM 2 treats a mask it is given; it differs from the original
 * only where the original memory came from soft (sigmoid) logits and its pointer from tracking.
 */
import { resizeBilinearToMask } from '../mask/upsample.js';
import type { MemorySettings } from '../model/bundle.js';
import { packLogits, unpackMask } from './compact-mask.js';
import { memorySlotFrame } from './memory-bank.js';
import type { CompactOutput, FrameOutput, ObjectState } from './object-state.js';
import { maskToModel } from './prompts.js';
import type { TrackingEngine } from './tracking-engine.js';

/** Pointers a step may read: min(numFrames, max_obj_ptrs_in_encoder), as memory-bank.ts. */
export function pointerSpan(s: MemorySettings, numFrames: number | undefined): number {
  return Math.min(numFrames ?? Number.POSITIVE_INFINITY, s.maxObjPtrsInEncoder);
}

/** The video's size (restored masks are at video size). */
export interface VideoSize {
  width: number;
  height: number;
}

/** Counters for tests and benches. */
export interface RehydrationStats {
  /** Frames compacted, and frames rebuilt from a packed mask (each one image-encoder run at most). */
  compacted: number;
  rebuilt: number;
}

/**
 * Makes whole every output that selecting memory for frame t (tracked in `reverse`) reads, and
 * with `self` the output on frame t itself (the mask input of a correction there). Frame by
 * frame over all objects, so objects share each rebuilt frame's image features. `selfOnly`: a
 * first prompt on a frame attends no memory, so only its own earlier output matters.
 */
export async function rehydrateFor(
  engine: TrackingEngine,
  objs: readonly ObjectState[],
  t: number,
  reverse: boolean,
  numFrames: number,
  self: boolean,
  size: VideoSize,
  stats: RehydrationStats,
  selfOnly = false,
): Promise<void> {
  for (const obj of objs) if (!selfOnly || obj.restoredCond.has(t)) await rehydrateRestoredCond(engine, obj, size, stats);
  const s = engine.settings;
  const inRange = (f: number) => f >= 0 && f < numFrames && !selfOnly;
  // frame -> needs memory (true) or only the output (false)
  const want = new Map<number, boolean>();
  if (self) want.set(t, false);
  if (engine.memory) {
    for (let tPos = 1; tPos < s.numMaskmem; tPos++) {
      const f = memorySlotFrame(t, tPos, s.numMaskmem, s.memoryTemporalStrideForEval, reverse);
      if (inRange(f)) want.set(f, true);
    }
  }
  const maxPtrs = pointerSpan(s, numFrames);
  for (let d = 1; d < maxPtrs; d++) {
    const f = reverse ? t + d : t - d;
    if (!inRange(f)) break;
    if (!want.has(f)) want.set(f, false);
  }
  for (const [f, memory] of want) {
    for (const obj of objs) {
      if (obj.cond.has(f)) continue;
      const whole = obj.nonCond.get(f);
      if (whole) {
        // A whole output wins over a stale packed copy.
        obj.compact.delete(f);
        if (memory && !whole.maskmem) await rebuildMemory(engine, f, whole, stats);
      } else if (obj.compact.has(f)) await rebuild(engine, obj, f, size, stats);
    }
  }
}

/** Builds the outputs of a restored object's prompted frames from their stored masks. */
export async function rehydrateRestoredCond(engine: TrackingEngine, obj: ObjectState, size: VideoSize, stats: RehydrationStats): Promise<void> {
  const S = engine.runner.S;
  for (const [f, r] of [...obj.restoredCond]) {
    const maskS = maskToModel(r.videoMask(), size.width, size.height, S);
    const out = await engine.supportOutput(await engine.features(f), maskS);
    stats.rebuilt++;
    obj.restoredCond.delete(f);
    obj.cond.set(f, out);
    obj.nonCond.delete(f);
    obj.compact.delete(f);
  }
}

/**
 * Compacts the tracked outputs that no later step of this pass can select: those more than the
 * pointer span (and the memory window) behind frame t in the direction of travel.
 */
export function compactBehind(objs: readonly ObjectState[], t: number, reverse: boolean, s: MemorySettings, numFrames: number, stats: RehydrationStats): void {
  const next = reverse ? t - 1 : t + 1;
  const reach = Math.max(pointerSpan(s, numFrames) - 1, (s.numMaskmem - 1) * s.memoryTemporalStrideForEval + 1);
  const edge = reverse ? next + reach : next - reach;
  // The edge moves one frame a step; a few frames behind it cover a pass that skipped frames.
  for (const o of objs) {
    for (let k = 1; k <= 4; k++) compactFrame(o, reverse ? edge + k : edge - k, stats);
  }
}

/** Compacts every tracked output farther than the pointer span from frame t (end of a pass, corrections). */
export function compactAllAway(objs: readonly ObjectState[], t: number, s: MemorySettings, numFrames: number, stats: RehydrationStats): void {
  const reach = Math.max(pointerSpan(s, numFrames) - 1, (s.numMaskmem - 1) * s.memoryTemporalStrideForEval + 1);
  for (const o of objs) for (const f of [...o.nonCond.keys()]) if (Math.abs(f - t) > reach) compactFrame(o, f, stats);
}

function compactFrame(o: ObjectState, f: number, stats: RehydrationStats): void {
  const out = o.nonCond.get(f);
  // Pending prompt outputs (temp*) are never compacted: preflight still has to encode them.
  if (!out || o.tempNonCond.has(f) || o.tempCond.has(f)) return;
  o.compact.set(f, { lowRes: packLogits(out.predMasks), objectScore: out.objectScore });
  o.nonCond.delete(f);
  stats.compacted++;
}

/** A shown-only output for a packed frame: ±10 logits from the mask, no pointer, no memory. */
export function compactView(c: CompactOutput, L: number, size: VideoSize): FrameOutput {
  const bits = c.lowRes ? unpackMask(c.lowRes, L * L) : maskToModel(c.videoMask!(), size.width, size.height, L);
  const predMasks = new Float32Array(L * L);
  for (let i = 0; i < predMasks.length; i++) predMasks[i] = bits[i] ? 10 : -10;
  return { predMasks, objPtr: new Float32Array(0), objectScore: c.objectScore, maskmem: null };
}

/** Rebuilds a packed frame's whole output from its mask (see the module comment). */
async function rebuild(engine: TrackingEngine, obj: ObjectState, f: number, size: VideoSize, stats: RehydrationStats): Promise<void> {
  const c = obj.compact.get(f)!;
  const { L, S } = engine.runner;
  // A restored frame's stored mask is sharper than any low-res view of it.
  const maskS = c.videoMask ? maskToModel(c.videoMask(), size.width, size.height, S) : toModelMask(compactView(c, L, size).predMasks, L, S);
  const out = await engine.supportOutput(await engine.features(f), maskS);
  // The mask path says "present" from the mask; the stored score is what tracking said.
  out.objectScore = c.objectScore;
  stats.rebuilt++;
  obj.compact.delete(f);
  obj.nonCond.set(f, out);
}

/** Re-encodes the memory of a whole output whose memory was dropped (its logits are still there). */
async function rebuildMemory(engine: TrackingEngine, f: number, out: FrameOutput, stats: RehydrationStats): Promise<void> {
  const { L, S } = engine.runner;
  const fresh = await engine.supportOutput(await engine.features(f), toModelMask(out.predMasks, L, S));
  stats.rebuilt++;
  out.maskmem = fresh.maskmem;
}

/** Low-res logits → the S x S 0/1 mask they show (bilinear, > 0), as floats for the model. */
function toModelMask(logits: Float32Array, L: number, S: number): Float32Array {
  const bytes = resizeBilinearToMask(logits, L, L, S, S);
  const f = new Float32Array(S * S);
  for (let i = 0; i < f.length; i++) f[i] = bytes[i]!;
  return f;
}
