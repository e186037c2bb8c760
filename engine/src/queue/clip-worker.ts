/**
 * The worker's side of the queue (`cineseg worker`): a BullMQ Worker whose processor tracks one
 * clip job into the shared store. One ModelSessions per process, shared by `concurrency` jobs.
 *
 * What a job does: read the clip (a shared path, or a URL downloaded to a temp file first), register
 * it by content hash, find or create the batch's session (session and prompts in one transaction),
 * run store/track-to-store.ts — which resumes after the run of complete frames already stored —
 * report `{done, total}` through the job, mark the session done, return a summary.
 *
 * How nothing is lost or written twice when a worker dies:
 * - SIGKILL (or a machine gone): the job's lock in Redis is no longer renewed; after
 *   `lockDuration` another worker's stalled check moves it back to wait (BullMQ counts it against
 *   `maxStalledCount`), and whoever takes it resumes from the stored masks. Masks are committed a
 *   whole frame at a time, and frames up to the stored complete run are never rewritten, so every
 *   committed mask stays current and none gets a second row.
 * - SIGTERM / SIGINT: {@link ClipWorker.drain} closes the worker (no new job is taken) and lets the
 *   active job finish. If it has not finished after `drainSeconds`, the tracking stops between two
 *   frames (`cancelled()`), the committed frames stay, and the job is moved back to wait with the
 *   worker's own lock token (`job.moveToWait` + WaitingError: no attempt is counted, no stall
 *   waited for), so another worker resumes it at once.
 *
 * Failures carry their CinesegError line as the job's failedReason (`E_DECODE_CORRUPT: …`). Bad
 * input (see PERMANENT) fails at once (UnrecoverableError); anything else is retried by BullMQ
 * (attempts and backoff set by clip-queue.ts at enqueue).
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { extname, isAbsolute, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { CinesegError, ErrorCode, toCinesegError, type ErrorCode as Code } from '../errors.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import { hashClip, registerClipFile } from '../store/register-clip.js';
import type { ClipRecord, MaskRecord, SessionRecord } from '../store/store-records.js';
import { trackSessionToStore } from '../store/track-to-store.js';
import { closeSoon, queueConnection, whenConnected } from './clip-queue.js';
import { isClipUrl, QUEUE_NAME, urlWithoutToken, type ClipJobData, type ClipJobResult } from './job-types.js';

/** Codes that mean the job's input is bad: retrying on another worker would fail the same way. */
export const PERMANENT: ReadonlySet<Code> = new Set<Code>([
  ErrorCode.E_INPUT_EMPTY,
  ErrorCode.E_INPUT_UNSUPPORTED,
  ErrorCode.E_DECODE_NO_VIDEO,
  ErrorCode.E_DECODE_CORRUPT,
  ErrorCode.E_DECODE_PROBE_FAILED,
  ErrorCode.E_DECODE_TOO_LARGE,
  ErrorCode.E_PROMPT_INVALID,
  ErrorCode.E_FRAME_OUT_OF_RANGE,
  ErrorCode.E_OBJECT_UNKNOWN,
  ErrorCode.E_TRACKER_STATE,
  ErrorCode.E_MASK_INVALID,
  ErrorCode.E_RLE_INVALID,
  ErrorCode.E_AUTH_REQUIRED,
  ErrorCode.E_AUTH_INVALID,
  ErrorCode.E_USAGE,
]);

export interface ClipWorkerOptions {
  queueUrl: string;
  store: AnnotationStore;
  sessions: ModelSessions;
  /** Jobs at once in this process (default 1). */
  concurrency?: number;
  /** Shown in `queue status` and job results (default host:pid). */
  name?: string;
  /** How long a job's lock lasts without renewal, i.e. how soon a dead worker's job is taken back (default 30 s). */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs (default 30 s). */
  stalledIntervalMs?: number;
  /** Times a job may be taken back from a dead worker before it fails (default 2). */
  maxStalledCount?: number;
  /** Masks per store transaction (default 64; a frame's masks are never split). */
  commitMasks?: number;
  /** On drain, how long the active jobs may run before they are handed back (default 60). */
  drainSeconds?: number;
  /** Each committed batch of a job's masks: the moment they may be acknowledged (`--print-acks`). */
  onCommit?: (job: { id: string; name: string }, records: MaskRecord[]) => void;
  log?: (line: string) => void;
}

