import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCinesegError } from '../../../engine/src/errors.js';
import { StreamTracker } from '../../../engine/src/track/stream-tracker.js';
import { VideoTracker, type TrackedFrame } from '../../../engine/src/track/tracker.js';
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
const CORRECTION = [{ x: 681, y: 245 }, { x: 300, y: 100, label: 0 }];
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
      const tf = await live.push(rgb, f === 0 ? [{ objectId: 1, mask: fx.mask }, { objectId: 2, box: BOX }] : []);
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
      expect(s.frames).toBeLessThanOrEqual(1 + 15);
      expect(s.memories).toBeLessThanOrEqual(1 + 6);
    }
    expect(live.storedOutputs()).toEqual({ frames: 16, memories: 7 });
    expect(live.stats.imageEncoderRuns).toBe(pushes);
    expect(live.maskAt(1)!.length).toBe(AQUARIUM_W * AQUARIUM_H);
    live.destroy();
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
    const { FrameSource } = await import('../../../engine/src/source/frame-source.js');
    const { trackSource } = await import('../../../engine/src/track/stream-tracker.js');
    const { firstValueFrom, take, toArray } = await import('rxjs');
    const { AQUARIUM } = await import('./fixtures.js');
    const source = await FrameSource.open(AQUARIUM);
    const live = new StreamTracker(fx.sessions, size);
    try {
      const got = await firstValueFrom(
        trackSource(source, live, (f) => (f.index === 0 ? [{ objectId: 1, mask: fx.mask }] : [])).pipe(take(4), toArray()),
      );
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
