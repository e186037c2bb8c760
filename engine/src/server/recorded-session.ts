/**
 * One annotation session on a recorded clip: the clip's frames at the model's size, a
 * {@link VideoTracker}, the log of prompts and support, and at most one propagation at a time.
 * Every mask goes to the sink first and to the client after.
 *
 * Bounded whatever the clip's length: frames are decoded on demand through a cache of a fixed
 * size (track/decoded-frames.ts: seeks and backward windows), and the tracker keeps whole only what SAM 2
 * can still select, packing finished frames to their masks (memory-rehydration.ts). Opening a
 * clip therefore decodes only its first frame (a clip that fits in the cache is decoded whole, so
 * a damaged short file still fails at open). {@link RecordedSession.restore} reopens a stored
 * session from its masks without tracking again.
 *
 * Support (addSupport): a stored session's masks on its own clip become memories of objects here
 * (support-set.ts), so they are found with no click. The memories are built once and kept in the
 * log: a rebuilt tracker gets them back as they were, not from the source's masks of that moment.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { logitsToRle } from '../mask/logits-rle.js';
import { decodeMask } from '../mask/rle.js';
import { ModelSessions } from '../model/ort-sessions.js';
import {
  encodeMaskFrame,
  PROTOCOL_VERSION,
  type AddBox,
  type AddMask,
  type AddPoints,
  type AddSupport,
  type Propagate,
  type SessionStarted,
  type PromptsMessage,
  type RemovePrompt,
  type ClearFrame,
  type Undo,
  type Redo,
} from '../protocol.js';
import type { FrameOutput } from '../track/object-state.js';
import { NO_OBJ_SCORE, stabilityScore, type SamOptions } from '../track/tracking-engine.js';
import { VideoTracker } from '../track/video-tracker.js';
import { DecodedFrames } from '../track/decoded-frames.js';
import type { AnnotationSink, SinkMask, SinkPrompt } from './annotation-sink.js';
import type { CatalogClip } from './clip-catalog.js';
import type { HlsProgress } from './hls-cache.js';
import { ClipProgressOutput } from './clip-progress-output.js';
import { restoreTracker, type RestoredState } from './recorded-restore.js';
import { SessionHistory } from './prompt-history.js';
import { framesToVisit, supportRecords, withoutObject, type Step } from './session-log.js';
import { prepareSupport } from './support-request.js';

/** What a session reports to the server around it (metrics). */
export interface RecordedSessionHooks {
  /** A propagation produced one frame's masks. */
  frameTracked?(): void;
  /** SAM 2 predictor flags of this session's tracker (server defaults merged with startSession's). */
  sam?: SamOptions;
  /**
   * Makes the clip ready for playback in the background (HlsCache.prepare): the session opens
   * at once and its client gets `clipProgress` messages meanwhile.
   */
  clipMedia?: { prepare(file: string, onProgress: (p: HlsProgress) => void): () => void };
  /** Facts stored with a new session's record (the model id it runs on, who made it). */
  sessionMeta?: Record<string, unknown>;
}

/**
 * Frames at the model's size a session holds: 96 MB of pixels (32 frames at 1024 px, 256 at the
 * tiny model's 256 px), at least 16 so a backward window (16 frames) fits with the prefetch.
 */
export function recordedCacheFrames(imageSize: number): number {
  return Math.max(16, Math.min(256, Math.floor((96 * 2 ** 20) / (imageSize * imageSize * 3))));
}

export type { RestoredState } from './recorded-restore.js';

