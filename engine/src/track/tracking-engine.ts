/**
 * One step of SAM2 video inference for many objects at once: prompted frames
 * (`add_new_points_or_box` / `add_new_mask`), consolidation (`propagate_in_video_preflight`) and
 * tracked frames (`track_step` with memory). Offline and streaming trackers both drive this
 * class, which is why streaming over a clip reproduces offline propagation exactly.
 *
 * Batching: objects are independent (their memories are never merged), but those whose memory
 * layout matches run through memory attention together, and every tracked object of a frame
 * goes through the decoder and the memory encoder in one batch.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { fillHolesInMaskScores } from '../mask/fill-holes.js';
import { resizeBilinear, resizeBilinearAntialias } from '../mask/upsample.js';
import type { MemorySettings } from '../model/bundle.js';
import { FeatureCache } from './feature-cache.js';
import { DEFAULT_SUPPORT_MEMORY, layoutKey, selectMemory, type MemorySelection, type SupportMemoryOptions } from './memory-bank.js';
import { applyNonOverlapConstraints, nonOverlapOutputs } from './non-overlap.js';
import type { FrameOutput, ObjectState, PointInputs } from './object-state.js';
import type { DecoderOutput, ImageFeatures, SamRunner } from './sam-runner.js';

// sigmoid over [−30, 18] from a table with linear interpolation (step 2^−10): within 6e−8 of
// the exact value (one float32 ulp near 1), three times faster than Math.exp on every pixel
// of every object's S x S mask. Above 18 the sigmoid is exactly 1 in float32; below −30 it is
// under 1e−13.
const SIG_LO = -30;
const SIG_HI = 18;
const SIG_STEP = 1024;
const SIG_TABLE = (() => {
  const t = new Float64Array((SIG_HI - SIG_LO) * SIG_STEP + 2);
  for (let i = 0; i < t.length; i++) t[i] = 1 / (1 + Math.exp(-(SIG_LO + i / SIG_STEP)));
  return t;
})();

function sigmoidInPlace(a: Float32Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const v = a[i]!;
    if (v < SIG_LO) a[i] = 0;
    else if (v >= SIG_HI) a[i] = 1;
    else {
      const x = (v - SIG_LO) * SIG_STEP;
      const k = x | 0;
      const t0 = SIG_TABLE[k]!;
      a[i] = t0 + (SIG_TABLE[k + 1]! - t0) * (x - k);
    }
  }
}

/** SAM2's NO_OBJ_SCORE. */
export const NO_OBJ_SCORE = -1024;

/**
 * SAM 2's `_get_stability_scores` on one mask's low-res logits `[from, to)`: the area above
 * +delta over the area above -delta (1 when nothing is above -delta). The decoder's dynamic
 * multimask uses it (delta 0.05, threshold 0.98), and the server sends it with each mask.
 */
export function stabilityScore(logits: ArrayLike<number>, delta: number, from = 0, to = logits.length): number {
  let inter = 0;
  let union = 0;
  for (let i = from; i < to; i++) {
    const v = logits[i]!;
    if (v > delta) inter++;
    if (v > -delta) union++;
  }
  return union > 0 ? inter / union : 1;
}

