import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCinesegError } from '../../../engine/src/errors.js';
import { StreamTracker } from '../../../engine/src/track/stream-tracker.js';
import { VideoTracker, type TrackedFrame } from '../../../engine/src/track/video-tracker.js';
import { AQUARIUM_H, AQUARIUM_W, loadFixture, maxAbsDiff, type Fixture } from './fixtures.js';

const N = 12;
let fx: Fixture;
beforeAll(async () => {
  fx = await loadFixture(N);
});
afterAll(async () => {
  await fx?.sessions.destroy();
});

const size = { width: AQUARIUM_W, height: AQUARIUM_H };
const BOX: [number, number, number, number] = [100, 100, 250, 200];
const CORRECTION = [
  { x: 681, y: 245 },
  { x: 300, y: 100, label: 0 },
];
const K = 6; // frame corrected in both runs

describe('StreamTracker', () => {
  it('pushing a clip gives exactly the masks of offline propagation (prompts and a correction)', async () => {
    // Offline: prompts on frame 0, propagate, correct frame K, re-propagate from K.
    const off = new VideoTracker(fx.sessions, fx.frames, size);
    await off.addMask(0, 1, fx.mask);
    await off.addBox(0, 2, BOX);
    for await (const _ of off.propagate()) void _;
    await off.addPoints(K, 1, CORRECTION);
    const offline = new Map<number, TrackedFrame>();
    for (let f = 0; f < K; f++) {
      offline.set(f, { frame: f, objects: [1, 2].map((id) => ({ objectId: id, output: off.output(f, id)! })) });
    }
    for await (const tf of off.propagate({ startFrame: K })) offline.set(tf.frame, tf);

    // Streaming: the same prompts arrive with frame 0; the correction right after frame K.
    const live = new StreamTracker(fx.sessions, { ...size, numFrames: N });
    for (let f = 0; f < N; f++) {
      const rgb = await fx.frames.getFrame(f);
      const tf = await live.push(
        rgb,
        f === 0
          ? [
              { objectId: 1, mask: fx.mask },
              { objectId: 2, box: BOX },
            ]
          : [],
      );
      expect(tf.frame).toBe(f);
      if (f === K) {
        const c = await live.correct({ objectId: 1, points: CORRECTION });
        tf.objects[0]!.output = c;
      }
      const want = offline.get(f)!;
      expect(tf.objects.map((o) => o.objectId)).toEqual([1, 2]);
      for (let k = 0; k < 2; k++) {
        const a = tf.objects[k]!.output;
        const b = want.objects[k]!.output;
        if (f < K) {
          // Bit-identical: same graphs, same batches, same memory.
          expect(a.predMasks, `frame ${f} object ${k + 1}`).toEqual(b.predMasks);
          expect(a.objPtr).toEqual(b.objPtr);
        } else {
          // Offline re-propagation re-tracks object 2 on frame K alone (batch 1) while the
          // stream tracked it beside object 1 (batch 2): same maths, other float rounding.
          expect(maxAbsDiff(a.predMasks, b.predMasks), `frame ${f} object ${k + 1}`).toBeLessThan(2e-3);
          expect(maxAbsDiff(a.objPtr, b.objPtr)).toBeLessThan(2e-3);
        }
      }
    }
    off.destroy();
    live.destroy();
  });

  it('keeps memory bounded: conditioning frames + 6 memories + 15 pointers per object', async () => {
    const live = new StreamTracker(fx.sessions, size);
    const pushes = 26;
    for (let f = 0; f < pushes; f++) {
      // Loop the clip back and forth so frames keep changing.
      const i = f % (2 * N - 2) < N ? f % (2 * N - 2) : 2 * N - 2 - (f % (2 * N - 2));
      await live.push(await fx.frames.getFrame(i), f === 0 ? [{ objectId: 1, mask: fx.mask }] : []);
      const s = live.storedOutputs();
      // The last pushed frame stays correctable with exactly the memory offline tracking would
      // give it, which costs one pointer and one memory beyond what the next push selects.
      expect(s.frames).toBeLessThanOrEqual(1 + 16);
      expect(s.memories).toBeLessThanOrEqual(1 + 7);
    }
    expect(live.storedOutputs()).toEqual({ frames: 17, memories: 8 });
    expect(live.stats.imageEncoderRuns).toBe(pushes);
    expect(live.maskAt(1)!.length).toBe(AQUARIUM_W * AQUARIUM_H);
    live.destroy();
  });

  it('prompts a frame pushed two frames ago exactly as offline tracking would, and it conditions later pushes', async () => {
    // Offline: object 1 from frame 0's mask, propagated; then a correction on frame K (SAM2's
    // correction: memory-conditioned decoder with the previous logits as mask input).
    const off = new VideoTracker(fx.sessions, fx.frames, size);
    await off.addMask(0, 1, fx.mask);
    for await (const _ of off.propagate()) void _;
    const offK = await off.addPoints(K, 1, CORRECTION);
    // A new object started on frame K: decoded from the frame alone.
    const offNew = await off.addBox(K, 2, BOX);

    const live = new StreamTracker(fx.sessions, { ...size, numFrames: N, holdFrames: 3 });
    for (let f = 0; f <= K + 2; f++) await live.push(await fx.frames.getFrame(f), f === 0 ? [{ objectId: 1, mask: fx.mask }] : []);
    expect([K - 1, K, K + 1, K + 2, K + 3].map((f) => live.holds(f))).toEqual([false, true, true, true, false]);
    const encodes = live.stats.imageEncoderRuns;
    const got = await live.promptAt(K, [
      { objectId: 1, points: CORRECTION },
      { objectId: 2, box: BOX },
    ]);
    // The held frame's image features were kept: no encoder run for the prompt.
    expect(live.stats.imageEncoderRuns).toBe(encodes);
    expect(got.map((g) => g.objectId)).toEqual([1, 2]);
    expect(got[0]!.output.predMasks).toEqual(offK.predMasks);
    expect(got[0]!.output.objPtr).toEqual(offK.objPtr);
    expect(got[1]!.output.predMasks).toEqual(offNew.predMasks);
    // Frame K is now a conditioning frame of both objects, with its memory encoded.
    for (const id of [1, 2]) {
      expect(live.objectState(id)!.cond.get(K)?.maskmem).toBeTruthy();
      expect(live.objectState(id)!.nonCond.has(K)).toBe(false);
    }
    const next = await live.push(await fx.frames.getFrame(K + 3));
    expect(next.objects.map((o) => o.objectId)).toEqual([1, 2]);
    // Too old to prompt now.
    const old = await live.promptAt(K, [{ objectId: 1, points: CORRECTION }]).catch((e: unknown) => e);
    expect(isCinesegError(old, 'E_FRAME_OUT_OF_RANGE')).toBe(true);
    off.destroy();
    live.destroy();
  });

  it('removes an object: its state is freed and later frames track the others alone', async () => {
    const live = new StreamTracker(fx.sessions, size);
    await live.push(await fx.frames.getFrame(0), [
      { objectId: 1, mask: fx.mask },
      { objectId: 2, box: BOX },
    ]);
    await live.push(await fx.frames.getFrame(1));
    const both = live.storedOutputs();
    expect(live.removeObject(2)).toBe(true);
    expect(live.removeObject(2)).toBe(false);
    expect(live.objectIds).toEqual([1]);
    expect(live.objectState(2)).toBeUndefined();
    expect(live.storedOutputs().frames).toBe(both.frames / 2);
    const tf = await live.push(await fx.frames.getFrame(2));
    expect(tf.objects.map((o) => o.objectId)).toEqual([1]);
    // Object 1 alone gives what a tracker that never had object 2 gives.
    const solo = new StreamTracker(fx.sessions, size);
    await solo.push(await fx.frames.getFrame(0), [{ objectId: 1, mask: fx.mask }]);
    await solo.push(await fx.frames.getFrame(1));
    const want = await solo.push(await fx.frames.getFrame(2));
    expect(maxAbsDiff(tf.objects[0]!.output.predMasks, want.objects[0]!.output.predMasks)).toBeLessThan(2e-3);
    solo.destroy();
    live.destroy();
  });

  it('deferred memory (live: masks out first, memory after) gives the same masks, and a late flush or a prompt still sees it', async () => {
    const plain = new StreamTracker(fx.sessions, size);
    const deferred = new StreamTracker(fx.sessions, size);
    const prompts = [
      { objectId: 1, mask: fx.mask },
      { objectId: 2, box: BOX },
    ];
    for (let f = 0; f < 8; f++) {
      const rgb = await fx.frames.getFrame(f);
      const a = await plain.push(rgb, f === 0 ? prompts : []);
      const b = await deferred.push(rgb, f === 0 ? prompts : [], { deferMemory: true });
      if (f > 0) {
        // The frame's memory is not encoded yet (the previous frame's, if pending, was).
        expect(deferred.engine.memoryPending).toBe(true);
        expect(deferred.objectState(1)!.nonCond.get(f)!.maskmem).toBeNull();
        expect(deferred.objectState(1)!.nonCond.get(f - 1)?.maskmem ?? deferred.objectState(1)!.cond.get(f - 1)?.maskmem).not.toBeNull();
      }
      for (let k = 0; k < 2; k++) expect(b.objects[k]!.output.predMasks, `frame ${f} object ${k + 1}`).toEqual(a.objects[k]!.output.predMasks);
      // Flush on odd frames only: on even ones the next push (or the prompt below) must do it.
      if (f % 2 === 1) {
        await deferred.flushMemory();
        expect(deferred.objectState(1)!.nonCond.get(f)!.maskmem).not.toBeNull();
      }
    }
    // A correction on the last frame, whose memory is still pending, reads the same memory.
    const want = await plain.correct({ objectId: 1, points: CORRECTION });
    const got = await deferred.correct({ objectId: 1, points: CORRECTION });
    expect(got.predMasks).toEqual(want.predMasks);
    expect(deferred.stats.memoryEncoderRuns).toBe(plain.stats.memoryEncoderRuns);
    plain.destroy();
    deferred.destroy();
  });

  it('checks its state', async () => {
    const live = new StreamTracker(fx.sessions, { ...size, numFrames: 1 });
    const err = await live.correct({ objectId: 1, points: CORRECTION }).catch((e: unknown) => e);
    expect(isCinesegError(err, 'E_TRACKER_STATE')).toBe(true);
    await live.push(await fx.frames.getFrame(0));
    const past = await live.push(await fx.frames.getFrame(1)).catch((e: unknown) => e);
    expect(isCinesegError(past, 'E_FRAME_OUT_OF_RANGE')).toBe(true);
    live.destroy();
    const dead = await live.push(await fx.frames.getFrame(0)).catch((e: unknown) => e);
    expect(isCinesegError(dead, 'E_TRACKER_DESTROYED')).toBe(true);
  });
});

