/**
 * Offline video tracking with SAM2's video-predictor semantics: prompts on any frame (points,
 * boxes, masks; corrections on tracked frames), then propagation forward or in reverse from any
 * frame, which overwrites earlier non-conditioning results. Frames come from a random-access
 * provider at the model's S x S; their image features are computed once and cached.
 *
 * With `boundedMemory` a tracker keeps whole only what SAM 2 can still select and packs the rest
 * (memory-rehydration.ts), so memory does not grow with the clip; `restoreObject` brings back an
 * object from stored masks without tracking again.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { resizeBilinearToMask } from '../mask/upsample.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import { memorySlotFrame } from './memory-bank.js';
import { compactAllAway, compactBehind, compactView, rehydrateFor, rehydrateRestoredCond, type RehydrationStats } from './memory-rehydration.js';
import { ObjectState, type FrameOutput } from './object-state.js';
import { concatPoints, maskToModel, toPointInputs, type Box, type Point } from './prompts.js';
import { TrackingEngine, type EngineOptions, type EngineStats } from './tracking-engine.js';
import { SamRunner } from './sam-runner.js';
import type { FrameProvider } from './decoded-frames.js';
import { buildSupportSet, type SupportMemory, type SupportSetOptions, type SupportSpec } from './support-set.js';

// FrameProvider lives in decoded-frames.ts (its implementation there imported it from here: a ring).
export type { FrameProvider } from './decoded-frames.js';

export interface VideoTrackerOptions extends EngineOptions {
  /** Encode frame t+1 while frame t is tracked (default true). */
  prefetch?: boolean;
  /** Video size: prompts are in these pixels and masks come back at this size. */
  width: number;
  height: number;
  /**
   * Keep whole only the outputs a propagation step can still select; pack the others and rebuild
   * them from their masks when needed (memory-rehydration.ts). Default false: every output stays
   * as tracked (bit-exact parity with SAM 2, memory growing with the clip).
   */
  boundedMemory?: boolean;
}

/**
 * One object as stored (a server's store after a restart), for {@link VideoTracker.restoreObject}.
 * Masks are at video size; prompts in video pixels, in the order they were applied.
 */
export interface RestoredObject {
  prompts: readonly (
    { kind: 'points'; frame: number; points: readonly Point[]; clearOld: boolean } | { kind: 'box'; frame: number; box: Box; points: readonly Point[] } | { kind: 'mask'; frame: number }
  )[];
  /**
   * The latest mask of each frame: `mask()` gives it at video size (1 = object) and is called only
   * when the mask is needed (shown by maskAt, or rebuilt into memory), so a caller hands over what
   * it holds (stored counts) and nothing is decoded up front.
   */
  masks: Iterable<{ frame: number; mask: () => Uint8Array; score: number; tracked: boolean; reverse?: boolean }>;
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
  private readonly bounded: boolean;
  /** Compacted / rebuilt outputs (bounded memory and restore). */
  readonly memoryStats: RehydrationStats = { compacted: 0, rebuilt: 0 };

