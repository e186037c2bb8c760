import { describe, expect, it } from 'vitest';
import type { MemorySettings } from '../../../engine/src/model/bundle.js';
import { DEFAULT_SUPPORT_MEMORY, layoutKey, memorySlotFrame, selectClosestCondFrames, selectMemory, supportFrameId } from '../../../engine/src/track/memory-bank.js';
import type { FrameOutput } from '../../../engine/src/track/object-state.js';

// SAM 2.1 video-predictor settings (sam2.1_hiera_*.yaml + build_sam overrides).
const sam21: MemorySettings = {
  numMaskmem: 7,
  maxObjPtrsInEncoder: 16,
  memoryTemporalStrideForEval: 1,
  maxCondFramesInAttn: -1,
  onlyObjPtrsInThePastForEval: true,
  useSignedTposEncToObjPtrs: true,
  addTposEncToObjPtrs: true,
  directlyAddNoMemEmbed: true,
  multimaskOutputInSam: true,
  multimaskOutputForTracking: true,
  multimaskMinPtNum: 0,
  multimaskMaxPtNum: 1,
  dynamicMultimaskViaStability: true,
  dynamicMultimaskStabilityDelta: 0.05,
  dynamicMultimaskStabilityThresh: 0.98,
  binarizeMaskFromPtsForMemEnc: true,
  sigmoidScaleForMemEnc: 20,
  sigmoidBiasForMemEnc: -10,
  useMaskInputAsOutputWithoutSam: true,
  fillHoleArea: 8,
  predObjScores: true,
  softNoObjPtr: false,
  fixedNoObjPtr: true,
};

const out = (): FrameOutput => ({ predMasks: new Float32Array(1), objPtr: new Float32Array(1), objectScore: 1, maskmem: new Float32Array(1) });

function state(cond: number[], nonCond: number[]) {
  return { cond: new Map(cond.map((f) => [f, out()])), nonCond: new Map(nonCond.map((f) => [f, out()])) };
}
const range = (a: number, b: number) => [...Array(b - a + 1).keys()].map((i) => a + i);

