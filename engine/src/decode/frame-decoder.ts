/**
 * Over 500 lines, for now: the child's lifecycle, the showinfo pairing and flow control are one
 * state machine over ~40 fields; issue 19 splits the pairing and the flow control out of it.
 *
 * One ffmpeg child that decodes an input into rgb24 frames with exact PTS and absolute indices.
 *
 * ffmpeg writes raw pixels to stdout and, through two `showinfo` filters, one log line per frame
 * to stderr: the first (head of the -vf chain, after autorotation) sees every decoded frame with its
 * absolute index and source size; the last sees exactly the frames that reach the pipe, in pipe
 * order, with their PTS. Frame i of the pipe is paired with the i-th line of the last showinfo, and
 * its index is that of the first showinfo line with the same PTS. `-fps_mode passthrough` keeps
 * ffmpeg from duplicating or dropping frames, and `-copyts` keeps PTS on the stream's own clock, so
 * they equal what `ffprobe -show_frames` prints.
 *
 * Flow control: in `backpressure` mode stdout is paused once `readAhead` frames wait unconsumed, so
 * ffmpeg blocks on its pipe write and memory stays bounded whatever the consumer's speed. In
 * `latest` mode (live) stdout always flows and only the newest frame is kept; older ones are
 * counted as dropped.
 */
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { CinesegError, ErrorCode } from '../errors.js';
import { resolveInput, type ResolvedInput } from '../source/input.js';
import { killChild, spawnFfmpeg } from './ffmpeg.js';
import { classifyFfmpegFailure, DECODE_ERROR_LINE } from './ffmpeg-errors.js';
import { frameSizeAllowed, frameTooLarge, MAX_FRAME_PIXELS, refusedPictureSize } from './frame-limits.js';
import { indexOfPts, lowerBound } from './frame-times.js';
import { LineSplitter, parseShowinfoLine, type ShowinfoFrame } from './showinfo.js';

/** One decoded picture. `rgb` is rgb24, row-major, `width * height * 3` bytes, owned by the receiver. */
export interface Frame {
  /** Absolute index in the input's decoded frame sequence (0 = first frame), also after a seek. */
  index: number;
  /** Presentation time in microseconds on the stream's clock (equals ffprobe's pts_time * 1e6). */
  ptsUs: number;
  width: number;
  height: number;
  rgb: Uint8Array;
  /** Size of the decoded picture after rotation, before scaling. */
  sourceWidth: number;
  sourceHeight: number;
}

/** `backpressure`: every frame, ffmpeg waits for the consumer. `latest`: newest frame wins, drops counted. */
export type DeliveryMode = 'backpressure' | 'latest';

/** Options of {@link FrameDecoder}. Sizes are output sizes; omit both for the source size. */
export interface FrameDecoderOptions {
  /** Output width; with `height`, frames are scaled to exactly width x height (aspect not kept). */
  width?: number;
  height?: number;
  /** swscale flags for the resize (default `bicubic`). */
  scaleFlags?: string;
  /**
   * First frame to deliver, by absolute index. Frames before it are decoded and discarded: from the
   * start, or from the keyframe before it when `frameTimesUs` is given.
   */
  startFrame?: number;
  /** First frame to deliver: the first with ptsUs >= startTimeUs. */
  startTimeUs?: number;
  /** Stop after this many delivered frames. */
  maxFrames?: number;
  /** Default: `latest` for network URLs, `backpressure` for files, folders and stdin. */
  mode?: DeliveryMode;
  /**
   * Frames decoded ahead of the consumer before ffmpeg is paused (backpressure mode; default 2).
   * The bound is readAhead frames plus what the pipe read in flight completes (64 KiB at most).
   */
  readAhead?: number;
  /** Time allowed until the first frame arrives (default 10 s for network URLs; 0 = none). */
  connectTimeoutMs?: number;
  /** Longest gap between frames once started, while not paused by us (default 5 s for network URLs; 0 = none). */
  stallTimeoutMs?: number;
  /** Stream to feed ffmpeg when the input is `-` (default: this process's stdin). */
  stdin?: Readable;
  /** Extra ffmpeg input options placed before `-i` (e.g. ['-rtsp_transport', 'tcp']). */
  inputOptions?: string[];
  /**
   * Every frame's PTS in order (from `scanFrameTimes`). With it, a seek far into a file jumps to the
   * keyframe before the target instead of decoding from the start; indices stay absolute (looked
   * up by PTS). {@link FrameSource} fills it in for seeks.
   */
  frameTimesUs?: readonly number[];
}