export interface EngineOptions {
  /**
   * Use memory attention (default true). False is an ablation: every non-prompted frame is
   * decoded from `vision_feat + no_mem_embed`, like a fresh image with no prompt.
   */
  memory?: boolean;
  /**
   * SAM2's `add_all_frames_to_correct_as_cond` (SAM2VideoPredictor; check `add_new_points_or_box`,
   * `add_new_mask` — `is_cond = is_init_cond_frame or add_all_frames_to_correct_as_cond` — and
   * `propagate_in_video_preflight`, which files the temp output under that storage key).
   * A frame never tracked for the object is always a conditioning frame. For a correction on a
   * frame already tracked (decoded with memory and the previous logits as mask input either way):
   * - true: the corrected output becomes a conditioning output. It is attended by every later
   *   frame at t_pos 0, its pointer too, and propagation passes it without re-tracking it.
   * - false (Meta's default): it replaces the frame's non-conditioning output. Only frames up to
   *   num_maskmem − 1 after it see its memory (pointers: up to max_obj_ptrs − 1), and the next
   *   propagation that visits the frame tracks it again and overwrites the correction.
   * Default here: true, unlike Meta, because the player and the robot annotator re-propagate
   * from the first prompt after a correction, and with false that re-tracks the corrected frame
   * and overwrites the correction (shown on ultrasound-1 in propagation-options.test.ts: the
   * frame's mask after re-propagation differs from the corrected one; with true it is kept).
   */
  addAllFramesToCorrectAsCond?: boolean;
  /**
   * SAM2VideoPredictor's `non_overlap_masks` (default false in Meta's code and here): the masks a
   * frame returns for its objects are made disjoint by `_apply_non_overlapping_constraints` (the
   * highest logit keeps a pixel). Affects only the outputs handed to callers (masks streamed,
   * stored, exported); memory, stored logits and later corrections' mask inputs stay unconstrained,
   * as Meta applies it only in `_get_orig_video_res_output`. See non-overlap.ts.
   */
  nonOverlapMasks?: boolean;
  /**
   * SAM2Base's `non_overlap_masks_for_mem_enc` (default false in Meta's code and here): the same
   * constraint on the S x S mask logits that go into the memory encoder, over the objects encoded
   * together for a frame (`_encode_new_memory`). Meta's video predictor encodes one object at a
   * time since 2024-12, where this flag has no effect any more; this engine batches a frame's
   * objects, so the flag acts on that batch, as Meta's did before.
   */
  nonOverlapMasksForMemEnc?: boolean;
  /** Frames whose image features are kept (default 4). */
  featureCacheSize?: number;
  /** How support memories (support-set.ts) are placed in attention; default DEFAULT_SUPPORT_MEMORY. */
  supportMemory?: Partial<SupportMemoryOptions>;
}

/**
 * The SAM 2 predictor flags a session may choose (CLI `track`, `serve`, the protocol's
 * startSession `sam`); defaults and their meaning in EngineOptions.
 */
export type SamOptions = Pick<EngineOptions, 'addAllFramesToCorrectAsCond' | 'nonOverlapMasks' | 'nonOverlapMasksForMemEnc'>;

/** Options of one `track` step. */
export interface TrackStepOptions {
  /**
   * Leave this frame's memory encoding for later: the masks are final once the decoder has run,
   * and the memory is only needed by the next step, so a live caller sends the masks first and
   * then calls `flushMemory()`. Every engine call that reads memory flushes it first, so a
   * forgotten flush costs latency, never correctness.
   */
  deferMemory?: boolean;
}

/** Counters for tests and benches. */
export interface EngineStats {
  imageEncoderRuns: number;
  memoryAttentionRuns: number;
  decoderRuns: number;
  memoryEncoderRuns: number;
}

export class TrackingEngine {
  readonly settings: MemorySettings;
  readonly memory: boolean;
  readonly addAllFramesToCorrectAsCond: boolean;
  readonly nonOverlapMasks: boolean;
  readonly nonOverlapMasksForMemEnc: boolean;
  readonly cache: FeatureCache;
  readonly supportMemory: SupportMemoryOptions;
  readonly stats: EngineStats = { imageEncoderRuns: 0, memoryAttentionRuns: 0, decoderRuns: 0, memoryEncoderRuns: 0 };
  private pendingMemory: (() => Promise<void>) | null = null;

