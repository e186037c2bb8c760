/**
 * A small H.264 clip made with the real ffmpeg for server tests that need a clip but not a long
 * one: a bright square moving over a dark background (so the tracker has an object to follow).
 */
import { encodeRgbFrames } from '../../../engine/src/decode/ffmpeg.js';

export async function writeTinyClip(path: string, opts: { width?: number; height?: number; frames?: number; fps?: number } = {}): Promise<void> {
  const w = opts.width ?? 64;
  const h = opts.height ?? 48;
  const n = opts.frames ?? 12;
  const frames: Uint8Array[] = [];
  for (let f = 0; f < n; f++) {
    const rgb = new Uint8Array(w * h * 3).fill(30);
    const x0 = 8 + (f % 16);
    for (let y = 12; y < 32; y++) for (let x = x0; x < x0 + 20 && x < w; x++) rgb.fill(220, 3 * (y * w + x), 3 * (y * w + x) + 3);
    frames.push(rgb);
  }
  await encodeRgbFrames(frames, { width: w, height: h, fps: opts.fps ?? 12, output: path });
}
