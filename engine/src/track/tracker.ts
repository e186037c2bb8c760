/**
 * Offline video tracking with SAM2's video-predictor semantics: prompts on any frame (points,
 * boxes, masks; corrections on tracked frames), then propagation forward or in reverse from any
 * frame, which overwrites earlier non-conditioning results. Frames come from a random-access
 * provider at the model's S x S; their image features are computed once and cached.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { resizeBilinearToMask } from '../mask/upsample.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import { memorySlotFrame } from './memory-bank.js';
import { ObjectState, type FrameOutput } from './object-state.js';
import { concatPoints, maskToModel, toPointInputs, type Box, type Point } from './prompts.js';
import { TrackingEngine, type EngineOptions, type EngineStats } from './propagation.js';
import { SamRunner } from './sam-runner.js';
import { buildSupportSet, type SupportMemory, type SupportSetOptions, type SupportSpec } from './support-set.js';

/** Frames at the model's S x S, rgb24, by index. */
export interface FrameProvider {
  readonly numFrames: number;
  getFrame(index: number): Promise<Uint8Array>;
}

export interface VideoTrackerOptions extends EngineOptions {
  /** Encode frame t+1 while frame t is tracked (default true). */
  prefetch?: boolean;
  /** Video size: prompts are in these pixels and masks come back at this size. */
  width: number;
  height: number;
}

export interface PropagateOptions {
  /**
   * First frame (default: the earliest prompted frame over all objects; an object with only
   * support memories counts as frame 0, or the last frame in reverse).
   */
  startFrame?: number;
  /**
   * SAM2's `max_frame_num_to_track`: frames start..start±N are visited (N + 1 frames, clipped to
   * the video). Default: the whole video.
   */
  maxFrameNumToTrack?: number;
  reverse?: boolean;
  /**
   * Free the spatial memory of non-conditioning frames once this pass has moved past the frames
   * that can still select it (pointers stay). For a single pass whose results are only read:
   * at 1024 px one memory is 1 MB per object and frame. A later pass over those frames would
   * see less memory than SAM2 would, so leave it off when you will correct or re-propagate.
   */
  dropStaleMemory?: boolean;
}

/** One visited frame: every object's output, in the order objects were added. */
export interface TrackedFrame {
  frame: number;
  objects: { objectId: number; output: FrameOutput }[];
}

export class VideoTracker {
  readonly runner: SamRunner;
  readonly engine: TrackingEngine;
  private readonly objects = new Map<number, ObjectState>();
  private destroyed = false;
  private readonly prefetch: boolean;

  constructor(
    sessions: ModelSessions,
    private readonly frames: FrameProvider,
    readonly opts: VideoTrackerOptions,
  ) {
    this.runner = new SamRunner(sessions);
    this.engine = new TrackingEngine(this.runner, (i) => this.frames.getFrame(i), opts);
    this.prefetch = opts.prefetch ?? process.env.CINESEG_PREFETCH !== '0';
  }

  get numFrames(): number {
    return this.frames.numFrames;
  }

  get objectIds(): number[] {
    return [...this.objects.keys()];
  }

  get stats(): EngineStats {
    return this.engine.stats;
  }

  /** The state of one object (for tests and tools), or undefined. */
  objectState(objectId: number): ObjectState | undefined {
    return this.objects.get(objectId);
  }

