/**
 * Over 500 lines, for now: the session, its frame pump, an RGB resize kernel and a wall clock share
 * this file; issue 19 splits them by role (the kernel and the clock first, they have no state here).
 *
 * Live mode: one source decoded once, tracked in streaming mode, fanned out to every client
 * watching it. Decoding and tracking are decoupled: a pump reads frames as fast as the source
 * gives them and keeps only the newest; the tracker takes the newest when it is free, and every
 * frame replaced before the tracker got to it is a drop. Each tracked frame goes to clients as
 * its picture (JPEG, sent as soon as it is encoded), its masks (binary, same header as recorded
 * masks), then the frame message that completes it, all carrying the frame's index, so the player
 * paints picture and overlay together.
 *
 * A click lands on the frame the user saw: the tracker holds the last few tracked frames, and a
 * prompt naming one of them is applied to it (it becomes a conditioning frame), between two
 * tracked frames. Objects belong to the source, not to a client: everyone watching sees and may
 * prompt or remove them, and one record in the store (see `recordId`) holds them all.
 *
 * Faults do not end the view: the source reconnects by itself when its stream stops (see
 * source/live-source.ts) and the tracker, with its objects, goes on across the gap; a frame the
 * model or the JPEG encoder fails on still goes out (picture only) and the error is told once, not
 * with every frame. Only a source lost for good ends the run, with E_LIVE_SOURCE_LOST to everyone
 * watching; the next client to subscribe starts it afresh.
 *
 * `loop:<file>` plays a file as if it were live (ffmpeg `-stream_loop -1 -re`).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Frame } from '../decode/frame-decoder.js';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { logitsToRle } from '../mask/logits-rle.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import { createWallClock, encodeLiveFrame, encodeLivePicture, encodeMaskFrame, PROTOCOL_VERSION, type AddBox, type AddMask, type AddPoints, type ServerMessage, type SessionStarted } from '../protocol.js';
import { LiveSource, type LiveSourceStats, type ReconnectOptions } from '../source/live-source.js';
import type { FrameOutput } from '../track/object-state.js';
import { StreamTracker, type StreamPrompt } from '../track/stream-tracker.js';
import type { TrackedFrame } from '../track/tracker.js';
import type { AnnotationSink, SinkMask, SinkPrompt } from './annotation-sink.js';
import type { ServerMetrics } from './metrics.js';
import { JpegEncoder } from './jpeg-encoder.js';
import { DetachableOutput } from './session-output.js';

/** Wall clock in ms with sub-ms steps, on the system clock the player's paint times are taken on. */
export const wallMs = createWallClock();

/** Where a prompt was applied: the live frame's index and PTS. */
export interface PromptApplied {
  frame: number;
  ptsUs: number;
}

/** A client's view of the live source. */
const NO_JPEG = new Uint8Array(0);

export class LiveSession {
  readonly kind = 'live' as const;
  readonly output = new DetachableOutput(null);

  constructor(
    readonly sessionId: string,
    readonly handle: number,
    private readonly pipeline: LivePipeline,
  ) {}

  started(seq: number): SessionStarted {
    const p = this.pipeline;
    return {
      v: PROTOCOL_VERSION,
      type: 'sessionStarted',
      seq,
      sessionId: this.sessionId,
      handle: this.handle,
      kind: 'live',
      width: p.width,
      height: p.height,
      fps: p.fps,
      numFrames: null,
      framePtsUs: null,
      clip: null,
      recordId: p.recordId,
    };
  }

  /** Applies a prompt to the live frame it names (or the newest held one); resolves once its mask is stored and sent. */
  prompt(msg: AddPoints | AddBox | AddMask): Promise<PromptApplied> {
    return this.pipeline.prompt(this.sessionId, msg);
  }

  /** Removes the object from the tracker (for every client watching). */
  removeObject(objectId: number): Promise<void> {
    return this.pipeline.removeObject(objectId);
  }