/** Seeks to fewer frames than this decode from the start: the jump would save little. */
const FAST_SEEK_MIN_FRAMES = 90;
/** The keyframe jump aims this far before the target, so rounding can never land after it. */
const FAST_SEEK_PREROLL_S = 1;

/** Counters of a decoder, for progress, tests and the "dropped frames" badge of live views. */
export interface DecodeStats {
  /** Frames that came out of ffmpeg complete (pixels + PTS). */
  framesDecoded: number;
  framesDelivered: number;
  /** Frames discarded by latest-frame-wins (always 0 in backpressure mode). */
  framesDropped: number;
  /** Frames decoded but not yet taken by the consumer, and their bytes (plus partial pipe data). */
  bufferedFrames: number;
  bufferedBytes: number;
  maxBufferedFrames: number;
  maxBufferedBytes: number;
  /** Decoder complaints about damaged data (frames may still have been delivered). */
  decodeErrors: number;
  /** First few warnings, one line each. */
  warnings: string[];
  /** Times stdout was paused because the consumer was behind. */
  pauses: number;
  /** ffmpeg's exit code once it ended (null while running or when killed). */
  exitCode: number | null;
}

const MAX_WARNINGS = 20;
/** Recycled frame buffers kept for reuse (a live consumer holds at most two or three at once). */
const MAX_SPARE_FRAMES = 4;
const MAX_PENDING_BEFORE = 200_000;
const MAX_HEADER_BYTES = 256 * 1024 * 1024;

interface Meta {
  index: number;
  ptsUs: number;
  width: number;
  height: number;
  sourceWidth: number;
  sourceHeight: number;
}

interface Waiter {
  resolve: (f: Frame | null) => void;
  reject: (e: unknown) => void;
}

/**
 * Pull-based frame reader over one ffmpeg child. `next()` resolves to the next frame or null at the
 * end; it is also an AsyncIterable (breaking out of `for await` destroys it). Start is lazy (first
 * `next()`). Always call `destroy()` (or iterate to the end): it kills the child.
 */
export class FrameDecoder implements AsyncIterable<Frame> {
  /** Resolves `input` and returns a decoder that owns (and releases) the resolved input. */
  static async open(input: string, opts: FrameDecoderOptions & { imageFps?: number } = {}): Promise<FrameDecoder> {
    const resolved = await resolveInput(input, opts.imageFps === undefined ? {} : { imageFps: opts.imageFps });
    return new FrameDecoder(resolved, opts, true);
  }

