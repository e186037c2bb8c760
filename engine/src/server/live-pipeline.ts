/**
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
 *
 * This file holds the flow and the run's lifecycle; one run's state is a LiveRun (live-run.ts), its
 * record a LiveRecord (live-record.ts), the work on a frame LiveFrameWork (live-frame-work.ts) and
 * the queued prompts, removals and freezes live-ops.ts. Frames and operations share one exclusive
 * chain (the tracker does one thing at a time), kept here.
 */
import { randomUUID } from 'node:crypto';
import { map, merge, Observable, Subject, takeUntil, tap, type Subscription } from 'rxjs';
import type { Frame } from '../decode/frame-decoder.js';
import { LiveSource, type LiveSourceStats, type ReconnectOptions } from '../decode/live-source.js';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import { encodeLiveFrame, encodeLivePicture, encodeMaskFrame, PROTOCOL_VERSION, type AddBox, type AddMask, type AddPoints } from '../protocol.js';
import { latestWhenIdle, shareWithGrace, usingAsync } from '../source/rx-live-flow.js';
import type { SamOptions } from '../track/tracking-engine.js';
import type { StreamPrompt } from '../track/stream-tracker.js';
import type { AnnotationSink, SinkMask } from './annotation-sink.js';
import type { FrameAt } from './live-freezes.js';
import { LiveFrameWork } from './live-frame-work.js';
import { runOps, streamPromptOf } from './live-ops.js';
import type { LivePictureStore } from './live-picture-store.js';
import { LiveRecord } from './live-record.js';
import { LiveRun, type LiveEvent, type LiveViewer, type PromptApplied } from './live-run.js';
import type { ServerMetrics } from './metrics.js';
import { wallMs } from './wall-clock.js';

export { LIVE_STORE_INTERVAL_MS } from './live-record.js';
export type { LiveViewer, PromptApplied } from './live-run.js';

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
 * A browser reload takes a few seconds, a dropped Wi-Fi connection a few more: 30 s covers both,
 * while a source nobody watches is not decoded and tracked for long.
 */
export const LIVE_GRACE_MS = 30_000;
const NO_JPEG = new Uint8Array(0);

export class LivePipeline {
  private readonly viewers = new Map<LiveViewer, Subscription>();
  private readonly holdFrames: number;
  private readonly kill = new Subject<void>();
  private readonly events: Observable<LiveEvent>;
  private readonly frameWork: LiveFrameWork;
  private run: LiveRun | null = null;
  /** The run being opened (set as the first viewer subscribes, before LiveSource.open resolves). */
  private opening: Promise<LiveRun> | null = null;
  /** The previous run's teardown: a new run starts after it (one ffmpeg, one record at a time). */
  private teardown: Promise<void> = Promise.resolve();
  /** Runs whose teardown has not finished (`active` until their ffmpeg is gone and the record closed). */
  private closing = 0;
  /** Frames run one at a time with prompts, which go first (see `exclusive`). */
  private chain: Promise<void> = Promise.resolve();
  private readonly gotPicture = new WeakMap<LiveViewer, number>();
  /** The id prompts and masks of the current run of the source are stored under. */
  recordId: string = randomUUID();
  fps = 30;
  framesIn = 0;
  framesSent = 0;
  drops = 0;
  trackMs = 0;
  /** Frames whose tracking or encoding failed (they went out as pictures only). */
  frameFailures = 0;

  constructor(readonly opts: LivePipelineOptions) {
    this.holdFrames = Math.max(1, Math.floor(opts.holdFrames ?? 6));
    this.frameWork = new LiveFrameWork({ ...opts, holdFrames: this.holdFrames }, this);
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
              run.failedFirst(err);
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

  /** The current run's video size (0 until its first frame). */
  get width(): number {
    return this.run?.width ?? 0;
  }

  get height(): number {
    return this.run?.height ?? 0;
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
    try {
      prompt = streamPromptOf(run, msg, objectId);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      run.ops.push({ kind: 'prompt', sessionId, msg, prompt, resolve, reject });
      this.exclusive(() => runOps(run)).catch(() => undefined);
    });
  }

