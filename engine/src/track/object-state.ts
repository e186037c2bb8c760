/**
 * Per-object tracking state, shaped like the SAM2 video predictor's `output_dict_per_obj`:
 * conditioning outputs (prompted frames), non-conditioning outputs (tracked frames), outputs of
 * prompts not yet consolidated into memory, the prompts themselves, and the direction each frame
 * was tracked in. Objects never share memory; only image features are shared.
 */
import { CompactStore } from './compact-store.js';

/** What one frame produced for one object (SAM2's compact `current_out`). */
export interface FrameOutput {
  /** Low-res mask logits (lowRes x lowRes) after hole filling: SAM2's `pred_masks`. */
  predMasks: Float32Array;
  /** Object pointer (C floats). */
  objPtr: Float32Array;
  /** Object score logit; > 0 means present. */
  objectScore: number;
  /** Spatial memory (Cm x h x w), or null until the memory encoder has run. */
  maskmem: Float32Array | null;
}

// CompactOutput lives in compact-store.ts, the store of them (it imported the type from here: a ring).
export type { CompactOutput } from './compact-store.js';

/** Point prompt in the model's S x S frame. Labels: 1 pos, 0 neg, 2/3 box corners. */
export interface PointInputs {
  coords: Float32Array;
  labels: Float32Array;
}

export class ObjectState {
  /** Prompted frames, all used in attention (t_pos 0). */
  readonly cond = new Map<number, FrameOutput>();
  /**
   * Support memories: annotated frames of other clips (support-set.ts), attended like
   * conditioning frames on every frame. Not keyed by frame: they are not frames of this video.
   */
  readonly support: FrameOutput[] = [];
  /** Tracked frames. */
  readonly nonCond = new Map<number, FrameOutput>();
  /** Prompt outputs waiting for `preflight` (SAM2's temp_output_dict), by storage kind. */
  readonly tempCond = new Map<number, FrameOutput>();
  readonly tempNonCond = new Map<number, FrameOutput>();
  readonly pointInputs = new Map<number, PointInputs>();
  readonly maskInputs = new Map<number, Uint8Array>();
  /** Tracked frames a bounded tracker has compacted (never also in nonCond or cond). */
  readonly compact = new CompactStore();
  /**
   * Prompted frames of a restored object whose output is still to be rebuilt from the stored mask
   * (video size, packed), the first time memory selection needs them. Conditioning frames.
   */
  readonly restoredCond = new Map<number, { videoMask: () => Uint8Array }>();
  /** Frame → tracked in reverse? (SAM2's frames_tracked_per_obj). */
  readonly framesTracked = new Map<number, boolean>();

  constructor(readonly id: number) {}

  /** Latest output on a frame: temp first, then cond, then non-cond (SAM2's lookup order). */
  latestOutput(frame: number, preferCond: boolean): FrameOutput | undefined {
    const temp = preferCond ? this.tempCond.get(frame) : this.tempNonCond.get(frame);
    return temp ?? this.cond.get(frame) ?? this.nonCond.get(frame);
  }

  /** The output that is shown for a frame (any kind), or undefined when never visited. */
  outputAt(frame: number): FrameOutput | undefined {
    return this.tempCond.get(frame) ?? this.tempNonCond.get(frame) ?? this.cond.get(frame) ?? this.nonCond.get(frame);
  }

  /** Whether any prompt is still waiting for preflight. */
  get hasPendingPrompts(): boolean {
    return this.tempCond.size > 0 || this.tempNonCond.size > 0;
  }
}