  /**
   * Adds clicks (and optionally a box) for an object on a frame; returns the frame's new output.
   * With `clearOld: false` the points are appended to earlier ones on that frame.
   */
  async addPoints(frame: number, objectId: number, points: readonly Point[], opts: { box?: Box; clearOld?: boolean } = {}): Promise<FrameOutput> {
    this.check(frame);
    return this.prompted(objectId, (obj) => {
      let inputs = toPointInputs(points, opts.box, this.opts.width, this.opts.height, this.runner.S);
      if (opts.clearOld === false) {
        if (opts.box) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, 'a box must come first: use clearOld (the default) with a box');
        inputs = concatPoints(obj.pointInputs.get(frame), inputs);
      }
      return this.engine.addPoints(obj, frame, inputs, this.numFrames);
    });
  }

  /** Adds a box (two corner points, labels 2 and 3) plus optional clicks. */
  addBox(frame: number, objectId: number, box: Box, points: readonly Point[] = []): Promise<FrameOutput> {
    return this.addPoints(frame, objectId, points, { box });
  }

  /** Adds a binary mask (width x height bytes, nonzero = object) as the object's output on a frame. */
  async addMask(frame: number, objectId: number, mask: Uint8Array): Promise<FrameOutput> {
    this.check(frame);
    return this.prompted(objectId, (obj) => this.engine.addMask(obj, frame, maskToModel(mask, this.opts.width, this.opts.height, this.runner.S), mask));
  }

  /**
   * Adds support memories from annotated frames of other clips (support-set.ts): annotation
   * object id k becomes support of object k here, creating the object when needed. Such an
   * object needs no prompt; prompts may still be added. All-or-nothing: nothing is added when
   * any spec fails.
   */
  async addSupport(specs: readonly SupportSpec[], opts: SupportSetOptions = {}): Promise<SupportMemory[]> {
    this.alive();
    const mems = await buildSupportSet(this.engine, specs, opts);
    this.addSupportMemories(mems);
    return mems;
  }

  /**
   * Files support memories built already (buildSupportSet with this tracker's model): so a server
   * can store their record before they take effect, and a rebuilt tracker gets them back without
   * decoding the support clips again. Their outputs are only ever read, so trackers may share them.
   */
  addSupportMemories(mems: readonly SupportMemory[]): void {
    this.alive();
    // Checked first, so a bad id adds nothing.
    for (const m of mems) if (!Number.isInteger(m.objectId)) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `object id must be an integer, got ${m.objectId}`);
    for (const m of mems) this.object(m.objectId).support.push(m.output);
  }

  /**
   * Runs a prompt for an object. An object this prompt would create is forgotten again when the
   * prompt is refused: an object without a prompt would make every later propagation fail.
   */
  private async prompted(objectId: number, run: (obj: ObjectState) => Promise<FrameOutput>): Promise<FrameOutput> {
    const existed = this.objects.has(objectId);
    const obj = this.object(objectId);
    try {
      return await run(obj);
    } catch (e) {
      if (!existed && this.objects.get(objectId) === obj) this.objects.delete(objectId);
      throw e;
    }
  }

  /**
   * SAM2's `propagate_in_video`: consolidates prompts, then visits frames in order, yielding every
   * object's output per frame. Prompted frames give their stored output; the others are tracked
   * (all objects of a frame batched).
   */
  async *propagate(opts: PropagateOptions = {}): AsyncGenerator<TrackedFrame> {
    this.alive();
    const objs = [...this.objects.values()];
    if (objs.length === 0) throw new CinesegError(ErrorCode.E_TRACKER_STATE, 'no object has a prompt; add points, a box, a mask or support first');
    await this.engine.preflight(objs);
    const n = this.numFrames;
    const reverse = opts.reverse ?? false;
    let start = opts.startFrame;
    if (start === undefined) {
      start = Infinity;
      for (const o of objs) {
        // Support-only: nothing in this video to start from, so the whole video in this direction.
        if (o.cond.size === 0) start = Math.min(start, reverse ? n - 1 : 0);
        for (const f of o.cond.keys()) start = Math.min(start, f);
      }
    }
    this.check(start);
    const max = opts.maxFrameNumToTrack ?? n;
    const order: number[] = [];
    if (reverse) {
      const end = Math.max(start - max, 0);
      if (start > 0) for (let t = start; t >= end; t--) order.push(t);
    } else {
      const end = Math.min(start + max, n - 1);
      for (let t = start; t <= end; t++) order.push(t);
    }
    for (let k = 0; k < order.length; k++) {
      const t = order[k]!;
      this.alive();
      const toTrack: ObjectState[] = [];
      for (const o of objs) if (!o.cond.has(t)) toTrack.push(o);
      // The next frame's image features depend on nothing tracked here: start them now so the
      // encoder overlaps this frame's memory attention, decoding and output work.
      const next = order[k + 1];
      if (this.prefetch && next !== undefined) this.engine.features(next).catch(() => undefined);
      await this.engine.track(toTrack, t, reverse, n);
      const objects: TrackedFrame['objects'] = [];
      for (const o of objs) {
        o.framesTracked.set(t, reverse);
        objects.push({ objectId: o.id, output: (o.cond.get(t) ?? o.nonCond.get(t))! });
      }
      if (opts.dropStaleMemory) this.dropMemoryBehind(objs, t, reverse);
      yield { frame: t, objects };
    }
  }

  /** Drops spatial memories that no frame after t (in this direction) can select. */
  private dropMemoryBehind(objs: readonly ObjectState[], t: number, reverse: boolean): void {
    const s = this.engine.settings;
    const next = reverse ? t - 1 : t + 1;
    let edge = next;
    for (let tPos = 1; tPos < s.numMaskmem; tPos++) {
      const f = memorySlotFrame(next, tPos, s.numMaskmem, s.memoryTemporalStrideForEval, reverse);
      edge = reverse ? Math.max(edge, f) : Math.min(edge, f);
    }
    // The edge advances one frame per step, so only the frames just behind it need freeing.
    const span = s.numMaskmem * s.memoryTemporalStrideForEval + 1;
    for (const o of objs) {
      for (let k = 1; k <= span; k++) {
        const out = o.nonCond.get(reverse ? edge + k : edge - k);
        if (out) out.maskmem = null;
      }
    }
  }

  /** The current output of an object on a frame (pending prompt outputs included), if any. */
  output(frame: number, objectId: number): FrameOutput | undefined {
    return this.objects.get(objectId)?.outputAt(frame);
  }

  /** The object's mask on a frame at video size (1 = object), or null when never visited. */
  maskAt(frame: number, objectId: number, out?: Uint8Array): Uint8Array | null {
    const o = this.output(frame, objectId);
    if (!o) return null;
    const { width, height } = this.opts;
    const L = this.runner.L;
    return resizeBilinearToMask(o.predMasks, L, L, height, width, out);
  }

  /** Drops cached features and state. The sessions belong to the caller. */
  destroy(): void {
    this.destroyed = true;
    this.objects.clear();
    this.engine.cache.clear();
  }

  private object(id: number): ObjectState {
    this.alive();
    if (!Number.isInteger(id)) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `object id must be an integer, got ${id}`);
    let o = this.objects.get(id);
    if (!o) this.objects.set(id, (o = new ObjectState(id)));
    return o;
  }

  private check(frame: number): void {
    if (!Number.isInteger(frame) || frame < 0 || frame >= this.numFrames) {
      throw new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `frame ${frame} is outside the video (0..${this.numFrames - 1})`, {
        details: { frame, numFrames: this.numFrames },
      });
    }
  }

  private alive(): void {
    if (this.destroyed) throw new CinesegError(ErrorCode.E_TRACKER_DESTROYED, 'tracker was destroyed');
  }
}
