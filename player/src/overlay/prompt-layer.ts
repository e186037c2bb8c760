/**
 * Prompts drawn over the video: points as discs (+ on a green core for positive, − on a red core
 * for negative, ringed in the object's colour) and boxes as rectangles in the object's colour.
 * Drawn in screen pixels on a canvas of its own (the mask canvas stays exactly the masks, which
 * tests compare pixel for pixel), so markers keep their size however the video is scaled.
 * Hit testing uses the same geometry: a click near a marker or on a box's edge selects that prompt.
 */
import { css, type Rgb } from './colors.js';

/** A prompt as the server lists it (`prompts` message): ids are the server's. */
export interface PromptMark {
  promptId: string | number;
  objectId: number;
  frame: number;
  kind: 'points' | 'box' | 'mask';
  points: readonly { x: number; y: number; label: number }[];
  box?: readonly [number, number, number, number];
}

/** Marker radius and how far from a marker or box edge a click still hits it (CSS pixels). */
export const MARKER_RADIUS = 7;
export const HIT_SLOP = 4;

export interface LayerGeometry {
  /** CSS pixels per video pixel, horizontally and vertically. */
  sx: number;
  sy: number;
  /** Device pixels per CSS pixel (the canvas is drawn at device resolution). */
  dpr: number;
}

/** Marker core colours: green-ish for positive, red-ish for negative (the ring carries the object's colour). */
const POSITIVE = '#2fbf71';
const NEGATIVE = '#e5484d';

export function drawPrompts(ctx: CanvasRenderingContext2D, marks: readonly PromptMark[], g: LayerGeometry, colorOf: (objectId: number) => Rgb, selected: PromptMark['promptId'] | null): void {
  const c = ctx.canvas;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.setTransform(g.dpr, 0, 0, g.dpr, 0, 0);
  for (const m of marks) {
    const col = colorOf(m.objectId);
    const sel = selected !== null && m.promptId === selected;
    if (m.box) {
      const [x0, y0, x1, y1] = m.box;
      ctx.lineWidth = sel ? 3 : 2;
      if (sel) {
        // A dark halo first, so the box reads on bright and dark tissue alike.
        ctx.strokeStyle = 'rgba(0,0,0,0.7)';
        ctx.lineWidth = 5;
        ctx.strokeRect(x0 * g.sx, y0 * g.sy, (x1 - x0) * g.sx, (y1 - y0) * g.sy);
        ctx.lineWidth = 3;
      }
      ctx.strokeStyle = sel ? '#ffffff' : css(col);
      ctx.setLineDash(sel ? [6, 4] : []);
      ctx.strokeRect(x0 * g.sx, y0 * g.sy, (x1 - x0) * g.sx, (y1 - y0) * g.sy);
      ctx.setLineDash([]);
    }
    for (const p of m.points) drawPoint(ctx, p.x * g.sx, p.y * g.sy, p.label === 1, col, sel);
  }
}

function drawPoint(ctx: CanvasRenderingContext2D, x: number, y: number, positive: boolean, ring: Rgb, selected: boolean): void {
  const r = MARKER_RADIUS;
  if (selected) {
    ctx.beginPath();
    ctx.arc(x, y, r + 5, 0, 2 * Math.PI);
    ctx.strokeStyle = '#ffffff';
    ctx.lineWidth = 2;
    ctx.setLineDash([3, 3]);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fillStyle = positive ? POSITIVE : NEGATIVE;
  ctx.fill();
  ctx.lineWidth = 3;
  ctx.strokeStyle = css(ring);
  ctx.stroke();
  // The sign, so the two kinds differ for colour-blind eyes too.
  ctx.strokeStyle = '#ffffff';
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x - r / 2, y);
  ctx.lineTo(x + r / 2, y);
  if (positive) {
    ctx.moveTo(x, y - r / 2);
    ctx.lineTo(x, y + r / 2);
  }
  ctx.stroke();
}

/**
 * The prompt under a click at (x, y) in CSS pixels of the layer, or null: the nearest point
 * marker within reach, else a box whose edge is within reach. Later prompts win ties (drawn on top).
 */
export function hitPrompt(marks: readonly PromptMark[], x: number, y: number, g: Pick<LayerGeometry, 'sx' | 'sy'>): PromptMark | null {
  let best: PromptMark | null = null;
  let bestD = MARKER_RADIUS + HIT_SLOP;
  for (const m of marks) {
    for (const p of m.points) {
      const d = Math.hypot(p.x * g.sx - x, p.y * g.sy - y);
      if (d <= bestD) {
        bestD = d;
        best = m;
      }
    }
  }
  if (best) return best;
  for (let i = marks.length - 1; i >= 0; i--) {
    const b = marks[i]!.box;
    if (!b) continue;
    const [x0, y0, x1, y1] = [b[0] * g.sx, b[1] * g.sy, b[2] * g.sx, b[3] * g.sy];
    const inside = x >= x0 - HIT_SLOP && x <= x1 + HIT_SLOP && y >= y0 - HIT_SLOP && y <= y1 + HIT_SLOP;
    const nearEdge = Math.min(Math.abs(x - x0), Math.abs(x - x1), Math.abs(y - y0), Math.abs(y - y1)) <= HIT_SLOP;
    if (inside && nearEdge) return marks[i]!;
  }
  return null;
}
