/**
 * Which memories condition frame t — SAM2's `_prepare_memory_conditioned_features`, as a pure
 * function over an object's stored outputs. No graph knows this: it is what makes streaming,
 * bounded memory and batching possible, so it is written here once and tested on its own.
 */
import type { MemorySettings } from '../model/bundle.js';
import type { FrameOutput } from './object-state.js';

export interface MemorySelection {
  /** Frames whose spatial memory is attended, conditioning frames first. */
  memFrames: number[];
  /** Per memory frame: index into `maskmem_tpos_enc` (numMaskmem − t_pos − 1). */
  memTpos: number[];
  memOutputs: FrameOutput[];
  /** Frames whose object pointer is attended. */
  ptrFrames: number[];
  /** Per pointer: the signed (or absolute) frame distance, before normalisation. */
  ptrDistance: number[];
  /** Per pointer: the value fed as `obj_ptr_tpos` (distance / (maxPtrs − 1), or 0). */
  ptrTpos: number[];
  ptrOutputs: FrameOutput[];
}

/** The part of an object's state the selection reads. */
export interface MemorySource {
  cond: ReadonlyMap<number, FrameOutput>;
  nonCond: ReadonlyMap<number, FrameOutput>;
  /** Support memories: annotated frames of other clips (see support-set.ts), in insertion order. */
  support?: readonly FrameOutput[];
}

/**
 * How support memories enter attention. SAM2 has no notion of them; they are frames from other
 * clips, so neither a temporal slot nor a frame distance is "true" — these are the measured
 * choices (see support-set.ts for the numbers).
 */
export interface SupportMemoryOptions {
  /**
   * Temporal code of their spatial memory: 'cond' = t_pos 0 like a conditioning frame (index
   * numMaskmem − 1), 'oldest' = t_pos 1, the slot of the oldest recent frame (index numMaskmem − 2).
   */
  tpos: 'cond' | 'oldest';
  /**
   * Their object pointers: 'farthest' = at distance maxPtrs − 1 (normalised position 1),
   * 'near' = at distance 1 (like the previous frame), 'none' = left out of attention.
   */
  pointers: 'farthest' | 'near' | 'none';
}

/**
 * The defaults. Measured on synthetic clips with the tiny bundle, t_pos 0 vs the oldest slot and
 * the three pointer choices changed zero-click J&F by < 0.005 (pointers moved object scores by
 * ~1e-4): t_pos 0 is kept because it is what SAM2 gives every ground-truth memory, and the
 * farthest pointer position because it claims the least temporal closeness.
 */
export const DEFAULT_SUPPORT_MEMORY: SupportMemoryOptions = { tpos: 'cond', pointers: 'farthest' };

/** Pseudo frame number of support memory i in `memFrames` / `ptrFrames`: negative, never a real frame. */
export function supportFrameId(i: number): number {
  return -1 - i;
}

/**
 * SAM2's `select_closest_cond_frames`: all conditioning frames when the limit is −1 or not
 * reached; otherwise the closest before t, the closest at/after t, then the nearest others.
 * Returns frames sorted ascending (SAM2 keeps dict order; attention does not depend on order,
 * and a fixed order keeps batched and streaming runs bit-identical).
 */
export function selectClosestCondFrames(t: number, condFrames: readonly number[], max: number): { selected: number[]; unselected: number[] } {
  const sorted = [...condFrames].sort((a, b) => a - b);
  if (max === -1 || sorted.length <= max) return { selected: sorted, unselected: [] };
  const chosen = new Set<number>();
  let before: number | undefined;
  let after: number | undefined;
  for (const f of sorted) {
    if (f < t) before = f;
    else if (after === undefined) after = f;
  }
  if (before !== undefined) chosen.add(before);
  if (after !== undefined) chosen.add(after);
  const rest = sorted.filter((f) => !chosen.has(f)).sort((a, b) => Math.abs(a - t) - Math.abs(b - t));
  for (const f of rest.slice(0, Math.max(0, max - chosen.size))) chosen.add(f);
  return { selected: sorted.filter((f) => chosen.has(f)), unselected: sorted.filter((f) => !chosen.has(f)) };
}

/** The frame SAM2 takes for memory slot `tPos` (1..numMaskmem−1) when tracking frame t. */
export function memorySlotFrame(t: number, tPos: number, numMaskmem: number, stride: number, reverse: boolean): number {
  const tRel = numMaskmem - tPos;
  if (tRel === 1) return reverse ? t + 1 : t - 1;
  if (!reverse) return Math.floor((t - 2) / stride) * stride - (tRel - 2) * stride;
  return -Math.floor(-(t + 2) / stride) * stride + (tRel - 2) * stride;
}

