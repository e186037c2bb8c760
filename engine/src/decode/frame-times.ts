/**
 * Every frame's PTS of a file from one demux pass (packets only, no decoding): what makes a fast
 * seek exact. Sorted non-discarded video packet timestamps are the frames' PTS in display order,
 * so the i-th entry is the PTS of frame i; packets an mp4 edit list hides carry ffmpeg's D flag.
 */
import type { ResolvedInput } from '../source/input.js';
import { runFfprobe } from './ffmpeg.js';

/**
 * The sorted PTS (µs) of every frame of a recorded file, or null when a packet has no timestamp
 * (then seeks fall back to decoding from the start).
 */
export async function scanFrameTimes(resolved: ResolvedInput, timeoutMs = 120_000): Promise<number[] | null> {
  if (resolved.kind !== 'file') return null;
  // One more attempt with twice the deadline: a timeout on a local file is mostly a loaded machine.
  const run = await runFfprobe(['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', ...resolved.args], { timeoutMs, retries: 1 });
  if (run.code !== 0) return null;
  const times: number[] = [];
  for (const line of run.stdout.split('\n')) {
    if (!line.trim()) continue;
    const [pts, flags = ''] = line.split(',');
    if (flags.includes('D')) continue;
    const t = Number(pts);
    if (pts === 'N/A' || !Number.isFinite(t)) return null;
    times.push(Math.round(t * 1e6));
  }
  times.sort((a, b) => a - b);
  return times.length ? times : null;
}

/** First position whose time is >= `us` (times.length when none). */
export function lowerBound(times: readonly number[], us: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! < us) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the frame with this PTS (±1 µs for rounding), or -1. */
export function indexOfPts(times: readonly number[], ptsUs: number): number {
  const i = lowerBound(times, ptsUs - 1);
  return i < times.length && Math.abs(times[i]! - ptsUs) <= 1 ? i : -1;
}
