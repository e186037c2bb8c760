/**
 * SAM 2 predictor flags on the real tiny model: `nonOverlapMasks` / `nonOverlapMasksForMemEnc`
 * (SAM2VideoPredictor `non_overlap_masks`, SAM2Base `non_overlap_masks_for_mem_enc`) and
 * `addAllFramesToCorrectAsCond` (`add_all_frames_to_correct_as_cond`), both values each.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { DecodedFrames } from '../../../engine/src/track/decoded-frames.js';
import { GENERATED_DIR } from '../../global-setup.js';
import { testBundleDir } from '../model/test-bundle.js';
import { selectMemory } from '../../../engine/src/track/memory-bank.js';
import { VideoTracker, type TrackedFrame } from '../../../engine/src/track/video-tracker.js';
import { resizeBilinearToMask } from '../../../engine/src/mask/upsample.js';
import { ArrayFrames, maxAbsDiff } from './fixtures.js';

// The first frames of a generated ultrasound clip (480 x 360): the shipped model was trained on
// such clips, so a click there gives a real mask.
const W = 480;
const H = 360;
const N = 10;
let fx: { sessions: ModelSessions; frames: ArrayFrames };
beforeAll(async () => {
  const bundle = loadBundle(testBundleDir());
  const sessions = await ModelSessions.create(bundle, { ep: 'cpu' });
  const dec = await DecodedFrames.open(join(GENERATED_DIR, 'ultrasound-1', 'clip.mp4'), bundle.imageSize, { maxFrames: N });
  const frames: Uint8Array[] = [];
  for (let i = 0; i < dec.numFrames; i++) frames.push(await dec.getFrame(i));
  await dec.destroy();
  fx = { sessions, frames: new ArrayFrames(frames) };
});
afterAll(async () => {
  await fx?.sessions.destroy();
});

// The clip's object 1 (prompts.json: 213,181), clicked twice, as two objects.
const FISH = { x: 213, y: 181 };
const FISH_2 = { x: 218, y: 184 };

async function collect(it: AsyncGenerator<TrackedFrame>): Promise<TrackedFrame[]> {
  const out: TrackedFrame[] = [];
  for await (const f of it) out.push(f);
  return out;
}

function overlapPixels(t: VideoTracker, tf: TrackedFrame, ref?: Uint8Array[]): { overlap: number; areas: number[]; masks: Uint8Array[]; within: boolean } {
  const L = t.runner.L;
  const masks = tf.objects.map((o) => resizeBilinearToMask(o.output.predMasks, L, L, H, W));
  let overlap = 0;
  let within = true;
  for (let i = 0; i < masks[0]!.length; i++) {
    if (masks[0]![i] && masks[1]![i]) overlap++;
    if (ref && ((masks[0]![i] && !ref[0]![i]) || (masks[1]![i] && !ref[1]![i]))) within = false;
  }
  return { overlap, areas: masks.map((m) => m.reduce((s, v) => s + v, 0)), masks, within };
}

async function twoObjectsOnOneFish(opts: { nonOverlapMasks?: boolean; nonOverlapMasksForMemEnc?: boolean }) {
  const t = new VideoTracker(fx.sessions, fx.frames, { width: W, height: H, ...opts });
  await t.addPoints(0, 1, [FISH]);
  await t.addPoints(0, 2, [FISH_2]);
  const frames = await collect(t.propagate());
  return { t, frames };
}

describe('nonOverlapMasks', () => {
  it('makes the masks of two objects on one structure disjoint, where they overlap without it; memory unchanged', async () => {
    const off = await twoObjectsOnOneFish({});
    const on = await twoObjectsOnOneFish({ nonOverlapMasks: true });
    expect(off.t.engine.nonOverlapMasks).toBe(false); // Meta's default
    for (let k = 0; k < N; k++) {
      const a = overlapPixels(off.t, off.frames[k]!);
      const b = overlapPixels(on.t, on.frames[k]!, a.masks);
      expect(a.overlap).toBeGreaterThan(100);
      expect(b.overlap).toBe(0);
      // Only taken away, never added: each mask is within the object's unconstrained one. The
      // union is nearly kept (see applyOutputNonOverlap in non-overlap.ts).
      expect(b.within).toBe(true);
      expect(b.areas[0]! + b.areas[1]!).toBeGreaterThan(0.9 * (a.areas[0]! + a.areas[1]! - a.overlap));
    }
    // Output-only: the stored outputs (memory, later mask inputs) are identical in both runs.
    for (const id of [1, 2]) {
      const so = off.t.objectState(id)!.nonCond.get(N - 1)!;
      const sn = on.t.objectState(id)!.nonCond.get(N - 1)!;
      expect(maxAbsDiff(so.predMasks, sn.predMasks)).toBe(0);
      expect(maxAbsDiff(so.maskmem!, sn.maskmem!)).toBe(0);
    }
    off.t.destroy();
    on.t.destroy();
  });

  it('nonOverlapMasksForMemEnc changes what the memory encoder sees, and so later frames', async () => {
    const off = await twoObjectsOnOneFish({});
    const on = await twoObjectsOnOneFish({ nonOverlapMasksForMemEnc: true });
    const a = off.t.objectState(2)!.nonCond.get(3)!;
    const b = on.t.objectState(2)!.nonCond.get(3)!;
    expect(maxAbsDiff(a.maskmem!, b.maskmem!)).toBeGreaterThan(1e-3);
    off.t.destroy();
    on.t.destroy();
  });
});

describe('addAllFramesToCorrectAsCond', () => {
  const K = 5;
  const CORRECTION = [
    { x: 200, y: 175, label: 1 as const },
    { x: 236, y: 196, label: 0 as const },
  ];

  async function corrected(addAll: boolean | undefined) {
    const t = new VideoTracker(fx.sessions, fx.frames, {
      width: W,
      height: H,
      ...(addAll === undefined ? {} : { addAllFramesToCorrectAsCond: addAll }),
    });
    await t.addPoints(0, 1, [FISH]);
    await collect(t.propagate());
    const out = await t.addPoints(K, 1, CORRECTION);
    const again = await collect(t.propagate());
    return { t, out, again, s: t.objectState(1)! };
  }

  it('true (the default here): the corrected frame joins the conditioning set and propagation keeps it', async () => {
    const { t, out, again, s } = await corrected(undefined);
    expect(t.engine.addAllFramesToCorrectAsCond).toBe(true);
    expect([...s.cond.keys()].sort()).toEqual([0, K]);
    expect(s.nonCond.has(K)).toBe(false);
    expect(again.find((f) => f.frame === K)!.objects[0]!.output).toBe(out);
    // Far frames still attend to it at t_pos 0 (index numMaskmem − 1).
    const sel = selectMemory(N - 1, s, t.engine.settings, N, false);
    const i = sel.memFrames.indexOf(K);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(sel.memTpos[i]).toBe(t.engine.settings.numMaskmem - 1);
    t.destroy();
  });

  it("false (Meta's default): it stays a non-conditioning frame, and re-propagation tracks it again", async () => {
    const { t, out, again, s } = await corrected(false);
    expect([...s.cond.keys()]).toEqual([0]);
    expect(s.cond.has(K)).toBe(false);
    const after = again.find((f) => f.frame === K)!.objects[0]!.output;
    expect(after).not.toBe(out);
    expect(maxAbsDiff(after.predMasks, out.predMasks)).toBeGreaterThan(1e-3);
    // Frames right after K attend to it only as a recent memory (t_pos ≥ 1), never at t_pos 0.
    const numMaskmem = t.engine.settings.numMaskmem;
    const sel = selectMemory(K + 1, s, t.engine.settings, N, false);
    const i = sel.memFrames.indexOf(K);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(sel.memTpos[i]).toBeLessThan(numMaskmem - 1);
    t.destroy();
  });
});