describe('trackSource', () => {
  it('tracks a source frame by frame with backpressure and prompts on the first frame', async () => {
    const { FrameSource } = await import('../../../engine/src/decode/frame-source.js');
    const { trackSource } = await import('../../../engine/src/track/stream-tracker.js');
    const { firstValueFrom, take, toArray } = await import('rxjs');
    const { AQUARIUM } = await import('./fixtures.js');
    const source = await FrameSource.open(AQUARIUM);
    const live = new StreamTracker(fx.sessions, size);
    try {
      const got = await firstValueFrom(trackSource(source, live, (f) => (f.index === 0 ? [{ objectId: 1, mask: fx.mask }] : [])).pipe(take(4), toArray()));
      expect(got.map((g) => g.frame.index)).toEqual([0, 1, 2, 3]);
      expect(got.map((g) => g.tracked.frame)).toEqual([0, 1, 2, 3]);
      expect(got[0]!.frame.width).toBe(fx.bundle.imageSize);
      expect(got[3]!.tracked.objects[0]!.objectId).toBe(1);
      // Same frames as the offline fixture decode: the frame-0 output is the mask prompt's.
      const off = new VideoTracker(fx.sessions, fx.frames, size);
      const p = await off.addMask(0, 1, fx.mask);
      expect(got[0]!.tracked.objects[0]!.output.predMasks).toEqual(p.predMasks);
      off.destroy();
    } finally {
      live.destroy();
      await source.destroy();
    }
  });
});