describe('selectMemory (forward)', () => {
  const src = state([0], range(1, 40));

  it('takes every conditioning frame at t_pos 0 and the 6 previous frames at t_pos 6..1', () => {
    const s = selectMemory(30, src, sam21, 100, false);
    expect(s.memFrames).toEqual([0, 24, 25, 26, 27, 28, 29]);
    // index into maskmem_tpos_enc = numMaskmem - t_pos - 1: cond 6, t-6 -> t_pos 1 -> 5, ..., t-1 -> t_pos 6 -> 0
    expect(s.memTpos).toEqual([6, 5, 4, 3, 2, 1, 0]);
    expect(s.memOutputs[0]).toBe(src.cond.get(0));
    expect(s.memOutputs[6]).toBe(src.nonCond.get(29));
  });

  it('takes the cond pointer then t-1..t-15, normalised by min(numFrames,16)-1', () => {
    const s = selectMemory(30, src, sam21, 100, false);
    expect(s.ptrFrames).toEqual([0, ...range(15, 29).reverse()]);
    expect(s.ptrDistance).toEqual([30, ...range(1, 15)]);
    expect(s.ptrTpos.map((x) => x * 15)).toEqual(s.ptrDistance.map((d) => expect.closeTo(d, 9)));
  });

  it('caps pointers at min(numFrames, 16): a 10-frame clip gets cond + 9', () => {
    const s = selectMemory(9, state([0], range(1, 8)), sam21, 10, false);
    expect(s.ptrFrames).toEqual([0, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(s.ptrTpos[1]).toBeCloseTo(1 / 9, 12);
    expect(s.ptrTpos[0]).toBeCloseTo(9 / 9, 12);
  });

  it('skips missing frames and does not go below frame 0', () => {
    const s = selectMemory(4, state([0], [1, 3]), sam21, 100, false);
    expect(s.memFrames).toEqual([0, 1, 3]);
    expect(s.memTpos).toEqual([6, 2, 0]); // frame 1 = t-3 -> t_pos 4 -> index 2
    expect(s.ptrFrames).toEqual([0, 3, 1]);
  });

  it('uses future conditioning frames in attention but not their pointers (only_obj_ptrs_in_the_past)', () => {
    const s = selectMemory(5, state([0, 20], range(1, 4)), sam21, 100, false);
    expect(s.memFrames).toEqual([0, 20, 1, 2, 3, 4]);
    expect(s.ptrFrames).toEqual([0, 4, 3, 2, 1]);
    const all = selectMemory(5, state([0, 20], range(1, 4)), { ...sam21, onlyObjPtrsInThePastForEval: false }, 100, false);
    expect(all.ptrFrames).toEqual([0, 20, 4, 3, 2, 1]);
    expect(all.ptrDistance[1]).toBe(-15); // signed
  });

  it('SAM 2 (unsigned, no tpos) gives absolute distances and zero pointer positions', () => {
    const v1 = { ...sam21, useSignedTposEncToObjPtrs: false, addTposEncToObjPtrs: false, onlyObjPtrsInThePastForEval: false };
    const s = selectMemory(5, state([0, 20], range(1, 4)), v1, 100, false);
    expect(s.ptrDistance.slice(0, 2)).toEqual([5, 15]);
    expect(s.ptrTpos.every((x) => x === 0)).toBe(true);
  });

  it('skips outputs whose memory was dropped (bounded streaming) but keeps their pointers', () => {
    const src2 = state([0], range(1, 9));
    src2.nonCond.get(3)!.maskmem = null;
    const s = selectMemory(8, src2, sam21, undefined, false);
    expect(s.memFrames).toEqual([0, 2, 4, 5, 6, 7]);
    expect(s.ptrFrames).toContain(3);
  });
});

describe('selectMemory (reverse)', () => {
  it('uses t+1..t+6 and pointers from cond frames at/after t with sign-flipped distance', () => {
    const src = state([30], range(5, 29));
    const s = selectMemory(4, src, sam21, 100, true);
    expect(s.memFrames).toEqual([30, 10, 9, 8, 7, 6, 5]);
    expect(s.memTpos).toEqual([6, 5, 4, 3, 2, 1, 0]);
    expect(s.ptrFrames).toEqual([30, ...range(5, 19)]);
    expect(s.ptrDistance).toEqual([26, ...range(1, 15)]);
  });

  it('stops the pointer walk at the last frame of the video', () => {
    const s = selectMemory(8, state([12], range(9, 11)), sam21, 12, true);
    expect(s.ptrFrames).toEqual([12, 9, 10, 11]);
    expect(s.ptrDistance).toEqual([4, 1, 2, 3]);
  });
});

describe('memorySlotFrame with a temporal stride (XMem r)', () => {
  it('follows SAM2: the last frame, then every r-th frame', () => {
    const fwd = [1, 2, 3, 4, 5, 6].map((tPos) => memorySlotFrame(20, tPos, 7, 3, false));
    expect(fwd).toEqual([6, 9, 12, 15, 18, 19]);
    const rev = [1, 2, 3, 4, 5, 6].map((tPos) => memorySlotFrame(20, tPos, 7, 3, true));
    expect(rev).toEqual([36, 33, 30, 27, 24, 21]);
  });
});

describe('selectClosestCondFrames', () => {
  it('keeps all with -1 or under the limit', () => {
    expect(selectClosestCondFrames(5, [10, 0, 20], -1)).toEqual({ selected: [0, 10, 20], unselected: [] });
    expect(selectClosestCondFrames(5, [10, 0], 2)).toEqual({ selected: [0, 10], unselected: [] });
  });

  it('takes the closest before, closest after, then nearest others', () => {
    expect(selectClosestCondFrames(15, [0, 10, 20, 30, 14], 3)).toEqual({ selected: [10, 14, 20], unselected: [0, 30] });
    expect(selectClosestCondFrames(31, [0, 10, 20, 30], 2)).toEqual({ selected: [20, 30], unselected: [0, 10] });
  });

  it('lets an unselected cond frame inside the window act as a normal memory and pointer', () => {
    const src = state([21, 25, 26], [22, 23, 24]);
    const s = selectMemory(27, src, { ...sam21, maxCondFramesInAttn: 2 }, 100, false);
    expect(s.memFrames).toEqual([25, 26, 21, 22, 23, 24]);
    expect(s.memTpos).toEqual([6, 6, 5, 4, 3, 2]);
    expect(s.ptrFrames).toEqual([25, 26, 24, 23, 22, 21]);
    expect(s.ptrDistance).toEqual([2, 1, 3, 4, 5, 6]);
  });
});

describe('layoutKey', () => {
  it('is equal exactly when tensors can be batched', () => {
    const a = selectMemory(30, state([0], range(1, 40)), sam21, 100, false);
    const b = selectMemory(
      30,
      state(
        [3],
        range(1, 40).filter((f) => f !== 3),
      ),
      sam21,
      100,
      false,
    );
    const c = selectMemory(
      30,
      state(
        [0],
        range(1, 40).filter((f) => f !== 27),
      ),
      sam21,
      100,
      false,
    );
    expect(layoutKey(a)).not.toBe(layoutKey(b)); // pointer distance 30 vs 27
    expect(layoutKey(a)).not.toBe(layoutKey(c));
    const d = selectMemory(30, state([0], range(1, 40)), sam21, 100, false);
    expect(layoutKey(a)).toBe(layoutKey(d));
  });
});

describe('selectMemory with support memories (frames of other clips)', () => {
  const withSupport = (cond: number[], nonCond: number[], nSupport: number) => ({ ...state(cond, nonCond), support: [...Array(nSupport)].map(out) });

  it('attends support memories like conditioning frames (default t_pos 0) and places their pointers farthest', () => {
    expect(DEFAULT_SUPPORT_MEMORY).toEqual({ tpos: 'cond', pointers: 'farthest' });
    const src = withSupport([0], range(1, 40), 2);
    const s = selectMemory(30, src, sam21, 100, false);
    expect(s.memFrames).toEqual([0, supportFrameId(0), supportFrameId(1), 24, 25, 26, 27, 28, 29]);
    expect(s.memTpos).toEqual([6, 6, 6, 5, 4, 3, 2, 1, 0]);
    expect(s.memOutputs[1]).toBe(src.support[0]);
    expect(s.memOutputs[2]).toBe(src.support[1]);
    // cond pointer, the two support pointers at distance maxPtrs - 1 = 15 (position 1), then t-1..t-15
    expect(s.ptrFrames).toEqual([0, -1, -2, ...range(15, 29).reverse()]);
    expect(s.ptrDistance.slice(0, 3)).toEqual([30, 15, 15]);
    expect(s.ptrTpos[1]).toBe(1);
    expect(s.ptrOutputs[2]).toBe(src.support[1]);
  });

  it('without support the selection is unchanged', () => {
    const a = selectMemory(30, state([0], range(1, 40)), sam21, 100, false);
    const b = selectMemory(30, withSupport([0], range(1, 40), 0), sam21, 100, false);
    expect(b).toEqual(a);
  });

  it('a support-only object on its first frame attends only the support', () => {
    const s = selectMemory(0, withSupport([], [], 3), sam21, 50, false);
    expect(s.memFrames).toEqual([-1, -2, -3]);
    expect(s.ptrFrames).toEqual([-1, -2, -3]);
    // On a 10-frame clip the farthest distance shrinks with maxPtrs (min(10, 16) - 1 = 9), position stays 1.
    const short = selectMemory(5, withSupport([], range(0, 4), 1), sam21, 10, false);
    expect(short.ptrDistance[0]).toBe(9);
    expect(short.ptrTpos[0]).toBe(1);
    expect(short.memTpos).toEqual([6, 4, 3, 2, 1, 0]);
  });

  it("honours the 'oldest' temporal code and the 'near' / 'none' pointer choices", () => {
    const src = withSupport([], range(0, 40), 2);
    const oldest = selectMemory(30, src, sam21, 100, false, { tpos: 'oldest', pointers: 'near' });
    expect(oldest.memTpos.slice(0, 2)).toEqual([5, 5]);
    expect(oldest.ptrDistance.slice(0, 2)).toEqual([1, 1]);
    const none = selectMemory(30, src, sam21, 100, false, { tpos: 'cond', pointers: 'none' });
    expect(none.memTpos.slice(0, 2)).toEqual([6, 6]);
    expect(none.ptrFrames.every((f) => f >= 0)).toBe(true);
    expect(none.ptrFrames).toHaveLength(15);
  });

  it('skips support memories without a spatial memory but keeps their pointer', () => {
    const src = withSupport([], [], 2);
    src.support[0]!.maskmem = null;
    const s = selectMemory(0, src, sam21, 100, false);
    expect(s.memFrames).toEqual([-2]);
    expect(s.ptrFrames).toEqual([-1, -2]);
  });

  it('layoutKey separates objects with different support counts and batches equal ones', () => {
    const a = selectMemory(30, withSupport([0], range(1, 40), 1), sam21, 100, false);
    const b = selectMemory(30, withSupport([0], range(1, 40), 2), sam21, 100, false);
    const c = selectMemory(30, withSupport([0], range(1, 40), 1), sam21, 100, false);
    const plain = selectMemory(30, state([0], range(1, 40)), sam21, 100, false);
    expect(layoutKey(a)).not.toBe(layoutKey(b));
    expect(layoutKey(a)).not.toBe(layoutKey(plain));
    expect(layoutKey(a)).toBe(layoutKey(c));
  });
});
