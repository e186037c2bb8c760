/**
 * Frames as RxJS streams. A {@link FrameSource} is an opened input (probed when it is a file or an
 * image folder); each subscription to its `frames()` or `mapFrames()` runs one ffmpeg child, and
 * unsubscribing kills it.
 *
 * Backpressure contract (recorded inputs): frames are pulled one at a time.
 * - `frames()` pulls the next frame as soon as the subscriber's `next` returns, so synchronous work
 *   in `subscribe`/`map`/`tap` is paced exactly. Asynchronous operators downstream (`concatMap`,
 *   `mergeMap`) would buffer frames without bound: do not use them on `frames()`.
 * - `mapFrames(fn)` is the operator for async per-frame work (decode -> run ONNX -> next frame): it
 *   awaits `fn(frame)` before pulling the next frame, emits fn's results in order, and ffmpeg is
 *   paused while `readAhead` frames wait. Memory stays bounded by `readAhead` frames plus pipe
 *   buffers, whatever fn's speed.
 * Live inputs use latest-frame-wins instead: while fn runs, only the newest frame is kept and the
 * others are counted in `stats.framesDropped`.
 */
import { Observable } from 'rxjs';
import { FrameDecoder, type DecodeStats, type Frame, type FrameDecoderOptions } from './frame-decoder.js';
import { scanFrameTimes } from './frame-times.js';
import { probeResolved, type VideoInfo } from './probe.js';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { resolveInput, type InputKind, type ResolvedInput } from '../source/input.js';

/** Options of {@link FrameSource.open}: decoder options for every run, plus opening options. */
export interface FrameSourceOptions extends FrameDecoderOptions {
  /** Frame rate given to an image folder (default 30). */
  imageFps?: number;
  /**
   * Probe before decoding (default: true for files and folders, false for live URLs, which would be
   * connected to twice). Never for stdin: ffprobe would consume the stream.
   */
  probe?: boolean;
  /** Deadline of the probe of a live input (default 10 s). */
  probeTimeoutMs?: number;
  /** Called with each run's decoder when it starts (for stats: dropped frames, buffered bytes). */
  onDecoder?: (decoder: FrameDecoder) => void;
}

/** Options of one decode run of a {@link FrameSource}: decoder overrides, and its own stats hook. */
export interface RunOptions extends FrameDecoderOptions {
  /** Called with this run's decoder (instead of the source's `onDecoder`). */
  onDecoder?: (decoder: FrameDecoder) => void;
}

/** Per-frame async work for {@link FrameSource.mapFrames}. */
export type FrameWork<R> = (frame: Frame) => R | PromiseLike<R>;

/** An opened video input that can be decoded any number of times (each run is one ffmpeg child). */
export class FrameSource {
  /**
   * Opens `input` (file, image folder, live URL or `-`). Files and folders are probed now, so bad
   * input fails here with its code, and seeks are checked against the frame count.
   */
  static async open(input: string, opts: FrameSourceOptions = {}): Promise<FrameSource> {
    const resolved = await resolveInput(input, opts.imageFps === undefined ? {} : { imageFps: opts.imageFps });
    try {
      const recorded = resolved.kind === 'file' || resolved.kind === 'image-folder';
      const wanted = resolved.kind !== 'stdin' && (opts.probe ?? recorded);
      const info = wanted ? await probeResolved(resolved, opts.probeTimeoutMs === undefined ? {} : { timeoutMs: opts.probeTimeoutMs }) : null;
      return new FrameSource(resolved, info, opts);
    } catch (e) {
      await resolved.release();
      throw e;
    }
  }

  private readonly runs = new Set<FrameDecoder>();
  private frameTimes: readonly number[] | null = null;
  private scanning: Promise<void> | null = null;
  private last: FrameDecoder | null = null;
  private destroyed = false;

  private constructor(
    private readonly resolved: ResolvedInput,
    /** What the probe found; null for live inputs and stdin (not probed). */
    readonly info: VideoInfo | null,
    private readonly opts: FrameSourceOptions,
  ) {}

  /** file, image-folder, live-url or stdin. */
  get kind(): InputKind {
    return this.resolved.kind;
  }

  /** Counters of the most recent run (null before the first). */
  get stats(): DecodeStats | null {
    return this.last?.stats ?? null;
  }

  /**
   * Reads every frame's timestamp once (a demux pass, no decoding), so later seeks into a file jump
   * to the keyframe before the target instead of decoding from the start. `frames()` and
   * `mapFrames()` call it by themselves when asked to seek; call it before `decoder()` seeks.
   * Does nothing for inputs other than mp4/mov/mkv/webm/avi files.
   */
  prepareSeek(): Promise<void> {
    // Only containers with a seek index land a jump reliably before its target; MPEG-TS and other
    // index-less formats can overshoot, so they always decode from the start.
    if (this.resolved.kind !== 'file' || !/\b(mov|mp4|matroska|webm|avi)\b/.test(this.info?.format ?? '')) return Promise.resolve();
    this.scanning ??= scanFrameTimes(this.resolved).then((t) => {
      this.frameTimes = t;
    });
    return this.scanning;
  }

