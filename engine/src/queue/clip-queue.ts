/**
 * The producer's and the operator's side of the BullMQ queue (`cineseg batch --queue`, `cineseg
 * queue status|retry`): idempotent enqueue of clip jobs, following them to the end, counts and
 * failed jobs, retries. The worker's side is clip-worker.ts.
 *
 * Jobs are kept when they complete or fail (BullMQ's default, stated here on purpose): a kept job's
 * id makes a second `batch` of the same clips add nothing, and a failed job keeps its error for
 * `queue status` until someone retries it.
 */
import { Queue, QueueEvents, type ConnectionOptions, type Job, type JobsOptions } from 'bullmq';
import { CinesegError, ErrorCode } from '../errors.js';
import { errorCodeOf, QUEUE_NAME, TRACK_JOB, type ClipJobData, type ClipJobProgress, type ClipJobResult } from './job-types.js';

/** Tries per job: a worker's crash or a passing store outage should not fail a clip at once. */
export const JOB_ATTEMPTS = 3;
/** First retry after 5 s, then 10 s (exponential). */
export const JOB_BACKOFF_MS = 5000;

const JOB_OPTS: JobsOptions = {
  attempts: JOB_ATTEMPTS,
  backoff: { type: 'exponential', delay: JOB_BACKOFF_MS },
  removeOnComplete: false,
  removeOnFail: false,
};

/** The job states `queue status` counts. */
export const COUNTED_STATES = ['waiting', 'active', 'completed', 'failed', 'delayed'] as const;
export type CountedState = (typeof COUNTED_STATES)[number];

/** A failed job as `queue status` lists it. */
export interface FailedJob {
  id: string;
  clip: string;
  /** The CinesegError code of its last failure (null if the failure carried none). */
  code: string | null;
  /** Its last failure's line (`E_DECODE_CORRUPT: …`). */
  reason: string;
  attemptsMade: number;
  finishedOn: number | null;
}

/** An active job with the progress its worker last reported. */
export interface ActiveJob {
  id: string;
  clip: string;
  worker: string | null;
  progress: ClipJobProgress | null;
}

export interface QueueStatus {
  queue: string;
  counts: Record<CountedState, number>;
  active: ActiveJob[];
  failed: FailedJob[];
}

/** What enqueue did with one clip. */
export interface EnqueueResult {
  id: string;
  /** True when this call added the job; false when the queue already held it. */
  added: boolean;
  /** The state of the job that was already there (or 'waiting' for a new one). */
  state: string;
}

/** How a followed job ended. */
export type JobEnd = { id: string; state: 'completed'; result: ClipJobResult; attemptsMade: number } | { id: string; state: 'failed'; reason: string; code: string | null; attemptsMade: number };

/** `--queue` must be a Redis URL (redis:// or rediss:// for TLS). */
export function parseQueueUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CinesegError(ErrorCode.E_USAGE, `--queue must be a redis:// URL, not ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new CinesegError(ErrorCode.E_USAGE, `--queue must be a redis:// or rediss:// URL, not ${u.protocol}//…`);
  return url;
}

/** The URL without its password, for messages. */
export function redactQueueUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** BullMQ connection options for a Redis URL. */
export function queueConnection(url: string): ConnectionOptions {
  return { url: parseQueueUrl(url) };
}

/**
 * Waits until a BullMQ object (Queue, Worker, QueueEvents) is connected, or fails with
 * E_QUEUE_UNAVAILABLE: at once when the first connection is refused or the host unknown, else
 * after `timeoutMs` — ioredis retries forever, which would leave a CLI hanging on a mistyped URL.
 * (Later outages are ridden out by ioredis's reconnects.)
 */
