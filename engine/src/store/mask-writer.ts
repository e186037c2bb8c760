/**
 * Batches masks of one session into few transactions (propagation writes a mask per frame per
 * object) while keeping the store's contract: `onCommit` fires, and `flush()` resolves, only
 * after the masks are COMMITTED (annotation-store.ts). Works on either backend.
 *
 * Batches commit one after another, in the order they were queued: a later mask of the same
 * (object, frame) never commits before an earlier one, so it is the later that ends up current.
 * Holds a timer, so call `destroy()` (which flushes) when done.
 */
import { CinesegError, ErrorCode, isCinesegError } from '../errors.js';
import type { AnnotationStore, EditOptions } from './annotation-store.js';
import type { MaskInput, MaskRecord } from './store-records.js';

/** Options of {@link MaskWriter}. */
export interface MaskWriterOptions {
  /** Commit when this many masks wait (default 64). */
  maxBatch?: number;
  /** Commit when the oldest waiting mask is this old (default 50 ms). */
  maxDelayMs?: number;
  /** Called after each commit with the committed records: the moment to acknowledge them. */
  onCommit?: (records: MaskRecord[]) => void;
  /**
   * Called when a commit the writer started by itself (full batch, timer) fails. Without it, the
   * failure rejects the next `flush()` / `destroy()` instead, so it is never lost.
   */
  onError?: (err: CinesegError) => void;
  /** The edit options of each batch (e.g. the versions a server knows), asked for at commit time. */
  editOptions?: () => EditOptions | undefined;
}

export class MaskWriter {
  private pending: MaskInput[] = [];
  private timer: NodeJS.Timeout | null = null;
  private destroyed = false;
  /** The last batch's commit; the next one starts after it settles. */
  private chain: Promise<unknown> = Promise.resolve();
  /** A background commit's failure no onError took: the next flush() rejects with it. */
  private failure: CinesegError | null = null;

  constructor(
    private readonly store: AnnotationStore,
    readonly sessionId: string,
    private readonly opts: MaskWriterOptions = {},
  ) {}

  /** Masks waiting for a commit (not counting a batch being committed). */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Queues masks; starts a commit at once when the batch is full, else within `maxDelayMs`. */
  add(...masks: MaskInput[]): void {
    if (this.destroyed) throw new CinesegError(ErrorCode.E_STORE, 'mask writer was destroyed');
    this.pending.push(...masks);
    if (this.pending.length >= (this.opts.maxBatch ?? 64)) {
      this.background();
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.background();
      }, this.opts.maxDelayMs ?? 50);
    }
  }

  /**
   * Commits what waits, after every batch queued before it; resolves with this call's committed
   * records (after `onCommit` saw them). Rejects with a background commit's failure first.
   */
  async flush(): Promise<MaskRecord[]> {
    const mine = this.commit();
    try {
      return await mine;
    } finally {
      // A failure of an earlier background batch surfaces here once.
      const f = this.failure;
      this.failure = null;
      if (f) throw f;
    }
  }

  /** Flushes and stops the timer. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) {
      await this.chain.catch(() => undefined);
      return;
    }
    try {
      await this.flush();
    } finally {
      this.destroyed = true;
    }
  }

  private background(): void {
    this.commit().catch((e: unknown) => {
      const err = isCinesegError(e) ? e : new CinesegError(ErrorCode.E_STORE, `store: masks: ${(e as Error).message}`, { cause: e });
      if (this.opts.onError) this.opts.onError(err);
      else this.failure ??= err;
    });
  }

  /** Takes the waiting masks as one batch and chains its commit after the previous one. */
  private commit(): Promise<MaskRecord[]> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.pending;
    this.pending = [];
    const run = this.chain.then(async () => {
      if (batch.length === 0) return [];
      const recs = await this.store.putMasks(this.sessionId, batch, this.opts.editOptions?.());
      this.opts.onCommit?.(recs);
      return recs;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}
