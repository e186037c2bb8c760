/**
 * The timeline, on one canvas (2,000+ frames cost a few hundred rectangles: runs are merged).
 *
 * Top row, all objects: a yellow tick (y 2–18) where a prompt was given, a blue strip (y 20–30)
 * where masks exist, an orange mark (y 31–35) on frames the review queue flags. Below it one
 * track per object (TRACK_H px each): the object's colour where it is tracked and present, grey
 * hatching where it is tracked but absent (object score < 0 or an empty mask), nothing where it
 * was not tracked, a yellow marker on its prompted frames. A white cursor marks the current
 * frame (an outline when frames are wide enough). Clicking anywhere seeks to the frame under the pointer.
 */
import { useEffect, useRef } from 'react';
import './panels.css';
import { colorOf } from '../overlay/paint.js';
import { ABSENT, PRESENT, type TrackRow } from './track-analysis.js';

export const SUMMARY_H = 36;
export const TRACK_H = 14;
const PROMPT = '#ffd166';
const MASK = '#3fa7d6';
const FLAG = '#ff5a36';

export interface TimelineProps {
  numFrames: number;
  current: number;
  promptedFrames: readonly number[];
  maskFrames: ReadonlySet<number>;
  flaggedFrames: readonly number[];
  rows: readonly TrackRow[];
  /** Objects hidden in the view: their tracks are dimmed. */
  hidden: ReadonlySet<number>;
  /** An object's colour (default: overlay/paint.ts colorOf), as the overlay paints it. */
  colorOf?: (objectId: number) => readonly [number, number, number];
  onSeek(frame: number): void;
}

/** Calls fill(start, end) for each run of consecutive frames where pred holds. */
function runs(n: number, pred: (f: number) => boolean, fill: (a: number, b: number) => void): void {
  let start = -1;
  for (let f = 0; f <= n; f++) {
    const on = f < n && pred(f);
    if (on && start < 0) start = f;
    else if (!on && start >= 0) {
      fill(start, f);
      start = -1;
    }
  }
}

function hatch(ctx: CanvasRenderingContext2D): CanvasPattern | string {
  if (typeof document === 'undefined') return '#555';
  const p = document.createElement('canvas');
  p.width = p.height = 6;
  const g = p.getContext('2d')!;
  g.fillStyle = '#2c313b';
  g.fillRect(0, 0, 6, 6);
  g.strokeStyle = '#7a8190';
  g.lineWidth = 1.5;
  g.beginPath();
  g.moveTo(0, 6);
  g.lineTo(6, 0);
  g.stroke();
  return ctx.createPattern(p, 'repeat') ?? '#555';
}

export function Timeline(p: TimelineProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  const { numFrames, current, promptedFrames, maskFrames, flaggedFrames, rows, hidden } = p;
  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    const w = (c.width = c.clientWidth || 600);
    const h = (c.height = SUMMARY_H + TRACK_H * rows.length);
    const ctx = c.getContext('2d')!;
    ctx.fillStyle = '#20242c';
    ctx.fillRect(0, 0, w, h);
    const n = Math.max(1, numFrames);
    const fw = w / n;
    const x = (f: number) => f * fw;
    const span = (a: number, b: number, y: number, hh: number, min = 1) => ctx.fillRect(x(a), y, Math.max(min, (b - a) * fw), hh);

    ctx.fillStyle = MASK;
    runs(
      numFrames,
      (f) => maskFrames.has(f),
      (a, b) => span(a, b, 20, 10),
    );
    ctx.fillStyle = PROMPT;
    for (const f of promptedFrames) span(f, f + 1, 2, 16, 2);
    ctx.fillStyle = FLAG;
    for (const f of flaggedFrames) span(f, f + 1, 31, 5, 2);

    const hatched = hatch(ctx);
    rows.forEach((r, i) => {
      const y = SUMMARY_H + i * TRACK_H;
      ctx.fillStyle = i % 2 ? '#242933' : '#1c2027';
      ctx.fillRect(0, y, w, TRACK_H);
      ctx.globalAlpha = hidden.has(r.objectId) ? 0.35 : 1;
      const [cr, cg, cb] = (p.colorOf ?? colorOf)(r.objectId);
      ctx.fillStyle = `rgb(${cr},${cg},${cb})`;
      runs(
        numFrames,
        (f) => r.states[f] === PRESENT,
        (a, b) => span(a, b, y + 3, TRACK_H - 6),
      );
      ctx.fillStyle = hatched;
      runs(
        numFrames,
        (f) => r.states[f] === ABSENT,
        (a, b) => span(a, b, y + 3, TRACK_H - 6),
      );
      ctx.fillStyle = PROMPT;
      for (const f of r.prompted) span(f, f + 1, y + 1, TRACK_H - 2, 3);
      ctx.globalAlpha = 1;
    });

    // The cursor: a frame-wide outline where frames are wide enough (what it covers stays
    // visible), else a 2 px bar.
    ctx.fillStyle = '#ffffff';
    if (fw >= 6) {
      ctx.fillRect(x(current), 0, 2, h);
      ctx.fillRect(x(current) + fw - 2, 0, 2, h);
      ctx.fillRect(x(current), 0, fw, 2);
      ctx.fillRect(x(current), h - 2, fw, 2);
    } else ctx.fillRect(x(current), 0, Math.max(2, fw), h);
  }, [numFrames, current, promptedFrames, maskFrames, flaggedFrames, rows, hidden, p.colorOf]);
  return (
    <canvas
      ref={ref}
      className="timeline"
      style={{ height: SUMMARY_H + TRACK_H * rows.length }}
      data-tracks={rows.map((r) => r.objectId).join(',')}
      title="timeline: yellow = prompts, blue = masks, orange = flagged for review; one track per object below (colour = present, hatched = absent)"
      onClick={(e) => {
        const r = e.currentTarget.getBoundingClientRect();
        p.onSeek(Math.min(numFrames - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * numFrames))));
      }}
    />
  );
}
