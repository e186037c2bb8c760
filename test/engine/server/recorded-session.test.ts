/**
 * RecordedSession with the real tiny model on a generated clip: bounded tracker memory that gives
 * the same masks as an unbounded tracker, corrections on packed frames, removeObject that keeps
 * the other objects' state bit for bit, and restore from stored masks without re-tracking.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnFfmpeg } from '../../../engine/src/decode/ffmpeg.js';
import { decodeMask } from '../../../engine/src/mask/rle.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import type { AddPoints, Propagate, ServerMessage } from '../../../engine/src/protocol.js';
import { MemorySink } from '../../../engine/src/server/annotation-sink.js';
import { HlsCache } from '../../../engine/src/server/hls-cache.js';
import { RecordedSession, type RestoredState } from '../../../engine/src/server/recorded-session.js';
import { VideoTracker } from '../../../engine/src/track/video-tracker.js';
import { DecodedFrames } from '../../../engine/src/track/decoded-frames.js';
import { REPO_ROOT, testBundleDir } from '../model/test-bundle.js';
import { iou } from '../track/fixtures.js';

const CLIP = join(REPO_ROOT, 'samples', 'generated', 'ultrasound-1', 'clip.mp4');
const clip = { id: 'samples/ultrasound-1', name: 'ultrasound-1', path: CLIP, rootReal: join(REPO_ROOT, 'samples') };
const W = 480;
const H = 360;
let sessions: ModelSessions;

beforeAll(async () => {
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
});
afterAll(async () => {
  await sessions?.destroy();
});

const click = (sessionId: string, objectId: number, frame: number, x: number, y: number, label = 1, clearOld = true): AddPoints =>
  ({ v: 1, type: 'addPoints', seq: 1, sessionId, objectId, frame, points: [{ x, y, label }], clearOld }) as AddPoints;
const forward = (sessionId: string, startFrame?: number): Propagate =>
  ({ v: 1, type: 'propagate', seq: 2, sessionId, direction: 'forward', ...(startFrame === undefined ? {} : { startFrame }) }) as Propagate;

async function propagate(s: RecordedSession, msg: Propagate): Promise<void> {
  await s.propagate(msg);
  await s.settle();
}

/** Current stored mask of (object, frame) in a MemorySink, decoded. */
function stored(sink: MemorySink, id: string, objectId: number, frame: number): Uint8Array {
  const m = sink.sessions.get(id)!.masks.get(`${objectId}:${frame}`)!;
  return decodeMask({ size: [H, W], counts: [...m.counts] });
}