export class RecordedSession {
  readonly kind = 'recorded' as const;
  readonly output = new ClipProgressOutput();
  private tracker: VideoTracker;
  /** Prompts and support in the order they were applied. */
  private readonly steps: Step[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private propagation: { cancelled: boolean; done: Promise<void> } | null = null;
  private destroyed = false;
  readonly framePtsUs: number[];
  /** Prompt ids, undo / redo (prompt-history.ts). */
  private readonly history: SessionHistory;

  private constructor(
    readonly sessionId: string,
    readonly handle: number,
    readonly clip: CatalogClip,
    private readonly sessions: ModelSessions,
    private readonly frames: DecodedFrames,
    private readonly sink: AnnotationSink,
    private readonly hooks: RecordedSessionHooks = {},
  ) {
    this.tracker = this.newTracker();
    this.history = new SessionHistory({
      sessionId,
      sink,
      width: frames.info.width,
      height: frames.info.height,
      steps: this.steps,
      tracker: () => this.tracker,
      apply: (p) => this.apply(this.tracker, p),
      emit: async (items) => void (await this.emitMasks(items, 'prompt')),
      resend: async (masks) => {
        for (const m of masks)
          this.output.binary(
            encodeMaskFrame({ handle, frame: m.frame, objectId: m.objectId, ptsUs: this.framePtsUs[m.frame] ?? 0, width: this.width, height: this.height, score: m.score, counts: m.counts }),
          );
        await this.output.drained();
      },
      dropObject: (id) => this.dropObject(id),
      json: (m) => this.output.json(m),
    });
    this.framePtsUs = Array.from({ length: frames.numFrames }, (_, i) => frames.ptsUs(i) ?? 0);
    this.stopMedia =
      hooks.clipMedia?.prepare(clip.path, (p) => {
        if (!this.destroyed) this.output.progress({ v: PROTOCOL_VERSION, type: 'clipProgress', seq: null, sessionId: this.sessionId, clip: clip.id, ...p });
      }) ?? null;
  }

  private readonly stopMedia: (() => void) | null;

  /**
   * Opens the clip at the model's size (its first frame decoded, every frame's PTS known from a
   * demux pass) and registers the session.
   */
  static async open(sessionId: string, handle: number, clip: CatalogClip, sessions: ModelSessions, sink: AnnotationSink, hooks: RecordedSessionHooks = {}): Promise<RecordedSession> {
    const frames = await DecodedFrames.open(clip.path, sessions.bundle.imageSize, { cacheFrames: recordedCacheFrames(sessions.bundle.imageSize) });
    let s: RecordedSession | null = null;
    try {
      await frames.getFrame(0);
      s = new RecordedSession(sessionId, handle, clip, sessions, frames, sink, hooks);
      const info = frames.info;
      await sink.startSession({
        sessionId,
        kind: 'recorded',
        source: clip.path,
        width: info.width,
        height: info.height,
        fps: info.fps,
        numFrames: frames.numFrames,
        ...(hooks.sam || hooks.sessionMeta ? { meta: { ...(hooks.sam ? { sam: hooks.sam } : {}), ...hooks.sessionMeta } } : {}),
      });
      return s;
    } catch (e) {
      s?.stopMedia?.();
      await frames.destroy();
      throw e;
    }
  }

  /**
   * Reopens a stored session without tracking again (after a restart or a crash):
   *
   *   `RecordedSession.restore(sessionId: string, handle: number, clip: CatalogClip,
   *     sessions: ModelSessions, sink: AnnotationSink, hooks: RecordedSessionHooks,
   *     state: RestoredState): Promise<RecordedSession>`
   *
   * The session keeps its id and writes to `sink` as before; nothing is written by the restore
   * itself (the stored masks are already stored; the sink must already hold the session: no
   * startSession). Each object comes back through VideoTracker.restoreObject: prompted frames
   * are its conditioning frames, their outputs rebuilt from their stored masks when memory
   * selection first needs them, the other masks packed, so corrections and propagation go on from
   * any frame, the memory encoder running lazily on the stored masks that a step selects. Support
   * is rebuilt from its source sessions (sink.supportSource), as addSupport built it. The stored
   * masks reach a client through the caller (session-restore.ts deliverReopened), not from here.
   * @throws CinesegError from opening the clip; E_RLE_INVALID / E_MASK_INVALID for a stored mask
   *   that does not fit the clip; E_TRACKER_STATE for an object with neither a prompt nor support
   */
  static async restore(
    sessionId: string,
    handle: number,
    clip: CatalogClip,
    sessions: ModelSessions,
    sink: AnnotationSink,
    hooks: RecordedSessionHooks,
    state: RestoredState,
  ): Promise<RecordedSession> {
    const frames = await DecodedFrames.open(clip.path, sessions.bundle.imageSize, { cacheFrames: recordedCacheFrames(sessions.bundle.imageSize) });
    let s: RecordedSession | null = null;
    try {
      await frames.getFrame(0);
      s = new RecordedSession(sessionId, handle, clip, sessions, frames, sink, hooks);
      await s.restoreFrom(state);
      return s;
    } catch (e) {
      s?.stopMedia?.();
      s?.tracker.destroy();
      await frames.destroy();
      throw e;
    }
  }

  private async restoreFrom(state: RestoredState): Promise<void> {
    const support = await restoreTracker(this.tracker, this.sink, state, this.width, this.height);
    for (const { record, memories } of support) this.steps.push({ kind: 'support', record, memories });
    this.steps.push(...state.prompts);
    this.history.restore(state.dormant ?? [], state.objects ?? []);
  }

  get width(): number {
    return this.frames.info.width;
  }

  get height(): number {
    return this.frames.info.height;
  }

  /** The session's tracker (tests and benches read its counters and state; the session owns it). */
  get videoTracker(): VideoTracker {
    return this.tracker;
  }

  /** Its frames (tests and benches read the decode counters). */
  get decodedFrames(): DecodedFrames {
    return this.frames;
  }

  get propagating(): boolean {
    return this.propagation !== null;
  }

  started(seq: number): SessionStarted {
    const i = this.frames.info;
    return {
      v: PROTOCOL_VERSION,
      type: 'sessionStarted',
      seq,
      sessionId: this.sessionId,
      handle: this.handle,
      kind: 'recorded',
      width: i.width,
      height: i.height,
      fps: i.fps,
      numFrames: this.frames.numFrames,
      framePtsUs: this.framePtsUs,
      clip: this.clip.id,
      recordId: this.sessionId,
    };
  }

  /**
   * Applies a prompt, stores it, its mask and its edit, sends the mask and the `prompts` message;
   * says which frame it went to, the stored prompt's id and the resulting mask's area and score.
   */
  prompt(msg: AddPoints | AddBox | AddMask): Promise<{ frame: number; ptsUs: number; promptId: number; empty: boolean; objectScore: number }> {
    this.idle();
    let p: SinkPrompt;
    if (msg.type === 'addPoints') p = { kind: 'points', objectId: msg.objectId, frame: msg.frame, points: msg.points, clearOld: msg.clearOld ?? true };
    else if (msg.type === 'addBox') p = { kind: 'box', objectId: msg.objectId, frame: msg.frame, box: msg.box, points: msg.points ?? [] };
    else {
      const [h, w] = msg.rle.size;
      if (h !== this.height || w !== this.width) throw new CinesegError(ErrorCode.E_MASK_INVALID, `mask is ${w}x${h}, the clip is ${this.width}x${this.height}`);
      p = { kind: 'mask', objectId: msg.objectId, frame: msg.frame, counts: msg.rle.counts };
    }
    return this.serial(async () => {
      const out = await this.apply(this.tracker, p);
      this.steps.push(p);
      const promptId = await this.history.added(p, await this.sink.putPrompt(this.sessionId, p));
      const [m] = await this.emitMasks([{ objectId: p.objectId, frame: p.frame, output: out }], 'prompt');
      await this.history.send(msg.seq);
      return { frame: p.frame, ptsUs: this.framePtsUs[p.frame] ?? 0, promptId, empty: m!.counts.every((c, i) => i % 2 === 0 || c === 0), objectScore: out.objectScore };
    });
  }

  /** removePrompt, clearFrame, undo, redo (prompt-history.ts): masks and `prompts` sent, then it resolves with what the ack names. */
  edit(msg: RemovePrompt | ClearFrame | Undo | Redo): Promise<{ frame?: number; objectId?: number }> {
    this.idle();
    return this.serial(async () => {
      const at = await this.history.edit(msg);
      await this.history.send(msg.seq);
      return at;
    });
  }

  /** The `prompts` message as the session is now (sent after sessionStarted of openSession / resume). */
  promptsMessage(seq: number | null): Promise<PromptsMessage> {
    return this.history.message(seq);
  }

  /**
   * Runs propagation in the background, streaming masks. Resolves when it has started (the request
   * is acknowledged then) or rejects when it cannot; once started, its progress and final
   * `propagateDone` carry the request's seq.
   */
  propagate(msg: Propagate): Promise<void> {
    this.idle();
    // Refused here, not acknowledged and then failed in the background.
    if (msg.startFrame !== undefined && msg.startFrame >= this.frames.numFrames) {
      throw new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `start frame ${msg.startFrame} is outside the clip (0..${this.frames.numFrames - 1})`);
    }
    // Busy from the request on: a prompt or removal sent after it waits for it, as the client ordered.
    const state = { cancelled: false, done: Promise.resolve() };
    this.propagation = state;
    let settleStart!: (err?: CinesegError) => void;
    const started = new Promise<void>((resolve, reject) => {
      settleStart = (err) => (err ? reject(err) : resolve());
    });
    state.done = this.serial(async () => {
      try {
        // Checked behind the prompts and removals queued before this request, not against the
        // tracker as it is when the request arrives: a removal still in the queue would otherwise
        // leave an acknowledged propagation with no object to track.
        if (this.tracker.objectIds.length === 0) {
          settleStart(new CinesegError(ErrorCode.E_TRACKER_STATE, 'no object has a prompt; click an object first'));
          return;
        }
        settleStart();
        // Propagation yields to live frames and to prompts (any session's) in the run queue.
        await ModelSessions.withPriorityScope('propagate', () => this.runPropagation(msg, state));
      } finally {
        if (this.propagation === state) this.propagation = null;
      }
    });
    // A failure before the start was settled (the tracker gone under it) must neither leave the
    // request unanswered nor reject `done` unhandled (nobody awaits it unless cancelling).
    state.done.catch((e: unknown) => settleStart(e instanceof CinesegError ? e : new CinesegError(ErrorCode.E_INTERNAL, (e as Error).message)));
    return started;
  }

