/**
 * Over 500 lines: the run's lifecycle, its frame work and its prompt operations share one Run and
 * one exclusive chain (the tracker does one thing at a time), and splitting them now would hand
 * that state around; the store part (record start, buffered tracked masks) is the one to move out
 * next, as a LiveRecord.
 *
 * Live mode: one source decoded once, tracked in streaming mode, fanned out to every client
 * watching it. The flow is RxJS (operators in source/rx-live-flow.ts):
 *
 *   LiveSource.frames()            ffmpeg frames; a stream that stops is retried with backoff
 *   └ latestWhenIdle(track)        the tracker takes the newest frame when it is free; every frame
 *                                  replaced before it got to it is a drop
 *     └ merge(notices)             prompt results, removals, errors told to everyone
 *       └ shareWithGrace(graceMs)  one run for all viewers; kept graceMs after the last one left
 *
 * Each tracked frame goes to viewers as events — its picture (JPEG, as soon as it is encoded), its
 * masks, then the frame message that completes it — and each viewer's subscription encodes them
 * with its own handle, so the player paints picture and overlay together.
 *
 * A click lands on the frame the user saw: the tracker holds the last few tracked frames, and a
 * prompt naming one of them is applied to it (it becomes a conditioning frame), between two
 * tracked frames; the held frames after it are tracked again and their new masks go out and to the
 * store. Clicks with `clearOld: false` add to the frame's earlier ones (refinement). Objects belong
 * to the source, not to a client: everyone watching sees and may prompt or remove them, a prompt
 * with `newObject` gets its id from the server (two viewers cannot collide), and one record in the
 * store (see `recordId`) holds them all. The tracker's frame numbers are the source's frame indices,
 * so dropped frames count as time passed.
 *
 * When the last viewer leaves, the run — source, tracker and objects — is kept for `graceMs` (a
 * reload, a dropped connection) and goes on tracking meanwhile, so a viewer coming back finds the
 * objects on the current anatomy; old clicks are never replayed. After the grace period the run is
 * torn down; the next viewer starts a new one (new record).
 *
 * Faults do not end the view: the source reconnects by itself (see decode/live-source.ts) and the
 * tracker goes on across the gap; a frame the model or the JPEG encoder fails on still goes out
 * (picture only) and the error is told once, not with every frame. Only a source lost for good
 * ends the run, with E_LIVE_SOURCE_LOST to everyone watching.
 *
 * Recorded propagation stays pull-based (recorded-session.ts): every frame is wanted, in order,
 * at the model's pace, which an async loop says more plainly than an operator chain.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { map, merge, Observable, Subject, takeUntil, tap, type Subscription } from 'rxjs';
import type { Frame } from '../decode/frame-decoder.js';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { logitsToRle } from '../mask/logits-rle.js';
import { resizeRgb } from '../mask/rgb-resize.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import { decodeMask } from '../mask/rle.js';
import { encodeLiveFrame, encodeLivePicture, encodeMaskFrame, PROTOCOL_VERSION, type AddBox, type AddMask, type AddPoints, type ServerMessage } from '../protocol.js';
import { LiveSource, type LiveSourceStats, type ReconnectOptions } from '../decode/live-source.js';
import { latestWhenIdle, shareWithGrace, usingAsync } from '../source/rx-live-flow.js';
import type { FrameOutput } from '../track/object-state.js';
import type { SamOptions } from '../track/propagation.js';
import { StreamTracker, type StreamPrompt } from '../track/stream-tracker.js';
import type { TrackedFrame } from '../track/tracker.js';
import type { AnnotationSink, SinkMask, SinkPrompt } from './annotation-sink.js';
import { JpegEncoder } from './jpeg-encoder.js';
import { LiveFreezes, type FrameAt } from './live-freeze.js';
import type { LivePictureStore } from './live-picture-store.js';
import type { ServerMetrics } from './metrics.js';
import type { DetachableOutput } from './session-output.js';
import { wallMs } from './wall-clock.js';

/** Where a prompt was applied: the live frame's index and PTS, and the object (server-assigned for `newObject`). */
export interface PromptApplied {
  frame: number;
  ptsUs: number;
  objectId: number;
}

