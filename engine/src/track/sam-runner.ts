/**
 * The four graphs as typed calls with SAM2's shapes: every `session.run` of the tracker happens
 * here, with its tensor shapes beside it. Input buffers that are rebuilt each frame come from a
 * small pool keyed by role, so steady-state tracking does not allocate them again.
 */
import type { Bundle } from '../model/bundle.js';
import { ort, type ModelSessions } from '../model/ort-sessions.js';
import { Preprocessor } from '../model/preprocessor.js';
import type { MemorySelection } from './memory-bank.js';

/** One frame's image features, shared by every object. */
export interface ImageFeatures {
  frame: number;
  /** [1, C, h, w] unconditioned top-level features. */
  visionFeat: ort.Tensor;
  /** [1, C/8, 4h, 4w]. */
  highRes0: ort.Tensor;
  /** [1, C/4, 2h, 2w]. */
  highRes1: ort.Tensor;
}

/** Decoder outputs for a batch of B objects (views into ORT's output buffers). */
export interface DecoderOutput {
  B: number;
  /** [B, 4, L, L] logits; −1024 where the object score ≤ 0. */
  lowRes: Float32Array;
  /** [B, 4]. */
  iou: Float32Array;
  /** [B, 4, C]. */
  objPtrs: Float32Array;
  /** [B] (object_score_logits [B, 1]). */
  scores: Float32Array;
}

/** Sparse prompt of one object: N points in the S x S frame. */
export interface PointPrompt {
  coords: Float32Array;
  labels: Float32Array;
}

export class SamRunner {
  readonly S: number;
  readonly C: number;
  readonly Cm: number;
  readonly h: number;
  /** Low-res mask side (4h). */
  readonly L: number;
  private readonly pre: Preprocessor;
  private readonly pool = new Map<string, Float32Array>();
  private readonly freeImages: Float32Array[] = [];

  constructor(
    readonly sessions: ModelSessions,
    readonly bundle: Bundle = sessions.bundle,
  ) {
    this.S = bundle.imageSize;
    this.C = bundle.hiddenDim;
    this.Cm = bundle.memDim;
    this.h = bundle.featureSize;
    this.L = bundle.lowResMaskSize;
    this.pre = new Preprocessor(this.S, bundle.pixelMean, bundle.pixelStd);
  }

  /** A reusable float buffer for one role; contents are overwritten by the caller. */
  buffer(role: string, length: number): Float32Array {
    let b = this.pool.get(role);
    if (!b || b.length !== length) {
      b = new Float32Array(length);
      this.pool.set(role, b);
    }
    return b;
  }

  /** Runs the image encoder on an S x S rgb24 frame. */
  async encodeImage(frame: number, rgb: Uint8Array): Promise<ImageFeatures> {
    const { S } = this;
    // Encoder runs may overlap (the next frame is prefetched), so each run takes its own input
    // buffer from a free list instead of the shared pool.
    const image = this.pre.run(rgb, this.freeImages.pop() ?? new Float32Array(3 * S * S));
    try {
      // image [1, 3, S, S] -> vision_feat [1, C, h, w], high_res_feat0 [1, C/8, 4h, 4w], high_res_feat1 [1, C/4, 2h, 2w]
      const out = await this.sessions.run('imageEncoder', { image: new ort.Tensor('float32', image, [1, 3, S, S]) });
      return { frame, visionFeat: out.vision_feat!, highRes0: out.high_res_feat0!, highRes1: out.high_res_feat1! };
    } finally {
      this.freeImages.push(image);
    }
  }

  /**
   * `vision_feat + no_mem_embed` for B objects (SAM2's `directly_add_no_mem_embed` path for
   * initial conditioning frames and for the `memory: false` ablation), into `out` at `offset`.
   */
  addNoMemEmbed(features: ImageFeatures, out: Float32Array, offset: number): void {
    const v = features.visionFeat.data as Float32Array;
    const e = this.bundle.constants.noMemEmbed;
    const hw = this.h * this.h;
    for (let c = 0; c < this.C; c++) {
      const ec = e[c]!;
      const base = c * hw;
      for (let i = 0; i < hw; i++) out[offset + base + i] = v[base + i]! + ec;
    }
  }

  /**
   * Memory attention for objects that share one memory layout (same t_pos and pointer positions).
   * Writes [B, C, h, w] conditioned features into `out` starting at object slot `slot0`.
   */
  async condition(features: ImageFeatures, sels: readonly MemorySelection[], out: Float32Array, slots: readonly number[]): Promise<void> {
    const { C, Cm, h } = this;
    const B = sels.length;
    const first = sels[0]!;
    const Nm = first.memTpos.length;
    const Np = first.ptrTpos.length;
    const memSize = Cm * h * h;
    const memory = this.buffer(`memory:${B}:${Nm}`, B * Nm * memSize);
    const ptrs = this.buffer(`ptrs:${B}:${Np}`, B * Np * C);
    for (let b = 0; b < B; b++) {
      const sel = sels[b]!;
      for (let m = 0; m < Nm; m++) memory.set(sel.memOutputs[m]!.maskmem!, (b * Nm + m) * memSize);
      for (let p = 0; p < Np; p++) ptrs.set(sel.ptrOutputs[p]!.objPtr, (b * Np + p) * C);
    }
    const memTpos = new BigInt64Array(Nm);
    for (let m = 0; m < Nm; m++) memTpos[m] = BigInt(first.memTpos[m]!);
    const ptrTpos = Float32Array.from(first.ptrTpos);
    // vision_feat [1, C, h, w], memory [B, Nm, Cm, h, w], memory_tpos [Nm] int64,
    // obj_ptrs [B, Np, C], obj_ptr_tpos [Np] -> conditioned_feat [B, C, h, w]
    const res = await this.sessions.run('memoryAttention', {
      vision_feat: features.visionFeat,
      memory: new ort.Tensor('float32', memory, [B, Nm, Cm, h, h]),
      memory_tpos: new ort.Tensor('int64', memTpos, [Nm]),
      obj_ptrs: new ort.Tensor('float32', ptrs, [B, Np, C]),
      obj_ptr_tpos: new ort.Tensor('float32', ptrTpos, [Np]),
    });
    const cond = res.conditioned_feat!.data as Float32Array;
    const per = C * h * h;
    for (let b = 0; b < B; b++) out.set(cond.subarray(b * per, (b + 1) * per), slots[b]! * per);
  }

