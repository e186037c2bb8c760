/** What every synthetic clip kind provides: frame-by-frame rendering with exact object masks. */
import { hashString, Rng } from './prng.js';

export type ClipKind = 'ultrasound' | 'endoscopy';

export const CLIP_KINDS: readonly ClipKind[] = ['ultrasound', 'endoscopy'];

/** Bumped whenever a change alters any rendered byte or the output layout; --skip-existing keys on it. */
export const GENERATOR_VERSION = '1.9.0';

export interface ClipSpec {
  kind: ClipKind;
  seed: number;
  width: number;
  height: number;
  /** Frame count; undefined = a seed-dependent count in 60..90. */
  frames?: number;
  fps: number;
  /**
   * Ultrasound only: the chance that one structure is set to drift out of the fan (default 0.3; a
   * second structure that cannot be placed is left out, exit and all). Training data asks for
   * more exits than the held-out clips have; the default keeps every published seed's clip byte
   * for byte.
   */
  exitRate?: number;
  /**
   * Simulated hospital site (samples/src/sites.ts): changes how the clip looks, never what it
   * labels. Undefined or 'a' is the default look, byte for byte the clips made before sites existed.
   */
  site?: string;
}

/** The seed-chosen frame count (60..90) a clip gets when no frame count is asked for. */
export function defaultFrameCount(kind: ClipKind, seed: number): number {
  return new Rng(hashString(`${kind}:${seed}`)).fork('frames').int(60, 90);
}

export interface ObjectInfo {
  /** 1..K, stable for the whole clip. */
  id: number;
  /** COCO category id (see the scene's categories). */
  categoryId: number;
}

export interface Category {
  id: number;
  name: string;
  supercategory: string;
}

export interface RenderedFrame {
  /** rgb24, row-major, width * height * 3 bytes. */
  rgb: Uint8Array;
  /** One row-major 0/1 mask per object, in object order: exactly the pixels where it was drawn. */
  masks: Uint8Array[];
}

/** A deterministic clip: frame i depends only on the spec and i, never on earlier calls. */
export interface Scene {
  readonly spec: Required<Omit<ClipSpec, 'exitRate' | 'site'>> & Pick<ClipSpec, 'exitRate' | 'site'>;
  readonly objects: readonly ObjectInfo[];
  readonly categories: readonly Category[];
  /** Row-major 0/1: pixels inside the scan sector / optical field of view (constant per clip). */
  readonly fieldOfView: Uint8Array;
  /** Frame ranges [start, end) where an object is present (and labelled) but faded into the background. */
  readonly dropouts: ReadonlyArray<{ objectId: number; start: number; end: number }>;
  /** Frame on which prompts are given; every object is clearly visible there. */
  readonly promptFrame: number;
  renderFrame(index: number): RenderedFrame;
}

/**
 * A closed blob in its own frame: an ellipse with semi-axes (a, b), rotated by `angle`, whose
 * radius is modulated by low angular harmonics (a deforming, slightly irregular outline).
 */
export interface BlobShape {
  cx: number;
  cy: number;
  a: number;
  b: number;
  angle: number;
  /** [amplitude, phase] per harmonic order 2, 3, ... */
  harmonics: ReadonlyArray<readonly [number, number]>;
}

/**
 * Normalised radial coordinate of a point relative to a blob: < 1 inside, 1 on the outline. The
 * outline test used for drawing and for the ground-truth mask is this one function, so they agree
 * pixel for pixel.
 */
export function blobRadius(shape: BlobShape, px: number, py: number): number {
  const dx = px - shape.cx;
  const dy = py - shape.cy;
  const c = Math.cos(shape.angle);
  const s = Math.sin(shape.angle);
  const u = (c * dx + s * dy) / shape.a;
  const v = (-s * dx + c * dy) / shape.b;
  const q = Math.sqrt(u * u + v * v);
  if (shape.harmonics.length === 0 || q === 0) return q;
  const phi = Math.atan2(v, u);
  let r = 1;
  for (let k = 0; k < shape.harmonics.length; k++) {
    const [amp, ph] = shape.harmonics[k]!;
    r += amp * Math.cos((k + 2) * phi + ph);
  }
  return q / r;
}

/** Conservative axis-aligned bounds of a blob grown by `margin` pixels, as integer pixel ranges. */
export function blobBounds(shape: BlobShape, margin: number, width: number, height: number): [number, number, number, number] {
  let amp = 0;
  for (const [a] of shape.harmonics) amp += Math.abs(a);
  const r = Math.max(shape.a, shape.b) * (1 + amp) + margin + 2;
  return [Math.max(0, Math.floor(shape.cx - r)), Math.max(0, Math.floor(shape.cy - r)), Math.min(width - 1, Math.ceil(shape.cx + r)), Math.min(height - 1, Math.ceil(shape.cy + r))];
}