  readonly mode: DeliveryMode;
  private readonly opts: FrameDecoderOptions;
  private readonly readAhead: number;
  private child: ChildProcess | null = null;
  private started = false;
  private ended = false;
  private destroyed = false;
  private error: CinesegError | null = null;
  private readonly waiters: Waiter[] = [];
  private readonly ready: Frame[] = [];
  private readonly raw: Uint8Array[] = [];
  private readonly metas: Meta[] = [];
  private readonly befores: ShowinfoFrame[] = [];
  private headerChunks: Buffer[] = [];
  private headerBytes = 0;
  private cur: Uint8Array | null = null;
  private curFill = 0;
  private frameBytes: number;
  /** Frame buffers handed back by the consumer (see recycle), reused before allocating. */
  private readonly spare: Uint8Array[] = [];
  private tb: Array<{ num: number; den: number } | undefined> = [];
  /** Per showinfo: frames it counted before the filter graph was last rebuilt, and the next index. */
  private nBase: number[] = [];
  private nNext: number[] = [];
  private lastShowinfo = 0;
  private fastSeekFrom: number | null = null;
  private lastPtsUs = -1;
  private stderrTail = '';
  private splitter = new LineSplitter();
  private noJump = false;
  private firstBefore = true;
  private pausedByUs = false;
  private gotData = false;
  private connectTimer: NodeJS.Timeout | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  private readonly connectTimeoutMs: number;
  private readonly stallTimeoutMs: number;
  private readonly s: DecodeStats = {
    framesDecoded: 0,
    framesDelivered: 0,
    framesDropped: 0,
    bufferedFrames: 0,
    bufferedBytes: 0,
    maxBufferedFrames: 0,
    maxBufferedBytes: 0,
    decodeErrors: 0,
    warnings: [],
    pauses: 0,
    exitCode: null,
  };
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly resolved: ResolvedInput,
    opts: FrameDecoderOptions = {},
    private readonly ownsInput = false,
  ) {
    this.opts = opts;
    const live = resolved.kind === 'live-url';
    this.mode = opts.mode ?? (live ? 'latest' : 'backpressure');
    this.readAhead = Math.max(1, Math.floor(opts.readAhead ?? 2));
    this.connectTimeoutMs = opts.connectTimeoutMs ?? (live ? 10_000 : 0);
    this.stallTimeoutMs = opts.stallTimeoutMs ?? (live ? 5_000 : 0);
    const hasW = opts.width !== undefined;
    if (hasW !== (opts.height !== undefined)) throw new CinesegError(ErrorCode.E_USAGE, 'give both width and height, or neither');
    if (hasW && !(Number.isInteger(opts.width) && Number.isInteger(opts.height) && opts.width! > 0 && opts.height! > 0 && frameSizeAllowed(opts.width!, opts.height!))) {
      throw new CinesegError(ErrorCode.E_USAGE, `output size must be positive integers within the frame limits (frame-limits.ts), got ${opts.width}x${opts.height}`);
    }
    for (const [k, v] of [['startFrame', opts.startFrame], ['startTimeUs', opts.startTimeUs], ['maxFrames', opts.maxFrames]] as const) {
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new CinesegError(ErrorCode.E_USAGE, `${k} must be a number >= 0, got ${v}`);
    }
    if ((opts.startFrame !== undefined || opts.startTimeUs !== undefined) && resolved.kind !== 'file' && resolved.kind !== 'image-folder') {
      throw new CinesegError(ErrorCode.E_USAGE, 'seeking needs a file or image folder, not a live input');
    }
    this.frameBytes = hasW ? opts.width! * opts.height! * 3 : 0;
  }

  /** A snapshot of the counters. */
  get stats(): DecodeStats {
    this.updateBuffered();
    return { ...this.s, warnings: [...this.s.warnings] };
  }

  /**
   * Process id of the running ffmpeg child; null before the first `next()` and once it has exited.
   * For process accounting (and fault tests that kill it).
   */
  get pid(): number | null {
    const c = this.child;
    return c && c.exitCode === null && c.signalCode === null ? (c.pid ?? null) : null;
  }

  /** The ffmpeg arguments this decoder runs (for logs and tests). */
  ffmpegArgs(): string[] {
    const o = this.opts;
    const chain: string[] = ['showinfo=checksum=0'];
    let conds: string[] = [];
    if (o.startFrame !== undefined && o.startFrame > 0) conds.push(`gte(n,${Math.floor(o.startFrame)})`);
    // Half a microsecond of slack: ptsUs is rounded, `t` is pts*timebase in floating point.
    if (o.startTimeUs !== undefined && o.startTimeUs > 0) conds.push(`gte(t,${((o.startTimeUs - 0.5) / 1e6).toFixed(7)})`);
    const seekArgs: string[] = [];
    const target = this.fastSeekTarget();
    if (target !== null) {
      const times = o.frameTimesUs!;
      // -ss counts from the file's start; -noaccurate_seek: no trimming by ffmpeg, select is exact.
      const pre = (times[target]! - times[0]!) / 1e6 - FAST_SEEK_PREROLL_S;
      seekArgs.push('-noaccurate_seek', '-ss', pre.toFixed(6));
      conds = [`gte(t,${((times[target]! - 0.5) / 1e6).toFixed(7)})`];
      this.fastSeekFrom = target;
    }
    if (conds.length) chain.push(`select='${conds.join('*')}'`);
    if (o.width !== undefined && o.height !== undefined) chain.push(`scale=${o.width}:${o.height}:flags=${o.scaleFlags ?? 'bicubic'}`);
    chain.push('showinfo=checksum=0');
    this.lastShowinfo = chain.length - 1;
    const live = this.resolved.kind === 'live-url';
    return [
      '-hide_banner',
      '-nostats',
      // repeat: ffmpeg must never fold log lines into "Last message repeated"; verbose: time bases.
      '-loglevel', 'repeat+verbose',
      ...(this.resolved.readsStdin ? [] : ['-nostdin']),
      // Live: 1 s of stream analysis instead of 5 s, so the first frame comes quickly and a
      // stream that stops early still yields what it sent. Not `-fflags nobuffer`: it discards
      // the packets read during analysis (the first second of frames).
      ...(live ? ['-analyzeduration', '1000000'] : []),
      // ffmpeg's decoder refuses pictures over the limit before allocating them (hostile headers).
      '-max_pixels', String(MAX_FRAME_PIXELS),
      ...(o.inputOptions ?? []),
      ...seekArgs,
      ...this.resolved.args,
      '-map', '0:v:0',
      '-an', '-sn', '-dn',
      '-copyts',
      '-vf', chain.join(','),
      '-fps_mode', 'passthrough',
      ...(o.maxFrames !== undefined ? ['-frames:v', String(Math.floor(o.maxFrames))] : []),
      // One encoder thread: with ffmpeg's default frame threading the rawvideo "encoder" holds
      // every frame until the next one arrives — one frame interval of delay on a live stream
      // (34 ms at 30 fps, measured on a raw TCP feed; 1.3 ms with this).
      '-threads', '1',
      '-f', 'rawvideo',
      '-pix_fmt', 'rgb24',
      'pipe:1',
    ];
  }

  /** Kills a run whose keyframe jump overshot and starts over decoding from the start. */
  private restartWithoutJump(): void {
    const old = this.child;
    this.child = null; // detaches old's handlers (they check identity)
    old?.stdout?.resume();
    if (old) void killChild(old);
    this.warn('keyframe seek landed after the target; decoding from the start instead');
    this.noJump = true;
    this.fastSeekFrom = null;
    this.firstBefore = true;
    this.splitter = new LineSplitter();
    this.headerChunks = [];
    this.headerBytes = 0;
    this.cur = null;
    this.curFill = 0;
    this.raw.length = 0;
    this.metas.length = 0;
    this.befores.length = 0;
    this.tb = [];
    this.nBase = [];
    this.nNext = [];
    this.pausedByUs = false;
    this.gotData = false;
    this.clearTimers();
    this.started = false;
    this.start();
  }

  /** Index of the first frame to deliver when a keyframe jump applies, else null. */
  private fastSeekTarget(): number | null {
    const o = this.opts;
    const times = o.frameTimesUs;
    if (this.noJump || !times || times.length === 0 || this.resolved.kind !== 'file') return null;
    let t = -Infinity;
    if (o.startFrame !== undefined && o.startFrame > 0) t = times[Math.floor(o.startFrame)] ?? Infinity;
    if (o.startTimeUs !== undefined && o.startTimeUs > 0) t = Math.max(t, o.startTimeUs);
    const k = lowerBound(times, t - 0.5);
    if (k < FAST_SEEK_MIN_FRAMES || k >= times.length) return null;
    if ((times[k]! - times[0]!) / 1e6 <= FAST_SEEK_PREROLL_S) return null;
    return k;
  }

  /** Starts ffmpeg; called by the first `next()`. */
  start(): void {
    if (this.started || this.destroyed) return;
    this.started = true;
    if (this.opts.maxFrames === 0) {
      this.ended = true;
      return;
    }
    const args = this.ffmpegArgs();
    const stdinMode = this.resolved.readsStdin ? (this.opts.stdin ? 'pipe' : 'inherit') : 'ignore';
    let child: ChildProcess;
    try {
      child = spawnFfmpeg(args, stdinMode);
    } catch (e) {
      this.fail(e instanceof CinesegError ? e : new CinesegError(ErrorCode.E_FFMPEG_MISSING, String(e)));
      return;
    }
    this.child = child;
    const prev = this.exited;
    this.exited = Promise.all([prev, new Promise<void>((r) => child.once('close', () => r()))]).then(() => undefined);
    if (stdinMode === 'pipe' && child.stdin && this.opts.stdin) {
      // ffmpeg closing its stdin early (maxFrames, error) must not crash us with EPIPE.
      child.stdin.on('error', () => {});
      this.opts.stdin.pipe(child.stdin);
    }
    // A child replaced by a restart (see restartWithoutJump) must not touch the new run's state.
    const current = (): boolean => this.child === child;
    child.stdout!.on('data', (chunk: Buffer) => current() && this.onData(chunk));
    // Node resumes a child's stdout by itself once the child exits (child_process flushStdio), so
    // a short clip's last pipe-full would pour in past readAhead while the consumer is behind.
    // 'resume' fires before the buffered chunks flow: pausing again here keeps them in the pipe.
    child.stdout!.on('resume', () => {
      if (current() && this.pausedByUs && !this.destroyed) child.stdout!.pause();
    });
    child.stderr!.on('data', (chunk: Buffer) => current() && this.splitter.push(chunk, (l) => current() && this.onLine(l)));
    child.once('error', (e) => current() && this.fail(new CinesegError(ErrorCode.E_FFMPEG_MISSING, `could not start ffmpeg: ${e.message}`, { cause: e })));
    child.once('close', (code, signal) => current() && this.onClose(code, signal));
    if (this.connectTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => {
        this.fail(new CinesegError(ErrorCode.E_LIVE_CONNECT_TIMEOUT, `${this.resolved.input}: no frame within ${this.connectTimeoutMs} ms`, { details: { timeoutMs: this.connectTimeoutMs } }));
      }, this.connectTimeoutMs);
    }
  }

  /**
   * Hands a delivered frame's pixels back for reuse: the next frame may be decoded into them, so
   * the caller must hold no reference to `frame.rgb` (nor anything still reading it). A live
   * stream allocates a frame's worth of memory 30 times a second otherwise, and the garbage
   * collections that buys land on frames' latency. Optional: frames not handed back are simply
   * collected.
   */
  recycle(frame: Pick<Frame, 'rgb'>): void {
    if (frame.rgb.length === this.frameBytes && this.spare.length < MAX_SPARE_FRAMES && !this.spare.includes(frame.rgb)) this.spare.push(frame.rgb);
  }

  /** The next frame in order, or null once the input ended (or the decoder was destroyed). */
  next(): Promise<Frame | null> {
    this.start();
    const f = this.ready.shift();
    if (f) {
      this.s.framesDelivered++;
      this.flow();
      return Promise.resolve(f);
    }
    if (this.error) return Promise.reject(this.error);
    if (this.ended || this.destroyed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.flow();
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<Frame> {
    return {
      next: async () => {
        const f = await this.next();
        return f ? { value: f, done: false } : { value: undefined, done: true };
      },
      return: async () => {
        await this.destroy();
        return { value: undefined, done: true };
      },
    };
  }

  /**
   * Kills ffmpeg (SIGTERM, SIGKILL after a short grace) and releases what the decoder holds.
   * Pending `next()` calls resolve to null. Resolves once the child is gone. Idempotent.
   */
  async destroy(): Promise<void> {
    if (!this.destroyed) {
      this.destroyed = true;
      this.clearTimers();
      for (const w of this.waiters.splice(0)) w.resolve(null);
      this.ready.length = 0;
      this.raw.length = 0;
      if (this.opts.stdin && this.child?.stdin) this.opts.stdin.unpipe(this.child.stdin);
      // Drain (and ignore) stdout so a paused pipe cannot keep ffmpeg blocked in a write.
      this.child?.stdout?.resume();
      if (this.child) await killChild(this.child);
      if (this.ownsInput) await this.resolved.release();
    }
    await this.exited;
  }

  private onData(chunk: Buffer): void {
    if (this.destroyed) return;
    if (!this.gotData) {
      this.gotData = true;
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    this.armStall();
    if (this.frameBytes === 0) {
      // Size not known yet (source size, stderr behind stdout): hold the bytes until it is.
      this.headerChunks.push(chunk);
      this.headerBytes += chunk.length;
      if (this.headerBytes > MAX_HEADER_BYTES) this.fail(new CinesegError(ErrorCode.E_DECODE_FAILED, `${this.resolved.input}: no frame size reported by ffmpeg`));
      this.flow();
      return;
    }
    this.cut(chunk);
    this.pair();
  }

  /** Cuts pipe bytes into frames of frameBytes. */
  private cut(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (!this.cur) {
        this.cur = this.spare.pop() ?? new Uint8Array(this.frameBytes);
        this.curFill = 0;
      }
      const n = Math.min(this.frameBytes - this.curFill, chunk.length - off);
      this.cur.set(chunk.subarray(off, off + n), this.curFill);
      this.curFill += n;
      off += n;
      if (this.curFill === this.frameBytes) {
        this.raw.push(this.cur);
        this.cur = null;
        this.curFill = 0;
      }
    }
  }

  private onLine(line: string): void {
    const rec = parseShowinfoLine(line);
    if (!rec) {
      // ffmpeg renders text/unknown bytes as ANSI art (tty, bin ... demuxers); that is never a clip.
      if (/^Input #0, (tty|bin|xbin|adf|idf),/.test(line)) {
        this.fail(new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${this.resolved.input}: a text file, not a video`));
        return;
      }
      // A playlist saved as a file would decode the files it names (probe.ts refuses it too).
      if (this.resolved.kind === 'file' && /^Input #0, (hls|applehttp|concat|dash|imf|webm_dash_manifest)\b/.test(line)) {
        this.fail(new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${this.resolved.input}: a playlist that refers to other files, not a video`));
        return;
      }
      if (DECODE_ERROR_LINE.test(line)) {
        this.s.decodeErrors++;
        this.warn(line.trim());
      }
      if (!line.startsWith('[Parsed_showinfo_') && line.trim()) this.stderrTail = (this.stderrTail + '\n' + line).slice(-6000);
      return;
    }
    if ('num' in rec) {
      this.tb[rec.filter] = { num: rec.num, den: rec.den };
      return;
    }
    if (this.destroyed) return;
    // A mid-stream size or format change makes ffmpeg rebuild the filter graph, and every showinfo
    // starts counting from 0 again: keep counting from where the previous graph stopped.
    const f = rec.filter;
    if (rec.n === 0 && (this.nNext[f] ?? 0) > 0) this.nBase[f] = this.nNext[f]!;
    rec.n += this.nBase[f] ?? 0;
    this.nNext[f] = rec.n + 1;
    if (!frameSizeAllowed(rec.width, rec.height)) {
      // Unprobed inputs (live, stdin) learn their size here, before a buffer of it exists.
      this.fail(frameTooLarge(this.resolved.input, rec.width, rec.height));
      return;
    }
    if (rec.filter === 0 && this.firstBefore) {
      this.firstBefore = false;
      // Some demuxers (MPEG-TS) can land a keyframe jump after the target; then decode from the start.
      const tb = this.tb[0];
      if (this.fastSeekFrom !== null && rec.pts !== null && tb && tb.den > 0) {
        const firstUs = Math.round((rec.pts * 1e6 * tb.num) / tb.den);
        if (firstUs > this.opts.frameTimesUs![this.fastSeekFrom]! + 1) {
          this.restartWithoutJump();
          return;
        }
      }
    }
    if (rec.filter === 0 && this.lastShowinfo !== 0) {
      this.befores.push(rec);
      if (this.befores.length > MAX_PENDING_BEFORE) this.befores.shift();
      return;
    }
    if (rec.filter !== this.lastShowinfo) return;
    // Match with the head showinfo's record of the same frame: select only removes frames, so
    // records before the match were frames that did not reach the pipe.
    let before: ShowinfoFrame | undefined;
    while (this.befores.length) {
      const b = this.befores.shift()!;
      if (b.pts === rec.pts) {
        before = b;
        break;
      }
    }
    if (this.frameBytes === 0) {
      this.frameBytes = rec.width * rec.height * 3;
      const held = this.headerChunks;
      this.headerChunks = [];
      this.headerBytes = 0;
      for (const c of held) this.cut(c);
    }
    const ptsUs = this.toUs(rec);
    let index = before ? before.n : (this.opts.startFrame ?? 0) + rec.n;
    if (this.fastSeekFrom !== null) {
      // After a keyframe jump ffmpeg counts from the keyframe: the absolute index comes from the PTS.
      const i = indexOfPts(this.opts.frameTimesUs!, ptsUs);
      index = i >= 0 ? i : this.fastSeekFrom + rec.n;
      if (i < 0) this.warn(`frame at ${ptsUs} us is not in the packet index; its index is estimated`);
    }
    this.metas.push({
      index,
      ptsUs,
      width: rec.width,
      height: rec.height,
      sourceWidth: before?.width ?? rec.width,
      sourceHeight: before?.height ?? rec.height,
    });
    this.pair();
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

  /** Joins pixels with their metadata and hands frames on. */
  private pair(): void {
    while (this.raw.length && this.metas.length) {
      const rgb = this.raw.shift()!;
      const m = this.metas.shift()!;
      if (m.width * m.height * 3 !== rgb.length) {
        this.fail(new CinesegError(ErrorCode.E_DECODE_FAILED, `${this.resolved.input}: frame size changed mid-stream (${m.width}x${m.height}); request an output size`));
        return;
      }
      const frame: Frame = { index: m.index, ptsUs: m.ptsUs, width: m.width, height: m.height, rgb, sourceWidth: m.sourceWidth, sourceHeight: m.sourceHeight };
      this.s.framesDecoded++;
      const w = this.waiters.shift();
      if (w) {
        this.s.framesDelivered++;
        w.resolve(frame);
        continue;
      }
      if (this.mode === 'latest') {
        this.s.framesDropped += this.ready.length;
        // Never handed out, so nobody else holds them.
        for (const old of this.ready) this.recycle(old);
        this.ready.length = 0;
      }
      this.ready.push(frame);
    }
    this.flow();
  }

  /** Pauses or resumes stdout so buffered frames stay under readAhead. */
  private flow(): void {
    this.updateBuffered();
    const out = this.child?.stdout;
    if (!out || this.destroyed) return;
    // In latest mode only a stderr lag can make frames pile up; wait for it rather than grow.
    const limit = this.mode === 'backpressure' ? this.readAhead : 16;
    const backlog = this.mode === 'backpressure' ? this.ready.length + this.raw.length : this.raw.length;
    const held = this.frameBytes === 0 && this.headerBytes > 0;
    if ((backlog >= limit || held) && !this.pausedByUs) {
      this.pausedByUs = true;
      this.s.pauses++;
      out.pause();
      if (this.stallTimer) clearTimeout(this.stallTimer);
      this.stallTimer = null;
    } else if (backlog < limit && !held && this.pausedByUs) {
      this.pausedByUs = false;
      out.resume();
      this.armStall();
    }
  }

  private updateBuffered(): void {
    const frames = this.ready.length + this.raw.length;
    const bytes = frames * this.frameBytes + this.curFill + this.headerBytes + (this.child?.stdout?.readableLength ?? 0);
    this.s.bufferedFrames = frames;
    this.s.bufferedBytes = bytes;
    if (frames > this.s.maxBufferedFrames) this.s.maxBufferedFrames = frames;
    if (bytes > this.s.maxBufferedBytes) this.s.maxBufferedBytes = bytes;
  }

  private armStall(): void {
    if (this.stallTimeoutMs <= 0 || !this.gotData || this.pausedByUs || this.ended || this.destroyed) return;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => {
      this.fail(new CinesegError(ErrorCode.E_LIVE_STALLED, `${this.resolved.input}: no data for ${this.stallTimeoutMs} ms`, { details: { timeoutMs: this.stallTimeoutMs } }));
    }, this.stallTimeoutMs);
  }

  private clearTimers(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.connectTimer = null;
    this.stallTimer = null;
  }

  private warn(line: string): void {
    if (this.s.warnings.length < MAX_WARNINGS) this.s.warnings.push(line.length > 300 ? `${line.slice(0, 297)}...` : line);
  }

  /** Records the first error, stops ffmpeg, and fails waiting consumers (buffered frames stay readable). */
  private fail(err: CinesegError): void {
    if (this.error || this.destroyed) return;
    this.error = err;
    this.clearTimers();
    if (this.child) void killChild(this.child);
    if (this.ready.length === 0) for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private onClose(code: number | null, signal: NodeJS.Signals | null): void {
    this.clearTimers();
    this.splitter.flush((l) => this.onLine(l));
    this.s.exitCode = code;
    if (this.destroyed) return;
    if (this.fastSeekFrom !== null && this.s.framesDecoded === 0 && this.metas.length === 0 && !this.error) {
      // The keyframe jump found nothing (landed past the end or on undecodable data): start over.
      this.restartWithoutJump();
      return;
    }
    this.pair();
    if (this.curFill > 0) this.warn(`trailing ${this.curFill} bytes of an incomplete frame dropped`);
    if (this.raw.length) this.warn(`${this.raw.length} frame(s) without timing information dropped`);
    this.raw.length = 0;
    this.ended = true;
    if (!this.error) {
      const seek = (this.opts.startFrame ?? 0) > 0 || (this.opts.startTimeUs ?? 0) > 0;
      if (this.s.framesDecoded === 0) {
        if (code === 0 && seek) {
          this.error = new CinesegError(ErrorCode.E_SEEK_OUT_OF_RANGE, `${this.resolved.input}: no frame at or after the requested start`, {
            details: { startFrame: this.opts.startFrame, startTimeUs: this.opts.startTimeUs },
          });
        } else if (code === 0) {
          // Some decoders refuse an oversized picture per frame and let ffmpeg end "successfully".
          const refused = refusedPictureSize(this.stderrTail);
          this.error =
            refused && !frameSizeAllowed(refused.width, refused.height)
              ? frameTooLarge(this.resolved.input, refused.width, refused.height)
              : new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${this.resolved.input}: no frame could be decoded`);
        } else {
          const err = classifyFfmpegFailure(this.resolved.input, this.stderrTail, ErrorCode.E_DECODE_FAILED, { exitCode: code, signal });
          // Nothing ffmpeg recognised, but its decoder complained about every packet: damaged data.
          this.error =
            err.code === ErrorCode.E_DECODE_FAILED && this.s.decodeErrors > 0
              ? new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${this.resolved.input}: no frame could be decoded (${this.s.decodeErrors} decode errors, first: ${this.s.warnings[0] ?? '?'})`, { details: err.details ?? {} })
              : err;
        }
      } else if (code !== 0) {
        // Frames were delivered: a damaged tail is a warning, not a failure.
        this.warn(`ffmpeg exited with ${code ?? signal} after ${this.s.framesDecoded} frames`);
      }
    }
    if (this.error) for (const w of this.waiters.splice(0)) w.reject(this.error);
    else for (const w of this.waiters.splice(0)) w.resolve(null);
    if (this.ownsInput) void this.resolved.release();
  }
}