  constructor(
    readonly runner: SamRunner,
    frameRgb: (frame: number) => Promise<Uint8Array>,
    opts: EngineOptions = {},
  ) {
    this.settings = runner.bundle.memory;
    this.memory = opts.memory ?? true;
    this.addAllFramesToCorrectAsCond = opts.addAllFramesToCorrectAsCond ?? true;
    this.nonOverlapMasks = opts.nonOverlapMasks ?? false;
    this.nonOverlapMasksForMemEnc = opts.nonOverlapMasksForMemEnc ?? false;
    this.supportMemory = { ...DEFAULT_SUPPORT_MEMORY, ...opts.supportMemory };
    this.cache = new FeatureCache(opts.featureCacheSize ?? 4, async (frame) => {
      const rgb = await frameRgb(frame);
      this.stats.imageEncoderRuns++;
      return this.runner.encodeImage(frame, rgb);
    });
  }

  features(frame: number): Promise<ImageFeatures> {
    return this.cache.get(frame);
  }

  /**
   * What a frame hands to callers: its objects' outputs, made disjoint when `nonOverlapMasks` is
   * on (copies; the stored outputs are not changed).
   */
  frameOutputs<T extends { objectId: number; output: FrameOutput }>(objects: T[]): T[] {
    if (!this.nonOverlapMasks || objects.length < 2) return objects;
    const resolved = nonOverlapOutputs(objects);
    return objects.map((o, i) => ({ ...o, output: resolved[i]!.output }));
  }

  /** Whether a deferred memory encoding is waiting (see TrackStepOptions.deferMemory). */
  get memoryPending(): boolean {
    return this.pendingMemory !== null;
  }

  /** Runs the memory encoding a deferred `track` step left behind; a no-op when none is waiting. */
  async flushMemory(): Promise<void> {
    const run = this.pendingMemory;
    if (!run) return;
    this.pendingMemory = null;
    await run();
  }

  /**
   * SAM2's `add_new_points_or_box` for one object: decodes the frame from its points (with the
   * previous logits as mask input when the frame already has an output) and stores the result
   * as a pending prompt output. The memory is encoded later, in `preflight`.
   */
  async addPoints(obj: ObjectState, frame: number, points: PointInputs, numFrames: number | undefined): Promise<FrameOutput> {
    await this.flushMemory();
    const s = this.settings;
    obj.pointInputs.set(frame, points);
    obj.maskInputs.delete(frame);
    const isInit = !obj.framesTracked.has(frame);
    const reverse = isInit ? false : obj.framesTracked.get(frame)!;
    const isCond = isInit || this.addAllFramesToCorrectAsCond;
    const prev = obj.latestOutput(frame, isCond);
    const features = await this.features(frame);
    const { C, h, L } = this.runner;

    const embed = this.runner.buffer('embed:prompt', C * h * h);
    if (isInit) {
      if (!s.directlyAddNoMemEmbed) {
        throw new CinesegError(ErrorCode.E_TRACKER_STATE, 'bundles with directlyAddNoMemEmbed=false are not supported');
      }
      this.runner.addNoMemEmbed(features, embed, 0);
    } else {
      const sel = selectMemory(frame, obj, s, numFrames, reverse, this.supportMemory);
      await this.conditionGroups(features, [sel], embed);
    }
    let maskInput: Float32Array | null = null;
    let hasMask: Float32Array | null = null;
    if (prev) {
      maskInput = this.runner.buffer('mask:prompt', L * L);
      const p = prev.predMasks;
      for (let i = 0; i < p.length; i++) maskInput[i] = p[i]! > 32 ? 32 : p[i]! < -32 ? -32 : p[i]!;
      hasMask = Float32Array.of(1);
    }
    const numPts = points.labels.length;
    const multimask = s.multimaskOutputInSam && (isInit || s.multimaskOutputForTracking) && numPts >= s.multimaskMinPtNum && numPts <= s.multimaskMaxPtNum;
    this.stats.decoderRuns++;
    const dec = await this.runner.decode(features, embed, 1, [points], maskInput, hasMask);
    const out = this.pick(dec, 0, multimask);
    out.maskmem = null;
    (isCond ? obj.tempCond : obj.tempNonCond).set(frame, out);
    return out;
  }

