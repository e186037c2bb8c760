/**
 * Masks onto a canvas: each visible object's COCO counts painted in its colour at its opacity,
 * filled or as an outline, on an ImageData at the video's size. Filling is one pass over the
 * foreground runs; an outline decodes the mask and keeps the pixels that touch background.
 */
import { countsToMask, paintCounts } from '../../../engine/src/mask/rle.js';
import { objectColor, type Rgb } from './colors.js';

export interface ObjectMask {
  objectId: number;
  counts: Uint32Array;
  score: number;
}

/** How masks look: colours, opacity (global times the object's own) and filled or outlined. */
export interface MaskStyle {
  /** An object's colour (default: its own golden-angle colour). */
  colorOf?: (objectId: number) => Rgb;
  /** Global opacity of the fill, 0..1 (default 0.5). */
  opacity?: number;
  /** An object's own opacity factor, 0..1 (default 1). */
  objectOpacity?: ReadonlyMap<number, number>;
  /** Outlines only: the mask's contour, opaque, so the tissue under it stays visible. */
  outline?: boolean;
}

export const DEFAULT_OPACITY = 0.5;

/** An object's own colour (golden-angle hues; see colors.ts). */
export function colorOf(objectId: number): Rgb {
  return objectColor(objectId);
}

/** Alpha of an object's fill: global × per object, as 0..255 (0.5 gives 128, as before). */
export function alphaOf(style: MaskStyle, objectId: number): number {
  const a = (style.opacity ?? DEFAULT_OPACITY) * (style.objectOpacity?.get(objectId) ?? 1);
  return Math.round(Math.min(1, Math.max(0, a)) * 255);
}

/**
 * Foreground pixels of a row-major 0/1 mask that have background (or the image edge) within
 * `thickness` pixels left, right, up or down: the mask's contour.
 */
export function contourOf(mask: Uint8Array, width: number, height: number, thickness = 1): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!mask[i]) continue;
      let edge = false;
      for (let d = 1; d <= thickness && !edge; d++) {
        edge = x - d < 0 || x + d >= width || y - d < 0 || y + d >= height || !mask[i - d] || !mask[i + d] || !mask[i - d * width] || !mask[i + d * width];
      }
      if (edge) out[i] = 1;
    }
  }
  return out;
}

/**
 * The overlay of the visible objects' masks as an image, ready to put on a canvas.
 * `into` (same size) is cleared and reused: a live view paints 30 of these a second, and a fresh
 * 0.7 MB image each time keeps the page's garbage collector busy.
 */
export function rasterizeMasks(width: number, height: number, masks: Iterable<ObjectMask>, hidden: ReadonlySet<number>, into?: ImageData, style: MaskStyle = {}): ImageData {
  let img: ImageData;
  if (into && into.width === width && into.height === height) {
    img = into;
    img.data.fill(0);
  } else {
    img = new ImageData(width, height);
  }
  const color = style.colorOf ?? objectColor;
  // Thicker outlines on large pictures, so a contour stays visible once the video is scaled down.
  const thickness = Math.max(1, Math.round(Math.max(width, height) / 480));
  for (const m of masks) {
    if (hidden.has(m.objectId)) continue;
    const [r, g, b] = color(m.objectId);
    if (!style.outline) {
      const a = alphaOf(style, m.objectId);
      if (a > 0) paintCounts(m.counts, width, height, img.data, [r, g, b, a]);
      continue;
    }
    // Outline: opaque unless the object's own opacity says otherwise (the global slider is for fills).
    const a = Math.round(255 * Math.min(1, Math.max(0, style.objectOpacity?.get(m.objectId) ?? 1)));
    if (a === 0) continue;
    const edge = contourOf(countsToMask(m.counts, width, height), width, height, thickness);
    const d = img.data;
    for (let i = 0; i < edge.length; i++) {
      if (!edge[i]) continue;
      d[4 * i] = r;
      d[4 * i + 1] = g;
      d[4 * i + 2] = b;
      d[4 * i + 3] = a;
    }
  }
  return img;
}

/** Clears the canvas and paints the masks of the visible objects. */
export function paintMasks(ctx: CanvasRenderingContext2D, width: number, height: number, masks: Iterable<ObjectMask>, hidden: ReadonlySet<number>, style: MaskStyle = {}): void {
  ctx.putImageData(rasterizeMasks(width, height, masks, hidden, undefined, style), 0, 0);
}
