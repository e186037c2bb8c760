/**
 * `probe(input)`: what a video is (size after rotation, rate, length, codec) before any frame is
 * decoded. One ffprobe run for the streams, a second packet-counting run only when the container
 * does not store a frame count and the input is a local file.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { resolveInput, type ResolvedInput } from '../source/input.js';
import { runFfprobe, type FfprobeRun } from './ffmpeg.js';
import { classifyFfmpegFailure, stderrSummary } from './ffmpeg-errors.js';
import { checkFrameSize, frameTooLarge, refusedPictureSize } from '../source/frame-limits.js';

/** What cineseg knows about a video input. Times are integer microseconds. */
export interface VideoInfo {
  /** The input as given. */
  input: string;
  /** Displayed width, after rotation: the width of the frames the decoder delivers at source size. */
  width: number;
  /** Displayed height, after rotation. */
  height: number;
  /** Width of the decoded picture as stored, before rotation (ffprobe `width`, cropping applied). */
  codedWidth: number;
  /** Height of the decoded picture as stored, before rotation. */
  codedHeight: number;
  /** Clockwise degrees (0/90/180/270) the stored picture is turned by for display, as ffmpeg autorotates. */
  rotation: 0 | 90 | 180 | 270;
  /** Average frame rate (frames per second); 0 when unknown (some live streams). */
  fps: number;
  /**
   * Number of video frames: the container's stored count (nb_frames), else counted packets for
   * local files, else null. Both count packets: an mp4 edit list can hide a packet, so decoding may
   * yield one frame fewer; the decoder's own end is authoritative.
   */
  frameCount: number | null;
  /** Duration of the video stream (or container), null when unknown (live). */
  durationUs: number | null;
  /** ffmpeg codec name, e.g. h264, vp9, mjpeg, png, gif. */
  codec: string;
  /** ffmpeg pixel format of the decoded picture, e.g. yuv420p. */
  pixFmt: string;
  /** ffmpeg demuxer name(s), e.g. "mov,mp4,m4a,3gp,3g2,mj2". */
  format: string;
  /** True for network streams and stdin: no seeking, no known length. */
  isLive: boolean;
  /**
   * A guess that the stream is variable frame rate: the container's base rate (r_frame_rate) and
   * the measured average differ by more than 1 %. Frame PTS are exact either way.
   */
  variableFrameRate: boolean;
  /** PTS of the stream's first frame; frames' `ptsUs` are on the same clock. */
  startTimeUs: number;
}

/** Options for {@link probe}. */
export interface ProbeOptions {
  /** Frame rate given to an image folder (default 30). */
  imageFps?: number;
  /**
   * Deadline for ffprobe to answer. Live inputs and stdin: default 10 s, then E_LIVE_CONNECT_TIMEOUT.
   * Files and image folders: default 60 s for the first attempt, then one more with twice that
   * (a loaded machine or a slow disk, far more often than a broken file), then E_DECODE_PROBE_FAILED.
   */
  timeoutMs?: number;
  /** Attempts after a timed-out one, each with twice the deadline (default 1 for files, 0 for live and stdin). */
  retries?: number;
  /** Count packets when the container stores no frame count (default: files up to 2 GiB). */
  countFrames?: boolean;
}

const FILE_PROBE_TIMEOUT_MS = 60_000;
/** Files up to this size get their packets counted by default (a demux pass, about 1 s per GiB). */
const COUNT_MAX_BYTES = 2 * 1024 ** 3;

/**
 * Demuxers that read other files or URLs named inside the input (playlists, concat scripts,
 * manifests). A local file that turns out to be one is refused: it is not a clip, and opening it
 * would decode whatever it points at.
 */
export const PLAYLIST_FORMATS = new Set(['hls', 'applehttp', 'concat', 'dash', 'imf', 'webm_dash_manifest']);

/** Codecs of ffmpeg's text-art demuxers (tty, bin, xbin, adf, idf). */
export const TEXT_ART_CODECS = new Set(['ansi', 'bintext', 'xbin', 'idf']);

/**
 * Describes a video input: a file (mp4, mov, avi, mkv, webm, gif ...), a folder of png/jpg frames,
 * a live URL (rtsp, srt, udp, tcp, http(s)) or `-` for stdin (which ffprobe then consumes).
 *
 * @throws CinesegError E_INPUT_NOT_FOUND, E_INPUT_EMPTY, E_INPUT_UNSUPPORTED (also: a playlist file),
 *   E_DECODE_NO_VIDEO, E_DECODE_CORRUPT, E_DECODE_TOO_LARGE (see frame-limits.ts),
 *   E_DECODE_PROBE_FAILED, E_LIVE_CONNECT_TIMEOUT, E_LIVE_CONNECT_FAILED
 */
