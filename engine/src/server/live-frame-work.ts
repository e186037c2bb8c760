/**
 * The work on one live frame: JPEG-encode it and shrink it to the model's size, track it, send its
 * picture, masks and frame message, count drops and latency, and keep its masks in the record. A
 * frame the model or the encoder fails on still goes out (picture only).
 */
import { performance } from 'node:perf_hooks';
import type { Frame } from '../decode/frame-decoder.js';
import { toCinesegError } from '../errors.js';
import { resizeRgb } from '../mask/rgb-resize.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import { PROTOCOL_VERSION } from '../protocol.js';
import type { SamOptions } from '../track/tracking-engine.js';
import { StreamTracker } from '../track/stream-tracker.js';
import type { TrackedFrame } from '../track/video-tracker.js';
import { JpegEncoder } from './jpeg-encoder.js';
import type { LivePictureStore } from './live-picture-store.js';
import type { LiveCounters, LiveEvent, LiveRun } from './live-run.js';
import type { ServerMetrics } from './metrics.js';
import { wallMs } from './wall-clock.js';

/** The pipeline's options the frame work reads (see LivePipelineOptions). */
export interface LiveFrameWorkOptions {
  sessions: ModelSessions;
  jpegQuality?: number;
  /** Tracked frames a click can still land on (at least 1). */
  holdFrames: number;
  maxCondFrames?: number;
  metrics?: ServerMetrics;
  pictures?: LivePictureStore;
  sam?: SamOptions;
}

export class LiveFrameWork {
  /** Model-size pictures, reused: one more than the tracker holds (see `nextSmall`). */
  private smallRing: Uint8Array[] = [];
  private smallNext = 0;
  private lastStats = 0;

  constructor(
    private readonly opts: LiveFrameWorkOptions,
    private readonly counters: LiveCounters,
  ) {}

  /** Tracks `frame` in `run` and emits its events; call it inside the pipeline's exclusive chain. */
  async process(run: LiveRun, frame: Frame, sourceMs: number, emit: (ev: LiveEvent) => void): Promise<void> {
    const S = this.opts.sessions.bundle.imageSize;
    const holdFrames = this.opts.holdFrames;
    await run.record.ensure(false, run);
    run.jpeg ??= new JpegEncoder(frame.width, frame.height, this.opts.jpegQuality ?? 5);
    run.tracker ??= new StreamTracker(this.opts.sessions, {
      width: frame.width,
      height: frame.height,
      memory: true,
      holdFrames,
      ...(this.opts.maxCondFrames !== undefined ? { maxCondFrames: this.opts.maxCondFrames } : {}),
      ...this.opts.sam,
    });
    const jpegP = run.jpeg.encode(frame.rgb);
    // The picture goes out as soon as it is encoded — between the tracker's graph runs — so the
    // browser decodes it while the frame is tracked; the frame message after the masks says the
    // frame is complete.
    const pictureSent = jpegP.then((jpeg) => {
      emit({ kind: 'picture', frame: frame.index, jpeg });
      return jpeg;
    });
    pictureSent.catch(() => undefined);
    const small = resizeRgb(frame.rgb, frame.width, frame.height, S, S, this.nextSmall(S));
    const t0 = performance.now();
    // A frame the model fails on still goes out, as a picture: the view must not freeze.
    let tracked: TrackedFrame | null = null;
    try {
      // The masks are final after the decoder; this frame's memory is encoded after they are sent.
      // The source's frame index is the tracker's frame number: dropped frames count as time.
      tracked = await run.tracker.push(small, [], { deferMemory: true }, frame.index);
    } catch (e) {
      run.frameFailed(frame.index, toCinesegError(e));
    }
    this.counters.trackMs = performance.now() - t0;
    if (tracked) {
      run.held.push({ frame: frame.index, ptsUs: frame.ptsUs });
      if (run.held.length > holdFrames) run.held.shift();
    }
    const at = { frame: frame.index, ptsUs: frame.ptsUs };
    const masks = (tracked?.objects ?? []).map((o) => run.maskOf(o.objectId, o.output, at, 'propagate'));
    let jpeg: Uint8Array;
    try {
      jpeg = await pictureSent;
    } catch (e) {
      // The encoder's ffmpeg died: the next frame starts a new one.
      const dead = run.jpeg;
      run.jpeg = null;
      await dead?.destroy();
      throw e;
    }
    if (jpeg.length > 0) this.opts.pictures?.put(run.record.id, frame.index, jpeg);
    // The encoder has read the whole picture (its JPEG came back) and the model has its own
    // small copy: the pixels can take the next frame.
    run.source.recycle(frame);
    const decoderDrops = run.source.stats.framesDropped;
    if (decoderDrops > run.decoderDropsSeen) {
      this.opts.metrics?.liveDropped.inc({}, decoderDrops - run.decoderDropsSeen);
      run.decoderDropsSeen = decoderDrops;
    }
    const dropsNow = this.counters.drops + decoderDrops;
    const serverUs = (wallMs() - sourceMs) * 1000;
    if (masks.length) emit({ kind: 'masks', masks });
    emit({ kind: 'frame', frame, sourceMs, drops: dropsNow, objects: masks.length, serverUs, jpeg });
    this.counters.framesSent++;
    this.opts.metrics?.frameTracked('live');
    this.opts.metrics?.liveLatency.observe((wallMs() - sourceMs) / 1000);
    try {
      await run.tracker?.flushMemory();
    } catch (e) {
      run.frameFailed(frame.index, toCinesegError(e));
    }
    // Tracked masks are stored after the frame went out: they are a record, not a confirmation.
    await run.record.keepTracked(masks);
    const now = performance.now();
    if (now - this.lastStats > 500) {
      this.lastStats = now;
      const c = this.counters;
      const stats = { framesIn: c.framesIn, framesSent: c.framesSent, drops: dropsNow, trackMs: c.trackMs };
      emit({ kind: 'json', msg: (v) => ({ v: PROTOCOL_VERSION, type: 'liveStats', seq: null, sessionId: v.sessionId, ...stats }) });
    }
  }

  /** A buffer for the next model-size picture: one more than the tracker holds, so none it holds is overwritten. */
  private nextSmall(S: number): Uint8Array {
    let b = this.smallRing[this.smallNext];
    if (!b || b.length !== S * S * 3) this.smallRing[this.smallNext] = b = new Uint8Array(S * S * 3);
    this.smallNext = (this.smallNext + 1) % (this.opts.holdFrames + 1);
    return b;
  }
}