  /**
   * SAM2's `add_new_mask` with `use_mask_input_as_output_without_sam`: the mask (already S x S,
   * 0/1) is the output; the decoder runs on the mask shrunk by `mask_downsample` only to make
   * the object pointer, and presence comes from the mask itself.
   */
  async addMask(obj: ObjectState, frame: number, maskS: Float32Array, maskBytes: Uint8Array): Promise<FrameOutput> {
    await this.flushMemory();
    obj.maskInputs.set(frame, maskBytes);
    obj.pointInputs.delete(frame);
    const isInit = !obj.framesTracked.has(frame);
    const isCond = isInit || this.addAllFramesToCorrectAsCond;
    const out = await this.maskOutput(await this.features(frame), maskS);
    (isCond ? obj.tempCond : obj.tempNonCond).set(frame, out);
    return out;
  }

  /** The mask-as-output path of `addMask` on given features: output without memory. */
  private async maskOutput(features: ImageFeatures, maskS: Float32Array): Promise<FrameOutput> {
    const s = this.settings;
    if (!s.useMaskInputAsOutputWithoutSam) {
      throw new CinesegError(ErrorCode.E_TRACKER_STATE, 'bundles with useMaskInputAsOutputWithoutSam=false are not supported');
    }
    const { S, L, C } = this.runner;
    let present = false;
    const hr = this.runner.buffer('hr:mask', S * S);
    for (let i = 0; i < maskS.length; i++) {
      if (maskS[i]! > 0) present = true;
      hr[i] = maskS[i]! * 20 - 10;
    }
    const lowRes = resizeBilinearAntialias(hr, S, S, L, L);
    const prompt = this.runner.buffer('mask:downsample', L * L);
    this.runner.maskDownsample(maskS, prompt);
    // The pointer decoder sees the raw features: SAM2 passes vision_feat here, not + no_mem_embed.
    this.stats.decoderRuns++;
    const dec = await this.runner.decode(features, features.visionFeat.data as Float32Array, 1, null, prompt, Float32Array.of(1));
    const objPtr = present ? dec.objPtrs.slice(0, C) : Float32Array.from(this.runner.bundle.constants.noObjPtr);
    fillHolesInMaskScores(lowRes, L, L, s.fillHoleArea);
    return { predMasks: lowRes, objPtr, objectScore: present ? 10 : -10, maskmem: null };
  }

  /**
   * A support memory: a ground-truth mask on a frame of another clip (features from
   * `runner.encodeImage`, not this video's cache), through exactly the path a mask prompt takes
   * — `addMask` then preflight's binarised memory encoding — so the bank cannot tell the two
   * apart except by where they are filed (ObjectState.support).
   */
  async supportOutput(features: ImageFeatures, maskS: Float32Array): Promise<FrameOutput> {
    await this.flushMemory();
    const out = await this.maskOutput(features, maskS);
    await this.encodeMemories(features, [out.predMasks], [out], this.settings.binarizeMaskFromPtsForMemEnc);
    return out;
  }

