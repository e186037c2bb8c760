/**
 * Turns the two showinfo filters' log lines of one decoder run (see decoder-args.ts) into the
 * timing of each frame that reaches the pipe: absolute index, PTS in µs, output and source size.
 *
 * Frame i of the pipe is paired with the i-th line of the last showinfo, and its index is that of
 * the first showinfo line with the same PTS (`select` only removes frames, so head records before
 * the match were frames that did not reach the pipe). After a keyframe jump ffmpeg counts from the
 * keyframe, so there the absolute index comes from the PTS in the packet index instead.
 */
import { indexOfPts } from './frame-times.js';
import type { ShowinfoFrame, ShowinfoTimeBase } from './showinfo.js';
import { frameSizeAllowed } from '../source/frame-limits.js';

/** Timing and size of one frame on the pipe, waiting for its pixels. */
export interface FrameMeta {
  index: number;
  ptsUs: number;
  width: number;
  height: number;
  sourceWidth: number;
  sourceHeight: number;
}

/** What one showinfo record means for the decoder. */
export type PairingStep =
  | { kind: 'none' }
  /** A frame of the pipe: its pixels are next in line. */
  | { kind: 'meta'; meta: FrameMeta }
  /** A picture over the frame limits (unprobed inputs learn their size here). */
  | { kind: 'too-large'; width: number; height: number }
  /** The keyframe jump landed after the target (some MPEG-TS demuxers): decode from the start. */
  | { kind: 'restart' };

/** Head records kept while waiting for their match; a bound against a select that drops everything. */
const MAX_PENDING_BEFORE = 200_000;

export class ShowinfoPairing {
  private tb: Array<{ num: number; den: number } | undefined> = [];
  /** Per showinfo: frames it counted before the filter graph was last rebuilt, and the next index. */
  private nBase: number[] = [];
  private nNext: number[] = [];
  private readonly befores: ShowinfoFrame[] = [];
  private firstBefore = true;
  /** Kept across runs: a frame without any timestamp still never goes back in time. */
  private lastPtsUs = -1;

  /**
   * @param lastShowinfo position of the last showinfo in the chain (0: there is only one)
   * @param fastSeekFrom the frame a keyframe jump aims at, or null
   * @param frameTimesUs every frame's PTS (given whenever fastSeekFrom is)
   * @param startFrame the first frame to deliver, for indices when no head record matches
   * @param warn records a warning line on the decoder
   */
  constructor(
    private lastShowinfo: number,
    private fastSeekFrom: number | null,
    private readonly frameTimesUs: readonly number[] | undefined,
    private readonly startFrame: number,
    private readonly warn: (line: string) => void,
  ) {}

  /** A new ffmpeg run (after a restart): everything but the PTS floor starts over. */
  reset(lastShowinfo: number, fastSeekFrom: number | null): void {
    this.lastShowinfo = lastShowinfo;
    this.fastSeekFrom = fastSeekFrom;
    this.tb = [];
    this.nBase = [];
    this.nNext = [];
    this.befores.length = 0;
    this.firstBefore = true;
  }

  /** Records a showinfo's time base (printed once per filter at -v verbose). */
  timeBase(rec: ShowinfoTimeBase): void {
    this.tb[rec.filter] = { num: rec.num, den: rec.den };
  }

  /** Takes one showinfo frame record. */
  push(rec: ShowinfoFrame): PairingStep {
    // A mid-stream size or format change makes ffmpeg rebuild the filter graph, and every showinfo
    // starts counting from 0 again: keep counting from where the previous graph stopped.
    const f = rec.filter;
    if (rec.n === 0 && (this.nNext[f] ?? 0) > 0) this.nBase[f] = this.nNext[f]!;
    rec.n += this.nBase[f] ?? 0;
    this.nNext[f] = rec.n + 1;
    if (!frameSizeAllowed(rec.width, rec.height)) return { kind: 'too-large', width: rec.width, height: rec.height };
    if (rec.filter === 0 && this.firstBefore) {
      this.firstBefore = false;
      const tb = this.tb[0];
      if (this.fastSeekFrom !== null && rec.pts !== null && tb && tb.den > 0) {
        const firstUs = Math.round((rec.pts * 1e6 * tb.num) / tb.den);
        if (firstUs > this.frameTimesUs![this.fastSeekFrom]! + 1) return { kind: 'restart' };
      }
    }
    if (rec.filter === 0 && this.lastShowinfo !== 0) {
      this.befores.push(rec);
      if (this.befores.length > MAX_PENDING_BEFORE) this.befores.shift();
      return { kind: 'none' };
    }
    if (rec.filter !== this.lastShowinfo) return { kind: 'none' };
    let before: ShowinfoFrame | undefined;
    while (this.befores.length) {
      const b = this.befores.shift()!;
      if (b.pts === rec.pts) {
        before = b;
        break;
      }
    }
    const ptsUs = this.toUs(rec);
    let index = before ? before.n : this.startFrame + rec.n;
    if (this.fastSeekFrom !== null) {
      const i = indexOfPts(this.frameTimesUs!, ptsUs);
      index = i >= 0 ? i : this.fastSeekFrom + rec.n;
      if (i < 0) this.warn(`frame at ${ptsUs} us is not in the packet index; its index is estimated`);
    }
    return {
      kind: 'meta',
      meta: { index, ptsUs, width: rec.width, height: rec.height, sourceWidth: before?.width ?? rec.width, sourceHeight: before?.height ?? rec.height },
    };
  }

  private toUs(rec: ShowinfoFrame): number {
    const tb = this.tb[rec.filter];
    let us: number;
    if (rec.pts !== null && tb && tb.den > 0) us = Math.round((rec.pts * 1e6 * tb.num) / tb.den);
    else if (rec.ptsTime !== null) us = Math.round(rec.ptsTime * 1e6);
    else us = this.lastPtsUs + 1; // no timestamp at all: keep order, never go back
    this.lastPtsUs = us;
    return us;
  }
}
