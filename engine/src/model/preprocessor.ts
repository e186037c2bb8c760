/**
 * rgb24 (HWC, uint8) at the model's S x S → normalised float32 CHW, `(x/255 − mean)/std`.
 * A 256-entry table per channel turns the per-pixel work into one lookup, and the output buffer
 * is reused between frames.
 */
import { CinesegError, ErrorCode } from '../errors.js';

export class Preprocessor {
  private readonly lut: Float32Array;
  private out: Float32Array;

  /**
   * @param size S: frames must already be S x S (ffmpeg scales them; the aspect ratio is not kept)
   */
  constructor(
    readonly size: number,
    mean: readonly [number, number, number],
    std: readonly [number, number, number],
  ) {
    this.lut = new Float32Array(3 * 256);
    for (let c = 0; c < 3; c++) {
      for (let v = 0; v < 256; v++) this.lut[c * 256 + v] = (v / 255 - mean[c]!) / std[c]!;
    }
    this.out = new Float32Array(3 * size * size);
  }

  /**
   * Normalises one frame. Returns a buffer owned by this object and overwritten by the next
   * call unless `into` is given.
   */
  run(rgb: Uint8Array, into?: Float32Array): Float32Array {
    const n = this.size * this.size;
    if (rgb.length !== n * 3) {
      throw new CinesegError(ErrorCode.E_INTERNAL, `preprocess expects ${this.size}x${this.size} rgb24 (${n * 3} bytes), got ${rgb.length}`);
    }
    const out = into ?? this.out;
    const lut = this.lut;
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      out[i] = lut[rgb[j]!]!;
      out[n + i] = lut[256 + rgb[j + 1]!]!;
      out[2 * n + i] = lut[512 + rgb[j + 2]!]!;
    }
    return out;
  }
}
