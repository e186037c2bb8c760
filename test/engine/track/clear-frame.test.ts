/**
 * VideoTracker.clearFrame (SAM 2's clear_all_prompts_in_frame, output included) with the real
 * tiny model on the aquarium clip: the frame loses its prompt and outputs and counts as never
 * tracked, so a click there is an initial conditioning frame again and gives exactly what a first
 * click gives; other frames and other objects keep their outputs; an object with no prompted frame
 * left has nothing to start a propagation from.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stabilityScore } from '../../../engine/src/track/tracking-engine.js';
import { VideoTracker } from '../../../engine/src/track/video-tracker.js';
import { AQUARIUM_H, AQUARIUM_W, loadFixture, maxAbsDiff, type Fixture } from './fixtures.js';

const N = 8;
let fx: Fixture;
beforeAll(async () => {
  fx = await loadFixture(N);
});
afterAll(async () => {
  await fx?.sessions.destroy();
});
const FISH = { x: 681, y: 245 };

describe('VideoTracker.clearFrame', () => {
  it('makes the frame a fresh one again, leaving other frames and objects as they were', async () => {
    const t = new VideoTracker(fx.sessions, fx.frames, { width: AQUARIUM_W, height: AQUARIUM_H });
    await t.addPoints(0, 1, [FISH]);
    await t.addPoints(0, 2, [{ x: 200, y: 100 }]);
    for await (const _ of t.propagate()) void _;
    const o1 = t.objectState(1)!;
    const o2 = t.objectState(2)!;
    const other2 = t.output(0, 2)!;
    expect(t.output(3, 1)).toBeDefined();
    // A correction on a tracked frame uses memory: not what a first click there gives.
    const corrected = await t.addPoints(3, 1, [FISH]);
    expect(o1.framesTracked.has(3)).toBe(true);

    expect(t.clearFrame(1, 3)).toBe(true);
    expect(t.output(3, 1)).toBeUndefined();
    expect(o1.framesTracked.has(3)).toBe(false);
    expect(o1.pointInputs.has(3)).toBe(false);
    expect(t.output(0, 1)).toBeDefined();
    expect(t.output(3, 2)).toBeDefined();
    expect(t.output(0, 2)).toBe(other2);
    expect(t.hasConditioning(1)).toBe(true);
    // The same click again: decoded as an initial frame, bit for bit a first click's result.
    const fresh = await t.addPoints(3, 1, [FISH]);
    const ref = new VideoTracker(fx.sessions, fx.frames, { width: AQUARIUM_W, height: AQUARIUM_H });
    const want = await ref.addPoints(3, 1, [FISH]);
    expect(maxAbsDiff(fresh.predMasks, want.predMasks)).toBe(0);
    expect(maxAbsDiff(fresh.predMasks, corrected.predMasks)).toBeGreaterThan(0);
    ref.destroy();

    // Every prompted frame cleared: nothing left to start from (the caller drops the object).
    t.clearFrame(2, 0);
    expect(t.hasConditioning(2)).toBe(false);
    expect(o2.cond.size).toBe(0);
    expect(t.clearFrame(9, 0)).toBe(false);
    t.destroy();
  }, 60_000);

  it('stabilityScore is the IoU of the logits above +delta and above -delta', () => {
    const l = Float32Array.of(1, 0.04, -0.04, -1, 0.2);
    expect(stabilityScore(l, 0.05)).toBeCloseTo(2 / 4, 10);
    expect(stabilityScore(l, 0.05, 3, 4)).toBe(1);
    expect(stabilityScore(Float32Array.of(0.01, -0.01), 0.05)).toBe(0);
  });
});
