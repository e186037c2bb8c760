/**
 * Tracking a live source: frames are pushed in order, prompts arrive with a frame (or correct
 * the frame just pushed), and memory stays bounded for ever — at most `maxCondFrames`
 * conditioning frames per object, the spatial memories the next frame can select
 * (numMaskmem − 1) and the pointers it can select (maxObjPtrs − 1). With `numFrames` set to a
 * clip's length, pushing that clip gives exactly the masks of offline forward propagation with
 * the same prompts on the same frames.
 *
 * Frame numbers are the caller's: a live pipeline pushes the source's frame index, so frames it
 * had no time for (drops) still count in temporal positions and pointer distances, and what the
 * memory means does not depend on how fast the machine is. Memory slots that fall on dropped
 * frames are simply missing, which SAM2 allows (it skips absent frames).
 */
import type { Observable } from 'rxjs';
import type { Frame } from '../decode/frame-decoder.js';
import { CinesegError, ErrorCode } from '../errors.js';
import type { FrameSource } from '../decode/frame-source.js';
import { resizeBilinearToMask } from '../mask/upsample.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import { memorySlotFrame } from './memory-bank.js';
import { ObjectState, type FrameOutput } from './object-state.js';
import { concatPoints, maskToModel, toPointInputs, type Box, type Point } from './prompts.js';
import { TrackingEngine, type EngineOptions, type EngineStats, type TrackStepOptions } from './tracking-engine.js';
import { SamRunner } from './sam-runner.js';
import type { TrackedFrame } from './video-tracker.js';

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
  /**
   * Conditioning frames kept per object (default DEFAULT_MAX_COND_FRAMES; 0 or Infinity = all,
   * SAM2's behaviour). See DEFAULT_MAX_COND_FRAMES for what happens to the others.
   */
  maxCondFrames?: number;
}

/**
 * SAM2 keeps every conditioning frame and attends all of them (`max_cond_frames_in_attn = -1`):
 * over a clip that is a handful, but a live procedure corrected every few seconds collects
 * hundreds, each ≈ 1 MB of memory per object and 4,096 more keys in every later frame's memory
 * attention (with 7 memories ≈ 29k keys, each one costs ≈ 14 % more). So live keeps the first
 * conditioning frame (the prompt that defined the object) and the newest ones, 8 in all: then
 * attention sees at most 8 + 6 spatial memories, about twice an unprompted frame's, whatever the
 * length of the procedure. A retired conditioning frame is not lost at once: it becomes an
 * ordinary memory of its frame, still selected while it lies in the recent window (as SAM2 does
 * with unselected conditioning frames), and is freed when it leaves it.
 */
export const DEFAULT_MAX_COND_FRAMES = 8;

/** A prompt that comes with a frame: clicks and/or a box, or a mask, for one object. */
export interface StreamPrompt {
  objectId: number;
  points?: Point[];
  box?: Box;
  /** width x height bytes, nonzero = object. */
  mask?: Uint8Array;
  /**
   * false: the points are added to the object's earlier clicks on that frame (SAM2's
   * `add_new_points_or_box(clear_old_points=False)`: a negative click after a positive one
   * refines the mask). Default true: they replace them. Not with a box or a mask.
   */
  clearOld?: boolean;
}

/** A prompted object's output on the prompted frame, and on the held frames after it that were tracked again. */
export interface PromptResult {
  objectId: number;
  output: FrameOutput;
  /** Held frames after the prompted one, re-tracked from the corrected memory, oldest first. */
  later: { frame: number; output: FrameOutput }[];
}

export class StreamTracker {
  readonly runner: SamRunner;
  readonly engine: TrackingEngine;
  private readonly objects = new Map<number, ObjectState>();
  private readonly rgbByFrame = new Map<number, Uint8Array>();
  private current = -1;
  private destroyed = false;
  private readonly hold: number;
  private readonly maxCond: number;
  /** The last `hold` pushed frame numbers, oldest first (the frames a prompt can land on). */
  private pushed: number[] = [];
  /**
   * Frames kept past the hold window because a viewer froze its picture on them (live freeze):
   * their S x S picture, copied (the caller's buffers are reused), so a prompt can still land on
   * them. Their image features are not kept: a prompt there encodes them once again.
   */
  private readonly pinned = new Map<number, Uint8Array>();

