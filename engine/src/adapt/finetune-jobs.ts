/**
 * "Improve the model" as background jobs of a server: `cineseg finetune`'s own code (finetune.ts)
 * on stored sessions — by default every approved one — writing the new bundle to
 * `<models folder>/<job id>/`, where the server's model catalog (server/model-catalog.ts) offers
 * it. The training runs in the Python child that finetune.ts starts (trainer-process.ts) and the
 * validation's graphs in a worker thread, so the server's event loop keeps serving; what runs on
 * it is the data preparation (ffmpeg decodes, masks resized frame by frame, between awaits).
 *
 * One job at a time (a second is refused with E_JOB_BUSY: two trainers on a small machine would
 * each take twice as long). State: queued → running → done | failed | cancelled. Progress 0..1:
 * the data preparation is the first 5 %, training steps up to 90 %, validation the rest.
 * Cancelling sends the trainer SIGINT (it stops after its step) and leaves no bundle behind;
 * a cancel during data preparation or validation takes effect when that part ends. The job's
 * work folder (raw frames, checkpoints) is removed when the job ends.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import { finetune, type EncoderMode, type FinetuneMode } from './finetune.js';
import type { TrainerEvent } from './trainer-process.js';
import { storedSessionInputs } from './training-data.js';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** GET /api/jobs/:id. */
export interface JobInfo {
  jobId: string;
  kind: 'finetune';
  state: JobState;
  progress: number;
  step?: number;
  steps?: number;
  message?: string;
  /** The error code of a failed job. */
  code?: string;
  sessions: string[];
  createdAt: string;
  finishedAt?: string;
  result?: { modelId: string; bundleDir: string; validation: Record<string, unknown> };
}

/** Training settings of a job (unset: finetune.ts's defaults). */
export interface FinetuneJobSettings {
  steps?: number;
  minutes?: number;
  mode?: FinetuneMode;
  encoder?: EncoderMode;
  frames?: number;
  valFraction?: number;
  threads?: number;
  /** Write the bundle even when it scored lower than the base (default false: E_TRAIN_WORSE fails the job). */
  force?: boolean;
}

export interface FinetuneJobsOptions {
  /** The server's store (SQLite or PostgreSQL): the sessions are read from it when a job starts. */
  store: AnnotationStore;
  /** Where bundles are written, one folder per job id. */
  modelsDir: string;
  /** The base bundle (the server's model). */
  baseDir: string;
  /** Defaults of every job (a request may set `steps` lower or higher). */
  settings?: FinetuneJobSettings;
  log?: (line: string) => void;
  /** Shown in redacted messages instead of the models folder path. */
  redact?: (s: string) => string;
}

/** Jobs kept for GET after they ended (the newest ones). */
const KEEP_ENDED = 50;

export class FinetuneJobs {
  private readonly jobs = new Map<string, JobInfo>();
  private running: { id: string; abort: AbortController; cancelled: boolean; done: Promise<void> } | null = null;
  /** A start() reading its sessions from the store: a second start meanwhile is E_JOB_BUSY too. */
  private starting = false;
  private destroyed = false;

  constructor(private readonly opts: FinetuneJobsOptions) {}

  /**
   * Starts a job on `sessions` (default: every approved session). Checked before it is queued:
   * the sessions exist and are not open (their masks could still change), there is at least one.
   * @throws CinesegError E_JOB_BUSY, E_SESSION_UNKNOWN, E_SESSION_BUSY, E_INPUT_EMPTY
   */
  async start(req: { sessions?: readonly string[]; steps?: number } = {}): Promise<JobInfo> {
    if (this.destroyed) throw new CinesegError(ErrorCode.E_JOB_BUSY, 'the server is shutting down');
    if (this.running)
      throw new CinesegError(ErrorCode.E_JOB_BUSY, `job ${this.running.id} is still running; wait for it or cancel it (DELETE /api/jobs/${this.running.id})`, { details: { jobId: this.running.id } });
    if (this.starting) throw new CinesegError(ErrorCode.E_JOB_BUSY, 'a job is being started; wait for it');
    // Taken before the first await: two requests at once must not both pass the check above.
    this.starting = true;
    let inputs: Awaited<ReturnType<typeof storedSessionInputs>>;
    let ids: string[];
    try {
      inputs = await storedSessionInputs(this.opts.store, req.sessions);
      ids = inputs.map((i) => i.origin!.slice('session:'.length));
      for (const id of ids) {
        if ((await this.opts.store.requireSession(id)).status === 'open')
          throw new CinesegError(ErrorCode.E_SESSION_BUSY, `session "${id}" is open; close or approve it first`, { details: { sessionId: id } });
      }
    } finally {
      this.starting = false;
    }
    if (this.destroyed) throw new CinesegError(ErrorCode.E_JOB_BUSY, 'the server is shutting down');
    const jobId = `ft-${randomUUID().slice(0, 8)}`;
    const job: JobInfo = { jobId, kind: 'finetune', state: 'queued', progress: 0, sessions: ids, createdAt: new Date().toISOString() };
    this.jobs.set(jobId, job);
    this.prune();
    const abort = new AbortController();
    const entry = { id: jobId, abort, cancelled: false, done: Promise.resolve() };
    this.running = entry;
    entry.done = this.run(job, inputs, req.steps, entry).finally(() => {
      if (this.running === entry) this.running = null;
    });
    return { ...job };
  }

