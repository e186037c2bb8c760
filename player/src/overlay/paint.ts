/**
 * Masks onto a canvas: each object's COCO counts painted in its colour, half transparent, on an
 * ImageData at the video's size. Painting is one pass over the foreground runs.
 */
import { paintCounts } from '../../../engine/src/protocol.js';

export interface ObjectMask {
  objectId: number;
  counts: Uint32Array;
  score: number;
}

export const PALETTE: readonly [number, number, number][] = [
  [230, 25, 75],
  [60, 180, 75],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
  [210, 245, 60],
];

export function colorOf(objectId: number): [number, number, number] {
  return PALETTE[(objectId - 1 + PALETTE.length * 1000) % PALETTE.length]!;
}

/**
 * The overlay of the visible objects' masks (alpha 128) as an image, ready to put on a canvas.
 * `into` (same size) is cleared and reused: a live view paints 30 of these a second, and a fresh
 * 0.7 MB image each time keeps the page's garbage collector busy.
 */
export function rasterizeMasks(width: number, height: number, masks: Iterable<ObjectMask>, hidden: ReadonlySet<number>, into?: ImageData): ImageData {
  let img: ImageData;
  if (into && into.width === width && into.height === height) {
    img = into;
    img.data.fill(0);
  } else {
    img = new ImageData(width, height);
  }
  for (const m of masks) {
    if (hidden.has(m.objectId)) continue;
    const [r, g, b] = colorOf(m.objectId);
    paintCounts(m.counts, width, height, img.data, [r, g, b, 128]);
  }
  return img;
}

/** Clears the canvas and paints the masks of the visible objects (alpha 128). */
export function paintMasks(ctx: CanvasRenderingContext2D, width: number, height: number, masks: Iterable<ObjectMask>, hidden: ReadonlySet<number>): void {
  ctx.putImageData(rasterizeMasks(width, height, masks, hidden), 0, 0);
}