  constructor(
    sessions: ModelSessions,
    readonly opts: StreamTrackerOptions,
  ) {
    this.runner = new SamRunner(sessions);
    this.hold = Math.max(1, Math.floor(opts.holdFrames ?? 1));
    const mc = opts.maxCondFrames ?? DEFAULT_MAX_COND_FRAMES;
    this.maxCond = mc <= 0 || !Number.isFinite(mc) ? Number.POSITIVE_INFINITY : Math.max(1, Math.floor(mc));
    this.engine = new TrackingEngine(
      this.runner,
      async (i) => {
        const rgb = this.rgbByFrame.get(i) ?? this.pinned.get(i);
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
    return this.pushed.includes(frame) || this.pinned.has(frame);
  }

  /**
   * Keeps a held frame promptable after it leaves the hold window (until `unpin`): its picture is
   * copied. Returns false when the frame is not held (any more). A prompt on a pinned frame that
   * fell out of the window sees the conditioning frames and the memories still kept, not the
   * non-conditioning ones around it that were freed since.
   */
  pin(frame: number): boolean {
    if (this.pinned.has(frame)) return true;
    const rgb = this.rgbByFrame.get(frame);
    if (!rgb || !this.pushed.includes(frame)) return false;
    this.pinned.set(frame, new Uint8Array(rgb));
    return true;
  }

  /** Releases a pinned frame. */
  unpin(frame: number): void {
    this.pinned.delete(frame);
  }

  /** Frames pinned now (tests check the bound). */
  get pinnedFrames(): number[] {
    return [...this.pinned.keys()];
  }

  /** The frames that can still take a prompt, oldest first. */
  get heldFrames(): readonly number[] {
    return this.pushed;
  }

  objectState(objectId: number): ObjectState | undefined {
    return this.objects.get(objectId);
  }

  /**
   * Tracks the next frame (S x S rgb24). Prompts given here make it a conditioning frame for
   * their objects; every other object with a prompt so far is tracked from its memory.
   * `deferMemory`: the frame's memory is encoded by `flushMemory()` (or the next call), so a live
   * caller can send the masks before paying for it.
   * `at`: the frame's number (default: the last one + 1); a live source's frame index, so that
   * frames skipped in between count as time passed. Must be greater than the last one.
   */
  async push(rgb: Uint8Array, prompts: readonly StreamPrompt[] = [], step: TrackStepOptions = {}, at?: number): Promise<TrackedFrame> {
    this.alive();
    const t = at ?? this.current + 1;
    if (!Number.isInteger(t) || t <= this.current) {
      throw new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `frame ${t} must come after frame ${this.current}`);
    }
    if (this.opts.numFrames !== undefined && t >= this.opts.numFrames) {
      throw new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `frame ${t} is past numFrames (${this.opts.numFrames})`);
    }
    this.current = t;
    this.rgbByFrame.set(t, rgb);
    this.pushed.push(t);
    if (this.pushed.length > this.hold) this.rgbByFrame.delete(this.pushed.shift()!);

    const prompted: ObjectState[] = [];
    for (const p of prompts) {
      const obj = this.object(p.objectId);
      await this.applyPrompt(obj, t, p);
      if (!prompted.includes(obj)) prompted.push(obj);
    }
    if (prompted.length) await this.engine.preflight(prompted);
    for (const o of prompted) this.retireCond(o);

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
    return { frame: t, objects: this.engine.frameOutputs(objects) };
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
    // The newest frame has no held frame after it: nothing to re-track.
    const [out] = await this.promptAt(this.current, [prompt]);
    return out!.output;
  }

