/**
 * Tracking a live source: frames are pushed in order, prompts arrive with a frame (or correct
 * the frame just pushed), and memory stays bounded for ever — conditioning frames, the spatial
 * memories the next frame can select (numMaskmem − 1) and the pointers it can select
 * (maxObjPtrs − 1). With `numFrames` set to a clip's length, pushing that clip gives exactly the
 * masks of offline forward propagation with the same prompts on the same frames.
 */
import type { Observable } from 'rxjs';
import type { Frame } from '../decode/frame-decoder.js';
import { CinesegError, ErrorCode } from '../errors.js';
import type { FrameSource } from '../source/frame-source.js';
import { resizeBilinearToMask } from '../mask/upsample.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import { memorySlotFrame } from './memory-bank.js';
import { ObjectState, type FrameOutput } from './object-state.js';
import { maskToModel, toPointInputs, type Box, type Point } from './prompts.js';
import { TrackingEngine, type EngineOptions, type EngineStats, type TrackStepOptions } from './propagation.js';
import { SamRunner } from './sam-runner.js';
import type { TrackedFrame } from './tracker.js';

export interface StreamTrackerOptions extends EngineOptions {
  /** Video size: prompts are in these pixels and masks come back at this size. */
  width: number;
  height: number;
  /**
   * Length of the video when known. SAM2 caps the pointer count at min(numFrames, 16); leave
   * undefined for an unbounded live stream (16).
   */
  numFrames?: number;
  /**
   * How many of the latest pushed frames can still take a prompt (default 1: only the last). A
   * live viewer clicks on the frame it sees, which may be a frame or two behind the tracker; those
   * frames' pictures and image features are kept, and memory is pruned so that a prompt on any of
   * them sees exactly the memory offline tracking would.
   */
  holdFrames?: number;
}

/** A prompt that comes with a frame: clicks and/or a box, or a mask, for one object. */
export interface StreamPrompt {
  objectId: number;
  points?: Point[];
  box?: Box;
  /** width x height bytes, nonzero = object. */
  mask?: Uint8Array;
}

export class StreamTracker {
  readonly runner: SamRunner;
  readonly engine: TrackingEngine;
  private readonly objects = new Map<number, ObjectState>();
  private readonly rgbByFrame = new Map<number, Uint8Array>();
  private current = -1;
  private destroyed = false;
  private readonly hold: number;