  /**
   * SAM2's `propagate_in_video_preflight`: encodes the memory of every pending prompt output from
   * its final (hole-filled) mask, binarised as "mask from points", then files the outputs as
   * conditioning or non-conditioning. Pending outputs of one frame are encoded in one batch.
   */
  async preflight(objects: readonly ObjectState[]): Promise<void> {
    await this.flushMemory();
    const pending = new Map<number, FrameOutput[]>();
    for (const obj of objects) {
      for (const store of [obj.tempNonCond, obj.tempCond]) {
        for (const [frame, out] of store) {
          if (out.maskmem || !this.memory) continue;
          let list = pending.get(frame);
          if (!list) pending.set(frame, (list = []));
          list.push(out);
        }
      }
    }
    for (const [frame, outs] of pending) {
      const features = await this.features(frame);
      await this.encodeMemories(
        features,
        outs.map((o) => o.predMasks),
        outs,
        this.settings.binarizeMaskFromPtsForMemEnc,
      );
    }
    for (const obj of objects) {
      for (const [frame, out] of obj.tempNonCond) obj.nonCond.set(frame, out);
      for (const [frame, out] of obj.tempCond) obj.cond.set(frame, out);
      obj.tempNonCond.clear();
      obj.tempCond.clear();
      // An object with support memories but no prompt is tracked from them alone (zero-click).
      if (obj.cond.size === 0 && obj.support.length === 0) {
        throw new CinesegError(ErrorCode.E_TRACKER_STATE, `object ${obj.id} has no prompt; add points, a box, a mask or support first`, {
          details: { objectId: obj.id },
        });
      }
      for (const frame of obj.cond.keys()) obj.nonCond.delete(frame);
    }
  }

  /**
   * SAM2's `track_step` on a non-prompted frame for several objects: memory attention (batched by
   * layout), one batched decoder run, one batched memory-encoder run. Stores the outputs as
   * non-conditioning outputs and returns them in `objects` order.
   */
  async track(objects: readonly ObjectState[], frame: number, reverse: boolean, numFrames: number | undefined, step: TrackStepOptions = {}): Promise<FrameOutput[]> {
    await this.flushMemory();
    const B = objects.length;
    if (B === 0) return [];
    const s = this.settings;
    const { C, h } = this.runner;
    const features = await this.features(frame);
    const embed = this.runner.buffer(`embed:${B}`, B * C * h * h);
    if (this.memory) {
      const sels = objects.map((o) => selectMemory(frame, o, s, numFrames, reverse, this.supportMemory));
      await this.conditionGroups(features, sels, embed);
    } else {
      for (let b = 0; b < B; b++) this.runner.addNoMemEmbed(features, embed, b * C * h * h);
    }
    this.stats.decoderRuns++;
    const dec = await this.runner.decode(features, embed, B, null, null, null);
    // Tracking has no points: multimask when 0 points is inside [min, max] (SAM2.1: yes).
    const multimask = s.multimaskOutputInSam && s.multimaskOutputForTracking && 0 >= s.multimaskMinPtNum && 0 <= s.multimaskMaxPtNum;
    const outs: FrameOutput[] = [];
    const chosenRaw: Float32Array[] = [];
    for (let b = 0; b < B; b++) {
      const { out, raw } = this.pickWithRaw(dec, b, multimask);
      outs.push(out);
      chosenRaw.push(raw);
    }
    if (this.memory) {
      // Memory of tracked frames: sigmoid of the unfilled logits (not "from points").
      const encode = () => this.encodeMemories(features, chosenRaw, outs, false);
      if (step.deferMemory) this.pendingMemory = encode;
      else await encode();
    }
    for (let b = 0; b < B; b++) {
      const obj = objects[b]!;
      obj.nonCond.set(frame, outs[b]!);
      obj.framesTracked.set(frame, reverse);
    }
    return outs;
  }