describe('RecordedSession, bounded', () => {
  it('keeps whole only what SAM 2 can select, with the masks of an unbounded tracker', async () => {
    const sink = new MemorySink();
    const s = await RecordedSession.open('b1', 1, clip, sessions, sink);
    try {
      await s.prompt(click('b1', 1, 0, 213, 181));
      await propagate(s, forward('b1'));
      const o = s.videoTracker.objectState(1)!;
      // 90 frames: the last 15 whole (pointers), the prompted one conditioning, the rest packed.
      expect(o.nonCond.size).toBeLessThanOrEqual(16);
      expect(o.compact.size).toBeGreaterThanOrEqual(90 - 17);
      for (const out of o.nonCond.values()) expect(out.predMasks.length).toBeGreaterThan(0);

      // The same clicks on an unbounded tracker: bit-identical masks on every frame.
      const frames = await DecodedFrames.open(CLIP, sessions.bundle.imageSize);
      const ref = new VideoTracker(sessions, frames, { width: W, height: H });
      await ref.addPoints(0, 1, [{ x: 213, y: 181 }]);
      let differing = 0;
      for await (const tf of ref.propagate()) {
        const want = ref.maskAt(tf.frame, 1)!;
        const got = stored(sink, 'b1', 1, tf.frame);
        if (iou(want, got) !== 1) differing++;
      }
      expect(differing).toBe(0);
      ref.destroy();
      await frames.destroy();

      // A correction on a packed frame: its memory and pointers are rebuilt, then it propagates on.
      expect(o.compact.has(30)).toBe(true);
      const before = stored(sink, 'b1', 1, 30);
      await s.prompt(click('b1', 1, 30, 213, 181, 1, false));
      expect(s.videoTracker.memoryStats.rebuilt).toBeGreaterThan(0);
      expect(iou(before, stored(sink, 'b1', 1, 30))).toBeGreaterThan(0.5);
      await propagate(s, forward('b1', 30));
      expect(s.videoTracker.objectState(1)!.nonCond.size).toBeLessThanOrEqual(16);
    } finally {
      await s.destroy();
    }
  });

  it('both ways from a middle frame: the reverse pass rebuilds the packed frames it selects, close to unbounded', async () => {
    const sink = new MemorySink();
    const s = await RecordedSession.open('b2', 6, clip, sessions, sink);
    const frames = await DecodedFrames.open(CLIP, sessions.bundle.imageSize);
    const ref = new VideoTracker(sessions, frames, { width: W, height: H });
    try {
      await s.prompt(click('b2', 1, 45, 213, 181));
      await propagate(s, { ...forward('b2'), direction: 'both' } as Propagate);
      expect(s.videoTracker.memoryStats.rebuilt).toBeGreaterThan(0);
      await ref.addPoints(45, 1, [{ x: 213, y: 181 }]);
      for await (const _ of ref.propagate()) void _;
      for await (const _ of ref.propagate({ reverse: true })) void _;
      let sum = 0;
      let exactForward = 0;
      for (let f = 0; f < 90; f++) {
        const v = iou(ref.maskAt(f, 1)!, stored(sink, 'b2', 1, f));
        sum += v;
        if (f >= 45 && v === 1) exactForward++;
      }
      expect(exactForward).toBe(45);
      expect(sum / 90).toBeGreaterThan(0.95);
    } finally {
      ref.destroy();
      await frames.destroy();
      await s.destroy();
    }
  });

  it('removeObject leaves the other object bit for bit as it was', async () => {
    const sink = new MemorySink();
    const s = await RecordedSession.open('r1', 2, clip, sessions, sink);
    try {
      await s.prompt(click('r1', 1, 0, 213, 181));
      await s.prompt(click('r1', 2, 0, 308, 218));
      await propagate(s, { ...forward('r1'), maxFrames: 30 } as Propagate);
      const snap = (): string[] => {
        const out: string[] = [];
        for (let f = 0; f <= 30; f++) {
          const o = s.videoTracker.output(f, 2)!;
          out.push(Buffer.from(o.predMasks.buffer, o.predMasks.byteOffset, o.predMasks.byteLength).toString('base64') + `:${o.objectScore}`);
        }
        return out;
      };
      const before = snap();
      const beforeState = s.videoTracker.objectState(2);
      await s.removeObject(1);
      expect(s.videoTracker.objectIds).toEqual([2]);
      expect(s.videoTracker.objectState(2)).toBe(beforeState);
      expect(snap()).toEqual(before);
      expect([...sink.sessions.get('r1')!.masks.values()].some((m) => m.objectId === 1)).toBe(false);
    } finally {
      await s.destroy();
    }
  });
});

describe('RecordedSession.restore', () => {
  it('reopens from stored masks: masks as stored, propagation close to the original, far fewer encoder runs', async () => {
    const sinkA = new MemorySink();
    const a = await RecordedSession.open('s1', 3, clip, sessions, sinkA);
    const b0 = { runs: 0 };
    let b: RecordedSession | null = null;
    try {
      await a.prompt(click('s1', 1, 0, 213, 181));
      await a.prompt(click('s1', 2, 0, 308, 218));
      await propagate(a, forward('s1'));
      // What a store gives back after a restart.
      const rec = sinkA.sessions.get('s1')!;
      const state: RestoredState = {
        prompts: rec.prompts.map((p) => ({ ...p })),
        masks: [...rec.masks.values()].map((m) => ({ objectId: m.objectId, frame: m.frame, counts: [...m.counts], score: m.score, origin: m.origin })),
      };
      const sinkB = new MemorySink();
      await sinkB.startSession({ ...rec.info });
      let writes = 0;
      const put = sinkB.putMasks.bind(sinkB);
      sinkB.putMasks = async (id, masks) => {
        writes += masks.length;
        await put(id, masks);
      };
      b = await RecordedSession.restore('s1', 4, clip, sessions, sinkB, {}, state);
      const tb = b.videoTracker;
      expect(tb.stats.imageEncoderRuns).toBe(0);
      expect(writes).toBe(0);
      expect(tb.objectIds.sort()).toEqual([1, 2]);
      // Every stored mask is in the restored tracker (packed at the model's low-res size).
      let worst = 1;
      for (const m of state.masks) worst = Math.min(worst, iou(tb.maskAt(m.frame, m.objectId)!, stored(sinkA, 's1', m.objectId, m.frame)));
      expect(worst).toBe(1);

      // Propagate on from frame 60 in both: close, at a fraction of re-tracking's encoder runs.
      const start = 60;
      await propagate(a, forward('s1', start));
      await propagate(b, forward('s1', start));
      b0.runs = tb.stats.imageEncoderRuns;
      let lowest = 1;
      // Object 1 frame by frame; object 2 (small, at the edge of what the tiny model holds) on average.
      let sum2 = 0;
      for (let f = start; f < 90; f++) {
        lowest = Math.min(lowest, iou(stored(sinkA, 's1', 1, f), stored(sinkB, 's1', 1, f)));
        sum2 += iou(stored(sinkA, 's1', 2, f), stored(sinkB, 's1', 2, f));
      }
      expect(lowest).toBeGreaterThanOrEqual(0.9);
      expect(sum2 / (90 - start)).toBeGreaterThanOrEqual(0.8);
      const propagated = 90 - start;
      // Restore's own cost: the conditioning frame and the frames the first step selects (≤ 16).
      expect(b0.runs - propagated).toBeLessThanOrEqual(17);
      // Re-tracking would have encoded every frame up to the start again.
      expect(b0.runs - propagated).toBeLessThan(start / 3);
      expect(writes).toBe(propagated * 2);

      // A correction on a restored packed frame works too.
      await b.prompt(click('s1', 1, 20, 213, 181, 1, false));
      expect(iou(stored(sinkB, 's1', 1, 20), stored(sinkA, 's1', 1, 20))).toBeGreaterThan(0.5);
    } finally {
      await a.destroy();
      await b?.destroy();
    }
  });
});