  constructor(
    sessions: ModelSessions,
    readonly opts: StreamTrackerOptions,
  ) {
    this.runner = new SamRunner(sessions);
    this.hold = Math.max(1, Math.floor(opts.holdFrames ?? 1));
    this.engine = new TrackingEngine(
      this.runner,
      async (i) => {
        const rgb = this.rgbByFrame.get(i);
        if (!rgb) throw new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `frame ${i} is no longer held by the stream`);
        return rgb;
      },
      { ...opts, featureCacheSize: Math.max(this.hold, opts.featureCacheSize ?? 1) },
    );
  }

  /** Index of the last pushed frame (−1 before the first). */
  get frameIndex(): number {
    return this.current;
  }

  get stats(): EngineStats {
    return this.engine.stats;
  }

  /** Ids of the objects being tracked, in the order they were added. */
  get objectIds(): number[] {
    return [...this.objects.keys()];
  }

  /** Whether `frame` can still take a prompt (one of the last `holdFrames` pushed frames). */
  holds(frame: number): boolean {
    return Number.isInteger(frame) && frame <= this.current && frame > this.current - this.hold && frame >= 0;
  }

  objectState(objectId: number): ObjectState | undefined {
    return this.objects.get(objectId);
  }

  /**
   * Tracks the next frame (S x S rgb24). Prompts given here make it a conditioning frame for
   * their objects; every other object with a prompt so far is tracked from its memory.
   * `deferMemory`: the frame's memory is encoded by `flushMemory()` (or the next call), so a live
   * caller can send the masks before paying for it.
   */
  async push(rgb: Uint8Array, prompts: readonly StreamPrompt[] = [], step: TrackStepOptions = {}): Promise<TrackedFrame> {
    this.alive();
    const t = this.current + 1;
    if (this.opts.numFrames !== undefined && t >= this.opts.numFrames) {
      throw new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `frame ${t} is past numFrames (${this.opts.numFrames})`);
    }
    this.current = t;
    this.rgbByFrame.set(t, rgb);
    this.rgbByFrame.delete(t - this.hold);

    const prompted: ObjectState[] = [];
    for (const p of prompts) {
      const obj = this.object(p.objectId);
      await this.applyPrompt(obj, t, p);
      if (!prompted.includes(obj)) prompted.push(obj);
    }
    if (prompted.length) await this.engine.preflight(prompted);

    const toTrack: ObjectState[] = [];
    for (const o of this.objects.values()) if (!o.cond.has(t) && o.cond.size > 0) toTrack.push(o);
    await this.engine.track(toTrack, t, false, this.opts.numFrames, step);

    const objects: TrackedFrame['objects'] = [];
    for (const o of this.objects.values()) {
      const out = o.cond.get(t) ?? o.nonCond.get(t);
      if (!out) continue;
      o.framesTracked.set(t, false);
      objects.push({ objectId: o.id, output: out });
    }
    this.prune(t);
    return { frame: t, objects };
  }

  /** Encodes the memory a `push(…, { deferMemory: true })` left for later. */
  flushMemory(): Promise<void> {
    this.alive();
    return this.engine.flushMemory();
  }

  /**
   * Corrects an object on the frame just pushed (clicks, box or mask); the frame becomes a
   * conditioning frame and its memory is re-encoded before the next push.
   */
  async correct(prompt: StreamPrompt): Promise<FrameOutput> {
    const [out] = await this.promptAt(this.current, [prompt]);
    return out!.output;
  }

  /**
   * Prompts objects on a frame already pushed and still held (see `holdFrames`): the frame becomes
   * a conditioning frame for them (a new object starts there), its memory is encoded before the
   * next push, and later pushes attend to it. Frames pushed after it keep the masks they had.
   * Returns each prompted object's output on that frame.
   */
  async promptAt(frame: number, prompts: readonly StreamPrompt[]): Promise<{ objectId: number; output: FrameOutput }[]> {
    this.alive();
    if (this.current < 0) throw new CinesegError(ErrorCode.E_TRACKER_STATE, 'push a frame before prompting on it');
    if (!this.holds(frame)) {
      throw new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `frame ${frame} is not held any more (frames ${Math.max(0, this.current - this.hold + 1)}..${this.current} are)`, {
        details: { frame, current: this.current },
      });
    }
    const prompted: ObjectState[] = [];
    for (const p of prompts) {
      const obj = this.object(p.objectId);
      await this.applyPrompt(obj, frame, p);
      if (!prompted.includes(obj)) prompted.push(obj);
    }
    await this.engine.preflight(prompted);
    for (const o of prompted) o.framesTracked.set(frame, false);
    return prompted.map((o) => ({ objectId: o.id, output: o.cond.get(frame) ?? o.nonCond.get(frame)! }));
  }

  /**
   * Forgets an object: its outputs, memories and prompts are freed and later pushes no longer
   * track it (the batch shrinks). Returns whether it was tracked.
   */
  removeObject(objectId: number): boolean {
    this.alive();
    return this.objects.delete(objectId);
  }

  /** An object's mask on the last pushed frame at video size, or null. */
  maskAt(objectId: number, out?: Uint8Array): Uint8Array | null {
    const o = this.objects.get(objectId);
    const f = o && (o.cond.get(this.current) ?? o.nonCond.get(this.current));
    if (!f) return null;
    const L = this.runner.L;
    return resizeBilinearToMask(f.predMasks, L, L, this.opts.height, this.opts.width, out);
  }

  /** Total stored outputs over all objects (tests check this stays bounded). */
  storedOutputs(): { frames: number; memories: number } {
    let frames = 0;
    let memories = 0;
    for (const o of this.objects.values()) {
      for (const m of [o.cond, o.nonCond]) {
        frames += m.size;
        for (const f of m.values()) if (f.maskmem) memories++;
      }
    }
    return { frames, memories };
  }

  destroy(): void {
    this.destroyed = true;
    this.objects.clear();
    this.rgbByFrame.clear();
    this.engine.cache.clear();
  }

  private async applyPrompt(obj: ObjectState, t: number, p: StreamPrompt): Promise<FrameOutput> {
    const { width, height } = this.opts;
    if (p.mask) return this.engine.addMask(obj, t, maskToModel(p.mask, width, height, this.runner.S), p.mask);
    const inputs = toPointInputs(p.points ?? [], p.box, width, height, this.runner.S);
    return this.engine.addPoints(obj, t, inputs, this.opts.numFrames);
  }

  /**
   * Drops what no frame that can still be tracked or prompted — the held frames t − hold + 1 .. t
   * and the next one — can select: non-conditioning outputs before the pointer window, and spatial
   * memories before the memory window. Conditioning frames stay.
   */
  private prune(t: number): void {
    const s = this.engine.settings;
    const next = t - this.hold + 1;
    const maxPtrs = Math.min(this.opts.numFrames ?? Number.POSITIVE_INFINITY, s.maxObjPtrsInEncoder);
    const ptrStart = next - (maxPtrs - 1);
    let memStart = next;
    for (let tPos = 1; tPos < s.numMaskmem; tPos++) {
      memStart = Math.min(memStart, memorySlotFrame(next, tPos, s.numMaskmem, s.memoryTemporalStrideForEval, false));
    }
    for (const o of this.objects.values()) {
      for (const [f, out] of o.nonCond) {
        if (f < ptrStart) o.nonCond.delete(f);
        else if (f < memStart) out.maskmem = null;
      }
      for (const f of o.framesTracked.keys()) if (f < ptrStart && !o.cond.has(f)) o.framesTracked.delete(f);
    }
  }

  private object(id: number): ObjectState {
    if (!Number.isInteger(id)) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `object id must be an integer, got ${id}`);
    let o = this.objects.get(id);
    if (!o) this.objects.set(id, (o = new ObjectState(id)));
    return o;
  }

  private alive(): void {
    if (this.destroyed) throw new CinesegError(ErrorCode.E_TRACKER_DESTROYED, 'stream tracker was destroyed');
  }
}

/** One tracked frame of a source: the decoded frame (S x S, with its PTS) and every object's output. */
export interface SourceTrackedFrame {
  frame: Frame;
  tracked: TrackedFrame;
}

/**
 * Tracks a source's frames as they come (recorded: every frame, with backpressure; live:
 * latest-frame-wins, so the tracker sees the frames it has time for). `promptsFor` may return
 * prompts for a frame (e.g. the clicks a user made since the last one). Unsubscribing stops ffmpeg;
 * the tracker stays usable.
 */
export function trackSource(
  source: FrameSource,
  tracker: StreamTracker,
  promptsFor: (frame: Frame) => readonly StreamPrompt[] = () => [],
): Observable<SourceTrackedFrame> {
  const S = tracker.runner.S;
  return source.mapFrames(async (frame) => ({ frame, tracked: await tracker.push(frame.rgb, promptsFor(frame)) }), { width: S, height: S });
}