  /**
   * Prompt encoder + mask decoder for B objects. `prompts` null means no points (one padding
   * point per object); otherwise every object has the same N. `maskInput` [B, 1, L, L] or null.
   */
  async decode(
    features: ImageFeatures,
    imageEmbed: Float32Array,
    B: number,
    prompts: readonly PointPrompt[] | null,
    maskInput: Float32Array | null,
    hasMask: Float32Array | null,
  ): Promise<DecoderOutput> {
    const { C, h, L } = this;
    const N = prompts ? prompts[0]!.labels.length : 1;
    const coords = this.buffer(`coords:${B}:${N}`, B * N * 2);
    const labels = this.buffer(`labels:${B}:${N}`, B * N);
    if (prompts) {
      for (let b = 0; b < B; b++) {
        coords.set(prompts[b]!.coords, b * N * 2);
        labels.set(prompts[b]!.labels, b * N);
      }
    } else {
      coords.fill(0);
      labels.fill(-1);
    }
    let mask = maskInput;
    if (!mask) {
      mask = this.buffer(`nomask:${B}`, B * L * L);
    }
    let has = hasMask;
    if (!has) {
      has = this.buffer(`nohas:${B}`, B);
      has.fill(0);
    }
    // image_embed [B, C, h, w], high_res_feat0 [1, C/8, 4h, 4w], high_res_feat1 [1, C/4, 2h, 2w],
    // point_coords [B, N, 2], point_labels [B, N], mask_input [B, 1, L, L], has_mask_input [B]
    // -> low_res_masks [B, 4, L, L], iou_scores [B, 4], obj_ptrs [B, 4, C], object_score_logits [B, 1]
    const res = await this.sessions.run('maskDecoder', {
      image_embed: new ort.Tensor('float32', imageEmbed.length === B * C * h * h ? imageEmbed : imageEmbed.subarray(0, B * C * h * h), [B, C, h, h]),
      high_res_feat0: features.highRes0,
      high_res_feat1: features.highRes1,
      point_coords: new ort.Tensor('float32', coords, [B, N, 2]),
      point_labels: new ort.Tensor('float32', labels, [B, N]),
      mask_input: new ort.Tensor('float32', mask, [B, 1, L, L]),
      has_mask_input: new ort.Tensor('float32', has, [B]),
    });
    return {
      B,
      lowRes: res.low_res_masks!.data as Float32Array,
      iou: res.iou_scores!.data as Float32Array,
      objPtrs: res.obj_ptrs!.data as Float32Array,
      scores: res.object_score_logits!.data as Float32Array,
    };
  }

  /**
   * Memory encoder for B objects on one frame. `maskForMem` [B, 1, S, S] in [0, 1]; the graph
   * applies SAM2's sigmoid scale/bias and the no-object embedding. Returns [B, Cm, h, w].
   */
  async encodeMemory(features: ImageFeatures, maskForMem: Float32Array, scores: Float32Array, B: number): Promise<Float32Array> {
    const { S } = this;
    // vision_feat [1, C, h, w], mask_for_mem [B, 1, S, S], object_score_logits [B, 1] -> maskmem_features [B, Cm, h, w]
    const res = await this.sessions.run('memoryEncoder', {
      vision_feat: features.visionFeat,
      mask_for_mem: new ort.Tensor('float32', maskForMem, [B, 1, S, S]),
      object_score_logits: new ort.Tensor('float32', scores, [B, 1]),
    });
    return res.maskmem_features!.data as Float32Array;
  }

  /** SAM2's `mask_downsample`: the learned 4x4 stride-4 conv, S x S mask → L x L prompt. */
  maskDownsample(mask: Float32Array, out: Float32Array, offset = 0): void {
    const { S, L } = this;
    const { weight, bias } = this.bundle.constants.maskDownsample;
    for (let y = 0; y < L; y++) {
      for (let x = 0; x < L; x++) {
        let acc = bias;
        for (let ky = 0; ky < 4; ky++) {
          const row = (4 * y + ky) * S + 4 * x;
          for (let kx = 0; kx < 4; kx++) acc += weight[ky * 4 + kx]! * mask[row + kx]!;
        }
        out[offset + y * L + x] = acc;
      }
    }
  }
}
