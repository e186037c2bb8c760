/** Shared helpers for the samples tests (not a test file itself). */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const GENERATED = fileURLToPath(new URL('../../samples/generated', import.meta.url));
export const REAL = fileURLToPath(new URL('../../samples/real', import.meta.url));

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Mask translated by (dx, dy); pixels shifted in from outside are background. */
export function shiftMask(mask: Uint8Array, w: number, h: number, dx: number, dy: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= h) continue;
    for (let x = 0; x < w; x++) {
      const sx = x - dx;
      if (sx >= 0 && sx < w) out[y * w + x] = mask[sy * w + sx]!;
    }
  }
  return out;
}

/** Pixels within Chebyshev distance r of the mask but not in it. */
export function ringAround(mask: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!mask[y * w + x]) continue;
      for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
        for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) {
          const j = yy * w + xx;
          if (!mask[j]) out[j] = 1;
        }
      }
    }
  }
  return out;
}

/** Mean RGB over the pixels where `sel` is set (and `within`, when given, is set too). */
export function meanRgb(rgb: Uint8Array, sel: Uint8Array, within?: Uint8Array): [number, number, number, number] {
  let r = 0;
  let g = 0;
  let b = 0;
  let n = 0;
  for (let i = 0; i < sel.length; i++) {
    if (!sel[i] || (within && !within[i])) continue;
    r += rgb[i * 3]!;
    g += rgb[i * 3 + 1]!;
    b += rgb[i * 3 + 2]!;
    n++;
  }
  return n === 0 ? [0, 0, 0, 0] : [r / n, g / n, b / n, n];
}

/**
 * How clearly a mask separates what is drawn inside it from a ring just outside: the distance
 * between the mean colours of the two. A mask that sits exactly on the drawn object maximises it.
 */
export function boundaryContrast(rgb: Uint8Array, mask: Uint8Array, w: number, h: number, fov: Uint8Array, ring = 4): number {
  const [r1, g1, b1] = meanRgb(rgb, mask, fov);
  const [r2, g2, b2] = meanRgb(rgb, ringAround(mask, w, h, ring), fov);
  return Math.hypot(r1 - r2, g1 - g2, b1 - b2);
}

/** Decodes frames of a video with the real ffmpeg into rgb24 buffers. */
export function decodeFrames(file: string, w: number, h: number, first = 0, count = 1): Uint8Array[] {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-vf', `select=between(n\\,${first}\\,${first + count - 1})`, '-vsync', '0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
    maxBuffer: 1 << 30,
  });
  const size = w * h * 3;
  const frames: Uint8Array[] = [];
  for (let off = 0; off + size <= raw.length; off += size) frames.push(new Uint8Array(raw.buffer, raw.byteOffset + off, size));
  return frames;
}

/** Decodes an image (PNG) to 8-bit gray pixels with the real ffmpeg. */
export function decodeGray(file: string): Buffer {
  return execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'gray', '-']);
}

export interface ProbeInfo {
  width: number;
  height: number;
  frames: number;
  fps: string;
  codec: string;
}

/** ffprobe with frame counting (decodes the stream, so the count is what a decoder sees). */
export function probe(file: string): ProbeInfo {
  const out = execFileSync('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-count_frames',
    '-show_entries',
    'stream=width,height,r_frame_rate,nb_read_frames,codec_name',
    '-of',
    'json',
    file,
  ]).toString();
  const s = (JSON.parse(out) as { streams: Array<Record<string, string | number>> }).streams[0]!;
  return { width: Number(s.width), height: Number(s.height), frames: Number(s.nb_read_frames), fps: String(s.r_frame_rate), codec: String(s.codec_name) };
}

/**
 * Mean colour step across the mask's outline: for every mask pixel with a 4-neighbour outside the
 * mask (inside the field of view), the summed absolute RGB difference between the two. Largest
 * when the outline sits exactly on the drawn edge; a displaced outline lands in smooth regions.
 */
export function edgeStrength(rgb: Uint8Array, mask: Uint8Array, w: number, h: number, fov: Uint8Array): number {
  let sum = 0;
  let n = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!mask[i]) continue;
      for (const [dx, dy] of [
        [1, 0],
        [-1, 0],
        [0, 1],
        [0, -1],
      ] as const) {
        const xx = x + dx;
        const yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
        const j = yy * w + xx;
        if (mask[j] || !fov[j]) continue;
        sum += Math.abs(rgb[i * 3]! - rgb[j * 3]!) + Math.abs(rgb[i * 3 + 1]! - rgb[j * 3 + 1]!) + Math.abs(rgb[i * 3 + 2]! - rgb[j * 3 + 2]!);
        n++;
      }
    }
  }
  return n === 0 ? 0 : sum / n;
}
