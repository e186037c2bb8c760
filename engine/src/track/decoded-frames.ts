/**
 * A recorded video as a {@link FrameProvider} at the model's S x S.
 *
 * Two ways to hold frames:
 * - unbounded (the default, `cacheFrames` omitted): one decode run keeps every frame it decoded
 *   (S² × 3 bytes each), so reverse passes and re-propagation need no second decode. For CLI runs
 *   and benches over short clips, and callers that free frames with `releaseBefore`.
 * - bounded (`cacheFrames: n`): at most n frames are held (LRU). A frame that is not held is
 *   decoded again: reading on from the running decode when it lies just ahead, else from a seek
 *   (`startFrame` with the file's frame times: ffmpeg jumps to the keyframe before it and selects
 *   the exact frame). Going backwards decodes a window of frames ending at the one asked for, so
 *   a reverse pass costs one seek per window, not one per frame. What a long clip costs in memory
 *   is then n frames, whatever its length: an hour of endoscopy at 1024 px would be hundreds of GB.
 *
 * Frames are pulled on demand, so decoding overlaps tracking instead of preceding it.
 */
import type { FrameDecoder } from '../decode/frame-decoder.js';
import { scanFrameTimes } from '../decode/frame-times.js';
import { probe, type VideoInfo } from '../decode/probe.js';
import { FrameSource } from '../decode/frame-source.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { resolveInput } from '../source/input.js';

/** Frames at the model's S x S, rgb24, by index. */
export interface FrameProvider {
  readonly numFrames: number;
  getFrame(index: number): Promise<Uint8Array>;
}

export interface DecodedFramesOptions {
  /** Frames the tracker may see (the video's length when omitted). */
  maxFrames?: number;
  /** Hold at most this many frames (see the module comment); omitted: hold every decoded frame. */
  cacheFrames?: number;
  /** Frames decoded by one backward seek (bounded mode; default min(16, cacheFrames / 2)). */
  window?: number;
}

/** Counters for tests and benches. */
export interface DecodedFramesStats {
  /** ffmpeg runs started (the first one included). */
  decodeRuns: number;
  framesDecoded: number;
  /** Frames held now, and the most ever held at once. */
  held: number;
  maxHeld: number;
}

/** A frame this far ahead of the running decode is read on to; farther, a seek is cheaper. */
const READ_ON_MAX_GAP = 48;

export class DecodedFrames implements FrameProvider {
  /** Held frames; Map order is recency (bounded mode evicts the first). */
  private readonly held = new Map<number, Uint8Array>();
  private released = 0;
  /** PTS by index: every frame's from the frame-time scan when there is one, else as decoded. */
  private readonly pts: number[];
  private pump: Promise<void> = Promise.resolve();
  /** The running decode and the index of the next frame it delivers. */
  private cursor: { dec: FrameDecoder; next: number; end: number } | null = null;
  private lastAsked = -1;
  private destroyed = false;
  private closing: Promise<void> = Promise.resolve();
  private readonly capacity: number;
  private readonly window: number;
  private readonly counters: DecodedFramesStats = { decodeRuns: 0, framesDecoded: 0, held: 0, maxHeld: 0 };

  private constructor(
    private readonly source: FrameSource,
    readonly info: VideoInfo,
    readonly numFrames: number,
    readonly size: number,
    decoder: FrameDecoder,
    private readonly frameTimes: readonly number[] | null,
    opts: DecodedFramesOptions,
  ) {
    this.capacity = opts.cacheFrames === undefined ? Infinity : Math.max(2, Math.floor(opts.cacheFrames));
    this.window = Math.max(1, Math.min(Math.floor(opts.window ?? 16), Number.isFinite(this.capacity) ? Math.floor(this.capacity / 2) : Infinity));
    this.pts = frameTimes ? frameTimes.slice(0, numFrames) : [];
    this.cursor = { dec: decoder, next: 0, end: numFrames };
    this.counters.decodeRuns = 1;
  }

