/**
 * What live tracking needs beyond offline parity, with the real tiny model: clicks on a frame
 * refine (accumulate), a correction on a held frame re-tracks the held frames after it, frame
 * numbers are the source's (gaps count as time), and conditioning frames are capped so memory
 * stays bounded over a long corrected stream.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectMemory } from '../../../engine/src/track/memory-bank.js';
import { DEFAULT_MAX_COND_FRAMES, StreamTracker } from '../../../engine/src/track/stream-tracker.js';
import { VideoTracker } from '../../../engine/src/track/video-tracker.js';
import { DecodedFrames } from '../../../engine/src/track/decoded-frames.js';
import { REPO_ROOT } from '../model/test-bundle.js';
import { ArrayFrames, loadFixture, maxAbsDiff, type Fixture } from './fixtures.js';

// The generated endoscopy clip: the tiny test bundle was trained on such clips and tracks its
// object (on the aquarium it loses it after a few frames, and every mask is empty).
const N = 12;
let fx: Fixture;
let clip: ArrayFrames;
beforeAll(async () => {
  fx = await loadFixture(1);
  const dec = await DecodedFrames.open(join(REPO_ROOT, 'samples/generated/endoscopy-1/clip.mp4'), fx.bundle.imageSize, { maxFrames: N });
  const frames: Uint8Array[] = [];
  for (let i = 0; i < dec.numFrames; i++) frames.push(await dec.getFrame(i));
  await dec.destroy();
  clip = new ArrayFrames(frames);
});
afterAll(async () => {
  await fx?.sessions.destroy();
});

const size = { width: 480, height: 360 };
const K = 6;
/** On the object of frame 0 (prompts.json), and a negative one inside its box. */
const POS = { x: 224, y: 191, label: 1 as const };
const NEG = { x: 240, y: 200, label: 0 as const };
const FIRST = [{ objectId: 1, points: [POS] }];
/** Frame i of a clip played back and forth, for streams longer than the fixture. */
const pingPong = (f: number) => (f % (2 * N - 2) < N ? f % (2 * N - 2) : 2 * N - 2 - (f % (2 * N - 2)));

