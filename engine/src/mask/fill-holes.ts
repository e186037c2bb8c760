/**
 * SAM2's `fill_holes_in_mask_scores`: background regions (score ≤ 0) that form an 8-connected
 * component of at most `maxArea` pixels get the small positive score 0.1. Like Meta's CUDA kernel
 * this includes small background pockets touching the image border, not only enclosed holes.
 * Runs on the low-res logits (4h x 4h), in place.
 */

let stack = new Int32Array(0);
let seen = new Uint8Array(0);

/**
 * Fills small background components of a row-major h x w score map in place.
 * @returns how many pixels were filled
 */
export function fillHolesInMaskScores(scores: Float32Array, h: number, w: number, maxArea: number, offset = 0): number {
  if (maxArea <= 0) return 0;
  const n = h * w;
  if (stack.length < n) stack = new Int32Array(n);
  if (seen.length < n) seen = new Uint8Array(n);
  seen.fill(0, 0, n);
  let filled = 0;
  for (let start = 0; start < n; start++) {
    if (seen[start] || scores[offset + start]! > 0) continue;
    // Flood the component; its pixels stay in stack[0..top) so a small one can be filled after.
    let top = 0;
    let head = 0;
    stack[top++] = start;
    seen[start] = 1;
    while (head < top) {
      const p = stack[head++]!;
      const y = (p / w) | 0;
      const x = p - y * w;
      const y0 = y > 0 ? y - 1 : 0;
      const y1 = y < h - 1 ? y + 1 : h - 1;
      const x0 = x > 0 ? x - 1 : 0;
      const x1 = x < w - 1 ? x + 1 : w - 1;
      for (let yy = y0; yy <= y1; yy++) {
        const r = yy * w;
        for (let xx = x0; xx <= x1; xx++) {
          const q = r + xx;
          if (!seen[q] && scores[offset + q]! <= 0) {
            seen[q] = 1;
            stack[top++] = q;
          }
        }
      }
    }
    if (top <= maxArea) {
      for (let i = 0; i < top; i++) scores[offset + stack[i]!] = 0.1;
      filled += top;
    }
  }
  return filled;
}
