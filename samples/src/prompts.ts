/** Prompts derived from a ground-truth mask: a deep interior click, a tight box. */

export interface MaskPrompt {
  /** Pixel (column, row) inside the mask, as far from its boundary as possible. */
  point: [number, number];
  /** Tight box in pixel-edge coordinates [x0, y0, x1, y1]: covers columns x0..x1-1, rows y0..y1-1. */
  box: [number, number, number, number];
  area: number;
}

/**
 * Finds the interior pixel farthest from the mask's boundary (two-pass chamfer distance, 3-4
 * weights; among equally deep pixels, the one nearest their centroid) and the tight bounding
 * box. Returns null for an empty mask.
 */
export function promptFromMask(mask: Uint8Array, width: number, height: number): MaskPrompt | null {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  let area = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      area++;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (area === 0) return null;
  // Distance inside the box grown by one pixel, so the image border counts as boundary too.
  const bw = x1 - x0 + 3;
  const bh = y1 - y0 + 3;
  const big = 1 << 28;
  const d = new Int32Array(bw * bh);
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const x = x0 + bx - 1;
      const y = y0 + by - 1;
      const inside = x >= 0 && y >= 0 && x < width && y < height && mask[y * width + x] !== 0;
      d[by * bw + bx] = inside ? big : 0;
    }
  }
  for (let by = 1; by < bh; by++) {
    for (let bx = 1; bx < bw - 1; bx++) {
      const i = by * bw + bx;
      if (d[i] === 0) continue;
      d[i] = Math.min(d[i]!, d[i - 1]! + 3, d[i - bw]! + 3, d[i - bw - 1]! + 4, d[i - bw + 1]! + 4);
    }
  }
  let best = -1;
  let bestX = 0;
  let bestY = 0;
  for (let by = bh - 2; by >= 0; by--) {
    for (let bx = bw - 2; bx >= 1; bx--) {
      const i = by * bw + bx;
      if (d[i] === 0) continue;
      d[i] = Math.min(d[i]!, d[i + 1]! + 3, d[i + bw]! + 3, d[i + bw + 1]! + 4, d[i + bw - 1]! + 4);
    }
  }
  for (let i = 0; i < d.length; i++) if (d[i]! > best) best = d[i]!;
  // The deepest pixels often form a ridge (a rectangle's middle row); take the one nearest the
  // ridge's own centre so the click lands mid-object rather than at one end.
  let sx = 0;
  let sy = 0;
  let n = 0;
  for (let i = 0; i < d.length; i++) {
    if (d[i] !== best) continue;
    sx += i % bw;
    sy += Math.floor(i / bw);
    n++;
  }
  const mx = sx / n;
  const my = sy / n;
  let bestD = Infinity;
  for (let i = 0; i < d.length; i++) {
    if (d[i] !== best) continue;
    const bx = i % bw;
    const by = Math.floor(i / bw);
    const dd = (bx - mx) ** 2 + (by - my) ** 2;
    if (dd < bestD) {
      bestD = dd;
      bestX = x0 + bx - 1;
      bestY = y0 + by - 1;
    }
  }
  return { point: [bestX, bestY], box: [x0, y0, x1 + 1, y1 + 1], area };
}
