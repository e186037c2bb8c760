/**
 * Which `propagate` requests a propagation panel setting means (pure, so it is unit-tested).
 *
 * - `prompt`: from the last corrected frame (the frame of the newest prompt ack: a correction
 *   re-tracks from its frame, not from the first prompt), or the server's default (the earliest
 *   prompted frame) when nothing was prompted in this page yet — or when a forward pass from the
 *   correction would leave untracked frames between the first prompt and it (a prompt past the
 *   tracked frames is not a correction: the frames before it still need tracking).
 * - `current`: from the frame on screen.
 * - `range` [from, to]: forward from `from`, backward from `to`; both ways from the anchor (the
 *   last corrected frame, else the current one, clamped into the range) forward to `to`, then
 *   backward to `from` — two requests, since one request's maxFrames reaches as far each way.
 *   The server visits maxFrames + 1 frames from the start (SAM 2's max_frame_num_to_track).
 */
import type { PropagateDirection } from '../../../engine/src/protocol.js';

export type PropagateMode = 'prompt' | 'current' | 'range';

export interface PropagateStep {
  direction: PropagateDirection;
  startFrame?: number;
  maxFrames?: number;
}

export interface PlanInput {
  mode: PropagateMode;
  direction: PropagateDirection;
  numFrames: number;
  current: number;
  lastCorrected: number | null;
  from: number;
  to: number;
  /** The earliest prompted frame (any object), and the frames with a mask of some object. */
  firstPrompt?: number | null;
  tracked?: ReadonlySet<number>;
}

/** Whether every frame in [a, b) has a mask. */
function covered(tracked: ReadonlySet<number> | undefined, a: number, b: number): boolean {
  if (!tracked) return true;
  for (let f = a; f < b; f++) if (!tracked.has(f)) return false;
  return true;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.round(v)));

export function planPropagation(p: PlanInput): PropagateStep[] {
  const last = Math.max(0, p.numFrames - 1);
  if (p.mode === 'prompt') {
    const c = p.lastCorrected === null ? null : clamp(p.lastCorrected, 0, last);
    const gap = c !== null && p.direction !== 'backward' && p.firstPrompt != null && p.firstPrompt < c && !covered(p.tracked, p.firstPrompt, c);
    return [{ direction: p.direction, ...(c === null || gap ? {} : { startFrame: c }) }];
  }
  if (p.mode === 'current') return [{ direction: p.direction, startFrame: clamp(p.current, 0, last) }];
  let from = clamp(p.from, 0, last);
  let to = clamp(p.to, 0, last);
  if (from > to) [from, to] = [to, from];
  if (p.direction === 'forward') return [{ direction: 'forward', startFrame: from, maxFrames: to - from }];
  if (p.direction === 'backward') return [{ direction: 'backward', startFrame: to, maxFrames: to - from }];
  const a = clamp(p.lastCorrected ?? p.current, from, to);
  const steps: PropagateStep[] = [];
  if (a < to || a === from) steps.push({ direction: 'forward', startFrame: a, maxFrames: to - a });
  if (a > from) steps.push({ direction: 'backward', startFrame: a, maxFrames: a - from });
  return steps;
}
