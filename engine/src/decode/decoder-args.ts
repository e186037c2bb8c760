/**
 * The ffmpeg command line of one {@link FrameDecoder} run, and the seek plan it encodes.
 *
 * Two `showinfo` filters bracket the -vf chain: the first (after autorotation) sees every decoded
 * frame with its absolute index and source size, the last sees exactly the frames that reach the
 * pipe, with their PTS (showinfo-pairing.ts joins the two). A start frame or time becomes a
 * `select` between them. With every frame's PTS known (`frameTimesUs`), a seek far into a file
 * first jumps to the keyframe before the target (`-ss`), since decoding thousands of frames only
 * to discard them is what makes a seek slow.
 */
import type { ResolvedInput } from '../source/input.js';
import { MAX_FRAME_PIXELS } from '../source/frame-limits.js';
import type { FrameDecoderOptions } from './frame-decoder-types.js';
import { lowerBound } from './frame-times.js';

/** Seeks to fewer frames than this decode from the start: the jump would save little. */
const FAST_SEEK_MIN_FRAMES = 90;
/** The keyframe jump aims this far before the target, so rounding can never land after it. */
const FAST_SEEK_PREROLL_S = 1;

/**
 * Index of the first frame to deliver when a keyframe jump applies, else null (no frame times, not
 * a file, a target too near the start, or `noJump` after a jump that overshot).
 */
export function fastSeekTarget(opts: FrameDecoderOptions, resolved: ResolvedInput, noJump: boolean): number | null {
  const times = opts.frameTimesUs;
  if (noJump || !times || times.length === 0 || resolved.kind !== 'file') return null;
  let t = -Infinity;
  if (opts.startFrame !== undefined && opts.startFrame > 0) t = times[Math.floor(opts.startFrame)] ?? Infinity;
  if (opts.startTimeUs !== undefined && opts.startTimeUs > 0) t = Math.max(t, opts.startTimeUs);
  const k = lowerBound(times, t - 0.5);
  if (k < FAST_SEEK_MIN_FRAMES || k >= times.length) return null;
  if ((times[k]! - times[0]!) / 1e6 <= FAST_SEEK_PREROLL_S) return null;
  return k;
}

/** An ffmpeg command line and what the decoder must know to read its output. */
export interface DecoderArgs {
  args: string[];
  /** Position of the last showinfo in the -vf chain (0 when there is only one). */
  lastShowinfo: number;
  /** The frame a keyframe jump aims at, or null when the run decodes from the start. */
  fastSeekFrom: number | null;
}

/** The arguments that decode `resolved` into rgb24 on stdout, with two showinfo filters on stderr. */
export function decoderArgs(resolved: ResolvedInput, o: FrameDecoderOptions, noJump: boolean): DecoderArgs {
  const chain: string[] = ['showinfo=checksum=0'];
  let conds: string[] = [];
  if (o.startFrame !== undefined && o.startFrame > 0) conds.push(`gte(n,${Math.floor(o.startFrame)})`);
  // Half a microsecond of slack: ptsUs is rounded, `t` is pts*timebase in floating point.
  if (o.startTimeUs !== undefined && o.startTimeUs > 0) conds.push(`gte(t,${((o.startTimeUs - 0.5) / 1e6).toFixed(7)})`);
  const seekArgs: string[] = [];
  const target = fastSeekTarget(o, resolved, noJump);
  if (target !== null) {
    const times = o.frameTimesUs!;
    // -ss counts from the file's start; -noaccurate_seek: no trimming by ffmpeg, select is exact.
    const pre = (times[target]! - times[0]!) / 1e6 - FAST_SEEK_PREROLL_S;
    seekArgs.push('-noaccurate_seek', '-ss', pre.toFixed(6));
    conds = [`gte(t,${((times[target]! - 0.5) / 1e6).toFixed(7)})`];
  }
  if (conds.length) chain.push(`select='${conds.join('*')}'`);
  if (o.width !== undefined && o.height !== undefined) chain.push(`scale=${o.width}:${o.height}:flags=${o.scaleFlags ?? 'bicubic'}`);
  chain.push('showinfo=checksum=0');
  const live = resolved.kind === 'live-url';
  const args = [
    '-hide_banner',
    '-nostats',
    // repeat: ffmpeg must never fold log lines into "Last message repeated"; verbose: time bases.
    '-loglevel',
    'repeat+verbose',
    ...(resolved.readsStdin ? [] : ['-nostdin']),
    // Live: 1 s of stream analysis instead of 5 s, so the first frame comes quickly and a
    // stream that stops early still yields what it sent. Not `-fflags nobuffer`: it discards
    // the packets read during analysis (the first second of frames).
    ...(live ? ['-analyzeduration', '1000000'] : []),
    // ffmpeg's decoder refuses pictures over the limit before allocating them (hostile headers).
    '-max_pixels',
    String(MAX_FRAME_PIXELS),
    ...(o.inputOptions ?? []),
    ...seekArgs,
    ...resolved.args,
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    '-copyts',
    '-vf',
    chain.join(','),
    '-fps_mode',
    'passthrough',
    ...(o.maxFrames !== undefined ? ['-frames:v', String(Math.floor(o.maxFrames))] : []),
    // One encoder thread: with ffmpeg's default frame threading the rawvideo "encoder" holds
    // every frame until the next one arrives — one frame interval of delay on a live stream
    // (34 ms at 30 fps, measured on a raw TCP feed; 1.3 ms with this).
    '-threads',
    '1',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ];
  return { args, lastShowinfo: chain.length - 1, fastSeekFrom: target };
}