  /** Names an object in the source's record. */
  renameObject(objectId: number, name: string): Promise<void> {
    return this.pipeline.renameObject(objectId, name);
  }

  async destroy(): Promise<void> {
    this.output.attach(null);
    await this.pipeline.unsubscribe(this);
  }
}

export interface LivePipelineOptions {
  /** A live URL, `-`, or `loop:<file>`. */
  input: string;
  /** ffmpeg options placed before the input, e.g. `-f v4l2 -video_size 1280x720` for a capture card. */
  inputOptions?: readonly string[];
  sessions: ModelSessions;
  sink: AnnotationSink;
  /** JPEG quality (mjpeg -q:v, 2..31; default 5). */
  jpegQuality?: number;
  /**
   * Tracked frames a click can still land on exactly (default 6). What a viewer sees lags the
   * tracker by a frame or two on an idle machine, more on a loaded one. Each held frame keeps its
   * picture and image features (≈ 16 MB at 1024 px), and one more memory and pointer per object.
   */
  holdFrames?: number;
  /**
   * How often the masks of tracked (unprompted) frames are stored, in ms: at most one frame per
   * interval; 0 stores every tracked frame, a negative value none. Prompts and the masks they
   * produce are always stored before they are acknowledged. Default 1000: see LIVE_STORE_INTERVAL_MS.
   */
  storeIntervalMs?: number;
  /** Tracked frames, drops and server-side latency are reported here (GET /metrics). */
  metrics?: ServerMetrics;
  /** How the source reconnects after its stream stopped (see source/live-source.ts). */
  reconnect?: ReconnectOptions;
  log?: (line: string) => void;
}

/**
 * A procedure can run for hours. Stored masks cost ≈ 0.3–0.5 kB per object and frame (compressed
 * RLE plus the row), so every frame at 30 fps is ≈ 50 MB per object and hour; one frame a second
 * is under 2 MB. The live pictures themselves are not stored, so a dense mask record has little
 * use; prompts and the masks they made (the confirmed ones) are always kept.
 */
export const LIVE_STORE_INTERVAL_MS = 1000;
/** Buffered tracked-frame masks are committed at least this often (one transaction each). */
const STORE_FLUSH_MS = 1000;
/** A frame failure identical to the last one reported is told again only after this long. */
const REPEAT_ERROR_MS = 10_000;

type Op =
  | { kind: 'prompt'; sessionId: string; msg: AddPoints | AddBox | AddMask; prompt: StreamPrompt; resolve: (a: PromptApplied) => void; reject: (e: unknown) => void }
  | { kind: 'remove'; objectId: number; resolve: () => void; reject: (e: unknown) => void };

/** A tracked frame a prompt can still be applied to. */
interface Held {
  /** The source's frame index (what clients see). */
  frame: number;
  /** The stream tracker's index of it. */
  t: number;
  ptsUs: number;
}

export class LivePipeline {
  private readonly subscribers = new Set<LiveSession>();
  private source: LiveSource | null = null;
  private tracker: StreamTracker | null = null;
  private jpeg: JpegEncoder | null = null;
  private running: Promise<void> | null = null;
  private stopping = false;
  private latest: { frame: Frame; sourceMs: number } | null = null;
  private wake: (() => void) | null = null;
  private ops: Op[] = [];
  private held: Held[] = [];
  /** Model-size pictures, reused round-robin: the tracker keeps only the last holdFrames. */
  private smallRing: Uint8Array[] = [];
  private smallNext = 0;
  private readonly holdFrames: number;
  private lastStats = 0;
  private recordStarted = false;
  private storeBuf: SinkMask[] = [];
  private lastStoredMs = -Infinity;
  private lastFlushMs = 0;
  /** The id prompts and masks of the current run of the source are stored under. */
  recordId = randomUUID();
  width = 0;
  height = 0;
  fps = 30;
  framesIn = 0;
  framesSent = 0;
  drops = 0;
  trackMs = 0;
  /** Drops the current run's decoder had counted when last reported to the metrics. */
  private decoderDropsSeen = 0;
  /** Starts and stops, one at a time (two clients arriving together must not start two sources). */
  private lifecycle: Promise<void> = Promise.resolve();
  private lastFailure: { key: string; at: number } | null = null;
  /** Frames whose tracking or encoding failed (they went out as pictures only). */
  frameFailures = 0;