/** What the pipeline needs of a viewer (LiveSession). */
export interface LiveViewer {
  readonly sessionId: string;
  readonly handle: number;
  readonly output: DetachableOutput;
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
  /** Conditioning frames kept per object (see DEFAULT_MAX_COND_FRAMES in track/stream-tracker.ts). */
  maxCondFrames?: number;
  /**
   * How long the run (source, tracker, objects) outlives its last viewer, ms (default
   * LIVE_GRACE_MS; 0: stopped with the last viewer).
   */
  graceMs?: number;
  /**
   * How often the masks of tracked (unprompted) frames are stored, in ms: at most one frame per
   * interval; 0 stores every tracked frame, a negative value none. Prompts and the masks they
   * produce are always stored before they are acknowledged. Default 1000: see LIVE_STORE_INTERVAL_MS.
   */
  storeIntervalMs?: number;
  /** Tracked frames, drops and server-side latency are reported here (GET /metrics). */
  metrics?: ServerMetrics;
  /** How the source reconnects after its stream stopped (see decode/live-source.ts). */
  reconnect?: ReconnectOptions;
  /** Where each tracked frame's JPEG is kept for review (`serve --live-record-pictures`; see live-picture-store.ts). */
  pictures?: LivePictureStore;
  /** SAM 2 predictor flags of the live tracker (the server's; shared by every viewer, so not per session). */
  sam?: SamOptions;
  log?: (line: string) => void;
}

/**
 * A procedure can run for hours. Stored masks cost ≈ 0.3–0.5 kB per object and frame (compressed
 * RLE plus the row), so every frame at 30 fps is ≈ 50 MB per object and hour; one frame a second
 * is under 2 MB. The live pictures are stored only with `--live-record-pictures`
 * (live-picture-store.ts, ≈ 2–3 GB per hour at 480p); without them a dense mask record has little
 * use. Prompts and the masks they made (the confirmed ones) are always kept.
 */
export const LIVE_STORE_INTERVAL_MS = 1000;
/**
 * A browser reload takes a few seconds, a dropped Wi-Fi connection a few more: 30 s covers both,
 * while a source nobody watches is not decoded and tracked for long.
 */
export const LIVE_GRACE_MS = 30_000;
/** Buffered tracked-frame masks are committed at least this often (one transaction each). */
const STORE_FLUSH_MS = 1000;
/** A frame failure identical to the last one reported is told again only after this long. */
const REPEAT_ERROR_MS = 10_000;
const NO_JPEG = new Uint8Array(0);

/** What one run emits; each viewer's subscription turns it into its own messages. */
type LiveEvent =
  | { kind: 'picture'; frame: number; jpeg: Uint8Array }
  | { kind: 'masks'; masks: SinkMask[] }
  | { kind: 'frame'; frame: Frame; sourceMs: number; drops: number; objects: number; serverUs: number; jpeg: Uint8Array }
  | { kind: 'json'; msg: (v: LiveViewer) => ServerMessage };

type Op =
  | { kind: 'prompt'; sessionId: string; msg: AddPoints | AddBox | AddMask; prompt: StreamPrompt; resolve: (a: PromptApplied) => void; reject: (e: unknown) => void }
  | { kind: 'remove'; objectId: number; resolve: () => void; reject: (e: unknown) => void }
  | { kind: 'freeze'; sessionId: string; frame: number; resolve: (a: FrameAt) => void; reject: (e: unknown) => void }
  | { kind: 'unfreeze'; sessionId: string; resolve: () => void; reject: (e: unknown) => void };

/** A tracked frame a prompt can still be applied to. */
interface Held {
  frame: number;
  ptsUs: number;
}

/** One run of the source: from its first viewer to the end of the grace after its last one. */
interface Run {
  source: LiveSource;
  recordId: string;
  tracker: StreamTracker | null;
  jpeg: JpegEncoder | null;
  held: Held[];
  ops: Op[];
  notices: Subject<LiveEvent>;
  firstFrame: Promise<void>;
  gotFirst: () => void;
  failFirst: (e: unknown) => void;
  recordStarted: boolean;
  recordTriedMs: number;
  nextObjectId: number;
  /** Viewers' frozen frames (live-freeze.ts). */
  freezes: LiveFreezes;
  closed: boolean;
}