  private async runPropagation(msg: Propagate, state: { cancelled: boolean }): Promise<void> {
    let frames = 0;
    const dirs = msg.direction === 'both' ? [false, true] : [msg.direction === 'backward'];
    const total = framesToVisit(this.steps, this.tracker.objectIds, msg, this.frames.numFrames);
    // Both ways: the reverse pass starts where the forward one did (an object with support only
    // would otherwise start it at the last frame and walk the whole clip twice).
    let startFrame = msg.startFrame;
    try {
      for (const reverse of dirs) {
        const it = this.tracker.propagate({
          reverse,
          ...(startFrame === undefined ? {} : { startFrame }),
          ...(msg.maxFrames === undefined ? {} : { maxFrameNumToTrack: msg.maxFrames }),
        });
        for await (const tf of it) {
          startFrame ??= tf.frame;
          await this.emitMasks(
            tf.objects.map((o) => ({ objectId: o.objectId, frame: tf.frame, output: o.output })),
            'propagate',
            msg.direction,
          );
          frames++;
          this.output.json({ v: PROTOCOL_VERSION, type: 'propagateProgress', seq: msg.seq, sessionId: this.sessionId, done: Math.min(frames, total), total });
          if (state.cancelled || this.destroyed) {
            await it.return(undefined);
            break;
          }
        }
        if (state.cancelled || this.destroyed) break;
      }
      this.output.json({ v: PROTOCOL_VERSION, type: 'propagateDone', seq: msg.seq, sessionId: this.sessionId, frames, cancelled: state.cancelled });
    } catch (e) {
      const err = e instanceof CinesegError ? e : new CinesegError(ErrorCode.E_INTERNAL, (e as Error).message);
      this.output.json({ v: PROTOCOL_VERSION, type: 'error', code: err.code, message: err.message, seq: msg.seq });
    }
  }