  constructor(readonly opts: LivePipelineOptions) {
    this.holdFrames = Math.max(1, Math.floor(opts.holdFrames ?? 6));
  }

  /** Whether the source is being decoded (some client is watching). */
  get active(): boolean {
    return this.running !== null;
  }

  /** Ids of the objects being tracked. */
  get objectIds(): number[] {
    return this.tracker?.objectIds ?? [];
  }

  /** The decoding ffmpeg's pid (null while reconnecting or stopped). */
  get sourcePid(): number | null {
    return this.source?.pid ?? null;
  }

  /** Reconnects, attempts and drops of the source of the current run (null when stopped). */
  get sourceStats(): LiveSourceStats | null {
    return this.source?.stats ?? null;
  }

  /** Frames the current run's tracker has taken (it lives as long as the run, across reconnections). */
  get trackedFrames(): number {
    return (this.tracker?.frameIndex ?? -1) + 1;
  }

  /** Starts the source if needed and waits for its first frame (so the size is known). */
  async subscribe(s: LiveSession): Promise<void> {
    this.subscribers.add(s);
    // A run that ended by itself (source lost) is cleared first, then started afresh.
    await this.serial(async () => {
      if (this.running && !this.stopping) return;
      await this.halt();
      await this.start();
    });
    await this.firstFrame;
  }

  async unsubscribe(s: LiveSession): Promise<void> {
    this.subscribers.delete(s);
    const mine = this.ops.filter((o) => o.kind === 'prompt' && o.sessionId === s.sessionId);
    this.ops = this.ops.filter((o) => !mine.includes(o));
    for (const o of mine) o.reject(new CinesegError(ErrorCode.E_CANCELLED, 'session closed'));
    if (this.subscribers.size === 0) await this.stop();
  }

