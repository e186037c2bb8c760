/**
 * A live input that outlives its ffmpeg children. A camera reboots, a network drops, ffmpeg
 * crashes: the stream ends, and for a live view that is a pause, not the end. LiveSource then
 * starts a new decoder after a backoff that doubles per failed attempt (capped; the schedule is
 * RxJS `retry`, see source/rx-live-flow.ts retryWithBackoff), renumbers frames
 * so indices and PTS keep increasing across reconnections, and gives up with E_LIVE_SOURCE_LOST
 * after `maxAttempts` consecutive failed attempts, so a source gone for good is reported instead
 * of waited on forever.
 *
 * The first connection is not retried: a wrong URL or a missing file is reported at once with its
 * own code (E_LIVE_CONNECT_FAILED, E_INPUT_NOT_FOUND, ...), which says more than "lost".
 *
 * `loop:<file>` plays a file as if it were live (ffmpeg `-stream_loop -1 -re`).
 */
import { Observable, type Subscription } from 'rxjs';
import type { Frame, FrameDecoder } from './frame-decoder.js';
import type { VideoInfo } from './probe.js';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { isDicomFile, readDicomCineInfo } from '../source/dicom-cine-source.js';
import { FrameSource } from './frame-source.js';
import { retryWithBackoff } from '../source/rx-live-flow.js';

/** A running connection ended after it had delivered frames: retried (the first connection's own error is not). */
class Outage {
  constructor(
    readonly why: string,
    readonly err: CinesegError | null,
  ) {}
}

/** How a live source retries after its stream stopped. */
export interface ReconnectOptions {
  /** Consecutive failed attempts before the source is declared lost (default 6; 0 = never retry). */
  maxAttempts?: number;
  /** Wait before the first attempt of an outage (default 500 ms); doubled after each failed one. */
  initialDelayMs?: number;
  /** Cap of the wait between attempts (default 10 s). */
  maxDelayMs?: number;
}

export interface LiveSourceOptions {
  reconnect?: ReconnectOptions;
  /** Extra ffmpeg input options before `-i` (e.g. ['-rtsp_transport', 'tcp']). */
  inputOptions?: string[];
  /** Time allowed for a connection's first frame (default 10 s). */
  connectTimeoutMs?: number;
  /** Longest gap between frames of a running connection (default 5 s). */
  stallTimeoutMs?: number;
  /** One line per outage, attempt, reconnection and loss. */
  log?: (line: string) => void;
  /** Called as each reconnect attempt is scheduled (for counters), with its number in the outage and its wait. */
  onAttempt?: (attempt: number, delayMs: number) => void;
}

/** Counters of a live source over all its connections. */
export interface LiveSourceStats {
  framesDelivered: number;
  /** Frames replaced by newer ones before they were taken (latest-frame-wins), all connections. */
  framesDropped: number;
  /** ffmpeg runs started: the first connection plus every reconnect attempt. */
  connections: number;
  /** Outages survived: frames came again after the stream had stopped. */
  reconnects: number;
  /** Reconnect attempts made, over all outages. */
  attempts: number;
  /** Failed attempts of the outage in progress (0 while frames flow). */
  failedInARow: number;
  /** The wait before the latest attempt, ms (0 before any). */
  lastBackoffMs: number;
  /** Why the latest connection ended (`E_CODE: message`), null while the first one runs. */
  lastError: string | null;
}

const DEFAULTS = { maxAttempts: 6, initialDelayMs: 500, maxDelayMs: 10_000 };