/** Downloads `url` into `dir`. @throws CinesegError E_AUTH_INVALID (401/403), E_INPUT_NOT_FOUND */
async function download(url: string, dir: string): Promise<string> {
  const shown = urlWithoutToken(url);
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow' });
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `cannot fetch ${shown}: ${(cause as Error).message}`, { cause });
  }
  if (res.status === 401 || res.status === 403) throw new CinesegError(ErrorCode.E_AUTH_INVALID, `${shown} answered ${res.status}: is the token in the URL right?`);
  if (!res.ok || !res.body) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `${shown} answered ${res.status}`);
  const ext = extname(new URL(url).pathname).slice(0, 8) || '.bin';
  const file = join(dir, `clip${ext}`);
  try {
    await pipeline(Readable.fromWeb(res.body as WebReadableStream), createWriteStream(file));
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `download of ${shown} broke off: ${(cause as Error).message}`, { cause });
  }
  return file;
}

/**
 * Registers a downloaded clip. A clip the store knows by its hash keeps its stored path (the
 * server that served the URL registered it with its own); a new one is recorded under the URL
 * without its token, never under the temp file that is about to go.
 */
async function registerDownloaded(store: AnnotationStore, file: string, url: string): Promise<ClipRecord> {
  const known = await store.getClip(await hashClip(file));
  if (known) return known;
  const rec = await registerClipFile(store, file);
  return store.upsertClip({ ...rec, path: urlWithoutToken(url) });
}

export class ClipWorker {
  private handingBack = false;
  private drainTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  readonly name: string;

  private constructor(
    private readonly opts: ClipWorkerOptions,
    readonly worker: Worker<ClipJobData, ClipJobResult>,
  ) {
    this.name = opts.name ?? `${hostname()}:${process.pid}`;
  }

  /** Connects and starts taking jobs. @throws CinesegError E_USAGE, E_QUEUE_UNAVAILABLE */
  static async start(opts: ClipWorkerOptions): Promise<ClipWorker> {
    const name = opts.name ?? `${hostname()}:${process.pid}`;
    const lockDuration = opts.lockDurationMs ?? 30_000;
    // The processor is bound after construction; autorun waits for it.
    let self: ClipWorker | null = null;
    const worker = new Worker<ClipJobData, ClipJobResult>(QUEUE_NAME, (job, token) => self!.process(job, token), {
      connection: queueConnection(opts.queueUrl),
      name,
      concurrency: opts.concurrency ?? 1,
      lockDuration,
      stalledInterval: opts.stalledIntervalMs ?? 30_000,
      maxStalledCount: opts.maxStalledCount ?? 2,
      autorun: false,
    });
    self = new ClipWorker({ ...opts, name }, worker);
    const log = opts.log ?? (() => undefined);
    let lastError = '';
    worker.on('error', (err) => {
      // ioredis reports each failed reconnect: say it once per distinct message.
      if (err.message !== lastError) log(`${name}: queue: ${err.message}`);
      lastError = err.message;
    });
    try {
      await whenConnected(worker, opts.queueUrl);
    } catch (err) {
      await closeSoon({ close: () => worker.close(true) });
      throw err;
    }
    void worker.run().catch((err: Error) => log(`${name}: worker stopped: ${err.message}`));
    return self;
  }

  private log(line: string): void {
    this.opts.log?.(`${this.name}: ${line}`);
  }

  /** Finds the batch's session of the clip, or creates it with its prompts in one transaction. */
  private async batchSession(store: AnnotationStore, clip: ClipRecord, d: ClipJobData, jobId: string): Promise<SessionRecord> {
    return store.transaction(async (tx) => {
      const found = (await tx.listSessions({ clipId: clip.id })).find((s) => s.meta.batch === d.batchKey);
      if (found) return found;
      if (d.prompts.length === 0) throw new CinesegError(ErrorCode.E_USAGE, `no prompts for clip "${d.name}"`);
      const s = await tx.createSession(clip.id, { meta: { batch: d.batchKey, clip: d.name, model: this.opts.sessions.bundle.name, job: jobId } });
      for (const p of d.prompts) await tx.addPrompt(s.id, p);
      return s;
    });
  }