/**
 * Selects the memories and object pointers for frame t of one object.
 *
 * @param numFrames frames in the video (caps the pointer count at min(numFrames, max) and stops
 *   the pointer walk at the end); undefined for an unbounded live stream
 */
export function selectMemory(
  t: number,
  src: MemorySource,
  settings: MemorySettings,
  numFrames: number | undefined,
  reverse: boolean,
  supportOpts: SupportMemoryOptions = DEFAULT_SUPPORT_MEMORY,
): MemorySelection {
  const { numMaskmem } = settings;
  const stride = settings.memoryTemporalStrideForEval;
  const { selected, unselected } = selectClosestCondFrames(t, [...src.cond.keys()], settings.maxCondFramesInAttn);
  const unselectedSet = new Set(unselected);
  const lookup = (f: number): FrameOutput | undefined => src.nonCond.get(f) ?? (unselectedSet.has(f) ? src.cond.get(f) : undefined);

  const sel: MemorySelection = {
    memFrames: [],
    memTpos: [],
    memOutputs: [],
    ptrFrames: [],
    ptrDistance: [],
    ptrTpos: [],
    ptrOutputs: [],
  };
  for (const f of selected) {
    const out = src.cond.get(f)!;
    if (!out.maskmem) continue;
    sel.memFrames.push(f);
    sel.memTpos.push(numMaskmem - 1); // t_pos = 0
    sel.memOutputs.push(out);
  }
  // Support memories sit with the conditioning frames: like them they are ground-truth masks
  // that never leave the bank, whatever frame is being tracked.
  const support = src.support ?? [];
  for (let i = 0; i < support.length; i++) {
    const out = support[i]!;
    if (!out.maskmem) continue;
    sel.memFrames.push(supportFrameId(i));
    sel.memTpos.push(supportOpts.tpos === 'cond' ? numMaskmem - 1 : Math.max(0, numMaskmem - 2));
    sel.memOutputs.push(out);
  }
  for (let tPos = 1; tPos < numMaskmem; tPos++) {
    const f = memorySlotFrame(t, tPos, numMaskmem, stride, reverse);
    const out = lookup(f);
    if (!out || !out.maskmem) continue;
    sel.memFrames.push(f);
    sel.memTpos.push(numMaskmem - tPos - 1);
    sel.memOutputs.push(out);
  }

  const maxPtrs = Math.min(numFrames ?? Number.POSITIVE_INFINITY, settings.maxObjPtrsInEncoder);
  const sign = reverse ? -1 : 1;
  for (const f of selected) {
    if (settings.onlyObjPtrsInThePastForEval && (reverse ? f < t : f > t)) continue;
    sel.ptrFrames.push(f);
    sel.ptrDistance.push(settings.useSignedTposEncToObjPtrs ? (t - f) * sign : Math.abs(t - f));
    sel.ptrOutputs.push(src.cond.get(f)!);
  }
  if (supportOpts.pointers !== 'none') {
    // A fixed distance: a support frame has no position in this video, so it gets the same one
    // on every frame (which also keeps the layout stable from frame to frame for batching).
    const d = supportOpts.pointers === 'farthest' ? Math.max(1, maxPtrs - 1) : 1;
    for (let i = 0; i < support.length; i++) {
      sel.ptrFrames.push(supportFrameId(i));
      sel.ptrDistance.push(d);
      sel.ptrOutputs.push(support[i]!);
    }
  }
  for (let d = 1; d < maxPtrs; d++) {
    const f = reverse ? t + d : t - d;
    if (f < 0 || (numFrames !== undefined && f >= numFrames)) break;
    const out = lookup(f);
    if (!out) continue;
    sel.ptrFrames.push(f);
    sel.ptrDistance.push(d);
    sel.ptrOutputs.push(out);
  }
  // SAM2 divides by (maxPtrs − 1); a one-frame video would divide by zero, so clamp to 1.
  const denom = Math.max(1, maxPtrs - 1);
  for (const d of sel.ptrDistance) sel.ptrTpos.push(settings.addTposEncToObjPtrs ? d / denom : 0);
  return sel;
}

/**
 * A key equal for two selections exactly when their tensors can share one batched memory
 * attention run: same memory t_pos list and same pointer positions.
 */
export function layoutKey(sel: MemorySelection): string {
  return `${sel.memTpos.join(',')}|${sel.ptrTpos.join(',')}`;
}