  /**
   * A pull-based decoder for one run, with `overrides` on the source's options (a seek, a size).
   * The caller owns it and must `destroy()` it (or read it to the end).
   */
  decoder(overrides: RunOptions = {}): FrameDecoder {
    if (this.destroyed) throw new CinesegError(ErrorCode.E_CANCELLED, 'frame source was destroyed');
    const o: FrameDecoderOptions = { ...this.opts, ...overrides };
    const info = this.info;
    const count = this.frameTimes?.length ?? info?.frameCount ?? null;
    if (count !== null && o.startFrame !== undefined && o.startFrame >= count) {
      throw new CinesegError(ErrorCode.E_SEEK_OUT_OF_RANGE, `start frame ${o.startFrame} is past the last frame (${count - 1})`, {
        details: { startFrame: o.startFrame, frameCount: count },
      });
    }
    if (this.frameTimes && o.frameTimesUs === undefined) o.frameTimesUs = this.frameTimes;
    // A probed source gets its size locked, so a mid-stream resolution change cannot break framing.
    if (info && o.width === undefined && o.height === undefined) {
      o.width = info.width;
      o.height = info.height;
    }
    const dec = new FrameDecoder(this.resolved, o);
    this.runs.add(dec);
    this.last = dec;
    (overrides.onDecoder ?? this.opts.onDecoder)?.(dec);
    return dec;
  }

  /**
   * Destroys a run made by {@link decoder} and forgets it. A source that outlives many runs (a
   * live source reconnecting for days) must not keep every finished decoder.
   */
  async endRun(dec: FrameDecoder): Promise<void> {
    await dec.destroy();
    this.runs.delete(dec);
  }

  /**
   * Frames of one run as a cold Observable; unsubscribe kills ffmpeg. The next frame is pulled when
   * the subscriber's `next` has returned (see the module comment for async work).
   */
  frames(overrides: RunOptions = {}): Observable<Frame> {
    return runObservable(
      () => this.seekReady(overrides),
      (dec) => this.runs.delete(dec),
    );
  }

  /**
   * Runs `fn` on each frame in order, awaiting it before the next frame is pulled, and emits its
   * results. This is how to do async per-frame work with backpressure.
   */
  mapFrames<R>(fn: FrameWork<R>, overrides: RunOptions = {}): Observable<R> {
    return runObservable(
      () => this.seekReady(overrides),
      (dec) => this.runs.delete(dec),
      fn,
    );
  }

  /** A decoder for `overrides`, after the frame-time scan when it seeks into a file. */
  private async seekReady(overrides: RunOptions): Promise<FrameDecoder> {
    const o = { ...this.opts, ...overrides };
    if ((o.startFrame ?? 0) > 0 || (o.startTimeUs ?? 0) > 0) await this.prepareSeek();
    return this.decoder(overrides);
  }

  /** Kills every running decode and releases staged files. Idempotent. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    await Promise.all([...this.runs].map((d) => d.destroy()));
    this.runs.clear();
    await this.resolved.release();
  }
}

function runObservable<R>(make: () => Promise<FrameDecoder>, done: (d: FrameDecoder) => void, fn?: FrameWork<R>): Observable<R> {
  return new Observable<R>((sub) => {
    let closed = false;
    let dec: FrameDecoder | null = null;
    void (async () => {
      let d: FrameDecoder;
      try {
        d = await make();
      } catch (e) {
        if (!closed) sub.error(toCinesegError(e));
        return;
      }
      dec = d;
      if (closed) {
        await d.destroy();
        done(d);
        return;
      }
      try {
        for (;;) {
          const f = await d.next();
          if (closed) return;
          if (!f) break;
          if (fn) {
            const r = await fn(f);
            if (closed) return;
            sub.next(r);
          } else {
            sub.next(f as unknown as R);
          }
        }
        sub.complete();
      } catch (e) {
        if (!closed) sub.error(e);
      } finally {
        await d.destroy();
        done(d);
      }
    })();
    return () => {
      closed = true;
      void dec?.destroy();
    };
  });
}

/** Opens `input` and streams its frames; the source is destroyed when the stream ends or is unsubscribed. */
export function frameSource(input: string, opts: FrameSourceOptions = {}): Observable<Frame> {
  return withSource(input, opts, (src) => src.frames());
}

/** Opens `input` and maps each frame through async `fn` with backpressure (see {@link FrameSource.mapFrames}). */
export function mapFrames<R>(input: string, fn: FrameWork<R>, opts: FrameSourceOptions = {}): Observable<R> {
  return withSource(input, opts, (src) => src.mapFrames(fn));
}

function withSource<T>(input: string, opts: FrameSourceOptions, body: (src: FrameSource) => Observable<T>): Observable<T> {
  return new Observable<T>((sub) => {
    let closed = false;
    let src: FrameSource | null = null;
    let inner: { unsubscribe(): void } | null = null;
    FrameSource.open(input, opts).then(
      (s) => {
        src = s;
        if (closed) {
          void s.destroy();
          return;
        }
        inner = body(s).subscribe({
          next: (v) => sub.next(v),
          error: (e) => {
            void s.destroy();
            sub.error(e);
          },
          complete: () => {
            void s.destroy();
            sub.complete();
          },
        });
      },
      (e) => {
        if (!closed) sub.error(e);
      },
    );
    return () => {
      closed = true;
      inner?.unsubscribe();
      void src?.destroy();
    };
  });
}