export class LivePipeline {
  private readonly viewers = new Map<LiveViewer, Subscription>();
  private readonly holdFrames: number;
  private readonly kill = new Subject<void>();
  private readonly events: Observable<LiveEvent>;
  private run: Run | null = null;
  /** The run being opened (set as the first viewer subscribes, before LiveSource.open resolves). */
  private opening: Promise<Run> | null = null;
  /** The previous run's teardown: a new run starts after it (one ffmpeg, one record at a time). */
  private teardown: Promise<void> = Promise.resolve();
  /** Runs whose teardown has not finished (`active` until their ffmpeg is gone and the record closed). */
  private closing = 0;
  /** Frames run one at a time with prompts, which go first (see `exclusive`). */
  private chain: Promise<void> = Promise.resolve();
  private smallRing: Uint8Array[] = [];
  private smallNext = 0;
  private lastStats = 0;
  private storeBuf: SinkMask[] = [];
  private lastStoredMs = -Infinity;
  private lastFlushMs = 0;
  private lastFailure: { key: string; at: number } | null = null;
  /** Drops the current run's decoder had counted when last reported to the metrics. */
  private decoderDropsSeen = 0;
  /** The id prompts and masks of the current run of the source are stored under. */
  recordId: string = randomUUID();
  width = 0;
  height = 0;
  fps = 30;
  framesIn = 0;
  framesSent = 0;
  drops = 0;
  trackMs = 0;
  /** Frames whose tracking or encoding failed (they went out as pictures only). */
  frameFailures = 0;

  constructor(readonly opts: LivePipelineOptions) {
    this.holdFrames = Math.max(1, Math.floor(opts.holdFrames ?? 6));
    const grace = Math.max(0, opts.graceMs ?? LIVE_GRACE_MS);
    this.events = usingAsync(
      () => this.openRun(),
      (run) =>
        merge(
          run.notices,
          run.source.frames().pipe(
            map((frame) => this.arrived(run, frame)),
            latestWhenIdle(
              (x) => this.frameEvents(run, x.frame, x.sourceMs),
              (x) => {
                this.drops++;
                this.opts.metrics?.liveDropped.inc();
                run.source.recycle(x.frame);
              },
            ),
          ),
        ).pipe(
          tap({
            error: (e: unknown) => {
              const err = toCinesegError(e);
              run.failFirst(err);
              this.opts.log?.(`live source stopped: ${err.toLine()}`);
            },
          }),
        ),
      (run) => {
        // Closed at once (prompts refused, a new viewer waits for the next run), torn down in order.
        run.closed = true;
        this.closing++;
        const t = this.teardown.then(() => this.closeRun(run)).finally(() => this.closing--);
        this.teardown = t.catch((e: unknown) => this.opts.log?.(`live: stopping the source failed: ${toCinesegError(e).toLine()}`));
      },
    ).pipe(takeUntil(this.kill), shareWithGrace(grace));
  }

  /** Whether the source is being decoded (a viewer is watching, or was within the grace period). */
  get active(): boolean {
    return (this.run !== null && !this.run.closed) || this.opening !== null || this.closing > 0;
  }

  /** Ids of the objects being tracked. */
  get objectIds(): number[] {
    return this.run?.tracker?.objectIds ?? [];
  }

  /** The decoding ffmpeg's pid (null while reconnecting or stopped). */
  get sourcePid(): number | null {
    return this.run?.source.pid ?? null;
  }

  /** Reconnects, attempts and drops of the source of the current run (null when stopped). */
  get sourceStats(): LiveSourceStats | null {
    return this.run?.source.stats ?? null;
  }

  /** The current run's tracker's last frame number + 1 (its numbers are the source's frame indices). */
  get trackedFrames(): number {
    return (this.run?.tracker?.frameIndex ?? -1) + 1;
  }

  /** Pixel size in mm [row, column] when the source states it (a DICOM cine); null otherwise. */
  get pixelSpacingMm(): [number, number] | null {
    return this.run?.source.pixelSpacingMm ?? null;
  }