  /** Memory attention for each group of objects sharing a layout; writes [B, C, h, w] into `embed`. */
  private async conditionGroups(features: ImageFeatures, sels: readonly MemorySelection[], embed: Float32Array): Promise<void> {
    const groups = new Map<string, number[]>();
    for (let b = 0; b < sels.length; b++) {
      const sel = sels[b]!;
      if (sel.memFrames.length === 0) {
        // No memory at all (cannot happen once a prompt exists); decode as a fresh frame.
        this.runner.addNoMemEmbed(features, embed, b * this.runner.C * this.runner.h * this.runner.h);
        continue;
      }
      const k = layoutKey(sel);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = []));
      g.push(b);
    }
    for (const slots of groups.values()) {
      this.stats.memoryAttentionRuns++;
      await this.runner.condition(
        features,
        slots.map((b) => sels[b]!),
        embed,
        slots,
      );
    }
  }

  /**
   * Runs the memory encoder for outputs of one frame. `lowRes[i]` are the logits whose S x S
   * upsampling is the mask; `fromPoints` binarises (> 0) instead of applying a sigmoid.
   */
  private async encodeMemories(features: ImageFeatures, lowRes: readonly Float32Array[], outs: readonly FrameOutput[], fromPoints: boolean): Promise<void> {
    const { S, L, Cm, h } = this.runner;
    const B = outs.length;
    const maskForMem = this.runner.buffer(`memmask:${B}`, B * S * S);
    const scores = new Float32Array(B);
    const n = S * S;
    for (let b = 0; b < B; b++) {
      const off = b * n;
      scores[b] = outs[b]!.objectScore;
      const low = lowRes[b]!;
      let allOff = true;
      for (let i = 0; i < low.length; i++) {
        if (low[i]! > NO_OBJ_SCORE) {
          allOff = false;
          break;
        }
      }
      if (allOff) {
        // Absent object: every upsampled logit is −1024, whose sigmoid and binarisation are 0.
        maskForMem.fill(NO_OBJ_SCORE, off, off + n);
        continue;
      }
      resizeBilinear(low, L, L, S, S, maskForMem, 0, off);
    }
    // Meta applies it to the high-res logits, before binarising or the sigmoid.
    if (this.nonOverlapMasksForMemEnc && B > 1) {
      applyNonOverlapConstraints(Array.from({ length: B }, (_, b) => maskForMem.subarray(b * n, (b + 1) * n)));
    }
    for (let b = 0; b < B; b++) {
      const off = b * n;
      if (fromPoints) {
        for (let i = off; i < off + n; i++) maskForMem[i] = maskForMem[i]! > 0 ? 1 : 0;
      } else {
        sigmoidInPlace(maskForMem, off, off + n);
      }
    }
    this.stats.memoryEncoderRuns++;
    const mem = await this.runner.encodeMemory(features, maskForMem, scores, B);
    const per = Cm * h * h;
    for (let b = 0; b < B; b++) outs[b]!.maskmem = mem.subarray(b * per, (b + 1) * per);
  }

  private pick(dec: DecoderOutput, b: number, multimask: boolean): FrameOutput {
    return this.pickWithRaw(dec, b, multimask).out;
  }

  /**
   * Chooses the mask token and pointer token like `_forward_sam_heads` + the decoder's
   * `_dynamic_multimask_via_stability`, then fills holes in a copy of the chosen logits.
   */
  private pickWithRaw(dec: DecoderOutput, b: number, multimask: boolean): { out: FrameOutput; raw: Float32Array } {
    const s = this.settings;
    const { L, C } = this.runner;
    const LL = L * L;
    const iou = dec.iou;
    let best = 1;
    for (let k = 2; k < 4; k++) if (iou[b * 4 + k]! > iou[b * 4 + best]!) best = k;
    let maskTok = 0;
    let ptrTok = 0;
    if (multimask) {
      maskTok = best;
      ptrTok = best;
    } else if (s.dynamicMultimaskViaStability) {
      // Stability of token 0: IoU of its masks thresholded at ±delta.
      const base = b * 4 * LL;
      if (stabilityScore(dec.lowRes, s.dynamicMultimaskStabilityDelta, base, base + LL) < s.dynamicMultimaskStabilityThresh) maskTok = best;
    }
    const raw = dec.lowRes.subarray((b * 4 + maskTok) * LL, (b * 4 + maskTok + 1) * LL);
    const predMasks = raw.slice();
    fillHolesInMaskScores(predMasks, L, L, s.fillHoleArea);
    const objPtr = dec.objPtrs.slice((b * 4 + ptrTok) * C, (b * 4 + ptrTok + 1) * C);
    return { out: { predMasks, objPtr, objectScore: dec.scores[b]!, maskmem: null }, raw };
  }
}