  private async process(job: Job<ClipJobData, ClipJobResult>, token?: string): Promise<ClipJobResult> {
    const t0 = performance.now();
    const d = job.data;
    const { store, sessions } = this.opts;
    const id = job.id!;
    this.log(`start ${id} ${d?.name} (attempt ${job.attemptsMade + 1})`);
    let tmp: string | null = null;
    try {
      if (!d || d.v !== 1 || typeof d.clip !== 'string' || !Array.isArray(d.prompts)) throw new CinesegError(ErrorCode.E_USAGE, `job ${id} is not a cineseg clip job of this version`);
      if (d.model && d.model !== sessions.bundle.name)
        throw new CinesegError(ErrorCode.E_BUNDLE_NOT_FOUND, `job wants model "${d.model}", this worker runs "${sessions.bundle.name}" (start workers with --model)`);
      let video = d.clip;
      let clip: ClipRecord;
      if (isClipUrl(d.clip)) {
        tmp = await mkdtemp(join(tmpdir(), 'cineseg-job-'));
        video = await download(d.clip, tmp);
        clip = await registerDownloaded(store, video, d.clip);
      } else {
        if (!isAbsolute(d.clip)) throw new CinesegError(ErrorCode.E_USAGE, `job ${id}: clip path ${d.clip} is not absolute`);
        clip = await registerClipFile(store, d.clip);
      }
      const session = await this.batchSession(store, clip, d, id);
      const summary = async (framesWritten: number, resumedAfter: number | null): Promise<ClipJobResult> => ({
        sessionId: session.id,
        frames: clip.numFrames,
        objects: (await store.listObjects(session.id)).length,
        framesWritten,
        resumedAfter,
        seconds: Math.round(performance.now() - t0) / 1000,
        worker: this.name,
      });
      // A retry of a job whose session another run finished: nothing to track.
      if (session.status === 'done') return await summary(0, null);
      let lastProgress = 0;
      const r = await trackSessionToStore({
        store,
        sessionId: session.id,
        video,
        sessions,
        ...(this.opts.commitMasks ? { maxBatch: this.opts.commitMasks } : {}),
        ...(this.opts.onCommit ? { onCommit: (recs: MaskRecord[]) => this.opts.onCommit!({ id, name: d.name }, recs) } : {}),
        onProgress: (done, total) => {
          // A Redis round trip per frame would cost more than the frame: a few a second, and the last.
          const now = Date.now();
          if (done < total && now - lastProgress < 250) return;
          lastProgress = now;
          job.updateProgress({ done, total }).catch(() => undefined);
        },
        cancelled: () => this.handingBack,
      });
      if (this.handingBack && !r.complete) {
        this.log(`hand back ${id} ${d.name} after ${r.framesWritten} frame(s)`);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (!r.complete) throw new CinesegError(ErrorCode.E_INTERNAL, `clip "${d.name}" ended with frames missing`);
      await store.setSessionStatus(session.id, 'done');
      const result = await summary(r.framesWritten, r.resumedAfter);
      this.log(`done ${id} ${d.name}: ${r.framesWritten} frame(s) written${r.resumedAfter === null ? '' : `, resumed after frame ${r.resumedAfter}`}`);
      return result;
    } catch (err) {
      if (err instanceof WaitingError) throw err;
      const e = toCinesegError(err);
      this.log(`fail ${id} ${d?.name}: ${e.toLine()}`);
      // The line is the failedReason `queue status` shows and parses the code from.
      throw PERMANENT.has(e.code) ? new UnrecoverableError(e.toLine()) : new Error(e.toLine());
    } finally {
      if (tmp) await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Stops taking jobs and waits for the active ones; after `drainSeconds` (or at once with
   * `now`) they stop between frames and go back to wait for another worker (see the module comment).
   */
  drain(opts: { now?: boolean } = {}): Promise<void> {
    if (opts.now) this.handingBack = true;
    else if (!this.drainTimer && !this.handingBack) {
      this.drainTimer = setTimeout(
        () => {
          this.log(`drain deadline of ${this.opts.drainSeconds ?? 60} s passed: handing active jobs back`);
          this.handingBack = true;
        },
        (this.opts.drainSeconds ?? 60) * 1000,
      );
      this.drainTimer.unref();
    }
    this.closing ??= this.worker.close().finally(() => {
      if (this.drainTimer) clearTimeout(this.drainTimer);
    });
    return this.closing;
  }

  /** Hands active jobs back at once and closes the connections (the store and model are the caller's). */
  async destroy(): Promise<void> {
    await this.drain({ now: true });
  }
}