/** A URL with its user:password@ part hidden, for logs and messages. */
export function redactInput(input: string): string {
  return input.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

export class LiveSource {
  /** Opens `input` (a live URL, `-`, or `loop:<file>`); files are probed now. */
  static async open(input: string, opts: LiveSourceOptions = {}): Promise<LiveSource> {
    const loop = input.startsWith('loop:');
    const target = loop ? input.slice(5) : input;
    // Slice threads only: frame threading makes the decoder hold each frame until the next ones
    // arrive (measured on the 480x360 H.264 samples: ~70 ms later out of ffmpeg). Options given
    // by the caller come after, so they can override it.
    const inputOptions = [...(loop ? ['-stream_loop', '-1', '-re'] : []), '-thread_type', 'slice', ...(opts.inputOptions ?? [])];
    const source = await FrameSource.open(target, { mode: 'latest', inputOptions });
    const live = new LiveSource(input, source, opts);
    // A looped DICOM cine states its pixel size (the player shows areas in mm²); a network stream does not.
    if (loop && (await isDicomFile(target))) {
      const ps = (await readDicomCineInfo(target).catch(() => null))?.refs.pixelSpacing;
      if (ps) live.pixelSpacingMm = ps;
    }
    return live;
  }

  /** Pixel size in mm [row, column], when the source states it (a looped DICOM cine); else null. */
  pixelSpacingMm: [number, number] | null = null;

  private decoder: FrameDecoder | null = null;
  private destroyed = false;
  private delivered = false;
  /** The next frame is the first of a connection. */
  private fresh = true;
  private size: { width: number; height: number } | null = null;
  private indexOffset = 0;
  private ptsOffset = 0;
  private lastIndex = -1;
  private lastPtsUs = 0;
  private frameUs: number;
  private droppedBefore = 0;
  private readonly dropped = new WeakSet<FrameDecoder>();
  /** The `next()` adapter's subscription to `frames()`, its one-frame buffer and its error. */
  private pull: Subscription | null = null;
  private buffered: Frame | null = null;
  private replaced = 0;
  private pullError: CinesegError | null = null;
  private wakePull: (() => void) | null = null;
  private readonly retry: Required<ReconnectOptions>;
  private readonly log: (line: string) => void;
  private readonly name: string;
  private readonly s: LiveSourceStats = {
    framesDelivered: 0,
    framesDropped: 0,
    connections: 0,
    reconnects: 0,
    attempts: 0,
    failedInARow: 0,
    lastBackoffMs: 0,
    lastError: null,
  };

  private constructor(
    readonly input: string,
    private readonly source: FrameSource,
    private readonly opts: LiveSourceOptions,
  ) {
    const r = opts.reconnect ?? {};
    this.retry = {
      maxAttempts: Math.max(0, Math.floor(r.maxAttempts ?? DEFAULTS.maxAttempts)),
      initialDelayMs: Math.max(0, r.initialDelayMs ?? DEFAULTS.initialDelayMs),
      maxDelayMs: Math.max(0, r.maxDelayMs ?? DEFAULTS.maxDelayMs),
    };
    this.log = opts.log ?? (() => undefined);
    this.name = redactInput(input);
    this.frameUs = 1e6 / (source.info?.fps || 30);
  }

  /** What the probe found (files behind `loop:`); null for network streams and stdin. */
  get info(): VideoInfo | null {
    return this.source.info;
  }

  /** The running ffmpeg child's pid (null between connections). */
  get pid(): number | null {
    return this.decoder?.pid ?? null;
  }

  get stats(): LiveSourceStats {
    return { ...this.s, framesDropped: this.droppedBefore + this.replaced + (this.decoder?.stats.framesDropped ?? 0) };
  }

  /**
   * Every frame of the source as it comes, across reconnections (indices and PTS keep
   * increasing). One subscription at a time: it owns the decoder. Errors with E_LIVE_SOURCE_LOST
   * when every attempt of an outage failed, or with the first connection's own error when it never
   * delivered a frame; unsubscribing kills the running ffmpeg and cancels a pending reconnect.
   */
  frames(): Observable<Frame> {
    const { maxAttempts, initialDelayMs, maxDelayMs } = this.retry;
    return this.connection().pipe(
      retryWithBackoff<Frame>({
        maxAttempts,
        initialDelayMs,
        maxDelayMs,
        retryable: (e) => e instanceof Outage && !this.destroyed,
        giveUp: (e) => {
          const o = e as Outage;
          const line = `live source ${this.name} lost: ${maxAttempts} reconnect attempt(s) failed; last: ${o.why}`;
          this.log(line);
          return new CinesegError(ErrorCode.E_LIVE_SOURCE_LOST, line.slice('live source '.length), {
            ...(o.err ? { cause: o.err } : {}),
            details: { attempts: maxAttempts, lastCode: o.err?.code ?? null },
          });
        },
        onAttempt: (n, delay, e) => {
          this.s.failedInARow = n;
          this.s.attempts++;
          this.s.lastBackoffMs = delay;
          this.opts.onAttempt?.(n, delay);
          this.log(`live source ${this.name}: ${n === 1 ? 'stopped' : 'attempt failed'} (${(e as Outage).why}); reconnect attempt ${n}/${maxAttempts} in ${delay} ms`);
        },
      }),
    );
  }

  /** One ffmpeg run as an Observable: its frames, then an Outage (or the first connection's error). */
  private connection(): Observable<Frame> {
    return new Observable<Frame>((out) => {
      const dec = (this.decoder = this.connect());
      let stopped = false;
      void (async () => {
        for (;;) {
          let frame: Frame | null = null;
          let err: CinesegError | null = null;
          try {
            frame = await dec.next();
          } catch (e) {
            err = toCinesegError(e);
          }
          if (stopped || this.destroyed) return;
          if (frame) {
            out.next(this.deliver(frame));
            continue;
          }
          // Without an error the decoder says how its ffmpeg ended (killed, exit code) in a warning.
          const exit = dec.stats.warnings.filter((w) => /^ffmpeg exited/.test(w)).at(-1);
          await this.drop(dec);
          if (stopped || this.destroyed) return;
          if (!this.delivered) {
            out.error(err ?? new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, `${this.name}: the stream ended before its first frame`));
            return;
          }
          const why = err ? err.toLine() : (exit ?? 'the stream ended');
          this.s.lastError = why;
          out.error(new Outage(why, err));
          return;
        }
      })();
      return () => {
        stopped = true;
        void this.drop(dec);
      };
    });
  }

  /**
   * The newest frame (latest-frame-wins), pulled: a frame the caller did not take before the next
   * one came is replaced (recycled, counted in `framesDropped`). Resolves null once destroyed.
   *
   * @throws CinesegError E_LIVE_SOURCE_LOST when every attempt of an outage failed; the first
   *   connection's own error when it never delivered a frame
   */
  async next(): Promise<Frame | null> {
    if (this.destroyed) return null;
    this.pull ??= this.frames().subscribe({
      next: (f) => {
        if (this.buffered) {
          this.replaced++;
          this.recycle(this.buffered);
        }
        this.buffered = f;
        this.wakePull?.();
      },
      error: (e: unknown) => {
        this.pullError = toCinesegError(e);
        this.wakePull?.();
      },
    });
    for (;;) {
      if (this.destroyed) return null;
      if (this.buffered) {
        const f = this.buffered;
        this.buffered = null;
        return f;
      }
      if (this.pullError) throw this.pullError;
      await new Promise<void>((r) => (this.wakePull = r));
      this.wakePull = null;
    }
  }

  /**
   * Hands a frame's pixels back for reuse (see FrameDecoder.recycle): the caller holds no
   * reference to `frame.rgb` any more. After a reconnection the new decoder takes them if the
   * size is unchanged.
   */
  recycle(frame: Pick<Frame, 'rgb'>): void {
    this.decoder?.recycle(frame);
  }

  /** Kills the running ffmpeg, cancels a pending reconnect and releases the input. Idempotent. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    this.pull?.unsubscribe();
    this.wakePull?.();
    if (this.decoder) await this.drop(this.decoder);
    await this.source.destroy();
  }

  private connect(): FrameDecoder {
    this.fresh = true;
    this.s.connections++;
    return this.source.decoder({
      mode: 'latest',
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
      stallTimeoutMs: this.opts.stallTimeoutMs ?? 5_000,
      // A reconnection may find the stream at another size; the consumer keeps the first one.
      ...(this.size ?? {}),
    });
  }

  private deliver(f: Frame): Frame {
    if (this.fresh) {
      this.fresh = false;
      if (this.delivered) {
        // A new ffmpeg counts from 0 and its clock may restart: continue right after the last frame.
        this.indexOffset = this.lastIndex + 1 - f.index;
        this.ptsOffset = this.lastPtsUs + Math.round(this.frameUs) - f.ptsUs;
        this.s.reconnects++;
        this.log(`live source ${this.name}: frames again after ${this.s.failedInARow} attempt(s) (reconnects so far: ${this.s.reconnects})`);
      } else {
        this.size = { width: f.width, height: f.height };
      }
      this.s.failedInARow = 0;
    } else if (f.ptsUs + this.ptsOffset > this.lastPtsUs) {
      this.frameUs = f.ptsUs + this.ptsOffset - this.lastPtsUs;
    }
    this.delivered = true;
    f.index += this.indexOffset;
    f.ptsUs += this.ptsOffset;
    this.lastIndex = f.index;
    this.lastPtsUs = f.ptsUs;
    this.s.framesDelivered++;
    return f;
  }

  /** Ends a decoder's run once (its end and an unsubscribe may both ask). */
  private async drop(dec: FrameDecoder): Promise<void> {
    if (this.decoder === dec) this.decoder = null;
    if (this.dropped.has(dec)) return;
    this.dropped.add(dec);
    this.droppedBefore += dec.stats.framesDropped;
    await this.source.endRun(dec);
  }
}