  /**
   * Queues a prompt; the tracker applies it between two frames, to the frame the message names
   * when that frame is still held, else to the newest tracked frame.
   */
  prompt(sessionId: string, msg: AddPoints | AddBox | AddMask): Promise<PromptApplied> {
    if (!this.running || this.stopping) return Promise.reject(new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'the live source is not running'));
    let prompt: StreamPrompt;
    if (msg.type === 'addPoints') prompt = { objectId: msg.objectId, points: msg.points };
    else if (msg.type === 'addBox') prompt = { objectId: msg.objectId, box: msg.box, points: msg.points ?? [] };
    else {
      const [h, w] = msg.rle.size;
      if (h !== this.height || w !== this.width) return Promise.reject(new CinesegError(ErrorCode.E_MASK_INVALID, `mask is ${w}x${h}, the live video is ${this.width}x${this.height}`));
      const mask = new Uint8Array(w * h);
      let pos = 0;
      msg.rle.counts.forEach((c, i) => {
        if (i & 1) for (let k = pos; k < pos + c && k < mask.length; k++) mask[(k % h) * w + Math.floor(k / h)] = 1;
        pos += c;
      });
      if (pos !== mask.length) return Promise.reject(new CinesegError(ErrorCode.E_RLE_INVALID, `mask RLE covers ${pos} pixels, expected ${mask.length}`));
      prompt = { objectId: msg.objectId, mask };
    }
    return new Promise((resolve, reject) => {
      this.ops.push({ kind: 'prompt', sessionId, msg, prompt, resolve, reject });
      this.wake?.();
    });
  }

  /** Removes an object from the tracker (its memory is freed) and tells every client. */
  removeObject(objectId: number): Promise<void> {
    if (!this.running || this.stopping) return Promise.reject(new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'the live source is not running'));
    return new Promise((resolve, reject) => {
      this.ops.push({ kind: 'remove', objectId, resolve, reject });
      this.wake?.();
    });
  }

  /** Names an object in the current run's record. */
  async renameObject(objectId: number, name: string): Promise<void> {
    if (!this.running || this.stopping) throw new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'the live source is not running');
    await this.opts.sink.labelObject(this.recordId, objectId, name);
  }

  private firstFrame: Promise<void> = Promise.resolve();

  private async start(): Promise<void> {
    this.stopping = false;
    this.recordId = randomUUID();
    this.recordStarted = false;
    this.decoderDropsSeen = 0;
    this.lastFailure = null;
    const { reconnect, log } = this.opts;
    this.source = await LiveSource.open(this.opts.input, {
      ...(this.opts.inputOptions ? { inputOptions: [...this.opts.inputOptions] } : {}),
      ...(reconnect ? { reconnect } : {}),
      ...(log ? { log } : {}),
      onAttempt: () => this.opts.metrics?.liveReconnects.inc(),
    });
    if (this.source.info) this.fps = this.source.info.fps || 30;
    let first = true;
    let gotFirst!: () => void;
    let failFirst!: (e: unknown) => void;
    this.firstFrame = new Promise<void>((res, rej) => {
      gotFirst = res;
      failFirst = rej;
    });
    this.firstFrame.catch(() => undefined);
    const src = this.source;
    const pump = (async () => {
      try {
        for (;;) {
          const f = await src.next();
          if (!f || this.stopping) break;
          const sourceMs = wallMs();
          this.framesIn++;
          if (this.latest) {
            this.drops++;
            this.opts.metrics?.liveDropped.inc();
            src.recycle(this.latest.frame);
          }
          else if (first) {
            first = false;
            this.width = f.width;
            this.height = f.height;
            gotFirst();
          }
          this.latest = { frame: f, sourceMs };
          this.wake?.();
        }
      } catch (e) {
        const err = toCinesegError(e);
        failFirst(err);
        if (!this.stopping) {
          // The source already retried (E_LIVE_SOURCE_LOST) or never started: tell everyone
          // watching, and release the run; the next subscriber starts a new one.
          this.opts.log?.(`live source stopped: ${err.toLine()}`);
          this.broadcast({ v: PROTOCOL_VERSION, type: 'error', code: err.code, message: err.message, seq: null });
          this.stopping = true;
          void this.stop();
        }
      } finally {
        failFirst(new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'live source ended before its first frame'));
        this.stopping = true;
        this.wake?.();
      }
    })();
    const work = this.work();
    this.running = Promise.all([pump, work]).then(() => undefined);
  }

  private async work(): Promise<void> {
    while (!this.stopping) {
      // Prompts and removals go first: a click should not wait behind a frame. A prompt needs a
      // tracked frame to land on; before the first one it waits.
      const op = this.ops.find((o) => o.kind === 'remove' || this.held.length > 0);
      if (op) {
        this.ops.splice(this.ops.indexOf(op), 1);
        await this.runOp(op);
        continue;
      }
      if (!this.latest) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
        continue;
      }
      const { frame, sourceMs } = this.latest;
      this.latest = null;
      try {
        await this.processFrame(frame, sourceMs);
      } catch (e) {
        this.frameFailed(frame.index, toCinesegError(e));
      }
    }
  }

  private async runOp(op: Op): Promise<void> {
    try {
      if (op.kind === 'remove') {
        if (!this.tracker?.removeObject(op.objectId)) throw new CinesegError(ErrorCode.E_OBJECT_UNKNOWN, `object ${op.objectId} is not tracked`);
        // Buffered masks of the object would bring it back in the store: they go first.
        await this.flushStore();
        await this.opts.sink.removeObject(this.recordId, op.objectId);
        for (const s of this.subscribers) s.output.json({ v: PROTOCOL_VERSION, type: 'objectRemoved', seq: null, sessionId: s.sessionId, objectId: op.objectId });
        op.resolve();
        return;
      }
      const at = this.held.find((h) => h.frame === op.msg.frame) ?? this.held.at(-1)!;
      const [res] = await this.tracker!.promptAt(at.t, [op.prompt]);
      const mask = this.maskOf(op.prompt.objectId, res!.output, at, 'prompt');
      const m = op.msg;
      let p: SinkPrompt;
      if (m.type === 'addPoints') p = { kind: 'points', objectId: m.objectId, frame: at.frame, points: m.points, clearOld: true };
      else if (m.type === 'addBox') p = { kind: 'box', objectId: m.objectId, frame: at.frame, box: m.box, points: m.points ?? [] };
      else p = { kind: 'mask', objectId: m.objectId, frame: at.frame, counts: m.rle.counts };
      // A buffered tracked mask of this frame must not land after (and supersede) the prompt's.
      await this.flushStore();
      // Confirmed: stored before anyone sees it.
      await this.opts.sink.putPrompt(this.recordId, p);
      await this.opts.sink.putMasks(this.recordId, [mask]);
      for (const s of this.subscribers) s.output.binary(this.encodeMask(s, mask));
      op.resolve({ frame: at.frame, ptsUs: at.ptsUs });
    } catch (e) {
      op.reject(e);
    }
  }

  private maskOf(objectId: number, out: FrameOutput, at: { frame: number; ptsUs: number }, origin: SinkMask['origin']): SinkMask {
    const L = this.opts.sessions.bundle.lowResMaskSize;
    return { objectId, frame: at.frame, ptsUs: at.ptsUs, score: out.objectScore, counts: logitsToRle(out.predMasks, L, L, this.height, this.width).counts, origin };
  }

  private encodeMask(s: LiveSession, m: SinkMask): Uint8Array {
    return encodeMaskFrame({ handle: s.handle, frame: m.frame, objectId: m.objectId, ptsUs: m.ptsUs, width: this.width, height: this.height, score: m.score, counts: m.counts });
  }

  private broadcast(msg: ServerMessage): void {
    for (const s of this.subscribers) s.output.json(msg);
  }

  /**
   * Tells everyone watching that a frame failed. A broken model or encoder fails every frame in
   * the same way: that is said once (again after REPEAT_ERROR_MS), not 30 times a second.
   */
  private frameFailed(index: number, err: CinesegError): void {
    this.frameFailures++;
    const key = `${err.code} ${err.message}`;
    const now = performance.now();
    if (this.lastFailure?.key === key && now - this.lastFailure.at < REPEAT_ERROR_MS) return;
    this.lastFailure = { key, at: now };
    this.opts.log?.(`live frame ${index}: ${err.toLine()} (${this.frameFailures} failed frame(s) in all)`);
    this.broadcast({ v: PROTOCOL_VERSION, type: 'error', code: err.code, message: err.message, seq: null });
  }

  private async processFrame(frame: Frame, sourceMs: number): Promise<void> {
    const S = this.opts.sessions.bundle.imageSize;
    if (!this.recordStarted) {
      this.recordStarted = true;
      await this.opts.sink.startSession({ sessionId: this.recordId, kind: 'live', source: this.opts.input, width: frame.width, height: frame.height, fps: this.fps, numFrames: null });
    }
    this.jpeg ??= new JpegEncoder(frame.width, frame.height, this.opts.jpegQuality ?? 5);
    this.tracker ??= new StreamTracker(this.opts.sessions, { width: frame.width, height: frame.height, memory: true, holdFrames: this.holdFrames });
    const jpegP = this.jpeg.encode(frame.rgb);
    // The picture goes out as soon as it is encoded — between the tracker's graph runs — so the
    // browser decodes it while the frame is tracked; the frame message after the masks says the
    // frame is complete. Viewers who joined in between get the JPEG in the frame message.
    const gotPicture = new Set<LiveSession>();
    const pictureSent = jpegP.then((jpeg) => {
      for (const s of this.subscribers) {
        s.output.binary(encodeLivePicture({ handle: s.handle, frame: frame.index, jpeg }));
        gotPicture.add(s);
      }
      return jpeg;
    });
    pictureSent.catch(() => undefined);
    const small = resizeRgb(frame.rgb, frame.width, frame.height, S, S, this.nextSmall(S));
    const t0 = performance.now();
    // A frame the model fails on still goes out, as a picture: the view must not freeze.
    let tracked: TrackedFrame | null = null;
    try {
      // The masks are final after the decoder; this frame's memory is encoded after they are sent.
      tracked = await this.tracker.push(small, [], { deferMemory: true });
    } catch (e) {
      this.frameFailed(frame.index, toCinesegError(e));
    }
    this.trackMs = performance.now() - t0;
    if (tracked) {
      this.held.push({ frame: frame.index, t: tracked.frame, ptsUs: frame.ptsUs });
      if (this.held.length > this.holdFrames) this.held.shift();
    }
    const at = { frame: frame.index, ptsUs: frame.ptsUs };
    const masks = (tracked?.objects ?? []).map((o) => this.maskOf(o.objectId, o.output, at, 'propagate'));
    let jpeg: Uint8Array;
    try {
      jpeg = await pictureSent;
    } catch (e) {
      // The encoder's ffmpeg died: the next frame starts a new one.
      const dead = this.jpeg;
      this.jpeg = null;
      await dead?.destroy();
      throw e;
    }
    // The encoder has read the whole picture (its JPEG came back) and the model has its own
    // small copy: the pixels can take the next frame.
    this.source?.recycle(frame);
    const decoderDrops = this.source?.stats.framesDropped ?? 0;
    if (decoderDrops > this.decoderDropsSeen) {
      this.opts.metrics?.liveDropped.inc({}, decoderDrops - this.decoderDropsSeen);
      this.decoderDropsSeen = decoderDrops;
    }
    const dropsNow = this.drops + decoderDrops;
    const serverUs = (wallMs() - sourceMs) * 1000;
    for (const s of this.subscribers) {
      for (const m of masks) s.output.binary(this.encodeMask(s, m));
      s.output.binary(
        encodeLiveFrame({ handle: s.handle, frame: frame.index, drops: dropsNow, ptsUs: frame.ptsUs, sourceMs, width: frame.width, height: frame.height, objects: masks.length, serverUs, jpeg: gotPicture.has(s) ? NO_JPEG : jpeg }),
      );
    }
    this.framesSent++;
    this.opts.metrics?.frameTracked('live');
    this.opts.metrics?.liveLatency.observe((wallMs() - sourceMs) / 1000);
    try {
      await this.tracker?.flushMemory();
    } catch (e) {
      this.frameFailed(frame.index, toCinesegError(e));
    }
    // Tracked masks are stored after the frame went out: they are a record, not a confirmation.
    await this.keepTracked(masks);
    const now = performance.now();
    if (now - this.lastStats > 500) {
      this.lastStats = now;
      for (const s of this.subscribers) {
        s.output.json({ v: PROTOCOL_VERSION, type: 'liveStats', seq: null, sessionId: s.sessionId, framesIn: this.framesIn, framesSent: this.framesSent, drops: dropsNow, trackMs: this.trackMs });
      }
    }
  }

  /** A buffer for the next model-size picture: one more than the tracker holds, so none it holds is overwritten. */
  private nextSmall(S: number): Uint8Array {
    let b = this.smallRing[this.smallNext];
    if (!b || b.length !== S * S * 3) this.smallRing[this.smallNext] = b = new Uint8Array(S * S * 3);
    this.smallNext = (this.smallNext + 1) % (this.holdFrames + 1);
    return b;
  }

  /** Buffers a tracked frame's masks at the configured rate; commits the buffer every STORE_FLUSH_MS. */
  private async keepTracked(masks: SinkMask[]): Promise<void> {
    const every = this.opts.storeIntervalMs ?? LIVE_STORE_INTERVAL_MS;
    const now = performance.now();
    if (every >= 0 && masks.length > 0 && now - this.lastStoredMs >= every) {
      this.lastStoredMs = now;
      this.storeBuf.push(...masks);
    }
    if (now - this.lastFlushMs >= STORE_FLUSH_MS) await this.flushStore();
  }

  private async flushStore(): Promise<void> {
    this.lastFlushMs = performance.now();
    if (this.storeBuf.length === 0) return;
    const batch = this.storeBuf;
    this.storeBuf = [];
    try {
      await this.opts.sink.putMasks(this.recordId, batch);
    } catch (e) {
      this.opts.log?.(`live: storing ${batch.length} tracked masks failed: ${toCinesegError(e).toLine()}`);
    }
  }

  /** Stops decoding and tracking; the next subscriber starts afresh (a new record). */
  stop(): Promise<void> {
    return this.serial(() => this.halt());
  }

  /** Runs a start or stop after the ones before it. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const p = this.lifecycle.then(fn);
    this.lifecycle = p.catch(() => undefined);
    return p;
  }

  private async halt(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    // Killing the source ends the pump; the encoder goes before waiting for the worker, so a
    // frame waiting for its JPEG cannot hold it.
    await this.source?.destroy();
    await this.jpeg?.destroy();
    await this.running?.catch(() => undefined);
    this.running = null;
    this.source = null;
    this.tracker?.destroy();
    this.tracker = null;
    await this.jpeg?.destroy();
    this.jpeg = null;
    this.latest = null;
    this.held = [];
    for (const o of this.ops.splice(0)) o.reject(new CinesegError(ErrorCode.E_CANCELLED, 'live source stopped'));
    if (this.recordStarted) {
      this.recordStarted = false;
      await this.flushStore();
      await this.opts.sink.closeSession(this.recordId).catch((e: unknown) => this.opts.log?.(`live: closing the record failed: ${toCinesegError(e).toLine()}`));
    }
  }

  async destroy(): Promise<void> {
    this.subscribers.clear();
    await this.stop();
  }
}

/**
 * Bilinear resize of rgb24 (align_corners=False, like ffmpeg's and torch's bilinear), into `out`
 * when given. It is on every live frame's path, so it runs in integers: weights in 1/2048ths (the
 * sums stay inside int32), rounded half up like Math.round. Where the source positions fall on
 * 1/2048ths (480x360 -> 256 does) the result equals the float computation; elsewhere it is off by
 * at most one level in rare pixels.
 */