export async function probe(input: string, opts: ProbeOptions = {}): Promise<VideoInfo> {
  const resolved = await resolveInput(input, opts.imageFps === undefined ? {} : { imageFps: opts.imageFps });
  try {
    return await probeResolved(resolved, opts);
  } finally {
    await resolved.release();
  }
}

interface FfprobeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  time_base?: string;
  start_time?: string;
  duration?: string;
  nb_frames?: string;
  nb_read_packets?: string;
  disposition?: Record<string, number>;
  tags?: Record<string, string>;
  side_data_list?: Array<{ side_data_type?: string; rotation?: number }>;
}

interface FfprobeJson {
  streams?: FfprobeStream[];
  format?: { format_name?: string; duration?: string; start_time?: string };
}

/** {@link probe} on an input already resolved (the frame source shares its staged image folder). */
export async function probeResolved(resolved: ResolvedInput, opts: ProbeOptions = {}): Promise<VideoInfo> {
  const { input } = resolved;
  const isLive = resolved.kind === 'live-url' || resolved.kind === 'stdin';
  const timeoutMs = isLive ? (opts.timeoutMs ?? 10_000) : (opts.timeoutMs ?? FILE_PROBE_TIMEOUT_MS);
  const stdin = resolved.readsStdin ? 'inherit' : 'ignore';
  const retries = opts.retries ?? (isLive ? 0 : 1);
  const run = await runFfprobe(['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ...resolved.args], { timeoutMs, stdin, retries });
  if (run.timedOut) throw probeTimeout(input, isLive, run);
  if (run.code === null) {
    // Killed, and not by us (the OOM killer, a supervisor): say so rather than guess from stderr.
    throw new CinesegError(ErrorCode.E_DECODE_PROBE_FAILED, `${input}: ffprobe was killed by ${run.signal ?? 'a signal'}${said(run.stderr)}`, {
      details: { signal: run.signal, stderr: run.stderr.slice(-2000) },
    });
  }
  if (run.code !== 0) throw classifyFfmpegFailure(input, run.stderr, ErrorCode.E_DECODE_PROBE_FAILED, { exitCode: run.code });
  let json: FfprobeJson;
  try {
    json = JSON.parse(run.stdout) as FfprobeJson;
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_DECODE_PROBE_FAILED, `${input}: ffprobe printed unreadable JSON`, { cause });
  }
  const format = json.format?.format_name ?? '';
  if (resolved.kind === 'file' && format.split(',').some((f) => PLAYLIST_FORMATS.has(f))) {
    throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${input}: a ${format} playlist that refers to other files, not a video`);
  }
  // A cover picture in an audio file is a "video" stream too; it is not a video.
  const stream = (json.streams ?? []).find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  if (!stream) throw new CinesegError(ErrorCode.E_DECODE_NO_VIDEO, `${input}: no video stream (format ${format || 'unknown'})`);
  // ffmpeg renders text and arbitrary bytes as ANSI/binary-text art (tty, bin, xbin, adf, idf
  // demuxers, picked by file extension); that is never a clip.
  if (TEXT_ART_CODECS.has(stream.codec_name ?? '')) throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${input}: text or unknown bytes, not a video (ffmpeg read it as ${format} text art)`);
  const codedWidth = stream.width ?? 0;
  const codedHeight = stream.height ?? 0;
  if (!(codedWidth > 0 && codedHeight > 0)) {
    // ffprobe leaves the size at 0 when its decoder refused the header's size.
    const refused = refusedPictureSize(run.stderr);
    if (refused) throw frameTooLarge(input, refused.width, refused.height);
    throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${input}: video stream has no picture size (damaged header)`);
  }
  // Refused here, before any decoder allocates a frame of it.
  checkFrameSize(input, codedWidth, codedHeight);

  const rotation = streamRotation(stream);
  const swap = rotation === 90 || rotation === 270;
  let avg = parseRate(stream.avg_frame_rate);
  const base = parseRate(stream.r_frame_rate);
  const images = resolved.images;
  let variableFrameRate = !images && avg > 0 && base > 0 && Math.abs(avg - base) / base > 0.01;

  let frameCount: number | null = images ? images.files.length : positiveInt(stream.nb_frames);
  // Matroska/WebM/AVI-style containers store neither a frame count nor (sometimes) an average rate:
  // read the packet timestamps (demux only, no decoding) to count frames and judge the rate.
  const cheap = (resolved.sizeBytes ?? Infinity) <= COUNT_MAX_BYTES;
  if ((frameCount === null || avg === 0) && resolved.kind === 'file' && (opts.countFrames ?? cheap)) {
    const pk = await packetTimes(resolved, timeoutMs, retries);
    if (pk) {
      frameCount ??= pk.count;
      if (avg === 0 && pk.avgFps > 0) avg = pk.avgFps;
      variableFrameRate = variableFrameRate || pk.variable;
    }
  }
  const fps = images ? images.fps : avg > 0 ? avg : base;
  const durationSec = images ? images.files.length / images.fps : (parseNum(stream.duration) ?? parseNum(json.format?.duration));
  const startSec = parseNum(stream.start_time) ?? parseNum(json.format?.start_time) ?? 0;

  return {
    input,
    width: swap ? codedHeight : codedWidth,
    height: swap ? codedWidth : codedHeight,
    codedWidth,
    codedHeight,
    rotation,
    fps,
    frameCount,
    durationUs: durationSec === null ? null : Math.round(durationSec * 1e6),
    codec: stream.codec_name ?? 'unknown',
    pixFmt: stream.pix_fmt ?? 'unknown',
    format,
    isLive,
    variableFrameRate,
    startTimeUs: Math.round(startSec * 1e6),
  };
}

/** ` (ffprobe: <its last lines>)`, or nothing when it printed nothing. */
function said(stderr: string): string {
  const s = stderrSummary(stderr);
  return s ? ` (ffprobe: ${s})` : '';
}

/** Seconds for a message: "60 s", "0.25 s". */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toPrecision(3))} s`;
}

/**
 * The error of a probe that ran out of time: that it timed out, after how long and how many
 * attempts, and what ffprobe had printed by then, so a loaded machine is not mistaken for a
 * broken file (nor the reverse).
 */
function probeTimeout(input: string, isLive: boolean, run: FfprobeRun): CinesegError {
  const after = run.deadlinesMs.map(seconds).join(', then ');
  const details = { timedOut: true, timeoutMs: run.deadlinesMs[run.deadlinesMs.length - 1], deadlinesMs: run.deadlinesMs, stderr: run.stderr.slice(-2000) };
  if (isLive) return new CinesegError(ErrorCode.E_LIVE_CONNECT_TIMEOUT, `${input}: no answer within ${after}${said(run.stderr)}`, { details });
  const tries = run.deadlinesMs.length > 1 ? `${run.deadlinesMs.length} attempts, killed after ${after}` : `killed after ${after}`;
  return new CinesegError(
    ErrorCode.E_DECODE_PROBE_FAILED,
    `${input}: ffprobe timed out (${tries}) without an answer${said(run.stderr)}: the machine may be overloaded or the file on a stalled disk; a longer timeout may help`,
    { details },
  );
}

/**
 * Clockwise display rotation. ffprobe reports the display matrix angle counter-clockwise (ffmpeg's
 * autorotate turns the picture by its negation); old muxers wrote a clockwise `rotate` tag instead.
 */
function streamRotation(stream: FfprobeStream): 0 | 90 | 180 | 270 {
  const matrix = stream.side_data_list?.find((d) => d.side_data_type === 'Display Matrix' && typeof d.rotation === 'number');
  let cw = 0;
  if (matrix) cw = -(matrix.rotation as number);
  else if (stream.tags?.rotate !== undefined) cw = Number(stream.tags.rotate) || 0;
  const q = (((Math.round(cw / 90) * 90) % 360) + 360) % 360;
  return q as 0 | 90 | 180 | 270;
}

/**
 * Demuxes the whole file (no decoding) and reads each video packet's PTS: one packet per frame.
 * Gives the frame count, the average rate, and a VFR verdict from the spread of frame intervals.
 */
async function packetTimes(resolved: ResolvedInput, timeoutMs: number, retries: number): Promise<{ count: number; avgFps: number; variable: boolean } | null> {
  const run = await runFfprobe(['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', ...resolved.args], { timeoutMs, retries });
  if (run.code !== 0) return null;
  const lines = run.stdout.split('\n').filter((l) => l.trim() !== '');
  const pts = lines
    .map(Number)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  if (lines.length === 0) return null;
  let avgFps = 0;
  let variable = false;
  if (pts.length >= 3) {
    const span = pts[pts.length - 1]! - pts[0]!;
    if (span > 0) avgFps = (pts.length - 1) / span;
    const gaps = pts
      .slice(1)
      .map((p, i) => p - pts[i]!)
      .sort((a, b) => a - b);
    const median = gaps[gaps.length >> 1]!;
    // Millisecond time bases jitter 33/34 ms; a real rate change moves gaps by far more than 25 %.
    variable = median > 0 && (gaps[gaps.length - 1]! - gaps[0]!) / median > 0.25;
  }
  return { count: lines.length, avgFps, variable };
}

function parseRate(rate: string | undefined): number {
  if (!rate) return 0;
  const [n, d] = rate.split('/').map(Number);
  if (n === undefined || !Number.isFinite(n)) return 0;
  if (d === undefined) return n;
  return d > 0 ? n / d : 0;
}

function parseNum(v: string | undefined): number | null {
  if (v === undefined || v === 'N/A') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function positiveInt(v: string | undefined): number | null {
  const n = v === undefined ? NaN : Number.parseInt(v, 10);
  return Number.isFinite(n) && n > 0 ? n : null;
}
