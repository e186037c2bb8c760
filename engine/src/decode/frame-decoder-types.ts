/**
 * The public types of {@link FrameDecoder} (frame-decoder.ts): a decoded frame, the delivery
 * modes, the options and the counters. Apart from the class so the helpers it is built from
 * (decoder-args.ts, showinfo-pairing.ts, frame-cutter.ts) can name them without importing it.
 */
import type { Readable } from 'node:stream';

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

/** Counters of a decoder, for progress, tests and the "dropped frames" badge of live views. */
export interface DecodeStats {
  /** Frames that came out of ffmpeg complete (pixels + PTS). */
  framesDecoded: number;
  framesDelivered: number;
  /** Frames discarded by latest-frame-wins (always 0 in backpressure mode). */
  framesDropped: number;
  /**
   * Frames held but not yet taken by the consumer, and their bytes (plus partial pipe data). Includes
   * the {@link framesAwaitingTiming}.
   */
  bufferedFrames: number;
  /**
   * Frames whose pixels came out of stdout before their timing line came out of stderr (two pipes,
   * read independently). Not yet in `framesDecoded`; so decoded = delivered + dropped + buffered -
   * awaiting timing, at any moment.
   */
  framesAwaitingTiming: number;
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
