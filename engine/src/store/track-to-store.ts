/**
 * Tracks a stored session's prompts through its clip and commits every frame's masks to the
 * store as it goes — the path batch runs and crash tests take. A frame's masks (all objects) are
 * always committed together, so "complete frames" in the store are exact.
 *
 * Resuming: when the store already holds a run of complete frames from the first prompted frame
 * to frame r (after a crash), the prompts are replayed, each live object's committed mask on r is
 * added as a mask prompt on r, and propagation continues from r + 1; frames up to r are never
 * rewritten, so every mask acknowledged before the crash stays current. Masks after r can differ
 * slightly from an uninterrupted run, because the memory bank restarts from the prompts plus r.
 */
import { performance } from 'node:perf_hooks';
import { CinesegError, ErrorCode } from '../errors.js';
import { logitsToRle } from '../mask/logits-rle.js';
import { countsToString, decodeMask } from '../mask/rle.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import { VideoTracker, type TrackedFrame } from '../track/video-tracker.js';
import { DecodedFrames } from '../track/decoded-frames.js';
import type { AnnotationStore } from './annotation-store.js';
import { MaskWriter } from './mask-writer.js';
import type { MaskInput, MaskRecord } from './store-records.js';

export interface TrackToStoreOptions {
  store: AnnotationStore;
  sessionId: string;
  /** The clip to decode (default: the stored clip's path). */
  video?: string;
  sessions: ModelSessions;
  /** Called after every commit with what it committed: the moment to acknowledge. */
  onCommit?: (records: MaskRecord[]) => void;
  onProgress?: (framesDone: number, total: number) => void;
  /** Masks per transaction (default 64; a frame's masks are never split). */
  maxBatch?: number;
  /** Checked between frames; when it returns true the run stops (committed work stays). */
  cancelled?: () => boolean;
}

export interface TrackToStoreResult {
  /** Frames whose masks this run committed. */
  framesWritten: number;
  /** The frame the run continued after, or null when it started from the prompts. */
  resumedAfter: number | null;
  seconds: number;
  /** True when every frame of the clip has a mask for every live object. */
  complete: boolean;
}

/** Replays the session's prompts (in order) on a tracker. */
async function replayPrompts(store: AnnotationStore, sessionId: string, tracker: VideoTracker): Promise<number[]> {
  const prompts = await store.listPrompts(sessionId);
  const live = new Set((await store.listObjects(sessionId)).map((o) => o.objectId));
  const frames: number[] = [];
  for (const p of prompts) {
    if (!live.has(p.objectId)) continue;
    frames.push(p.frame);
    if (p.kind === 'mask') await tracker.addMask(p.frame, p.objectId, decodeMask(p.mask));
    else if (p.kind === 'box') await tracker.addBox(p.frame, p.objectId, p.box, p.points ?? []);
    else await tracker.addPoints(p.frame, p.objectId, p.points, { ...(p.box ? { box: p.box } : {}), ...(p.clearOld === false ? { clearOld: false } : {}) });
  }
  if (frames.length === 0) throw new CinesegError(ErrorCode.E_TRACKER_STATE, `session ${sessionId} has no prompt for a live object`);
  return frames;
}

/** Runs (or resumes) the session's propagation into the store. See the module comment. */
export async function trackSessionToStore(opts: TrackToStoreOptions): Promise<TrackToStoreResult> {
  const { store, sessionId, sessions } = opts;
  const clip = await store.getClip((await store.requireSession(sessionId)).clipId).then((c) => c!);
  const t0 = performance.now();
  const frames = await DecodedFrames.open(opts.video ?? clip.path, sessions.bundle.imageSize);
  let tracker: VideoTracker | null = null;
  const maxBatch = opts.maxBatch ?? 64;
  // The run commits a batch itself when it is full (and waits for it: the tracker never runs far
  // ahead of the store), so the writer's own size and timer triggers are out of reach.
  const writer = new MaskWriter(store, sessionId, { maxBatch: Number.MAX_SAFE_INTEGER, maxDelayMs: 2 ** 31 - 1, ...(opts.onCommit ? { onCommit: opts.onCommit } : {}) });
  try {
    const { width, height } = frames.info;
    if (width !== clip.width || height !== clip.height) {
      throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `clip decodes at ${width}x${height}, the store says ${clip.width}x${clip.height}`);
    }
    const n = Math.min(frames.numFrames, clip.numFrames);
    tracker = new VideoTracker(sessions, frames, { width, height, memory: true });
    const promptFrames = await replayPrompts(store, sessionId, tracker);
    const first = Math.min(...promptFrames);
    const lastPrompt = Math.max(...promptFrames);
    const complete = new Set(await store.completeFrames(sessionId));
    let r = first - 1;
    while (complete.has(r + 1)) r++;
    const objects = (await store.listObjects(sessionId)).map((o) => o.objectId);
    let resumedAfter: number | null = null;
    let start = first;
    if (r >= first && r > lastPrompt) {
      resumedAfter = r;
      if (r < n - 1) {
        for (const id of objects) await tracker.addMask(r, id, decodeMask((await store.getMask(sessionId, id, r))!.rle));
        start = r;
      }
    }
    const L = sessions.bundle.lowResMaskSize;
    const version = (await store.requireSession(sessionId)).promptVersion;
    let written = 0;
    let done = complete.size;
    const write = async (tf: TrackedFrame): Promise<void> => {
      const masks: MaskInput[] = tf.objects.map((o) => {
        const { counts } = logitsToRle(o.output.predMasks, L, L, height, width);
        return {
          objectId: o.objectId,
          frame: tf.frame,
          rle: { size: [height, width], counts: countsToString(counts) },
          score: Math.round((1 / (1 + Math.exp(-o.output.objectScore))) * 1e4) / 1e4,
          promptVersion: version,
          origin: 'propagate',
        };
      });
      writer.add(...masks);
      if (writer.pendingCount >= maxBatch) await writer.flush();
      written++;
      done++;
      opts.onProgress?.(Math.min(done, n), n);
    };
    // Frames up to r are stored complete, also when r does not pass the last prompt (the run then
    // restarts from the prompts): never rewrite them, or a re-run would add a second row to each.
    const skipUpTo = resumedAfter ?? r;
    if (!(resumedAfter !== null && resumedAfter >= n - 1)) {
      for await (const tf of tracker.propagate({ startFrame: start })) {
        if (opts.cancelled?.()) break;
        // Pixels of tracked frames can go unless a reverse pass will want them.
        if (first === 0) frames.releaseBefore(tf.frame);
        if (tf.frame <= skipUpTo) continue;
        await write(tf);
      }
    }
    // Frames before the first prompt: a reverse pass, writing only frames still incomplete.
    if (first > 0 && !opts.cancelled?.()) {
      await writer.flush();
      const have = new Set(await store.completeFrames(sessionId));
      if ([...Array(first).keys()].some((f) => !have.has(f))) {
        for await (const tf of tracker.propagate({ startFrame: first, reverse: true })) {
          if (opts.cancelled?.()) break;
          if (tf.frame === first || have.has(tf.frame)) continue;
          await write(tf);
        }
      }
    }
    await writer.flush();
    return { framesWritten: written, resumedAfter, seconds: (performance.now() - t0) / 1000, complete: (await store.completeFrames(sessionId)).length >= n };
  } finally {
    // Whatever was tracked before an error is committed (and acknowledged) before leaving.
    try {
      await writer.destroy();
    } finally {
      tracker?.destroy();
      await frames.destroy();
    }
  }
}