export async function whenConnected(
  what: { waitUntilReady(): Promise<unknown>; on(ev: 'error', fn: (err: Error) => void): unknown; off(ev: 'error', fn: (err: Error) => void): unknown },
  url: string,
  timeoutMs = 10_000,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onError: ((err: Error) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CinesegError(ErrorCode.E_QUEUE_UNAVAILABLE, `Redis at ${redactQueueUrl(url)} did not answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    onError = (err: Error) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || /WRONGPASS|NOAUTH/.test(err.message)) {
        reject(new CinesegError(ErrorCode.E_QUEUE_UNAVAILABLE, `Redis at ${redactQueueUrl(url)}: ${err.message}`, { cause: err }));
      }
    };
    what.on('error', onError);
  });
  try {
    await Promise.race([what.waitUntilReady(), failed]);
  } catch (err) {
    if (err instanceof CinesegError) throw err;
    throw new CinesegError(ErrorCode.E_QUEUE_UNAVAILABLE, `Redis at ${redactQueueUrl(url)}: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
    what.off('error', onError!);
  }
}

/** Closes a BullMQ object, giving up after `ms`: closing one that never connected can wait for a connection that is not coming. */
export async function closeSoon(what: { close(): Promise<void> }, ms = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([what.close().catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

function progressOf(p: unknown): ClipJobProgress | null {
  const o = p as Partial<ClipJobProgress> | null;
  return o && typeof o === 'object' && typeof o.done === 'number' && typeof o.total === 'number' ? { done: o.done, total: o.total } : null;
}

export class ClipQueue {
  private destroyed = false;
  private events: QueueEvents | null = null;
  private lastError: Error | null = null;

  private constructor(
    readonly url: string,
    readonly queue: Queue<ClipJobData, ClipJobResult>,
  ) {}

  /** Connects to the queue at `url`. @throws CinesegError E_USAGE (not a Redis URL), E_QUEUE_UNAVAILABLE */
  static async open(url: string, opts: { timeoutMs?: number } = {}): Promise<ClipQueue> {
    const queue = new Queue<ClipJobData, ClipJobResult>(QUEUE_NAME, { connection: queueConnection(url) });
    const q = new ClipQueue(url, queue);
    queue.on('error', (err) => (q.lastError = err));
    try {
      await whenConnected(queue, url, opts.timeoutMs);
    } catch (err) {
      await closeSoon(queue);
      throw err;
    }
    return q;
  }

  private alive(): void {
    if (this.destroyed) throw new CinesegError(ErrorCode.E_QUEUE_UNAVAILABLE, 'the queue connection was closed');
  }

  /**
   * Adds each job unless the queue already holds one with its id (waiting, active, delayed,
   * completed or failed): BullMQ itself ignores an add with a kept job's id, and looking first
   * tells the caller which were there. Two batches adding at once still add each id once.
   */
  async enqueue(jobs: readonly { id: string; data: ClipJobData }[]): Promise<EnqueueResult[]> {
    this.alive();
    const out: EnqueueResult[] = [];
    for (const j of jobs) {
      const known = await this.queue.getJob(j.id);
      if (known) {
        out.push({ id: j.id, added: false, state: await known.getState() });
        continue;
      }
      await this.queue.add(TRACK_JOB, j.data, { ...JOB_OPTS, jobId: j.id });
      out.push({ id: j.id, added: true, state: 'waiting' });
    }
    return out;
  }

  /** Counts per state, the active jobs with their progress, and the failed jobs with their codes. */
  async status(opts: { maxFailed?: number } = {}): Promise<QueueStatus> {
    this.alive();
    const raw = await this.queue.getJobCounts(...COUNTED_STATES, 'prioritized');
    // BullMQ counts prioritized jobs apart; for a person they are waiting too.
    const counts = Object.fromEntries(COUNTED_STATES.map((s) => [s, (raw[s] ?? 0) + (s === 'waiting' ? (raw.prioritized ?? 0) : 0)])) as Record<CountedState, number>;
    const active = (await this.queue.getActive()).map((j) => ({ id: j.id!, clip: (j.data as ClipJobData)?.name ?? '?', worker: (j as Job).processedBy ?? null, progress: progressOf(j.progress) }));
    const failed = (await this.queue.getFailed(0, (opts.maxFailed ?? 100) - 1)).map((j) => ({
      id: j.id!,
      clip: (j.data as ClipJobData)?.name ?? '?',
      code: errorCodeOf(j.failedReason),
      reason: j.failedReason ?? '',
      attemptsMade: j.attemptsMade,
      finishedOn: j.finishedOn ?? null,
    }));
    return { queue: QUEUE_NAME, counts, active, failed };
  }

  /**
   * Puts failed jobs back to wait, with their attempts counted afresh: one by id, or all.
   * Returns the ids retried. @throws CinesegError E_QUEUE_JOB_UNKNOWN (no such job), E_USAGE (not failed)
   */
  async retry(which: { jobId: string } | 'all'): Promise<string[]> {
    this.alive();
    if (which === 'all') {
      const ids: string[] = [];
      // Page through the failed set: retrying moves jobs out of it, so always read from the start.
      for (;;) {
        const page = await this.queue.getFailed(0, 99);
        if (page.length === 0) return ids;
        for (const j of page) {
          await (j as Job).retry('failed');
          ids.push(j.id!);
        }
      }
    }
    const job = await this.queue.getJob(which.jobId);
    if (!job) throw new CinesegError(ErrorCode.E_QUEUE_JOB_UNKNOWN, `the queue holds no job "${which.jobId}" (see cineseg queue status)`);
    const state = await job.getState();
    if (state !== 'failed') throw new CinesegError(ErrorCode.E_USAGE, `job "${which.jobId}" is ${state}, not failed: only failed jobs are retried`);
    await (job as Job).retry('failed');
    return [which.jobId];
  }

  /** The job's end if it has one (completed or failed for good), else null. */
  async endOf(id: string): Promise<JobEnd | null> {
    // State first, then the job: BullMQ writes the return value and moves the job to completed in
    // one script, so a job read after its state says completed has its result. Read the other way
    // round, a job that completes between the two reads comes back completed with a null result.
    const state = await this.queue.getJobState(id);
    const job = await this.queue.getJob(id);
    if (!job || state === 'unknown') throw new CinesegError(ErrorCode.E_QUEUE_JOB_UNKNOWN, `the queue holds no job "${id}"`);
    if (state === 'completed') return { id, state, result: job.returnvalue as ClipJobResult, attemptsMade: job.attemptsMade };
    if (state === 'failed') return { id, state, reason: job.failedReason ?? '', code: errorCodeOf(job.failedReason), attemptsMade: job.attemptsMade };
    return null;
  }

  /**
   * Follows jobs until each has completed or failed for good, reporting progress and each end.
   * Events (QueueEvents) give progress at once; a poll every `pollMs` catches ends that happened
   * before the subscription or while its connection was down, so no end is missed.
   */
  async follow(ids: readonly string[], on: { progress?: (id: string, p: ClipJobProgress) => void; end?: (e: JobEnd) => void } = {}, opts: { pollMs?: number } = {}): Promise<JobEnd[]> {
    this.alive();
    const pending = new Set(ids);
    const ends = new Map<string, JobEnd>();
    if (pending.size === 0) return [];
    const events = new QueueEvents(QUEUE_NAME, { connection: queueConnection(this.url) });
    this.events = events;
    events.on('error', (err) => (this.lastError = err));
    let wake: (() => void) | null = null;
    const check = async (id: string) => {
      if (!pending.has(id)) return;
      const e = await this.endOf(id);
      if (!e || !pending.has(id)) return;
      pending.delete(id);
      ends.set(id, e);
      on.end?.(e);
      if (pending.size === 0) wake?.();
    };
    try {
      await whenConnected(events, this.url);
      events.on('progress', ({ jobId, data }) => {
        const p = progressOf(data);
        if (p && pending.has(jobId)) on.progress?.(jobId, p);
      });
      // 'failed' comes only when a job fails for good (a retried attempt goes to delayed); the
      // state is read back anyway, so a stray event changes nothing.
      const settle = ({ jobId }: { jobId: string }) => void check(jobId).catch((err) => (this.lastError = err));
      events.on('completed', settle);
      events.on('failed', settle);
      for (const id of ids) await check(id);
      while (pending.size > 0 && !this.destroyed) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, opts.pollMs ?? 2000);
        });
        wake = null;
        for (const id of [...pending]) await check(id);
      }
      if (pending.size > 0) throw new CinesegError(ErrorCode.E_CANCELLED, `stopped following ${pending.size} job(s)`);
      return ids.map((id) => ends.get(id)!);
    } finally {
      this.events = null;
      await events.close().catch(() => undefined);
    }
  }

  /** The last connection error BullMQ reported (null if none): what to say when a call hangs. */
  get connectionError(): Error | null {
    return this.lastError;
  }

  /** Closes the connections (a follow() in progress ends with E_CANCELLED). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.events?.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
  }
}