  /** The tracked frames a prompt can still land on (besides frozen ones), oldest first. */
  get heldFrames(): number[] {
    return this.run?.held.map((h) => h.frame) ?? [];
  }

  /** Frames frozen by viewers in the current run (tests check the bound). */
  get frozenFrames(): number[] {
    return this.run?.tracker?.pinnedFrames ?? [];
  }

  /** Joins the run (starting one if none) and waits for its first frame (so the size is known). */
  async subscribe(v: LiveViewer): Promise<void> {
    if (this.viewers.get(v)?.closed === false) return;
    const sub = this.events.subscribe({
      next: (ev) => this.deliver(v, ev),
      error: (e: unknown) => {
        const err = toCinesegError(e);
        v.output.json({ v: PROTOCOL_VERSION, type: 'error', code: err.code, message: err.message, seq: null });
        this.viewers.delete(v);
      },
      complete: () => this.viewers.delete(v),
    });
    this.viewers.set(v, sub);
    try {
      // The run this subscription connected to: one being opened, else the one in progress.
      const run = this.opening ? await this.opening : this.liveRun();
      if (!run) throw new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'the live source is not running');
      await run.firstFrame;
    } catch (e) {
      sub.unsubscribe();
      this.viewers.delete(v);
      throw e;
    }
  }

  /** Leaves the run; the viewer's queued prompts are cancelled. The run stays for the grace period. */
  async unsubscribe(v: LiveViewer): Promise<void> {
    const sub = this.viewers.get(v);
    this.viewers.delete(v);
    const run = this.run;
    if (run) {
      const mine = run.ops.filter((o) => o.kind === 'prompt' && o.sessionId === v.sessionId);
      run.ops = run.ops.filter((o) => !mine.includes(o));
      for (const o of mine) o.reject(new CinesegError(ErrorCode.E_CANCELLED, 'session closed'));
      // Its frozen frame goes with it (between two frames, like every change to the tracker).
      if (run.freezes.of(v.sessionId)) this.exclusive(async () => run.freezes.release(run.tracker, v.sessionId)).catch(() => undefined);
    }
    sub?.unsubscribe();
    // With no grace the teardown started synchronously: wait for it, as callers expect ffmpeg gone.
    if (this.viewers.size === 0 && (this.opts.graceMs ?? LIVE_GRACE_MS) <= 0) await this.teardown;
  }

  /**
   * Queues a prompt; the tracker applies it between two frames, to the frame the message names
   * when that frame is still held, else to the newest tracked frame. With `newObject` the server
   * picks the object id (the message's `objectId` is ignored) and the result says which.
   */
  prompt(sessionId: string, msg: AddPoints | AddBox | AddMask): Promise<PromptApplied> {
    const run = this.liveRun();
    if (!run) return Promise.reject(new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'the live source is not running'));
    const objectId = (msg as { newObject?: boolean }).newObject ? run.nextObjectId++ : msg.objectId;
    run.nextObjectId = Math.max(run.nextObjectId, objectId + 1);
    let prompt: StreamPrompt;
    if (msg.type === 'addPoints') prompt = { objectId, points: msg.points, clearOld: msg.clearOld ?? true };
    else if (msg.type === 'addBox') prompt = { objectId, box: msg.box, points: msg.points ?? [] };
    else {
      const [h, w] = msg.rle.size;
      if (h !== this.height || w !== this.width) return Promise.reject(new CinesegError(ErrorCode.E_MASK_INVALID, `mask is ${w}x${h}, the live video is ${this.width}x${this.height}`));
      let mask: Uint8Array;
      try {
        // The one COCO RLE decoder (mask/rle.ts): E_RLE_INVALID unless the counts cover h x w.
        mask = decodeMask({ size: [h, w], counts: msg.rle.counts });
      } catch (e) {
        return Promise.reject(e);
      }
      prompt = { objectId, mask };
    }
    return new Promise((resolve, reject) => {
      run.ops.push({ kind: 'prompt', sessionId, msg, prompt, resolve, reject });
      this.exclusive(() => this.runOps(run)).catch(() => undefined);
    });
  }

  /**
   * Freezes a viewer's picture on live frame `frame` (see live-freeze.ts): resolves with the frame
   * kept — that one while the tracker held it, else its newest tracked frame.
   */
  freeze(sessionId: string, frame: number): Promise<FrameAt> {
    const run = this.liveRun();
    if (!run) return Promise.reject(new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'the live source is not running'));
    return new Promise((resolve, reject) => {
      run.ops.push({ kind: 'freeze', sessionId, frame, resolve, reject });
      this.exclusive(() => this.runOps(run)).catch(() => undefined);
    });
  }

  /** Releases a viewer's frozen frame (no-op when it has none). */
  unfreeze(sessionId: string): Promise<void> {
    const run = this.liveRun();
    if (!run) return Promise.resolve();
    return new Promise((resolve, reject) => {
      run.ops.push({ kind: 'unfreeze', sessionId, resolve, reject });
      this.exclusive(() => this.runOps(run)).catch(() => undefined);
    });
  }

  /** Removes an object from the tracker (its memory is freed) and tells every client. */
  removeObject(objectId: number): Promise<void> {
    const run = this.liveRun();
    if (!run) return Promise.reject(new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'the live source is not running'));
    return new Promise((resolve, reject) => {
      run.ops.push({ kind: 'remove', objectId, resolve, reject });
      this.exclusive(() => this.runOps(run)).catch(() => undefined);
    });
  }

  /** Names an object in the current run's record. */
  async renameObject(objectId: number, name: string): Promise<void> {
    const run = this.liveRun();
    if (!run) throw new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'the live source is not running');
    await this.opts.sink.labelObject(run.recordId, objectId, name);
  }

  /** Stops decoding and tracking now, grace or not; the next subscriber starts afresh (a new record). */
  async stop(): Promise<void> {
    this.kill.next();
    await this.opening?.catch(() => undefined);
    await this.teardown;
  }

  async destroy(): Promise<void> {
    for (const sub of this.viewers.values()) sub.unsubscribe();
    this.viewers.clear();
    await this.stop();
  }

  private liveRun(): Run | null {
    const r = this.run;
    return r && !r.closed ? r : null;
  }

  /** Runs `fn` after the frames and prompts before it: the tracker does one thing at a time. */
  private exclusive(fn: () => Promise<void>): Promise<void> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private openRun(): Promise<Run> {
    const p = (async () => {
      await this.teardown;
      const { reconnect, log } = this.opts;
      const source = await LiveSource.open(this.opts.input, {
        ...(this.opts.inputOptions ? { inputOptions: [...this.opts.inputOptions] } : {}),
        ...(reconnect ? { reconnect } : {}),
        ...(log ? { log } : {}),
        onAttempt: () => this.opts.metrics?.liveReconnects.inc(),
      });
      if (source.info) this.fps = source.info.fps || 30;
      let gotFirst!: () => void;
      let failFirst!: (e: unknown) => void;
      const firstFrame = new Promise<void>((res, rej) => {
        gotFirst = res;
        failFirst = rej;
      });
      firstFrame.catch(() => undefined);
      const run: Run = { source, recordId: randomUUID(), tracker: null, jpeg: null, held: [], ops: [], notices: new Subject(), firstFrame, gotFirst, failFirst, recordStarted: false, recordTriedMs: -Infinity, nextObjectId: 1, freezes: new LiveFreezes(), closed: false };
      this.recordId = run.recordId;
      this.decoderDropsSeen = 0;
      this.lastFailure = null;
      this.width = 0;
      this.height = 0;
      this.run = run;
      return run;
    })();
    this.opening = p;
    const clear = () => {
      if (this.opening === p) this.opening = null;
    };
    p.then(clear, clear);
    return p;
  }

  private async closeRun(run: Run): Promise<void> {
    run.closed = true;
    run.failFirst(new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'live source ended before its first frame'));
    // Killing the source ends the frames; the encoder goes before waiting for the tracker, so a
    // frame waiting for its JPEG cannot hold it.
    await run.source.destroy();
    await run.jpeg?.destroy();
    await this.chain;
    run.tracker?.destroy();
    run.tracker = null;
    await run.jpeg?.destroy();
    run.jpeg = null;
    run.held = [];
    run.freezes.clear();
    for (const o of run.ops.splice(0)) o.reject(new CinesegError(ErrorCode.E_CANCELLED, 'live source stopped'));
    run.notices.complete();
    if (run.recordStarted) {
      run.recordStarted = false;
      await this.flushStore(run);
      await this.opts.sink.closeSession(run.recordId).catch((e: unknown) => this.opts.log?.(`live: closing the record failed: ${toCinesegError(e).toLine()}`));
    }
  }

  private arrived(run: Run, frame: Frame): { frame: Frame; sourceMs: number } {
    this.framesIn++;
    if (this.width === 0) {
      this.width = frame.width;
      this.height = frame.height;
      run.gotFirst();
    }
    return { frame, sourceMs: wallMs() };
  }

  private deliver(v: LiveViewer, ev: LiveEvent): void {
    const out = v.output;
    if (ev.kind === 'json') out.json(ev.msg(v));
    else if (ev.kind === 'picture') {
      out.binary(encodeLivePicture({ handle: v.handle, frame: ev.frame, jpeg: ev.jpeg }));
      this.gotPicture.set(v, ev.frame);
    } else if (ev.kind === 'masks') for (const m of ev.masks) out.binary(this.encodeMask(v, m));
    else {
      const f = ev.frame;
      // A viewer that joined after the picture went out gets it in the frame message.
      const jpeg = this.gotPicture.get(v) === f.index ? NO_JPEG : ev.jpeg;
      out.binary(encodeLiveFrame({ handle: v.handle, frame: f.index, drops: ev.drops, ptsUs: f.ptsUs, sourceMs: ev.sourceMs, width: f.width, height: f.height, objects: ev.objects, serverUs: ev.serverUs, jpeg }));
    }
  }

  private readonly gotPicture = new WeakMap<LiveViewer, number>();

  /** One tracked frame as events; the work waits its turn with prompts (see `exclusive`). */
  private frameEvents(run: Run, frame: Frame, sourceMs: number): Observable<LiveEvent> {
    return new Observable<LiveEvent>((out) => {
      const emit = (ev: LiveEvent) => {
        if (!out.closed) out.next(ev);
      };
      this.exclusive(async () => {
        if (run.closed) return;
        try {
          await this.processFrame(run, frame, sourceMs, emit);
        } catch (e) {
          this.frameFailed(run, frame.index, toCinesegError(e));
        }
        // Prompts that waited for a first tracked frame (or came meanwhile) go before the next frame.
        await this.runOps(run);
      }).then(
        () => out.complete(),
        () => out.complete(),
      );
    });
  }

  private async runOps(run: Run): Promise<void> {
    while (!run.closed) {
      // A prompt needs a tracked frame to land on; before the first one it waits.
      const op = run.ops.find((o) => o.kind === 'remove' || o.kind === 'unfreeze' || run.held.length > 0);
      if (!op) return;
      run.ops.splice(run.ops.indexOf(op), 1);
      await this.runOp(run, op);
    }
  }

  private async runOp(run: Run, op: Op): Promise<void> {
    try {
      if (op.kind === 'remove') {
        if (!run.tracker?.removeObject(op.objectId)) throw new CinesegError(ErrorCode.E_OBJECT_UNKNOWN, `object ${op.objectId} is not tracked`);
        // Buffered masks of the object would bring it back in the store: they go first.
        await this.flushStore(run);
        await this.opts.sink.removeObject(run.recordId, op.objectId);
        run.notices.next({ kind: 'json', msg: (v) => ({ v: PROTOCOL_VERSION, type: 'objectRemoved', seq: null, sessionId: v.sessionId, objectId: op.objectId }) });
        op.resolve();
        return;
      }
      if (op.kind === 'unfreeze') {
        run.freezes.release(run.tracker, op.sessionId);
        op.resolve();
        return;
      }
      if (op.kind === 'freeze') {
        const wanted = run.held.find((h) => h.frame === op.frame) ?? run.freezes.find(op.frame);
        op.resolve(run.freezes.freeze(run.tracker!, op.sessionId, wanted, run.held.at(-1)!));
        return;
      }
      // Acknowledged means stored: without a record there is nowhere to store the prompt.
      await this.ensureRecord(run, true);
      // A frame a viewer froze stays promptable after it left the held ones (live-freeze.ts).
      const at = run.held.find((h) => h.frame === op.msg.frame) ?? run.freezes.find(op.msg.frame) ?? run.held.at(-1)!;
      const objectId = op.prompt.objectId;
      const [res] = await run.tracker!.promptAt(at.frame, [op.prompt], { retrack: false });
      const mask = this.maskOf(objectId, res!.output, at, 'prompt');
      // The held frames after it, tracked again from the corrected memory: what viewers saw there
      // is replaced. The prompt stands if that fails (the next frames are tracked from it anyway).
      let later: SinkMask[] = [];
      try {
        const again = (await run.tracker!.retrackAfter(at.frame, [objectId])).get(objectId) ?? [];
        later = again.map((l) => this.maskOf(objectId, l.output, run.held.find((h) => h.frame === l.frame)!, 'propagate'));
      } catch (e) {
        this.frameFailed(run, at.frame, toCinesegError(e));
      }
      const m = op.msg;
      let p: SinkPrompt;
      if (m.type === 'addPoints') p = { kind: 'points', objectId, frame: at.frame, points: m.points, clearOld: op.prompt.clearOld ?? true };
      else if (m.type === 'addBox') p = { kind: 'box', objectId, frame: at.frame, box: m.box, points: m.points ?? [] };
      else p = { kind: 'mask', objectId, frame: at.frame, counts: m.rle.counts };
      // A buffered tracked mask of this frame must not land after (and supersede) the prompt's.
      await this.flushStore(run);
      // Confirmed: stored before anyone sees it.
      await this.opts.sink.putPrompt(run.recordId, p);
      await this.opts.sink.putMasks(run.recordId, [mask, ...later]);
      run.notices.next({ kind: 'masks', masks: [mask, ...later] });
      op.resolve({ frame: at.frame, ptsUs: at.ptsUs, objectId });
    } catch (e) {
      op.reject(e);
    }
  }

  /**
   * Starts the run's record once the write committed: a record that failed to start is tried
   * again (at most once a second) while the view goes on, and prompts meanwhile fail instead of
   * being acknowledged and dropped.
   */
  private async ensureRecord(run: Run, mustStart: boolean): Promise<void> {
    if (run.recordStarted) return;
    if (!mustStart && performance.now() - run.recordTriedMs < 1000) return;
    run.recordTriedMs = performance.now();
    try {
      await this.opts.sink.startSession({ sessionId: run.recordId, kind: 'live', source: this.opts.input, width: this.width, height: this.height, fps: this.fps, numFrames: null });
      run.recordStarted = true;
    } catch (e) {
      if (mustStart) throw e;
      this.opts.log?.(`live: starting the record failed (prompts are refused until it starts): ${toCinesegError(e).toLine()}`);
    }
  }

  private maskOf(objectId: number, out: FrameOutput, at: { frame: number; ptsUs: number }, origin: SinkMask['origin']): SinkMask {
    const L = this.opts.sessions.bundle.lowResMaskSize;
    return { objectId, frame: at.frame, ptsUs: at.ptsUs, score: out.objectScore, counts: logitsToRle(out.predMasks, L, L, this.height, this.width).counts, origin };
  }

  private encodeMask(v: LiveViewer, m: SinkMask): Uint8Array {
    return encodeMaskFrame({ handle: v.handle, frame: m.frame, objectId: m.objectId, ptsUs: m.ptsUs, width: this.width, height: this.height, score: m.score, counts: m.counts });
  }

  /**
   * Tells everyone watching that a frame failed. A broken model or encoder fails every frame in
   * the same way: that is said once (again after REPEAT_ERROR_MS), not 30 times a second.
   */
  private frameFailed(run: Run, index: number, err: CinesegError): void {
    this.frameFailures++;
    const key = `${err.code} ${err.message}`;
    const now = performance.now();
    if (this.lastFailure?.key === key && now - this.lastFailure.at < REPEAT_ERROR_MS) return;
    this.lastFailure = { key, at: now };
    this.opts.log?.(`live frame ${index}: ${err.toLine()} (${this.frameFailures} failed frame(s) in all)`);
    run.notices.next({ kind: 'json', msg: () => ({ v: PROTOCOL_VERSION, type: 'error', code: err.code, message: err.message, seq: null }) });
  }

  private async processFrame(run: Run, frame: Frame, sourceMs: number, emit: (ev: LiveEvent) => void): Promise<void> {
    const S = this.opts.sessions.bundle.imageSize;
    await this.ensureRecord(run, false);
    run.jpeg ??= new JpegEncoder(frame.width, frame.height, this.opts.jpegQuality ?? 5);
    run.tracker ??= new StreamTracker(this.opts.sessions, {
      width: frame.width,
      height: frame.height,
      memory: true,
      holdFrames: this.holdFrames,
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
      this.frameFailed(run, frame.index, toCinesegError(e));
    }
    this.trackMs = performance.now() - t0;
    if (tracked) {
      run.held.push({ frame: frame.index, ptsUs: frame.ptsUs });
      if (run.held.length > this.holdFrames) run.held.shift();
    }
    const at = { frame: frame.index, ptsUs: frame.ptsUs };
    const masks = (tracked?.objects ?? []).map((o) => this.maskOf(o.objectId, o.output, at, 'propagate'));
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
    if (jpeg.length > 0) this.opts.pictures?.put(run.recordId, frame.index, jpeg);
    // The encoder has read the whole picture (its JPEG came back) and the model has its own
    // small copy: the pixels can take the next frame.
    run.source.recycle(frame);
    const decoderDrops = run.source.stats.framesDropped;
    if (decoderDrops > this.decoderDropsSeen) {
      this.opts.metrics?.liveDropped.inc({}, decoderDrops - this.decoderDropsSeen);
      this.decoderDropsSeen = decoderDrops;
    }
    const dropsNow = this.drops + decoderDrops;
    const serverUs = (wallMs() - sourceMs) * 1000;
    if (masks.length) emit({ kind: 'masks', masks });
    emit({ kind: 'frame', frame, sourceMs, drops: dropsNow, objects: masks.length, serverUs, jpeg });
    this.framesSent++;
    this.opts.metrics?.frameTracked('live');
    this.opts.metrics?.liveLatency.observe((wallMs() - sourceMs) / 1000);
    try {
      await run.tracker?.flushMemory();
    } catch (e) {
      this.frameFailed(run, frame.index, toCinesegError(e));
    }
    // Tracked masks are stored after the frame went out: they are a record, not a confirmation.
    await this.keepTracked(run, masks);
    const now = performance.now();
    if (now - this.lastStats > 500) {
      this.lastStats = now;
      const stats = { framesIn: this.framesIn, framesSent: this.framesSent, drops: dropsNow, trackMs: this.trackMs };
      emit({ kind: 'json', msg: (v) => ({ v: PROTOCOL_VERSION, type: 'liveStats', seq: null, sessionId: v.sessionId, ...stats }) });
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
  private async keepTracked(run: Run, masks: SinkMask[]): Promise<void> {
    if (!run.recordStarted) return;
    const every = this.opts.storeIntervalMs ?? LIVE_STORE_INTERVAL_MS;
    const now = performance.now();
    if (every >= 0 && masks.length > 0 && now - this.lastStoredMs >= every) {
      this.lastStoredMs = now;
      this.storeBuf.push(...masks);
    }
    if (now - this.lastFlushMs >= STORE_FLUSH_MS) await this.flushStore(run);
  }

  private async flushStore(run: Run): Promise<void> {
    this.lastFlushMs = performance.now();
    if (this.storeBuf.length === 0) return;
    const batch = this.storeBuf;
    this.storeBuf = [];
    try {
      await this.opts.sink.putMasks(run.recordId, batch);
    } catch (e) {
      this.opts.log?.(`live: storing ${batch.length} tracked masks failed: ${toCinesegError(e).toLine()}`);
    }
  }
}
