/**
 * SAM 2's `_apply_non_overlapping_constraints` (sam2/modeling/sam2_base.py) and the per-pixel
 * "highest logit wins" rule built on it. Objects are tracked independently, so two of them can
 * claim the same pixel; these helpers decide such pixels by the logits, never by object id.
 *
 * Meta's rule, over the batch of one frame's objects: per pixel, the object with the highest
 * logit keeps its value (torch.argmax: the first such object on a tie), every other object's
 * logit becomes min(logit, −10). Only the winner can then be positive.
 */

/** Meta's clamp for the objects that lose a pixel. */
export const NON_OVERLAP_CLAMP = -10;

/**
 * Applies the constraint in place to `logits` (one array per object, all the same length, in
 * object order: on a tie the earlier one wins, as torch.argmax does). `clampTo` is Meta's −10 by
 * default; see `applyOutputNonOverlap` for why the output path clamps lower.
 */
export function applyNonOverlapConstraints(logits: readonly Float32Array[], clampTo = NON_OVERLAP_CLAMP, from = 0, to?: number): void {
  clampLosers(logits, () => clampTo, from, to);
}

/** Per pixel i in [from, to): every object but the highest-logit one gets min(logit, cap(best logit)). */
function clampLosers(logits: readonly Float32Array[], cap: (bestV: number) => number, from = 0, to?: number): void {
  const B = logits.length;
  if (B < 2) return;
  const n = to ?? logits[0]!.length;
  for (const l of logits) {
    if (l.length < n) throw new RangeError(`non-overlap: logits of length ${l.length}, expected ≥ ${n}`);
  }
  for (let i = from; i < n; i++) {
    let best = 0;
    let bestV = logits[0]![i]!;
    for (let b = 1; b < B; b++) {
      const v = logits[b]![i]!;
      if (v > bestV) {
        bestV = v;
        best = b;
      }
    }
    const c = cap(bestV);
    for (let b = 0; b < B; b++) {
      if (b === best) continue;
      const a = logits[b]!;
      if (a[i]! > c) a[i] = c;
    }
  }
}

/**
 * Why the output path clamps harder than Meta. Outputs are low-res logits that every consumer
 * upsamples bilinearly (non-negative weights) before thresholding at 0; Meta applies the rule
 * after upsampling (`_get_orig_video_res_output`). With Meta's −10 at low res, two neighbouring
 * pixels won by different objects, both at +20, give +5 to both between them: the video-size
 * masks overlap again. So a loser is clamped to min(logit, −10, −winner's logit): then at every
 * low-res pixel any two objects' logits sum to ≤ 0, so does every bilinear mix of them, and no
 * upsampled pixel can be positive for two objects. Between two winners the boundary falls where
 * the mirrored logits cross, close to where Meta's video-size argmax puts it, so the union is
 * nearly kept (worst case, two clicks on one structure as two objects, winners alternating pixel
 * by pixel: 1465 of 1568 px on ultrasound-1, propagation-options.test.ts; a plain −1024 clamp
 * kept 1100); where a pixel has a single winner the result equals Meta's.
 */
export function applyOutputNonOverlap(logits: readonly Float32Array[]): void {
  clampLosers(logits, (bestV) => Math.min(NON_OVERLAP_CLAMP, -bestV));
}

/**
 * A frame's outputs with the constraint applied to copies of their `predMasks`; the stored
 * outputs (memory, the mask input of later corrections) stay untouched, as in Meta's predictor,
 * where `non_overlap_masks` changes only what is returned. Objects without output on the frame
 * take no part (Meta fills them with NO_OBJ_SCORE, which never wins).
 */
export function nonOverlapOutputs<T extends { predMasks: Float32Array }>(objects: readonly { objectId: number; output: T }[]): { objectId: number; output: T }[] {
  if (objects.length < 2) return [...objects];
  const copies = objects.map((o) => o.output.predMasks.slice());
  applyOutputNonOverlap(copies);
  return objects.map((o, b) => ({ objectId: o.objectId, output: { ...o.output, predMasks: copies[b]! } }));
}

/**
 * A label map from same-size logit images (one per object, video size): 0 where no object is
 * positive, else `values[b]` of the object with the highest logit (the earlier one on a tie).
 * Returns whether any pixel is labelled.
 */
export function labelByLogits(logits: readonly Float32Array[], values: readonly number[], out: Uint8Array | Uint16Array): boolean {
  out.fill(0);
  let any = false;
  const B = logits.length;
  for (let i = 0; i < out.length; i++) {
    let best = -1;
    let bestV = 0;
    for (let b = 0; b < B; b++) {
      const v = logits[b]![i]!;
      if (v > bestV) {
        bestV = v;
        best = b;
      }
    }
    if (best >= 0) {
      out[i] = values[best]!;
      any = true;
    }
  }
  return any;
}
