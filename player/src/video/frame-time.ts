/**
 * Media time ↔ frame index for the recorded view. Frames are identified by their PTS (relative to
 * the first frame); a presented frame's media time maps to the frame with the nearest PTS, so
 * rounding in the browser or the HLS remux can never pick a neighbour.
 */

/** Index of the frame whose (first-frame-relative) PTS is nearest to `t` seconds. */
export function frameAtMediaTime(relPtsS: readonly number[], t: number): number {
  let lo = 0;
  let hi = relPtsS.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (relPtsS[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(relPtsS[lo - 1]! - t) <= Math.abs(relPtsS[lo]! - t)) return lo - 1;
  return lo;
}

/**
 * The media time to seek to for frame `k`: the middle of its display interval, shifted by the
 * media time of frame 0 on the element's timeline (`offsetS`).
 */
export function seekTimeOfFrame(relPtsS: readonly number[], k: number, fps: number, offsetS: number): number {
  const n = relPtsS.length;
  const i = Math.min(n - 1, Math.max(0, k));
  const next = i + 1 < n ? relPtsS[i + 1]! : relPtsS[i]! + 1 / fps;
  return offsetS + (relPtsS[i]! + next) / 2;
}
