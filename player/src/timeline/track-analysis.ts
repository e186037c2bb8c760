/**
 * What the timeline and the review queue read from the masks the page holds: per object, each
 * frame's state (not tracked, present, absent) and its prompted frames, plus the review flags
 * (review/flags.ts). Mask statistics are cached per counts array, so a propagation's stream of
 * masks costs each mask one pass over its runs, once.
 */
import { useMemo } from 'react';
import type { ObjectMask } from '../overlay/paint.js';
import { flagTracks, rleStats, type Flag, type FrameMaskInfo, type MaskStats } from '../review/flags.js';

/** A mask as the page keeps it; `stability` where the server sends one. */
export type TrackedMask = ObjectMask & { stability?: number };

export const NOT_TRACKED = 0;
export const PRESENT = 1;
export const ABSENT = 2;

export interface TrackRow {
  objectId: number;
  /** One entry per frame: NOT_TRACKED, PRESENT or ABSENT. */
  states: Uint8Array;
  /** Frames with a prompt of this object, ascending. */
  prompted: number[];
}

export interface TrackAnalysis {
  rows: TrackRow[];
  flags: Flag[];
  /** Distinct flagged frames, ascending. */
  flaggedFrames: number[];
  /** Distinct prompted frames (any object), ascending. */
  promptedFrames: number[];
  /** Frames with a mask (present or not) of some listed object. */
  trackedFrames: Set<number>;
}

const statsCache = new WeakMap<Uint32Array, MaskStats>();
function statsOf(counts: Uint32Array, height: number): MaskStats {
  let s = statsCache.get(counts);
  if (!s) statsCache.set(counts, (s = rleStats(counts, height)));
  return s;
}

/** The analysis itself (pure but for the stats cache). */
export function analyseTracks(
  masks: ReadonlyMap<number, ReadonlyMap<number, TrackedMask>>,
  objectIds: readonly number[],
  prompts: Iterable<{ objectId: number; frame: number }>,
  numFrames: number,
  width: number,
  height: number,
): TrackAnalysis {
  const infos = new Map<number, Map<number, FrameMaskInfo>>(objectIds.map((id) => [id, new Map()]));
  const rows = new Map<number, TrackRow>(objectIds.map((id) => [id, { objectId: id, states: new Uint8Array(numFrames), prompted: [] }]));
  for (const [frame, byObject] of masks) {
    if (frame >= numFrames) continue;
    for (const m of byObject.values()) {
      const row = rows.get(m.objectId);
      if (!row) continue;
      const s = statsOf(m.counts, height);
      const info: FrameMaskInfo = { ...s, score: m.score, ...(m.stability === undefined ? {} : { stability: m.stability }) };
      infos.get(m.objectId)!.set(frame, info);
      row.states[frame] = s.area > 0 && m.score >= 0 ? PRESENT : ABSENT;
    }
  }
  const trackedFrames = new Set<number>();
  for (const m of infos.values()) for (const f of m.keys()) trackedFrames.add(f);
  const all = new Set<number>();
  for (const p of prompts) {
    all.add(p.frame);
    rows.get(p.objectId)?.prompted.push(p.frame);
  }
  for (const r of rows.values()) r.prompted = [...new Set(r.prompted)].sort((a, b) => a - b);
  const flags = flagTracks(infos, width, height);
  return {
    rows: [...rows.values()],
    flags,
    flaggedFrames: [...new Set(flags.map((f) => f.frame))],
    promptedFrames: [...all].sort((a, b) => a - b),
    trackedFrames,
  };
}

/** The analysis, recomputed when the masks (maskVersion), objects or prompts change. */
export function useTrackAnalysis(
  masks: ReadonlyMap<number, ReadonlyMap<number, TrackedMask>>,
  maskVersion: number,
  objectIds: readonly number[],
  prompts: readonly { objectId: number; frame: number }[],
  numFrames: number,
  width: number,
  height: number,
): TrackAnalysis {
  const idsKey = objectIds.join(',');
  const promptsKey = prompts.map((p) => `${p.objectId}:${p.frame}`).join(',');
  // eslint-disable-next-line react-hooks/exhaustive-deps
  return useMemo(() => analyseTracks(masks, objectIds, prompts, numFrames, width, height), [masks, maskVersion, idsKey, promptsKey, numFrames, width, height]);
}