  /** A job's state. @throws CinesegError E_JOB_UNKNOWN */
  get(id: string): JobInfo {
    const j = this.jobs.get(id);
    if (!j) throw new CinesegError(ErrorCode.E_JOB_UNKNOWN, `no job ${id.length <= 64 ? JSON.stringify(id) : '(a long id)'}`);
    return { ...j };
  }

  /** Jobs, newest first. */
  list(): JobInfo[] {
    return [...this.jobs.values()].reverse().map((j) => ({ ...j }));
  }

  /** Cancels a queued or running job (an ended one stays as it ended). @throws CinesegError E_JOB_UNKNOWN */
  cancel(id: string): JobInfo {
    this.get(id); // E_JOB_UNKNOWN for an id never seen
    if (this.running?.id === id && !this.running.cancelled) {
      this.running.cancelled = true;
      this.running.abort.abort();
      this.update(id, { message: 'cancelling: the trainer stops after its current step' });
    }
    return this.get(id);
  }

  /** Resolves when the running job (if any) has ended (tests). */
  async idle(): Promise<void> {
    await this.running?.done;
  }

  /** Cancels the running job and waits for it. Idempotent. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    const r = this.running;
    if (!r) return;
    r.cancelled = true;
    r.abort.abort();
    await r.done.catch(() => undefined);
  }

  private update(id: string, patch: Partial<JobInfo>): void {
    const j = this.jobs.get(id);
    if (j) Object.assign(j, patch);
  }

  private prune(): void {
    const ended = [...this.jobs.values()].filter((j) => j.state !== 'queued' && j.state !== 'running');
    for (const j of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED))) this.jobs.delete(j.jobId);
  }

  private async run(job: JobInfo, inputs: Awaited<ReturnType<typeof storedSessionInputs>>, steps: number | undefined, entry: { abort: AbortController; cancelled: boolean }): Promise<void> {
    const id = job.jobId;
    const log = this.opts.log ?? (() => undefined);
    const redact = this.opts.redact ?? ((s: string) => s);
    const s = this.opts.settings ?? {};
    const out = join(this.opts.modelsDir, id);
    // A dot folder: the catalog never lists it as a model.
    const workDir = join(this.opts.modelsDir, `.work-${id}`);
    const totalSteps = steps ?? s.steps;
    // Let the POST answer first: the job is seen queued, then running.
    await new Promise((r) => setImmediate(r));
    this.update(id, { state: 'running', message: 'preparing the training data', progress: 0.01 });
    log(`job ${id}: finetune on ${job.sessions.length} session(s)`);
    try {
      mkdirSync(this.opts.modelsDir, { recursive: true });
      const onEvent = (e: TrainerEvent): void => {
        if (e.event === 'step') {
          const step = Number(e.step);
          const n = Number(e.steps);
          this.update(id, { step, steps: n, progress: 0.05 + 0.85 * (n > 0 ? step / n : 0), message: `training: step ${step}/${n}` });
        } else if (e.event === 'features') this.update(id, { message: 'training: computing features' });
        else if (e.event === 'trained') this.update(id, { progress: 0.9, message: 'validating the base and the new model on held-out frames' });
      };
      const res = await finetune({
        data: inputs,
        base: this.opts.baseDir,
        out,
        workDir,
        name: `site-${id}`,
        ...(s.mode ? { mode: s.mode } : {}),
        ...(s.encoder ? { encoder: s.encoder } : {}),
        ...(totalSteps === undefined ? {} : { steps: totalSteps }),
        ...(s.minutes === undefined ? {} : { minutes: s.minutes }),
        ...(s.frames === undefined ? {} : { frames: s.frames }),
        ...(s.valFraction === undefined ? {} : { valFraction: s.valFraction }),
        ...(s.threads === undefined ? {} : { threads: s.threads }),
        ...(s.force ? { force: true } : {}),
        // Validation's graphs off the server's event loop (the trainer is a child process already).
        worker: true,
        onEvent,
        log: (l) => {
          log(`job ${id}: ${l}`);
          if (/^validating/.test(l)) this.update(id, { progress: 0.9, message: 'validating the base and the new model on held-out frames' });
        },
        signal: entry.abort.signal,
      });
      if (entry.cancelled || res.interrupted || !res.bundle) {
        rmSync(out, { recursive: true, force: true });
        this.update(id, { state: 'cancelled', message: 'cancelled', finishedAt: new Date().toISOString() });
        log(`job ${id}: cancelled`);
        return;
      }
      const manifest = JSON.parse(readFileSync(join(res.bundle, 'manifest.json'), 'utf8')) as { adaptation?: { validation?: Record<string, unknown> } };
      this.update(id, {
        state: 'done',
        progress: 1,
        message: `done: model ${id}`,
        finishedAt: new Date().toISOString(),
        result: { modelId: id, bundleDir: redact(res.bundle), validation: manifest.adaptation?.validation ?? {} },
      });
      log(`job ${id}: wrote model ${id}`);
    } catch (e) {
      const err = toCinesegError(e);
      if (existsSync(out) && !existsSync(join(out, 'manifest.json'))) rmSync(out, { recursive: true, force: true });
      if (entry.cancelled) {
        this.update(id, { state: 'cancelled', message: 'cancelled', finishedAt: new Date().toISOString() });
        return;
      }
      this.update(id, { state: 'failed', code: err.code, message: redact(err.message), finishedAt: new Date().toISOString() });
      log(`job ${id} failed: ${redact(err.toLine())}`);
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  }
}