  /** Asks a running propagation to stop after the frame in flight; resolves when it has. */
  async cancelPropagate(): Promise<boolean> {
    const p = this.propagation;
    if (!p) return false;
    p.cancelled = true;
    await p.done;
    return true;
  }

  /** Waits for a running propagation to finish by itself (client gone: the work is kept). */
  async settle(): Promise<void> {
    await this.propagation?.done;
    await this.queue;
  }

  /**
   * Removes an object as SAM 2's `remove_object` does: only its state goes; the other objects'
   * outputs, memories and pointers stay exactly as they are (no replay of their prompts). Its
   * prompts and support leave the log; the changes are stored before the tracker drops it.
   */
  removeObject(objectId: number, seq: number | null = null): Promise<void> {
    this.idle();
    return this.serial(async () => {
      await this.history.removeObject(objectId);
      await this.history.send(seq);
    });
  }

  /** removeObject's work, no history (an object without prompts left may be known to the history only). */
  private async dropObject(objectId: number): Promise<void> {
    const keep = withoutObject(this.steps, objectId);
    if (this.steps.some((s) => s.kind === 'support' && !keep.includes(s))) await this.sink.setSupport?.(this.sessionId, supportRecords(keep));
    await this.sink.removeObject(this.sessionId, objectId);
    // Support memories are filed under the object they serve, so they go with it.
    this.tracker.removeObject(objectId);
    this.steps.length = 0;
    this.steps.push(...keep);
  }

