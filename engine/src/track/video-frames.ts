/**
 * A recorded video as a {@link FrameProvider}: one decode run scales frames to the model's S x S
 * and keeps them (S² × 3 bytes each) so reverse passes and re-propagation after corrections need
 * no second decode. Frames are pulled on demand, so decoding overlaps tracking instead of
 * preceding it.
 */
import type { FrameDecoder } from '../decode/frame-decoder.js';
import { probe, type VideoInfo } from '../decode/probe.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { FrameSource } from '../source/frame-source.js';
import type { FrameProvider } from './tracker.js';

export class DecodedFrames implements FrameProvider {
  private readonly frames: (Uint8Array | undefined)[] = [];
  private released = 0;
  private readonly pts: number[] = [];
  private pump: Promise<void> = Promise.resolve();
  private ended = false;
  private decoder: FrameDecoder | null;
  private closing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly source: FrameSource,
    readonly info: VideoInfo,
    readonly numFrames: number,
    readonly size: number,
    decoder: FrameDecoder,
  ) {
    this.decoder = decoder;
  }

  /**
   * Opens a recorded video for tracking at S x S. `maxFrames` limits how many frames the
   * tracker may see (the video's length when omitted). ffmpeg starts decoding while ffprobe
   * reads the header, so the two start-up delays overlap instead of adding up.
   *
   * @throws CinesegError from probing (E_INPUT_NOT_FOUND, E_DECODE_NO_VIDEO, ...) or
   *   E_INPUT_UNSUPPORTED for live inputs
   */
  static async open(input: string, size: number, opts: { maxFrames?: number } = {}): Promise<DecodedFrames> {
    const infoP = probe(input);
    // A failed probe is the error to report; the source below would only fail less clearly.
    infoP.catch(() => undefined);
    let source: FrameSource | null = null;
    let decoder: FrameDecoder | null = null;
    try {
      source = await FrameSource.open(input, { probe: false });
      if (source.kind !== 'file' && source.kind !== 'image-folder') {
        throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${input}: offline tracking needs a recorded video, not a live input`);
      }
      // maxFrames lets ffmpeg stop by itself instead of being killed after the last frame we need.
      decoder = source.decoder({
        width: size,
        height: size,
        mode: 'backpressure',
        readAhead: 4,
        // One decoding thread: frame threading costs more CPU in total, and the model runs on
        // the same cores; decoding only has to keep ahead of tracking.
        inputOptions: ['-threads', '1'],
        ...(opts.maxFrames === undefined ? {} : { maxFrames: opts.maxFrames }),
      });
      decoder.start();
      const info = await infoP;
      if (info.frameCount === null) {
        throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${input}: offline tracking needs a recorded video with a known length`);
      }
      const n = Math.min(info.frameCount, opts.maxFrames ?? Number.POSITIVE_INFINITY);
      if (n <= 0) throw new CinesegError(ErrorCode.E_INPUT_EMPTY, `${input} has no frames`);
      const frames = new DecodedFrames(source, info, n, size, decoder);
      frames.getFrame(0).catch(() => undefined);
      return frames;
    } catch (e) {
      await decoder?.destroy();
      await source?.destroy();
      // Prefer the probe's coded error (not found, no video stream, ...) when it has one.
      const pe = await infoP.then(
        () => null,
        (err: unknown) => err,
      );
      throw pe ?? e;
    }
  }

  /** Frame i's presentation time in µs (once decoded). */
  ptsUs(i: number): number | undefined {
    return this.pts[i];
  }

  getFrame(index: number): Promise<Uint8Array> {
    if (index < 0 || index >= this.numFrames) return Promise.reject(outOfRange(index, this.numFrames));
    if (index < this.released) {
      return Promise.reject(new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `frame ${index} was released (single forward pass)`));
    }
    const have = this.frames[index];
    if (have) return Promise.resolve(have);
    // Serialise pulls: concurrent requests wait for one reader.
    const p = this.pump.then(() => this.readUntil(index));
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
    for (let i = this.released; i < Math.min(index, this.frames.length); i++) this.frames[i] = undefined;
    this.released = Math.max(this.released, Math.min(index, this.frames.length));
  }

  /** Decodes every frame now (for benches that time decoding apart). */
  async decodeAll(): Promise<void> {
    await this.getFrame(this.numFrames - 1);
  }

  private async readUntil(index: number): Promise<Uint8Array> {
    while (this.frames.length <= index) {
      if (this.ended || !this.decoder) {
        // index < numFrames: the header listed this frame, the data ended before it.
        if (this.frames.length < this.numFrames) {
          throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${this.info.input}: the video ends after ${this.frames.length} of the ${this.numFrames} frames its header lists (truncated or damaged)`, {
            details: { frame: index, decoded: this.frames.length, frames: this.numFrames },
          });
        }
        throw outOfRange(index, this.frames.length);
      }
      const f = await this.decoder.next();
      if (!f) {
        this.ended = true;
        await this.closeDecoder();
        continue;
      }
      this.frames.push(f.rgb);
      this.pts.push(f.ptsUs);
      if (this.frames.length >= this.numFrames) {
        // Enough frames: stop ffmpeg without making the caller wait for the child to exit.
        this.ended = true;
        this.closing = this.closeDecoder();
      }
    }
    return this.frames[index]!;
  }

  private async closeDecoder(): Promise<void> {
    const d = this.decoder;
    this.decoder = null;
    if (d) await d.destroy();
  }

  /** Stops decoding and releases the input; held frames are dropped. */
  async destroy(): Promise<void> {
    this.ended = true;
    await this.closing;
    await this.closeDecoder();
    this.frames.length = 0;
    await this.source.destroy();
  }
}

function outOfRange(index: number, n: number): CinesegError {
  return new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `frame ${index} is not in the video (${n} frames decoded)`, {
    details: { frame: index, frames: n },
  });
}
