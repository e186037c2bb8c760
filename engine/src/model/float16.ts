/**
 * IEEE 754 half <-> float conversion for fp16 bundles. Node has no Float16Array, and
 * onnxruntime-node takes and returns float16 tensors as raw Uint16Array bits, so an fp16 bundle
 * is converted at the graph boundary: everything the tracker computes stays float32.
 */

// Half -> float: a 64 Ki-entry table (256 KiB) makes decoding one array read per element.
let halfTable: Float32Array | undefined;

function buildHalfTable(): Float32Array {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 31) t[h] = mant ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return t;
}

/** float16 bits -> float32 values (into `out` when given). */
export function halfToFloat(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const t = (halfTable ??= buildHalfTable());
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * float32 -> float16 bits, round to nearest even (what numpy's astype(float16) and ORT's Cast
 * do); overflow gives ±Inf, NaN stays NaN.
 */
export function floatToHalf(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) {
    f32[0] = src[i]!;
    const x = u32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const e = (x >>> 23) & 0xff;
    let m = x & 0x7fffff;
    if (e === 0xff) {
      out[i] = sign | 0x7c00 | (m ? 0x200 : 0);
      continue;
    }
    const exp = e - 127 + 15;
    if (exp >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (exp <= 0) {
      // Subnormal half (or zero): shift the full 24-bit mantissa into place, rounding to even.
      if (exp < -10) {
        out[i] = sign;
        continue;
      }
      m |= 0x800000;
      const shift = 14 - exp;
      let half = m >>> shift;
      const rem = m & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rem > halfway || (rem === halfway && half & 1)) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (exp << 10) | (m >>> 13);
    const rem = m & 0x1fff;
    // A carry out of the mantissa correctly bumps the exponent (up to Inf).
    if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
    out[i] = sign | half;
  }
  return out;
}
