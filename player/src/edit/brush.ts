/**
 * Brush and eraser on one object's mask of one frame: a row-major 0/1 mask at the video's size,
 * started from the object's current mask, painted with discs along the pointer's path, and turned
 * back into column-major COCO counts for an `addMask` prompt; both ways through the engine's own
 * codec (engine/src/mask/rle.ts, which has no Node imports).
 */
import { countsToMask, encodeMask, type RleCounts } from '../../../engine/src/mask/rle.js';

export type EditTool = 'prompt' | 'brush' | 'eraser';

/** Brush radius limits in video pixels, and the factor `[` / `]` change it by. */
export const MIN_RADIUS = 1;
export const MAX_RADIUS = 200;
export const RADIUS_STEP = 1.25;

/** A starting radius that suits the picture: about 1/40 of its shorter side. */
export function defaultRadius(width: number, height: number): number {
  return Math.max(3, Math.round(Math.min(width, height) / 40));
}

/** `]` (grow) or `[` (shrink) applied to a radius, kept within limits and changed by at least one pixel. */
export function stepRadius(r: number, grow: boolean): number {
  const next = grow ? Math.max(r + 1, Math.round(r * RADIUS_STEP)) : Math.min(r - 1, Math.round(r / RADIUS_STEP));
  return Math.min(MAX_RADIUS, Math.max(MIN_RADIUS, next));
}

export class MaskBrush {
  readonly mask: Uint8Array;
  private last: { x: number; y: number } | null = null;
  /** Pixels whose value the strokes changed (0 after a stroke that only went over pixels already so). */
  changed = 0;

  constructor(
    readonly width: number,
    readonly height: number,
    counts?: ArrayLike<number>,
  ) {
    this.mask = counts ? countsToMask(counts, width, height) : new Uint8Array(width * height);
  }

  /** A disc of radius r (video pixels) centred on (x, y): foreground (brush) or background (eraser). */
  stamp(x: number, y: number, r: number, value: 0 | 1): void {
    const { width: w, height: h, mask } = this;
    const r2 = r * r;
    const y0 = Math.max(0, Math.floor(y - r));
    const y1 = Math.min(h - 1, Math.ceil(y + r));
    const x0 = Math.max(0, Math.floor(x - r));
    const x1 = Math.min(w - 1, Math.ceil(x + r));
    for (let py = y0; py <= y1; py++) {
      // Pixel centres: pixel (px, py) covers [px, px+1) and its centre is px + 0.5.
      const dy = py + 0.5 - y;
      for (let px = x0; px <= x1; px++) {
        const dx = px + 0.5 - x;
        if (dx * dx + dy * dy > r2) continue;
        const i = py * w + px;
        if (mask[i] !== value) {
          mask[i] = value;
          this.changed++;
        }
      }
    }
  }

  /** Continues the stroke to (x, y): discs every half radius along the way, so fast moves leave no gaps. */
  moveTo(x: number, y: number, r: number, value: 0 | 1): void {
    const from = this.last ?? { x, y };
    const dist = Math.hypot(x - from.x, y - from.y);
    const steps = Math.max(1, Math.ceil(dist / Math.max(0.5, r / 2)));
    for (let k = this.last ? 1 : 0; k <= steps; k++) this.stamp(from.x + ((x - from.x) * k) / steps, from.y + ((y - from.y) * k) / steps, r, value);
    this.last = { x, y };
  }

  /** Ends the stroke (the next moveTo starts a new one). */
  lift(): void {
    this.last = null;
  }

  /** Foreground pixels now. */
  area(): number {
    let a = 0;
    for (let i = 0; i < this.mask.length; i++) a += this.mask[i]!;
    return a;
  }

  /** The mask as COCO RLE (size [height, width], column-major counts). */
  toRle(): RleCounts {
    return encodeMask(this.mask, this.height, this.width);
  }
}
