/**
 * The review queue's rules, pure: which (frame, object) masks the model was unsure of.
 *
 * - `absent`: the object score logit is below 0 (or the mask is empty) while the tracked
 *   neighbours on both sides (those that exist) show the object: a dropout, not an exit.
 * - `lowStability`: the mask's stability score (IoU of the mask at two thresholds, 0..1) is
 *   below 0.85, when the server sends one.
 * - `areaJump`: the area changed by more than 50 % from the previous tracked frame.
 * - `centroidJump`: the centroid moved by more than 10 % of the frame diagonal from the previous
 *   tracked frame.
 *
 * Area and centroid come straight from the COCO counts (column-major runs): a run is split into
 * its column segments, so the cost is the number of runs plus the columns they cross, never a
 * decoded bitmap.
 */

export const STABILITY_MIN = 0.85;
export const AREA_JUMP = 0.5;
export const CENTROID_JUMP = 0.1;

export interface MaskStats {
  /** Foreground pixels. */
  area: number;
  /** Centroid in pixels (NaN when the mask is empty). */
  cx: number;
  cy: number;
}

/** Area and centroid of a COCO RLE (column-major counts, background run first) of a width×height mask. */
export function rleStats(counts: ArrayLike<number>, height: number): MaskStats {
  let p = 0;
  let area = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (i & 1 && c > 0) {
      area += c;
      // The run covers linear indices p..p+c-1; walk it one column segment at a time.
      let k = p;
      const end = p + c;
      while (k < end) {
        const x = Math.floor(k / height);
        const y0 = k - x * height;
        const n = Math.min(end - k, height - y0);
        sx += x * n;
        // Sum of y0..y0+n-1.
        sy += n * y0 + (n * (n - 1)) / 2;
        k += n;
      }
    }
    p += c;
  }
  return area ? { area, cx: sx / area, cy: sy / area } : { area: 0, cx: NaN, cy: NaN };
}

/** One tracked mask as the rules see it. */
export interface FrameMaskInfo extends MaskStats {
  /** Object score logit (< 0: the model says the object is not there). */
  score: number;
  stability?: number;
}

export type FlagReason =
  { kind: 'absent'; score: number; empty: boolean } | { kind: 'lowStability'; stability: number } | { kind: 'areaJump'; ratio: number } | { kind: 'centroidJump'; fraction: number };

export interface Flag {
  frame: number;
  objectId: number;
  reasons: FlagReason[];
}

const present = (m: FrameMaskInfo | undefined): boolean => m !== undefined && m.score >= 0 && m.area > 0;

/**
 * The flags of every object's track, sorted by frame then object. `tracks`: object id → frame →
 * that frame's mask; frames without an entry were not tracked (no flag, and they break the
 * neighbour chains: a jump is only measured between consecutive frames).
 */
export function flagTracks(tracks: ReadonlyMap<number, ReadonlyMap<number, FrameMaskInfo>>, width: number, height: number): Flag[] {
  const diag = Math.hypot(width, height);
  const out: Flag[] = [];
  for (const [objectId, frames] of tracks) {
    for (const [frame, m] of frames) {
      const reasons: FlagReason[] = [];
      const prev = frames.get(frame - 1);
      const next = frames.get(frame + 1);
      if (!present(m)) {
        const sides = [prev, next].filter((n) => n !== undefined);
        if (sides.length > 0 && sides.every(present)) reasons.push({ kind: 'absent', score: m.score, empty: m.area === 0 });
      } else {
        if (prev && present(prev)) {
          const ratio = Math.abs(m.area - prev.area) / prev.area;
          if (ratio > AREA_JUMP) reasons.push({ kind: 'areaJump', ratio });
          const fraction = Math.hypot(m.cx - prev.cx, m.cy - prev.cy) / diag;
          if (fraction > CENTROID_JUMP) reasons.push({ kind: 'centroidJump', fraction });
        }
      }
      if (m.stability !== undefined && m.stability < STABILITY_MIN) reasons.push({ kind: 'lowStability', stability: m.stability });
      if (reasons.length) out.push({ frame, objectId, reasons });
    }
  }
  return out.sort((a, b) => a.frame - b.frame || a.objectId - b.objectId);
}

/** A reason in words, for the review list. */
export function describeReason(r: FlagReason): string {
  switch (r.kind) {
    case 'absent':
      return `${r.empty ? 'empty mask' : `absent (score ${r.score.toFixed(1)})`} between present frames`;
    case 'lowStability':
      return `stability ${r.stability.toFixed(2)} < ${STABILITY_MIN}`;
    case 'areaJump':
      return `area changed by ${Math.round(r.ratio * 100)} %`;
    case 'centroidJump':
      return `moved ${Math.round(r.fraction * 100)} % of the diagonal`;
  }
}

/**
 * The flagged frame after (`dir` 1) or before (`dir` -1) `current` in a sorted list of flagged
 * frames, wrapping around; null when there is none.
 */
export function stepFlagged(frames: readonly number[], current: number, dir: 1 | -1): number | null {
  if (frames.length === 0) return null;
  if (dir === 1) return frames.find((f) => f > current) ?? frames[0]!;
  for (let i = frames.length - 1; i >= 0; i--) if (frames[i]! < current) return frames[i]!;
  return frames[frames.length - 1]!;
}
