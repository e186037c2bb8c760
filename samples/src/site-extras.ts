/**
 * Unlabelled endoscopy distractors that only non-default sites have (sites.ts): air bubbles on
 * the mucosa and raised look-alike bumps. Both sit in world coordinates (they move with the
 * tissue) and are placed clear of every polyp, so they never cover a labelled pixel and the
 * ground truth stays exactly the drawn polyps. Each kind draws from its own RNG fork.
 */
import type { Rng } from './prng.js';
import type { BlobShape } from './scene.js';
import type { EndoscopyLook, Rgb } from './sites.js';

export interface Bubble {
  x: number;
  y: number;
  r: number;
}

export interface Decoy {
  shape: BlobShape;
  /** Half-size of a box that holds the bump and its contact shadow (quick rejection). */
  reach: number;
  height: number;
  color: Rgb;
  texSeed: number;
}

interface CameraLike {
  zoom: number;
}
type ScreenToWorld<C> = (c: C, sx: number, sy: number) => [number, number];

/** Largest extent of a polyp over its wobble (6 %) and outline harmonics (up to 13 %), with margin. */
const polypExtent = (s: BlobShape): number => Math.max(s.a, s.b) * 1.3;

/** A point in the frame-0 view: uniform in a disc of `frac` times the field-of-view radius. */
function inView(rng: Rng, W: number, H: number, fovR: number, frac: number): [number, number] {
  const ang = rng.range(0, 2 * Math.PI);
  const rad = Math.sqrt(rng.float()) * fovR * frac;
  return [W / 2 + rad * Math.cos(ang), H / 2 + rad * Math.sin(ang)];
}

export function placeBubbles<C extends CameraLike>(
  rng: Rng,
  count: readonly [number, number],
  polyps: readonly BlobShape[],
  cam0: C,
  W: number,
  H: number,
  fovR: number,
  scale: number,
  toWorld: ScreenToWorld<C>,
): Bubble[] {
  const n = rng.int(count[0], count[1]);
  const out: Bubble[] = [];
  for (let k = 0; k < n; k++) {
    for (let attempt = 0; attempt < 60; attempt++) {
      const [sx, sy] = inView(rng, W, H, fovR, 0.9);
      const r = (rng.range(4, 16) * scale) / cam0.zoom;
      const [x, y] = toWorld(cam0, sx, sy);
      if (polyps.some((p) => Math.hypot(p.cx - x, p.cy - y) < polypExtent(p) + r + 3)) continue;
      if (out.some((b) => Math.hypot(b.x - x, b.y - y) < b.r + r + 1)) continue;
      out.push({ x, y, r });
      break;
    }
  }
  return out;
}

/**
 * A bubble over the pixel at world (wx, wy): a thin transparent film (slightly lighter), a bright
 * rim where the surface is seen edge-on, and a small specular spot. Updates [r, g, b, spec].
 */
export function shadeBubble(b: Bubble, wx: number, wy: number, px: number[]): void {
  const u = (wx - b.x) / b.r;
  const v = (wy - b.y) / b.r;
  const d2 = u * u + v * v;
  if (d2 >= 1) return;
  const d = Math.sqrt(d2);
  const rim = Math.exp(-(((d - 0.86) / 0.09) ** 2));
  const spot = Math.exp(-((u + 0.35) ** 2 + (v + 0.35) ** 2) / 0.02);
  for (let ch = 0; ch < 3; ch++) px[ch] = px[ch]! * 0.9 + 0.06;
  px[3] = px[3]! + 0.55 * rim + 0.85 * spot;
}

export function placeDecoys<C extends CameraLike>(
  rng: Rng,
  count: readonly [number, number],
  polyps: readonly BlobShape[],
  look: EndoscopyLook,
  cam0: C,
  W: number,
  H: number,
  fovR: number,
  toWorld: ScreenToWorld<C>,
): Decoy[] {
  const n = rng.int(count[0], count[1]);
  // Look-alikes: polyp-like tints (their own table entry), lower and smaller than the polyps.
  const out: Decoy[] = [];
  for (let k = 0; k < n; k++) {
    for (let attempt = 0; attempt < 60; attempt++) {
      const [sx, sy] = inView(rng, W, H, fovR, 0.8);
      const a = (rng.range(0.035, 0.07) * H) / cam0.zoom;
      const [x, y] = toWorld(cam0, sx, sy);
      const reach = a * 1.25 * 1.3;
      if (polyps.some((p) => Math.hypot(p.cx - x, p.cy - y) < polypExtent(p) * look.shadowReach + reach + 2)) continue;
      if (out.some((d) => Math.hypot(d.shape.cx - x, d.shape.cy - y) < d.reach + reach)) continue;
      const color = look.decoyColors[rng.int(0, 1)]!;
      out.push({
        shape: {
          cx: x,
          cy: y,
          a,
          b: a * rng.range(0.7, 1),
          angle: rng.range(0, Math.PI),
          harmonics: [[rng.range(0.02, 0.08), rng.range(0, 2 * Math.PI)]],
        },
        reach,
        height: rng.range(0.25, 0.45),
        color,
        texSeed: rng.u32() | 0,
      });
      break;
    }
  }
  return out;
}