describe('RecordedSession on a long clip', () => {
  let tmp = '';
  let long = '';
  const N = 3000;
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'cineseg-rec-long-'));
    long = join(tmp, 'long.mp4');
    // The sample looped to 100 s at 160x120 (keyframe every 2 s): longer than the frame cache.
    const ff = spawnFfmpeg([
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-stream_loop',
      '-1',
      '-i',
      CLIP,
      '-frames:v',
      String(N),
      '-vf',
      'scale=160:120',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      '60',
      '-pix_fmt',
      'yuv420p',
      '-an',
      long,
    ]);
    expect(await new Promise((r) => ff.on('close', r))).toBe(0);
  });
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('opens at once, prompts anywhere, propagates backward through seeks, HLS in the background with progress', async () => {
    const hls = new HlsCache(join(tmp, 'hls'));
    const sink = new MemorySink();
    const msgs: ServerMessage[] = [];
    const t0 = performance.now();
    const s = await RecordedSession.open('l1', 5, { ...clip, path: long }, sessions, sink, { clipMedia: hls });
    const openMs = performance.now() - t0;
    s.output.attach({ json: (m) => msgs.push(m), binary: () => undefined });
    try {
      expect(s.started(1).numFrames).toBe(N);
      expect(s.framePtsUs[N - 1]).toBeCloseTo(((N - 1) / 30) * 1e6, -3);
      // Only the first frames were decoded, not the clip.
      expect(s.decodedFrames.stats.framesDecoded).toBeLessThan(64);
      expect(openMs).toBeLessThan(10_000);
      const r = await s.prompt(click('l1', 1, 2500, 71, 60));
      expect(r.frame).toBe(2500);
      await propagate(s, { v: 1, type: 'propagate', seq: 3, sessionId: 'l1', direction: 'backward', startFrame: 2500, maxFrames: 60 } as Propagate);
      const done = msgs.find((m) => m.type === 'propagateDone');
      expect(done).toMatchObject({ frames: 61, cancelled: false });
      for (let f = 2440; f <= 2500; f++) expect(sink.sessions.get('l1')!.masks.has(`1:${f}`), `frame ${f}`).toBe(true);
      const st = s.decodedFrames.stats;
      expect(st.maxHeld).toBeLessThanOrEqual(256);
      // Backward windows of 16 frames: a handful of seeks, not one per frame.
      expect(st.decodeRuns).toBeLessThanOrEqual(10);
      // The package was made meanwhile; the client heard how it went.
      await hls.ensure(long);
      await new Promise((res) => setTimeout(res, 50));
      const progress = msgs.filter((m) => m.type === 'clipProgress');
      expect(progress.at(-1)).toMatchObject({ type: 'clipProgress', sessionId: 'l1', stage: 'ready', fraction: 1 });
      expect(hls.packagesMade).toBe(1);
    } finally {
      await s.destroy();
      hls.destroy();
    }
  });
});
