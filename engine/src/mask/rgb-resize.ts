/**
 * The live path's picture shrink: every live frame is resized to the model's size on the JS
 * thread before tracking, so this kernel is written for speed (integer weights) rather than
 * generality.
 */
/**
 * Bilinear resize of rgb24 (align_corners=False, like ffmpeg's and torch's bilinear), into `out`
 * when given. It is on every live frame's path, so it runs in integers: weights in 1/2048ths (the
 * sums stay inside int32), rounded half up like Math.round. Where the source positions fall on
 * 1/2048ths (480x360 -> 256 does) the result equals the float computation; elsewhere it is off by
 * at most one level in rare pixels.
 */
export function resizeRgb(src: Uint8Array, sw: number, sh: number, dw: number, dh: number, out: Uint8Array = new Uint8Array(dw * dh * 3)): Uint8Array {
  const ONE = 2048;
  const sx = sw / dw;
  const sy = sh / dh;
  const x0s = new Int32Array(dw);
  const x1s = new Int32Array(dw);
  const wxs = new Int32Array(dw);
  for (let x = 0; x < dw; x++) {
    const f = Math.max(0, (x + 0.5) * sx - 0.5);
    const x0 = Math.min(Math.floor(f), sw - 1);
    x0s[x] = x0 * 3;
    x1s[x] = Math.min(x0 + 1, sw - 1) * 3;
    wxs[x] = Math.round((f - x0) * ONE);
  }
  for (let y = 0; y < dh; y++) {
    const f = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(Math.floor(f), sh - 1);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = Math.round((f - y0) * ONE);
    const iwy = ONE - wy;
    const r0 = y0 * sw * 3;
    const r1 = y1 * sw * 3;
    let o = y * dw * 3;
    for (let x = 0; x < dw; x++) {
      const a = x0s[x]!;
      const b = x1s[x]!;
      const wx = wxs[x]!;
      const iwx = ONE - wx;
      for (let c = 0; c < 3; c++) {
        const top = src[r0 + a + c]! * iwx + src[r0 + b + c]! * wx;
        const bot = src[r1 + a + c]! * iwx + src[r1 + b + c]! * wx;
        out[o++] = (top * iwy + bot * wy + (ONE * ONE) / 2) >> 22;
      }
    }
  }
  return out;
}
