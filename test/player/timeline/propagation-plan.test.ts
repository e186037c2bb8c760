/** The propagation panel's settings → propagate requests (timeline/propagation-plan.ts). */
import { describe, expect, it } from 'vitest';
import { planPropagation, type PlanInput } from '../../../player/src/timeline/propagation-plan.js';

const base: PlanInput = { mode: 'prompt', direction: 'forward', numFrames: 100, current: 40, lastCorrected: null, from: 10, to: 30 };

describe('propagation plan', () => {
  it('starts at the last corrected frame, else at the server default', () => {
    expect(planPropagation(base)).toEqual([{ direction: 'forward' }]);
    expect(planPropagation({ ...base, lastCorrected: 55, direction: 'both' })).toEqual([{ direction: 'both', startFrame: 55 }]);
    expect(planPropagation({ ...base, mode: 'current', lastCorrected: 55 })).toEqual([{ direction: 'forward', startFrame: 40 }]);
    // A correction inside the tracked frames: from it. A prompt past them: from the first prompt
    // (the server default), so the frames between get tracked; backward needs no such check.
    const tracked = new Set([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(planPropagation({ ...base, lastCorrected: 8, firstPrompt: 3, tracked })).toEqual([{ direction: 'forward', startFrame: 8 }]);
    expect(planPropagation({ ...base, lastCorrected: 15, firstPrompt: 3, tracked })).toEqual([{ direction: 'forward' }]);
    expect(planPropagation({ ...base, direction: 'both', lastCorrected: 15, firstPrompt: 3, tracked })).toEqual([{ direction: 'both' }]);
    expect(planPropagation({ ...base, direction: 'backward', lastCorrected: 15, firstPrompt: 3, tracked })).toEqual([{ direction: 'backward', startFrame: 15 }]);
  });

  it('covers exactly a range: maxFrames + 1 frames from the start', () => {
    expect(planPropagation({ ...base, mode: 'range' })).toEqual([{ direction: 'forward', startFrame: 10, maxFrames: 20 }]);
    expect(planPropagation({ ...base, mode: 'range', direction: 'backward', from: 30, to: 10 })).toEqual([{ direction: 'backward', startFrame: 30, maxFrames: 20 }]);
    // Both ways from the anchor inside the range: forward to `to`, then backward to `from`.
    expect(planPropagation({ ...base, mode: 'range', direction: 'both', lastCorrected: 25 })).toEqual([
      { direction: 'forward', startFrame: 25, maxFrames: 5 },
      { direction: 'backward', startFrame: 25, maxFrames: 15 },
    ]);
    // Anchor outside the range (current 40): clamped to its end; only the backward pass is left.
    expect(planPropagation({ ...base, mode: 'range', direction: 'both' })).toEqual([{ direction: 'backward', startFrame: 30, maxFrames: 20 }]);
    expect(planPropagation({ ...base, mode: 'range', from: -5, to: 500 })).toEqual([{ direction: 'forward', startFrame: 0, maxFrames: 99 }]);
  });
});
