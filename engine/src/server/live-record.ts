/**
 * One live run's record in the store: started once the first frame gives the size (retried while
 * the view goes on), the prompts and the masks they made written before they are acknowledged,
 * tracked masks buffered at the configured rate and committed in batches, closed with the run.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { toCinesegError } from '../errors.js';
import type { AnnotationSink, SinkMask, SinkPrompt } from './annotation-sink.js';

/**
 * A procedure can run for hours. Stored masks cost ≈ 0.3–0.5 kB per object and frame (compressed
 * RLE plus the row), so every frame at 30 fps is ≈ 50 MB per object and hour; one frame a second
 * is under 2 MB. The live pictures are stored only with `--live-record-pictures`
 * (live-picture-store.ts, ≈ 2–3 GB per hour at 480p); without them a dense mask record has little
 * use. Prompts and the masks they made (the confirmed ones) are always kept.
 */
export const LIVE_STORE_INTERVAL_MS = 1000;
/** Buffered tracked-frame masks are committed at least this often (one transaction each). */
const STORE_FLUSH_MS = 1000;
/** A record that failed to start is tried again at most this often while frames go on. */
const RETRY_START_MS = 1000;

export interface LiveRecordOptions {
  sink: AnnotationSink;
  /** The live input, stored as the record's source. */
  input: string;
  /** See LivePipelineOptions.storeIntervalMs. */
  storeIntervalMs?: number;
  log?: (line: string) => void;
}

/** The video facts a record starts with (known once the first frame arrived). */
export interface LiveVideo {
  width: number;
  height: number;
  fps: number;
}

export class LiveRecord {
  /** The id prompts and masks of this run are stored under. */
  readonly id = randomUUID();
  private startedOk = false;
  private triedMs = -Infinity;
  private buf: SinkMask[] = [];
  private lastStoredMs = -Infinity;
  private lastFlushMs = 0;

  constructor(private readonly opts: LiveRecordOptions) {}

  /** Whether the record's start committed (tracked masks are kept only then). */
  get started(): boolean {
    return this.startedOk;
  }

  /**
   * Starts the record once the write committed: a record that failed to start is tried again (at
   * most once a second) while the view goes on, and prompts meanwhile fail (`mustStart`) instead
   * of being acknowledged and dropped.
   */
  async ensure(mustStart: boolean, video: LiveVideo): Promise<void> {
    if (this.startedOk) return;
    if (!mustStart && performance.now() - this.triedMs < RETRY_START_MS) return;
    this.triedMs = performance.now();
    try {
      await this.opts.sink.startSession({ sessionId: this.id, kind: 'live', source: this.opts.input, width: video.width, height: video.height, fps: video.fps, numFrames: null });
      this.startedOk = true;
    } catch (e) {
      if (mustStart) throw e;
      this.opts.log?.(`live: starting the record failed (prompts are refused until it starts): ${toCinesegError(e).toLine()}`);
    }
  }

  /** Buffers a tracked frame's masks at the configured rate; commits the buffer every STORE_FLUSH_MS. */
  async keepTracked(masks: SinkMask[]): Promise<void> {
    if (!this.startedOk) return;
    const every = this.opts.storeIntervalMs ?? LIVE_STORE_INTERVAL_MS;
    const now = performance.now();
    if (every >= 0 && masks.length > 0 && now - this.lastStoredMs >= every) {
      this.lastStoredMs = now;
      this.buf.push(...masks);
    }
    if (now - this.lastFlushMs >= STORE_FLUSH_MS) await this.flush();
  }

  /** Stores a prompt and the masks it made; resolved means committed (they may be acknowledged). */
  async confirm(prompt: SinkPrompt, masks: SinkMask[]): Promise<void> {
    // A buffered tracked mask of this frame must not land after (and supersede) the prompt's.
    await this.flush();
    await this.opts.sink.putPrompt(this.id, prompt);
    await this.opts.sink.putMasks(this.id, masks);
  }

  async removeObject(objectId: number): Promise<void> {
    // Buffered masks of the object would bring it back in the store: they go first.
    await this.flush();
    await this.opts.sink.removeObject(this.id, objectId);
  }

  labelObject(objectId: number, name: string): Promise<void> {
    return this.opts.sink.labelObject(this.id, objectId, name);
  }

  /** Commits what is buffered and closes the record (when it started); failures are logged, not thrown. */
  async close(): Promise<void> {
    if (!this.startedOk) return;
    this.startedOk = false;
    await this.flush();
    await this.opts.sink.closeSession(this.id).catch((e: unknown) => this.opts.log?.(`live: closing the record failed: ${toCinesegError(e).toLine()}`));
  }

  /** Tracked masks are a record, not a confirmation: a failed batch is logged and the view goes on. */
  private async flush(): Promise<void> {
    this.lastFlushMs = performance.now();
    if (this.buf.length === 0) return;
    const batch = this.buf;
    this.buf = [];
    try {
      await this.opts.sink.putMasks(this.id, batch);
    } catch (e) {
      this.opts.log?.(`live: storing ${batch.length} tracked masks failed: ${toCinesegError(e).toLine()}`);
    }
  }
}
