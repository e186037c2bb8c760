/**
 * One ffmpeg child that decodes an input into rgb24 frames with exact PTS and absolute indices.
 *
 * ffmpeg writes raw pixels to stdout and, through two `showinfo` filters, one log line per frame
 * to stderr (the command line: decoder-args.ts). frame-cutter.ts cuts stdout into frames,
 * showinfo-pairing.ts turns the log lines into each frame's index and PTS, and this class joins
 * the two in pipe order and hands frames on. `-fps_mode passthrough` keeps ffmpeg from
 * duplicating or dropping frames, and `-copyts` keeps PTS on the stream's own clock, so they equal
 * what `ffprobe -show_frames` prints. How a finished run is judged: decode-outcome.ts.
 *
 * Flow control (here): in `backpressure` mode stdout is paused once `readAhead` frames wait
 * unconsumed, so ffmpeg blocks on its pipe write and memory stays bounded whatever the consumer's
 * speed. In `latest` mode (live) stdout always flows and only the newest frame is kept; older
 * ones are counted as dropped.
 */
import type { ChildProcess } from 'node:child_process';
import { CinesegError, ErrorCode } from '../errors.js';
import { resolveInput, type ResolvedInput } from '../source/input.js';
import { frameSizeAllowed, frameTooLarge } from '../source/frame-limits.js';
import { killChild, spawnFfmpeg } from './ffmpeg.js';
import { DECODE_ERROR_LINE, fatalDecoderLine } from './ffmpeg-errors.js';
import { decoderArgs } from './decoder-args.js';
import { decodeRunError, tailWarning } from './decode-outcome.js';
import { FrameCutter } from './frame-cutter.js';
import type { DecodeStats, DeliveryMode, Frame, FrameDecoderOptions } from './frame-decoder-types.js';
import { ShowinfoPairing, type FrameMeta } from './showinfo-pairing.js';
import { LineSplitter, parseShowinfoLine } from './showinfo.js';

export type { DecodeStats, DeliveryMode, Frame, FrameDecoderOptions } from './frame-decoder-types.js';

const MAX_WARNINGS = 20;
const MAX_HEADER_BYTES = 256 * 1024 * 1024;

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
  private readonly cutter: FrameCutter;
  private readonly metas: FrameMeta[] = [];
  private readonly pairing: ShowinfoPairing;
  private lastShowinfo = 0;
  private fastSeekFrom: number | null = null;
  private stderrTail = '';
  private splitter = new LineSplitter();
  private noJump = false;
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
    framesAwaitingTiming: 0,
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
    for (const [k, v] of [
      ['startFrame', opts.startFrame],
      ['startTimeUs', opts.startTimeUs],
      ['maxFrames', opts.maxFrames],
    ] as const) {
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new CinesegError(ErrorCode.E_USAGE, `${k} must be a number >= 0, got ${v}`);
    }
    if ((opts.startFrame !== undefined || opts.startTimeUs !== undefined) && resolved.kind !== 'file' && resolved.kind !== 'image-folder') {
      throw new CinesegError(ErrorCode.E_USAGE, 'seeking needs a file or image folder, not a live input');
    }
    this.cutter = new FrameCutter(hasW ? opts.width! * opts.height! * 3 : 0);
    this.pairing = new ShowinfoPairing(0, null, opts.frameTimesUs, opts.startFrame ?? 0, (l) => this.warn(l));
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
    const d = decoderArgs(this.resolved, this.opts, this.noJump);
    this.lastShowinfo = d.lastShowinfo;
    this.fastSeekFrom = d.fastSeekFrom;
    return d.args;
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
    this.splitter = new LineSplitter();
    this.cutter.reset();
    this.metas.length = 0;
    this.pairing.reset(this.lastShowinfo, null);
    this.pausedByUs = false;
    this.gotData = false;
    this.clearTimers();
    this.started = false;
    this.start();
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
    this.pairing.reset(this.lastShowinfo, this.fastSeekFrom);
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
    this.cutter.recycle(frame.rgb);
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
      this.cutter.frames.length = 0;
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
    this.cutter.push(chunk);
    if (this.cutter.frameBytes === 0) {
      // Size not known yet (source size, stderr behind stdout): the cutter holds the bytes until it is.
      if (this.cutter.heldBytes > MAX_HEADER_BYTES) this.fail(new CinesegError(ErrorCode.E_DECODE_FAILED, `${this.resolved.input}: no frame size reported by ffmpeg`));
      this.flow();
      return;
    }
    this.pair();
  }

  private onLine(line: string): void {
    const rec = parseShowinfoLine(line);
    if (!rec) {
      const fatal = fatalDecoderLine(this.resolved.input, line, this.resolved.kind === 'file');
      if (fatal) {
        this.fail(fatal);
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
      this.pairing.timeBase(rec);
      return;
    }
    if (this.destroyed) return;
    const step = this.pairing.push(rec);
    if (step.kind === 'too-large') {
      this.fail(frameTooLarge(this.resolved.input, step.width, step.height));
    } else if (step.kind === 'restart') {
      this.restartWithoutJump();
    } else if (step.kind === 'meta') {
      if (this.cutter.frameBytes === 0) this.cutter.setFrameBytes(step.meta.width * step.meta.height * 3);
      this.metas.push(step.meta);
      this.pair();
    }
  }

  /** Joins pixels with their metadata and hands frames on. */
  private pair(): void {
    const raw = this.cutter.frames;
    while (raw.length && this.metas.length) {
      const rgb = raw.shift()!;
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
    const raw = this.cutter.frames.length;
    const backlog = this.mode === 'backpressure' ? this.ready.length + raw : raw;
    const held = this.cutter.frameBytes === 0 && this.cutter.heldBytes > 0;
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
    const c = this.cutter;
    const frames = this.ready.length + c.frames.length;
    const bytes = frames * c.frameBytes + c.fill + c.heldBytes + (this.child?.stdout?.readableLength ?? 0);
    this.s.bufferedFrames = frames;
    this.s.framesAwaitingTiming = c.frames.length;
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
    if (this.cutter.fill > 0) this.warn(`trailing ${this.cutter.fill} bytes of an incomplete frame dropped`);
    if (this.cutter.frames.length) this.warn(`${this.cutter.frames.length} frame(s) without timing information dropped`);
    this.cutter.frames.length = 0;
    this.ended = true;
    if (!this.error) {
      const o = this.opts;
      const end = {
        input: this.resolved.input,
        code,
        signal,
        framesDecoded: this.s.framesDecoded,
        seek: (o.startFrame ?? 0) > 0 || (o.startTimeUs ?? 0) > 0,
        ...(o.startFrame === undefined ? {} : { startFrame: o.startFrame }),
        ...(o.startTimeUs === undefined ? {} : { startTimeUs: o.startTimeUs }),
        stderrTail: this.stderrTail,
        decodeErrors: this.s.decodeErrors,
        ...(this.s.warnings[0] === undefined ? {} : { firstWarning: this.s.warnings[0] }),
      };
      this.error = decodeRunError(end);
      const tail = tailWarning(end);
      if (tail) this.warn(tail);
    }
    if (this.error) for (const w of this.waiters.splice(0)) w.reject(this.error);
    else for (const w of this.waiters.splice(0)) w.resolve(null);
    if (this.ownsInput) void this.resolved.release();
  }
}
