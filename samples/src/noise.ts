/** Procedural textures: lattice value noise, fractal sums of it, and small separable blurs. */
import { hash2 } from './prng.js';

function smooth(t: number): number {
  return t * t * (3 - 2 * t);
}

/** Value noise in [0, 1) at a continuous point; lattice spacing 1. */
export function valueNoise(x: number, y: number, seed: number): number {
  const ix = Math.floor(x);
  const iy = Math.floor(y);
  const fx = smooth(x - ix);
  const fy = smooth(y - iy);
  const a = hash2(ix, iy, seed);
  const b = hash2(ix + 1, iy, seed);
  const c = hash2(ix, iy + 1, seed);
  const d = hash2(ix + 1, iy + 1, seed);
  const top = a + (b - a) * fx;
  const bottom = c + (d - c) * fx;
  return top + (bottom - top) * fy;
}

/** Fractal sum of `octaves` value-noise layers (lacunarity 2, gain 0.5), normalised to [0, 1). */
export function fbm(x: number, y: number, seed: number, octaves: number): number {
  let sum = 0;
  let amp = 1;
  let norm = 0;
  let f = 1;
  for (let o = 0; o < octaves; o++) {
    sum += amp * valueNoise(x * f, y * f, (seed + Math.imul(o, 0x9e3779b9)) | 0);
    norm += amp;
    amp *= 0.5;
    f *= 2;
  }
  return sum / norm;
}

/** In-place separable box blur of a W x H float field with radii rx, ry (edges clamp). */
export function boxBlur(field: Float32Array, width: number, height: number, rx: number, ry: number): void {
  const tmp = new Float32Array(Math.max(width, height));
  if (rx > 0) {
    const n = 2 * rx + 1;
    for (let y = 0; y < height; y++) {
      const row = y * width;
      for (let x = 0; x < width; x++) {
        let s = 0;
        for (let k = -rx; k <= rx; k++) s += field[row + Math.min(width - 1, Math.max(0, x + k))]!;
        tmp[x] = s / n;
      }
      field.set(tmp.subarray(0, width), row);
    }
  }
  if (ry > 0) {
    const n = 2 * ry + 1;
    for (let x = 0; x < width; x++) {
      for (let y = 0; y < height; y++) {
        let s = 0;
        for (let k = -ry; k <= ry; k++) s += field[Math.min(height - 1, Math.max(0, y + k)) * width + x]!;
        tmp[y] = s / n;
      }
      for (let y = 0; y < height; y++) field[y * width + x] = tmp[y]!;
    }
  }
}

/** Scales a field to zero mean and unit variance (so blurred noise keeps a known spread). */
export function standardise(field: Float32Array): void {
  let mean = 0;
  for (let i = 0; i < field.length; i++) mean += field[i]!;
  mean /= field.length;
  let v = 0;
  for (let i = 0; i < field.length; i++) v += (field[i]! - mean) ** 2;
  const sd = Math.sqrt(v / field.length) || 1;
  for (let i = 0; i < field.length; i++) field[i] = (field[i]! - mean) / sd;
}