  /**
   * Adds another stored session's masks as support (see the module comment). All or nothing: a
   * refused request changes neither the tracker nor the store. Resolves with each target object's
   * support memories in all, once they are stored and in the tracker.
   * @throws CinesegError E_SESSION_UNKNOWN (no such stored session), E_PROMPT_INVALID (no usable
   *   mask, unknown object id, a live source, too many memories), E_INPUT_NOT_FOUND (its clip is gone)
   */
  addSupport(msg: AddSupport): Promise<{ objectId: number; memories: number }[]> {
    this.idle();
    const sink = this.sink;
    if (!sink.supportSource || !sink.setSupport) throw new CinesegError(ErrorCode.E_SESSION_UNKNOWN, 'this server keeps no stored sessions to take support from');
    return this.serial(async () => {
      const { step, totals } = await prepareSupport(this.tracker.engine, await sink.supportSource!(msg.fromSession), msg, this.steps);
      // Stored before it takes effect: acknowledged support is support the store knows of.
      await sink.setSupport!(this.sessionId, supportRecords([...this.steps, step]));
      this.tracker.addSupportMemories(step.memories);
      this.steps.push(step);
      for (const t of totals) this.history.addObject(t.objectId);
      return totals;
    });
  }

  /** Names an object (stored as its label; a propagation may be running). */
  async renameObject(objectId: number, name: string, seq: number | null = null): Promise<void> {
    if (this.destroyed) throw new CinesegError(ErrorCode.E_TRACKER_DESTROYED, 'session was closed');
    await this.sink.labelObject(this.sessionId, objectId, name);
    await this.history.renamed(objectId, name);
    await this.history.send(seq);
  }

  /** Stops propagation, stores the session as closed and frees frames and tracker. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    if (this.propagation) this.propagation.cancelled = true;
    await this.settle().catch(() => undefined);
    this.destroyed = true;
    this.stopMedia?.();
    this.output.attach(null);
    this.tracker.destroy();
    await this.frames.destroy();
    await this.sink.closeSession(this.sessionId).catch(() => undefined);
  }

  private newTracker(): VideoTracker {
    return new VideoTracker(this.sessions, this.frames, { width: this.frames.info.width, height: this.frames.info.height, memory: true, boundedMemory: true, ...this.hooks.sam });
  }

  private async apply(t: VideoTracker, p: SinkPrompt): Promise<FrameOutput> {
    if (p.kind === 'points') return t.addPoints(p.frame, p.objectId, p.points, { clearOld: p.clearOld });
    if (p.kind === 'box') return t.addBox(p.frame, p.objectId, p.box, p.points);
    return t.addMask(p.frame, p.objectId, decodeMask({ size: [this.height, this.width], counts: p.counts }));
  }

  /** Stores, then sends masks (`output: null`: an empty one, the frame cleared); resolves with them once the viewer took them. */
  private async emitMasks(items: { objectId: number; frame: number; output: FrameOutput | null }[], origin: SinkMask['origin'], direction?: Propagate['direction']): Promise<SinkMask[]> {
    const { lowResMaskSize: L, memory } = this.sessions.bundle;
    const stability = items.map((it) => (it.output ? stabilityScore(it.output.predMasks, memory.dynamicMultimaskStabilityDelta) : undefined));
    const masks: SinkMask[] = items.map((it) => ({
      objectId: it.objectId,
      frame: it.frame,
      ptsUs: this.framePtsUs[it.frame] ?? 0,
      score: it.output ? it.output.objectScore : NO_OBJ_SCORE,
      counts: it.output ? logitsToRle(it.output.predMasks, L, L, this.height, this.width).counts : [this.width * this.height],
      origin,
      ...(direction ? { direction } : {}),
    }));
    // Durable first, visible second: a client never sees a mask the store could lose.
    await this.sink.putMasks(this.sessionId, masks);
    if (origin === 'propagate') this.hooks.frameTracked?.();
    masks.forEach((m, i) => {
      const st = stability[i];
      this.output.binary(
        encodeMaskFrame({
          handle: this.handle,
          frame: m.frame,
          objectId: m.objectId,
          ptsUs: m.ptsUs,
          width: this.width,
          height: this.height,
          score: m.score,
          counts: m.counts,
          ...(st === undefined ? {} : { stability: st }),
        }),
      );
    });
    // Backpressure: the next frame waits until the viewer took these (bounded; a detached output
    // or a viewer closed as too slow ends the wait, and the work goes on stored; socket-output.ts).
    await this.output.drained();
    return masks;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private idle(): void {
    if (this.destroyed) throw new CinesegError(ErrorCode.E_TRACKER_DESTROYED, 'session was closed');
    if (this.propagation) throw new CinesegError(ErrorCode.E_SESSION_BUSY, 'propagation is running; cancel it first');
  }
}