  /**
   * Opens a recorded video for tracking at S x S. ffmpeg starts decoding while ffprobe reads the
   * header (and, bounded, while the frame times are scanned), so the start-up delays overlap.
   *
   * @throws CinesegError from probing (E_INPUT_NOT_FOUND, E_DECODE_NO_VIDEO, ...) or
   *   E_INPUT_UNSUPPORTED for live inputs
   */
  static async open(input: string, size: number, opts: DecodedFramesOptions = {}): Promise<DecodedFrames> {
    const infoP = probe(input);
    // A failed probe is the error to report; the source below would only fail less clearly.
    infoP.catch(() => undefined);
    const bounded = opts.cacheFrames !== undefined;
    // Bounded: every frame's PTS up front (the session lists them before decoding) and exact seeks.
    const timesP = bounded ? scanTimes(input) : Promise.resolve(null);
    let source: FrameSource | null = null;
    let decoder: FrameDecoder | null = null;
    try {
      source = await FrameSource.open(input, { probe: false });
      if (source.kind !== 'file' && source.kind !== 'image-folder') {
        throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${input}: offline tracking needs a recorded video, not a live input`);
      }
      decoder = source.decoder(decodeOptions(size, 0, opts.maxFrames));
      decoder.start();
      const info = await infoP;
      if (info.frameCount === null) {
        throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${input}: offline tracking needs a recorded video with a known length`);
      }
      const times = await timesP;
      const limit = opts.maxFrames ?? Number.POSITIVE_INFINITY;
      // A clip that fits in the cache is decoded whole now, as an unbounded one would be: it costs
      // little, and a damaged file fails here with its code instead of in the middle of a pass.
      const whole = !bounded || info.frameCount <= opts.cacheFrames! || (times?.length ?? Infinity) <= opts.cacheFrames!;
      // Long clips: the scan counts the packets really there (a header's count can be off).
      const count = whole || !times ? info.frameCount : Math.min(info.frameCount, times.length);
      const n = Math.min(count, limit);
      if (n <= 0) throw new CinesegError(ErrorCode.E_INPUT_EMPTY, `${input} has no frames`);
      const frames = new DecodedFrames(source, info, n, size, decoder, times, opts);
      if (bounded && whole) {
        try {
          await frames.decodeAll();
        } catch (e) {
          await frames.destroy();
          source = null;
          decoder = null;
          throw e;
        }
      } else frames.getFrame(0).catch(() => undefined);
      return frames;
    } catch (e) {
      await decoder?.destroy();
      await source?.destroy();
      // No ffprobe child outlives a failed open.
      await timesP;
      // Prefer the probe's coded error (not found, no video stream, ...) when it has one.
      const pe = await infoP.then(
        () => null,
        (err: unknown) => err,
      );
      throw pe ?? e;
    }
  }

  /** Whether frames are held in a bounded cache. */
  get bounded(): boolean {
    return Number.isFinite(this.capacity);
  }

  get stats(): DecodedFramesStats {
    return { ...this.counters, held: this.held.size };
  }

  /**
   * Frame i's presentation time in µs: known for every frame when bounded (from the frame-time
   * scan), else once decoded. Without a scan (image folders, timestamp-less files) frames not
   * decoded yet are estimated from the frame rate.
   */
  ptsUs(i: number): number | undefined {
    const have = this.pts[i];
    if (have !== undefined || !this.bounded) return have;
    const t0 = this.pts[0] ?? 0;
    return Math.round(t0 + (i * 1e6) / (this.info.fps || 30));
  }

  getFrame(index: number): Promise<Uint8Array> {
    if (index < 0 || index >= this.numFrames) return Promise.reject(outOfRange(index, this.numFrames));
    if (index < this.released) {
      return Promise.reject(new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `frame ${index} was released (single forward pass)`));
    }
    const have = this.take(index);
    if (have) return Promise.resolve(have);
    // Serialise pulls: concurrent requests wait for one reader.
    const p = this.pump.then(() => this.load(index));
    this.pump = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  /**
   * Drops the pixels of frames before `index`: a single forward pass never needs them again, and
   * at S = 1024 a long clip would otherwise hold gigabytes.
   */
  releaseBefore(index: number): void {
    for (const k of [...this.held.keys()]) if (k < index) this.held.delete(k);
    this.released = Math.max(this.released, Math.min(index, this.numFrames));
  }

  /** Decodes every frame now (for benches that time decoding apart). */
  async decodeAll(): Promise<void> {
    await this.getFrame(this.numFrames - 1);
  }

  private take(index: number): Uint8Array | undefined {
    const f = this.held.get(index);
    if (f && this.bounded) {
      this.held.delete(index);
      this.held.set(index, f);
    }
    return f;
  }

  private async load(index: number): Promise<Uint8Array> {
    const have = this.take(index);
    if (have) return have;
    const backward = index < this.lastAsked;
    this.lastAsked = index;
    const c = this.cursor;
    const readOn = c !== null && c.next <= index && index < c.end && (!this.bounded || index - c.next <= READ_ON_MAX_GAP);
    if (!readOn) {
      if (!this.bounded) {
        // Everything decoded so far is held; only a frame past the end of the single run gets here.
        throw this.truncated(index, c?.next ?? this.held.size);
      }
      // Backwards: a window that ends at this frame, so the next frames asked for are held.
      const start = backward ? Math.max(this.released, index - this.window + 1) : index;
      const end = backward ? index + 1 : this.numFrames;
      await this.seek(start, end);
    }
    return this.readUntil(index);
  }

  /** Replaces the running decode by one delivering frames start..end-1. */
  private async seek(start: number, end: number): Promise<void> {
    await this.closeCursor();
    if (this.destroyed) throw new CinesegError(ErrorCode.E_CANCELLED, 'frames were destroyed');
    const dec = this.source.decoder({ ...decodeOptions(this.size, start, end - start), ...(this.frameTimes ? { frameTimesUs: this.frameTimes } : {}) });
    dec.start();
    this.counters.decodeRuns++;
    this.cursor = { dec, next: start, end };
  }

  private async readUntil(index: number): Promise<Uint8Array> {
    let got: Uint8Array | undefined;
    for (;;) {
      const c = this.cursor;
      if (!c || c.next >= c.end) break;
      const f = await c.dec.next();
      if (this.cursor !== c) break;
      if (!f) {
        await this.closeCursor();
        break;
      }
      // Indices are absolute also after a seek; trust them over counting.
      const i = Number.isInteger(f.index) ? f.index : c.next;
      c.next = i + 1;
      this.counters.framesDecoded++;
      // The decoder's PTS is what a player shows; the scan agrees with it but for edit-list corner cases.
      this.pts[i] = f.ptsUs;
      if (i >= this.released) this.keep(i, f.rgb);
      if (i === index) got = f.rgb;
      if (c.next >= c.end) {
        // Enough frames: stop ffmpeg without making the caller wait for the child to exit.
        this.cursor = null;
        this.closing = c.dec.destroy();
      }
      if (i >= index) break;
    }
    if (got) return got;
    const h = this.held.get(index);
    if (h) return h;
    throw this.truncated(index, this.cursor?.next ?? index);
  }

  private keep(i: number, rgb: Uint8Array): void {
    this.held.delete(i);
    this.held.set(i, rgb);
    while (this.held.size > this.capacity) this.held.delete(this.held.keys().next().value as number);
    this.counters.maxHeld = Math.max(this.counters.maxHeld, this.held.size);
  }

  private truncated(index: number, decoded: number): CinesegError {
    // index < numFrames: the header listed this frame, the data ended before it.
    return new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${this.info.input}: the video ends before frame ${index + 1} of the ${this.numFrames} frames its header lists (truncated or damaged)`, {
      details: { frame: index, decoded, frames: this.numFrames },
    });
  }

  private async closeCursor(): Promise<void> {
    const c = this.cursor;
    this.cursor = null;
    await this.closing;
    if (c) await c.dec.destroy();
  }

  /** Stops decoding and releases the input; held frames are dropped. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.closeCursor();
    this.held.clear();
    await this.source.destroy();
  }
}

function decodeOptions(size: number, startFrame: number, maxFrames: number | undefined) {
  return {
    width: size,
    height: size,
    mode: 'backpressure' as const,
    readAhead: 4,
    // One decoding thread: frame threading costs more CPU in total, and the model runs on
    // the same cores; decoding only has to keep ahead of tracking.
    inputOptions: ['-threads', '1'],
    ...(startFrame > 0 ? { startFrame } : {}),
    // maxFrames lets ffmpeg stop by itself instead of being killed after the last frame we need.
    ...(maxFrames === undefined ? {} : { maxFrames }),
  };
}

/** Every frame's PTS of a file (one demux pass), or null when the input has none to give. */
async function scanTimes(input: string): Promise<number[] | null> {
  try {
    const r = await resolveInput(input);
    try {
      return await scanFrameTimes(r);
    } finally {
      await r.release();
    }
  } catch {
    // The probe reports why the input is bad; a missing scan only makes seeks slower.
    return null;
  }
}

function outOfRange(index: number, n: number): CinesegError {
  return new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `frame ${index} is not in the video (${n} frames)`, {
    details: { frame: index, frames: n },
  });
}