describe('StreamTracker (live)', () => {
  it('a positive then a negative click on one frame refine it: both points reach the decoder, as offline with clearOld false', async () => {
    const off = new VideoTracker(fx.sessions, clip, size);
    await off.addPoints(0, 1, [POS]);
    for await (const _ of off.propagate()) void _;
    await off.addPoints(K, 1, [POS]);
    // Live consolidates a prompt at once (its memory is in the next frames' attention), so the
    // second click attends to the first one's memory; offline that is a propagation in between.
    for await (const _ of off.propagate({ startFrame: K, maxFrameNumToTrack: 1 })) void _;
    const offBoth = await off.addPoints(K, 1, [NEG], { clearOld: false });

    const live = new StreamTracker(fx.sessions, { ...size, numFrames: N, holdFrames: 3 });
    for (let f = 0; f <= K + 2; f++) await live.push(await clip.getFrame(f), f === 0 ? FIRST : []);
    await live.promptAt(K, [{ objectId: 1, points: [POS] }]);
    const [both] = await live.promptAt(K, [{ objectId: 1, points: [NEG], clearOld: false }]);
    expect([...live.objectState(1)!.pointInputs.get(K)!.labels]).toEqual([1, 0]);
    expect(both!.output.predMasks).toEqual(offBoth.predMasks);

    // The negative click alone (replacing) is another prompt with another result.
    const [alone] = await live.promptAt(K, [{ objectId: 1, points: [NEG] }]);
    expect([...live.objectState(1)!.pointInputs.get(K)!.labels]).toEqual([0]);
    expect(maxAbsDiff(alone!.output.predMasks, both!.output.predMasks)).toBeGreaterThan(0.1);
    off.destroy();
    live.destroy();
  });

  it('a correction on a held frame re-tracks the held frames after it (masks and memories), as offline re-propagation', async () => {
    const off = new VideoTracker(fx.sessions, clip, size);
    await off.addPoints(0, 1, [POS]);
    for await (const _ of off.propagate()) void _;
    await off.addPoints(K, 1, [POS, NEG]);
    const offLater = new Map<number, Float32Array>();
    for await (const tf of off.propagate({ startFrame: K, maxFrameNumToTrack: 2 })) if (tf.frame > K) offLater.set(tf.frame, tf.objects[0]!.output.predMasks);

    const live = new StreamTracker(fx.sessions, { ...size, numFrames: N, holdFrames: 3 });
    for (let f = 0; f <= K + 2; f++) await live.push(await clip.getFrame(f), f === 0 ? FIRST : []);
    const stale = live.objectState(1)!.nonCond.get(K + 1)!;
    const [res] = await live.promptAt(K, [{ objectId: 1, points: [POS, NEG] }]);
    expect(res!.later.map((l) => l.frame)).toEqual([K + 1, K + 2]);
    for (const l of res!.later) {
      const stored = live.objectState(1)!.nonCond.get(l.frame)!;
      expect(stored).toBe(l.output);
      expect(stored.maskmem).toBeTruthy();
      expect(maxAbsDiff(l.output.predMasks, offLater.get(l.frame)!), `frame ${l.frame}`).toBeLessThan(2e-3);
    }
    expect(maxAbsDiff(stale.predMasks, res!.later[0]!.output.predMasks)).toBeGreaterThan(1e-3);
    off.destroy();
    live.destroy();
  });

  it("takes the source's frame numbers: dropped frames count in temporal positions", async () => {
    const live = new StreamTracker(fx.sessions, { ...size, holdFrames: 2 });
    // Every other source frame reaches the tracker (a machine half as fast as the source).
    for (let k = 0; k < 8; k++) await live.push(await clip.getFrame(k), k === 0 ? FIRST : [], {}, 2 * k);
    expect(live.frameIndex).toBe(14);
    expect(live.heldFrames).toEqual([12, 14]);
    expect([11, 12, 13, 14].map((f) => live.holds(f))).toEqual([false, true, false, true]);
    const sel = selectMemory(16, live.objectState(1)!, live.engine.settings, undefined, false);
    // Recent memories are the frames t−2, t−4, t−6 (t−1, t−3, t−5 were dropped), oldest slot first; the prompt at t_pos 0.
    expect(sel.memFrames).toEqual([0, 10, 12, 14]);
    expect(sel.ptrDistance.slice(0, 4)).toEqual([16, 2, 4, 6]);
    const err = await live.push(await clip.getFrame(0), [], {}, 14).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_FRAME_OUT_OF_RANGE' });
    live.destroy();
  });

  it('corrections every 20 frames over 1,000 frames keep memory bounded (conditioning frames capped)', async () => {
    const hold = 3;
    const live = new StreamTracker(fx.sessions, { ...size, holdFrames: hold });
    const frames = 1000;
    let maxFrames = 0;
    let maxMem = 0;
    let corrections = 0;
    for (let f = 0; f < frames; f++) {
      await live.push(await clip.getFrame(pingPong(f)), f === 0 ? FIRST : [], { deferMemory: true });
      await live.flushMemory();
      if (f > 0 && f % 20 === 0) {
        // Alternately on the newest and on an older held frame (which re-tracks the frames after it).
        const at = live.heldFrames[(f / 20) % 2 === 0 ? hold - 1 : 0]!;
        await live.promptAt(at, [{ objectId: 1, points: [(f / 20) % 3 === 0 ? NEG : POS], clearOld: false }]);
        corrections++;
      }
      const s = live.storedOutputs();
      maxFrames = Math.max(maxFrames, s.frames);
      maxMem = Math.max(maxMem, s.memories);
    }
    const o = live.objectState(1)!;
    expect(corrections).toBe(49);
    expect(o.cond.size).toBe(DEFAULT_MAX_COND_FRAMES);
    // The first prompt stays; the newest corrections are the others.
    expect(Math.min(...o.cond.keys())).toBe(0);
    // Conditioning frames + the pointer window (16 + held frames) / memory window (7 + held frames).
    expect(maxFrames).toBeLessThanOrEqual(DEFAULT_MAX_COND_FRAMES + 16 + hold);
    expect(maxMem).toBeLessThanOrEqual(DEFAULT_MAX_COND_FRAMES + 7 + hold);
    expect(o.pointInputs.size).toBeLessThanOrEqual(DEFAULT_MAX_COND_FRAMES + hold);
    expect(o.framesTracked.size).toBeLessThanOrEqual(DEFAULT_MAX_COND_FRAMES + 16 + hold);
    // Without the cap every correction would be kept.
    const all = new StreamTracker(fx.sessions, { ...size, maxCondFrames: 0 });
    for (let f = 0; f < 100; f++) {
      await all.push(await clip.getFrame(pingPong(f)), f === 0 ? FIRST : []);
      if (f > 0 && f % 20 === 0) await all.correct({ objectId: 1, points: [POS] });
    }
    expect(all.objectState(1)!.cond.size).toBe(5);
    all.destroy();
    live.destroy();
  }, 240_000);
});
