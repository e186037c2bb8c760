/**
 * A live input that outlives its ffmpeg children. A camera reboots, a network drops, ffmpeg
 * crashes: the stream ends, and for a live view that is a pause, not the end. LiveSource then
 * starts a new decoder after a backoff that doubles per failed attempt (capped), renumbers frames
 * so indices and PTS keep increasing across reconnections, and gives up with E_LIVE_SOURCE_LOST
 * after `maxAttempts` consecutive failed attempts, so a source gone for good is reported instead
 * of waited on forever.
 *
 * The first connection is not retried: a wrong URL or a missing file is reported at once with its
 * own code (E_LIVE_CONNECT_FAILED, E_INPUT_NOT_FOUND, ...), which says more than "lost".
 *
 * `loop:<file>` plays a file as if it were live (ffmpeg `-stream_loop -1 -re`).
 */
import type { Frame, FrameDecoder } from '../decode/frame-decoder.js';
import type { VideoInfo } from '../decode/probe.js';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { FrameSource } from './frame-source.js';

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
    return new LiveSource(input, source, opts);
  }

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
  private wakeSleep: (() => void) | null = null;
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
    return { ...this.s, framesDropped: this.droppedBefore + (this.decoder?.stats.framesDropped ?? 0) };
  }

  /**
   * The newest frame (latest-frame-wins). Reconnects as needed; resolves null once destroyed.
   *
   * @throws CinesegError E_LIVE_SOURCE_LOST when every attempt of an outage failed; the first
   *   connection's own error when it never delivered a frame
   */
  async next(): Promise<Frame | null> {
    for (;;) {
      if (this.destroyed) return null;
      const dec = (this.decoder ??= this.connect());
      let frame: Frame | null = null;
      let err: CinesegError | null = null;
      try {
        frame = await dec.next();
      } catch (e) {
        err = toCinesegError(e);
      }
      if (this.destroyed) return null;
      if (frame) return this.deliver(frame);
      if (!this.delivered) {
        await this.drop(dec);
        throw err ?? new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, `${this.name}: the stream ended before its first frame`);
      }
      await this.outage(dec, err);
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
    this.wakeSleep?.();
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

  /** The running connection ended: waits out the backoff, or throws when the attempts are spent. */
  private async outage(dec: FrameDecoder, err: CinesegError | null): Promise<void> {
    // Without an error the decoder says how its ffmpeg ended (killed, exit code) in a warning.
    const exit = dec.stats.warnings.filter((w) => /^ffmpeg exited/.test(w)).at(-1);
    await this.drop(dec);
    const why = err ? err.toLine() : (exit ?? 'the stream ended');
    this.s.lastError = why;
    const { maxAttempts, initialDelayMs, maxDelayMs } = this.retry;
    if (this.s.failedInARow >= maxAttempts) {
      const line = `live source ${this.name} lost: ${maxAttempts} reconnect attempt(s) failed; last: ${why}`;
      this.log(line);
      throw new CinesegError(ErrorCode.E_LIVE_SOURCE_LOST, line.slice('live source '.length), {
        ...(err ? { cause: err } : {}),
        details: { attempts: maxAttempts, lastCode: err?.code ?? null },
      });
    }
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** this.s.failedInARow);
    this.s.failedInARow++;
    this.s.attempts++;
    this.s.lastBackoffMs = delay;
    this.opts.onAttempt?.(this.s.failedInARow, delay);
    this.log(`live source ${this.name}: ${this.s.failedInARow === 1 ? 'stopped' : 'attempt failed'} (${why}); reconnect attempt ${this.s.failedInARow}/${maxAttempts} in ${delay} ms`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, delay);
      this.wakeSleep = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wakeSleep = null;
  }

  private async drop(dec: FrameDecoder): Promise<void> {
    if (this.decoder === dec) this.decoder = null;
    this.droppedBefore += dec.stats.framesDropped;
    await this.source.endRun(dec);
  }
}