  constructor(
    sessions: ModelSessions,
    private readonly frames: FrameProvider,
    readonly opts: VideoTrackerOptions,
  ) {
    this.runner = new SamRunner(sessions);
    this.engine = new TrackingEngine(this.runner, (i) => this.frames.getFrame(i), opts);
    this.prefetch = opts.prefetch ?? process.env.CINESEG_PREFETCH !== '0';
    this.bounded = opts.boundedMemory ?? false;
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
    return this.prompted(objectId, async (obj) => {
      let inputs = toPointInputs(points, opts.box, this.opts.width, this.opts.height, this.runner.S);
      if (opts.clearOld === false) {
        if (opts.box) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, 'a box must come first: use clearOld (the default) with a box');
        inputs = concatPoints(obj.pointInputs.get(frame), inputs);
      }
      await this.rehydrateForPrompt(obj, frame);
      const out = await this.engine.addPoints(obj, frame, inputs, this.numFrames);
      this.packAwayFrom(obj, frame);
      return out;
    });
  }

  /** Adds a box (two corner points, labels 2 and 3) plus optional clicks. */
  addBox(frame: number, objectId: number, box: Box, points: readonly Point[] = []): Promise<FrameOutput> {
    return this.addPoints(frame, objectId, points, { box });
  }

  /** Adds a binary mask (width x height bytes, nonzero = object) as the object's output on a frame. */
  async addMask(frame: number, objectId: number, mask: Uint8Array): Promise<FrameOutput> {
    this.check(frame);
    return this.prompted(objectId, async (obj) => {
      await this.rehydrateForPrompt(obj, frame);
      const out = await this.engine.addMask(obj, frame, maskToModel(mask, this.opts.width, this.opts.height, this.runner.S), mask);
      this.packAwayFrom(obj, frame);
      return out;
    });
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
    // Restored prompted frames are conditioning frames: every step selects them.
    for (const o of objs) await rehydrateRestoredCond(this.engine, o, this.opts, this.memoryStats);
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
    let last: number | undefined;
    // try/finally: a cancelled pass (the caller's return()) still packs what it left whole.
    try {
      for (let k = 0; k < order.length; k++) {
        const t = order[k]!;
        this.alive();
        const toTrack: ObjectState[] = [];
        for (const o of objs) if (!o.cond.has(t)) toTrack.push(o);
        // The next frame's image features depend on nothing tracked here: start them now so the
        // encoder overlaps this frame's memory attention, decoding and output work.
        const next = order[k + 1];
        if (this.bounded) await rehydrateFor(this.engine, toTrack, t, reverse, n, false, this.opts, this.memoryStats);
        if (this.prefetch && next !== undefined) this.engine.features(next).catch(() => undefined);
        await this.engine.track(toTrack, t, reverse, n);
        // Tracked again: the packed copy of an earlier pass (or of the store) is stale now.
        for (const o of toTrack) o.compact.delete(t);
        const objects: TrackedFrame['objects'] = [];
        for (const o of objs) {
          o.framesTracked.set(t, reverse);
          objects.push({ objectId: o.id, output: (o.cond.get(t) ?? o.nonCond.get(t))! });
        }
        if (opts.dropStaleMemory || this.bounded) this.dropMemoryBehind(objs, t, reverse);
        yield { frame: t, objects: this.engine.frameOutputs(objects) };
        // After the yield: the caller has used this frame's outputs (stored, sent) by now.
        if (this.bounded) compactBehind(objs, t, reverse, this.engine.settings, n, this.memoryStats);
        last = t;
      }
    } finally {
      if (this.bounded && last !== undefined && !this.destroyed) compactAllAway(objs, last, this.engine.settings, n, this.memoryStats);
    }
  }

  /**
   * Bounded: after a prompt, only the frames around it stay whole (what a propagation from it
   * selects first), so corrections all over a clip do not pile up rebuilt frames.
   */
  private packAwayFrom(obj: ObjectState, frame: number): void {
    if (this.bounded) compactAllAway([obj], frame, this.engine.settings, this.numFrames, this.memoryStats);
  }

  /** Bounded or restored: makes whole what a prompt on `frame` reads (its own output, its memory). */
  private async rehydrateForPrompt(obj: ObjectState, frame: number): Promise<void> {
    if (!this.bounded && obj.restoredCond.size === 0 && obj.compact.size === 0) return;
    const reverse = obj.framesTracked.get(frame) ?? false;
    await rehydrateFor(this.engine, [obj], frame, reverse, this.numFrames, true, this.opts, this.memoryStats, !obj.framesTracked.has(frame));
  }

  /**
   * SAM 2's `remove_object`: drops one object and nothing else (the other objects' outputs,
   * memories and pointers stay as they are; image features are shared and kept).
   * @returns whether the object existed
   */
  removeObject(objectId: number): boolean {
    this.alive();
    return this.objects.delete(objectId);
  }

  /**
   * SAM 2's `clear_all_prompts_in_frame` for one object, output included: its clicks, box or mask
   * on `frame` and every output it has there (pending, conditioning, tracked, packed, restored)
   * go, and the frame counts as never tracked, so the next prompt there is an initial
   * conditioning frame (decoded without memory) and the next propagation tracks it again. SAM 2
   * keeps the cleared output as a non-conditioning one; a caller that replays the frame's other
   * prompts next (server/prompt-history.ts) wants none. Other frames and objects are untouched.
   * @returns whether the object existed
   */
  clearFrame(objectId: number, frame: number): boolean {
    this.alive();
    const o = this.objects.get(objectId);
    if (!o) return false;
    o.pointInputs.delete(frame);
    o.maskInputs.delete(frame);
    o.tempCond.delete(frame);
    o.tempNonCond.delete(frame);
    o.cond.delete(frame);
    o.nonCond.delete(frame);
    o.compact.delete(frame);
    o.restoredCond.delete(frame);
    o.framesTracked.delete(frame);
    return true;
  }

  /** Whether an object has something a propagation can start from: a prompted frame (pending or restored) or support. */
  hasConditioning(objectId: number): boolean {
    const o = this.objects.get(objectId);
    return !!o && o.cond.size + o.tempCond.size + o.restoredCond.size + o.support.length > 0;
  }

  /**
   * Brings back an object from stored masks without tracking again: prompted frames become
   * conditioning frames whose outputs are rebuilt from their stored masks when first needed, the
   * other frames are kept packed (memory-rehydration.ts) and marked tracked, so a click there is
   * a correction and propagation goes on from any frame, rebuilding the memories it selects.
   * Prompt inputs are re-derived (no model run), so later clicks with clearOld false add to them.
   * An object of that id keeps its support memories (add them first). Costs no model run.
   */
  restoreObject(objectId: number, r: RestoredObject): void {
    this.alive();
    const existed = this.objects.has(objectId);
    const obj = this.object(objectId);
    const { width, height } = this.opts;
    const S = this.runner.S;
    const prompted = new Set<number>();
    for (const p of r.prompts) {
      this.check(p.frame);
      prompted.add(p.frame);
      if (p.kind === 'mask') {
        obj.pointInputs.delete(p.frame);
        continue;
      }
      const box = p.kind === 'box' ? p.box : undefined;
      let inputs = toPointInputs(p.points, box, width, height, S);
      if (p.kind === 'points' && p.clearOld === false) inputs = concatPoints(obj.pointInputs.get(p.frame), inputs);
      obj.pointInputs.set(p.frame, inputs);
    }
    for (const m of r.masks) {
      this.check(m.frame);
      const load = m.mask;
      const videoMask = (): Uint8Array => {
        const mask = load();
        if (mask.length !== width * height) throw new CinesegError(ErrorCode.E_MASK_INVALID, `stored mask of frame ${m.frame} has ${mask.length} pixels, expected ${width}x${height}`);
        return mask;
      };
      if (m.tracked) obj.framesTracked.set(m.frame, m.reverse ?? false);
      obj.nonCond.delete(m.frame);
      if (prompted.has(m.frame)) obj.restoredCond.set(m.frame, { videoMask });
      else obj.compact.set(m.frame, { lowRes: null, objectScore: m.score, videoMask });
    }
    if (obj.restoredCond.size === 0 && obj.cond.size === 0 && obj.support.length === 0) {
      if (!existed) this.objects.delete(objectId);
      throw new CinesegError(ErrorCode.E_TRACKER_STATE, `object ${objectId} has no stored prompted frame to restore from`, { details: { objectId } });
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
    const o = this.objects.get(objectId);
    if (!o) return undefined;
    const whole = o.outputAt(frame);
    if (whole) return whole;
    // Packed (bounded or restored): shown from the mask; pointer and memory are rebuilt on demand.
    const c = o.compact.get(frame);
    if (c) return compactView(c, this.runner.L, this.opts);
    const r = o.restoredCond.get(frame);
    if (r) return compactView({ lowRes: null, objectScore: 10, videoMask: r.videoMask }, this.runner.L, this.opts);
    return undefined;
  }

  /** The object's mask on a frame at video size (1 = object), or null when never visited. */
  maskAt(frame: number, objectId: number, out?: Uint8Array): Uint8Array | null {
    // A restored frame not rebuilt yet: its stored mask as it is.
    const st = this.objects.get(objectId);
    if (st && !st.outputAt(frame)) {
      const stored = (st.compact.get(frame) ?? st.restoredCond.get(frame))?.videoMask;
      if (stored) {
        const m = stored();
        if (!out) return m.slice();
        out.set(m);
        return out;
      }
    }
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