export function resizeRgb(src: Uint8Array, sw: number, sh: number, dw: number, dh: number, out: Uint8Array = new Uint8Array(dw * dh * 3)): Uint8Array {
  const ONE = 2048;
  const sx = sw / dw;
  const sy = sh / dh;
  const x0s = new Int32Array(dw);
  const x1s = new Int32Array(dw);
  const wxs = new Int32Array(dw);
  for (let x = 0; x < dw; x++) {
    const f = Math.max(0, (x + 0.5) * sx - 0.5);
    const x0 = Math.min(Math.floor(f), sw - 1);
    x0s[x] = x0 * 3;
    x1s[x] = Math.min(x0 + 1, sw - 1) * 3;
    wxs[x] = Math.round((f - x0) * ONE);
  }
  for (let y = 0; y < dh; y++) {
    const f = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(Math.floor(f), sh - 1);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = Math.round((f - y0) * ONE);
    const iwy = ONE - wy;
    const r0 = y0 * sw * 3;
    const r1 = y1 * sw * 3;
    let o = y * dw * 3;
    for (let x = 0; x < dw; x++) {
      const a = x0s[x]!;
      const b = x1s[x]!;
      const wx = wxs[x]!;
      const iwx = ONE - wx;
      for (let c = 0; c < 3; c++) {
        const top = src[r0 + a + c]! * iwx + src[r0 + b + c]! * wx;
        const bot = src[r1 + a + c]! * iwx + src[r1 + b + c]! * wx;
        out[o++] = (top * iwy + bot * wy + (ONE * ONE) / 2) >> 22;
      }
    }
  }
  return out;
}
