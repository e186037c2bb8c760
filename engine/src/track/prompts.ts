/**
 * Prompts in video pixels → model inputs (S x S frame), with the checks that give a user a coded
 * error instead of a silent garbage mask.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { maskToFloat, resizeBilinearAntialias } from '../mask/upsample.js';
import type { PointInputs } from './object-state.js';

/** A click in video pixels; label 1 = positive (default), 0 = negative. */
export interface Point {
  x: number;
  y: number;
  label?: number;
}

/** Box corners in video pixels: [x0, y0, x1, y1]. */
export type Box = [number, number, number, number];

/**
 * Points (and an optional box, which goes first as labels 2 and 3, as SAM2 was trained) scaled
 * from a width x height video to the S x S model frame.
 */
export function toPointInputs(points: readonly Point[], box: Box | undefined, width: number, height: number, S: number): PointInputs {
  const n = points.length + (box ? 2 : 0);
  if (n === 0) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, 'a prompt needs at least one point or a box');
  const coords = new Float32Array(n * 2);
  const labels = new Float32Array(n);
  let i = 0;
  const sx = S / width;
  const sy = S / height;
  const put = (x: number, y: number, label: number) => {
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `point (${x}, ${y}) is not a number`);
    if (x < 0 || y < 0 || x > width || y > height) {
      throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `point (${x}, ${y}) is outside the ${width}x${height} video`, {
        details: { x, y, width, height },
      });
    }
    coords[2 * i] = x * sx;
    coords[2 * i + 1] = y * sy;
    labels[i] = label;
    i++;
  };
  if (box) {
    const [x0, y0, x1, y1] = box;
    if (!(x1 > x0 && y1 > y0)) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `box [${box.join(', ')}] must have x1 > x0 and y1 > y0`);
    put(x0, y0, 2);
    put(x1, y1, 3);
  }
  for (const p of points) {
    const label = p.label ?? 1;
    if (label !== 0 && label !== 1) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `point label must be 0 (negative) or 1 (positive), got ${label}`);
    put(p.x, p.y, label);
  }
  return { coords, labels };
}

/** Appends points to earlier ones on the same frame (SAM2's `concat_points`). */
export function concatPoints(a: PointInputs | undefined, b: PointInputs): PointInputs {
  if (!a) return b;
  const coords = new Float32Array(a.coords.length + b.coords.length);
  coords.set(a.coords);
  coords.set(b.coords, a.coords.length);
  const labels = new Float32Array(a.labels.length + b.labels.length);
  labels.set(a.labels);
  labels.set(b.labels, a.labels.length);
  return { coords, labels };
}

/**
 * A video-size binary mask → S x S 0/1 floats the way SAM2's `add_new_mask` does it: antialiased
 * bilinear resize, then ≥ 0.5.
 */
export function maskToModel(mask: Uint8Array, width: number, height: number, S: number): Float32Array {
  if (mask.length !== width * height) {
    throw new CinesegError(ErrorCode.E_MASK_INVALID, `mask has ${mask.length} pixels, expected ${width}x${height}`);
  }
  const f = maskToFloat(mask);
  if (width === S && height === S) return f;
  const r = resizeBilinearAntialias(f, height, width, S, S);
  for (let i = 0; i < r.length; i++) r[i] = r[i]! >= 0.5 ? 1 : 0;
  return r;
}