  /**
   * Prompts objects on a frame already pushed and still held (see `holdFrames`): the frame becomes
   * a conditioning frame for them (a new object starts there), its memory is encoded before the
   * next push, and later pushes attend to it. The held frames pushed after it are tracked again
   * for the prompted objects (in order, each from the corrected memory before it), so their masks,
   * memories and pointers are not left from before the correction — SAM2 would re-propagate over
   * them too. Returns each prompted object's output on that frame and on those later frames.
   */
  async promptAt(frame: number, prompts: readonly StreamPrompt[], opts: { retrack?: boolean } = {}): Promise<PromptResult[]> {
    this.alive();
    if (this.current < 0) throw new CinesegError(ErrorCode.E_TRACKER_STATE, 'push a frame before prompting on it');
    if (!this.holds(frame)) {
      throw new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `frame ${frame} is not held any more (frames ${this.pushed[0]}..${this.current} are)`, {
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
    for (const o of prompted) {
      o.framesTracked.set(frame, false);
      this.retireCond(o);
    }
    const results: PromptResult[] = prompted.map((o) => ({ objectId: o.id, output: o.cond.get(frame) ?? o.nonCond.get(frame)!, later: [] }));
    if (opts.retrack === false) return results;
    const later = await this.retrackAfter(
      frame,
      results.map((r) => r.objectId),
    );
    for (const r of results) r.later = later.get(r.objectId) ?? [];
    return results;
  }

  /**
   * Tracks the held frames after `frame` again for the given objects, oldest first, each from the
   * memory before it (what `promptAt` does after a prompt; separate so a caller can survive its
   * failure: the prompt itself is applied by then). A frame where an object has its own prompt is
   * left to it (it conditions, it is not tracked).
   */
  async retrackAfter(frame: number, objectIds: readonly number[]): Promise<Map<number, { frame: number; output: FrameOutput }[]>> {
    this.alive();
    const objs = objectIds.map((id) => this.objects.get(id)).filter((o): o is ObjectState => o !== undefined);
    const later = new Map<number, { frame: number; output: FrameOutput }[]>(objs.map((o) => [o.id, []]));
    for (const f of this.pushed) {
      if (f <= frame) continue;
      const todo = objs.filter((o) => !o.cond.has(f));
      if (todo.length === 0) continue;
      const outs = await this.engine.track(todo, f, false, this.opts.numFrames);
      todo.forEach((o, k) => later.get(o.id)!.push({ frame: f, output: outs[k]! }));
    }
    return later;
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
    this.pinned.clear();
    this.engine.cache.clear();
  }

  private async applyPrompt(obj: ObjectState, t: number, p: StreamPrompt): Promise<FrameOutput> {
    const { width, height } = this.opts;
    if (p.mask) return this.engine.addMask(obj, t, maskToModel(p.mask, width, height, this.runner.S), p.mask);
    let inputs = toPointInputs(p.points ?? [], p.box, width, height, this.runner.S);
    // Refinement: a box starts a frame's prompt afresh (SAM2 wants it first), so it never appends.
    if (p.clearOld === false && !p.box) inputs = concatPoints(obj.pointInputs.get(t), inputs);
    return this.engine.addPoints(obj, t, inputs, this.opts.numFrames);
  }

  /**
   * Drops what no frame that can still be tracked or prompted — the held frames t − hold + 1 .. t
   * and the next one — can select: non-conditioning outputs before the pointer window, and spatial
   * memories before the memory window, and the prompts of frames that are neither held nor
   * conditioning. Conditioning frames stay (their number is capped by `retireCond`).
   */
  private prune(t: number): void {
    const s = this.engine.settings;
    // The oldest held frame: a prompt there sees the memory before it (frame numbers may have gaps).
    const next = this.pushed[0] ?? t;
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
      for (const m of [o.pointInputs, o.maskInputs]) for (const f of m.keys()) if (f < next && !o.cond.has(f)) m.delete(f);
    }
  }

  /**
   * Keeps an object's first conditioning frame and its newest ones, `maxCondFrames` in all; the
   * others become ordinary memories of their frames (see DEFAULT_MAX_COND_FRAMES), freed by
   * `prune` once no frame to come can select them.
   */
  private retireCond(o: ObjectState): void {
    if (o.cond.size <= this.maxCond) return;
    const frames = [...o.cond.keys()].sort((a, b) => a - b);
    // With room for one only, the newest wins: it is the user's latest word on the object.
    const keep = new Set(this.maxCond === 1 ? [frames.at(-1)!] : [frames[0]!, ...frames.slice(frames.length - (this.maxCond - 1))]);
    for (const f of frames) {
      if (keep.has(f)) continue;
      o.nonCond.set(f, o.cond.get(f)!);
      o.cond.delete(f);
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
export function trackSource(source: FrameSource, tracker: StreamTracker, promptsFor: (frame: Frame) => readonly StreamPrompt[] = () => []): Observable<SourceTrackedFrame> {
  const S = tracker.runner.S;
  return source.mapFrames(async (frame) => ({ frame, tracked: await tracker.push(frame.rgb, promptsFor(frame)) }), { width: S, height: S });
}
