/**
 * Areas of masks: the foreground pixels of COCO counts (the odd runs), and that area in mm² where
 * the source states its pixel size (`sessionStarted.pixelSpacingMm`, [row, column] mm). A pixel
 * is row spacing × column spacing mm², so the area is exact for the mask as sent (no contour
 * fitting). Shown beside each object in the live view.
 */
import { countsArea } from '../../../engine/src/mask/rle.js';

export function maskPixels(counts: ArrayLike<number>): number {
  return countsArea(counts);
}

/** mm² of `pixels` at `spacing`; null without a spacing. */
export function areaMm2(pixels: number, spacing: readonly [number, number] | null | undefined): number | null {
  if (!spacing) return null;
  return pixels * spacing[0] * spacing[1];
}

/** "123.4 mm²" (or "5 678 px" without a spacing). */
export function formatArea(pixels: number, spacing: readonly [number, number] | null | undefined): string {
  const mm2 = areaMm2(pixels, spacing);
  if (mm2 === null) return `${pixels} px`;
  return mm2 >= 100 ? `${mm2.toFixed(0)} mm²` : `${mm2.toFixed(1)} mm²`;
}