  /**
   * Freezes a viewer's picture on live frame `frame` (see live-freezes.ts): resolves with the frame
   * kept — that one while the tracker held it, else its newest tracked frame.
   */
  freeze(sessionId: string, frame: number): Promise<FrameAt> {
    const run = this.liveRun();
    if (!run) return Promise.reject(new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'the live source is not running'));
    return new Promise((resolve, reject) => {
      run.ops.push({ kind: 'freeze', sessionId, frame, resolve, reject });
      this.exclusive(() => runOps(run)).catch(() => undefined);
    });
  }

  /** Releases a viewer's frozen frame (no-op when it has none). */
  unfreeze(sessionId: string): Promise<void> {
    const run = this.liveRun();
    if (!run) return Promise.resolve();
    return new Promise((resolve, reject) => {
      run.ops.push({ kind: 'unfreeze', sessionId, resolve, reject });
      this.exclusive(() => runOps(run)).catch(() => undefined);
    });
  }

  /** Removes an object from the tracker (its memory is freed) and tells every client. */
  removeObject(objectId: number): Promise<void> {
    const run = this.liveRun();
    if (!run) return Promise.reject(new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'the live source is not running'));
    return new Promise((resolve, reject) => {
      run.ops.push({ kind: 'remove', objectId, resolve, reject });
      this.exclusive(() => runOps(run)).catch(() => undefined);
    });
  }

  /** Names an object in the current run's record. */
  async renameObject(objectId: number, name: string): Promise<void> {
    const run = this.liveRun();
    if (!run) throw new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'the live source is not running');
    await run.record.labelObject(objectId, name);
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

  private liveRun(): LiveRun | null {
    const r = this.run;
    return r && !r.closed ? r : null;
  }

  /** Runs `fn` after the frames and prompts before it: the tracker does one thing at a time. */
  private exclusive(fn: () => Promise<void>): Promise<void> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private openRun(): Promise<LiveRun> {
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
      const { sink, input, storeIntervalMs } = this.opts;
      const record = new LiveRecord({ sink, input, ...(storeIntervalMs !== undefined ? { storeIntervalMs } : {}), ...(log ? { log } : {}) });
      const run = new LiveRun({ source, record, fps: this.fps, lowResMaskSize: this.opts.sessions.bundle.lowResMaskSize, counters: this, ...(log ? { log } : {}) });
      this.recordId = record.id;
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

  private async closeRun(run: LiveRun): Promise<void> {
    run.closed = true;
    run.failedFirst(new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'live source ended before its first frame'));
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
    await run.record.close();
  }

  private arrived(run: LiveRun, frame: Frame): { frame: Frame; sourceMs: number } {
    run.arrived(frame);
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
      out.binary(
        encodeLiveFrame({
          handle: v.handle,
          frame: f.index,
          drops: ev.drops,
          ptsUs: f.ptsUs,
          sourceMs: ev.sourceMs,
          width: f.width,
          height: f.height,
          objects: ev.objects,
          serverUs: ev.serverUs,
          jpeg,
        }),
      );
    }
  }

  /** One tracked frame as events; the work waits its turn with prompts (see `exclusive`). */
  private frameEvents(run: LiveRun, frame: Frame, sourceMs: number): Observable<LiveEvent> {
    return new Observable<LiveEvent>((out) => {
      const emit = (ev: LiveEvent) => {
        if (!out.closed) out.next(ev);
      };
      this.exclusive(async () => {
        if (run.closed) return;
        try {
          await this.frameWork.process(run, frame, sourceMs, emit);
        } catch (e) {
          run.frameFailed(frame.index, toCinesegError(e));
        }
        // Prompts that waited for a first tracked frame (or came meanwhile) go before the next frame.
        await runOps(run);
      }).then(
        () => out.complete(),
        () => out.complete(),
      );
    });
  }

  private encodeMask(v: LiveViewer, m: SinkMask): Uint8Array {
    return encodeMaskFrame({ handle: v.handle, frame: m.frame, objectId: m.objectId, ptsUs: m.ptsUs, width: this.width, height: this.height, score: m.score, counts: m.counts });
  }
}
