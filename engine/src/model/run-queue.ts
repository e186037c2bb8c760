/**
 * The queue in front of the model: graph runs wait here and go one at a time, the most urgent
 * first. One at a time because the sessions run one graph at a time anyway (onnxruntime-node's
 * `run` is synchronous, and a worker thread is one thread); waiting here instead of in the
 * worker's message queue is what lets a live frame overtake propagation runs that were queued
 * before it. Within one priority, first come first served.
 */
import { CinesegError, ErrorCode } from '../errors.js';

/**
 * How urgent a graph run is. `live`: a live frame (someone watches it now); `interactive`: a
 * prompt a person waits for (and any run that says nothing); `propagate`: recorded propagation,
 * which is throughput work and can wait a frame.
 */
export type RunPriority = 'live' | 'interactive' | 'propagate';

export const RUN_PRIORITIES: readonly RunPriority[] = ['live', 'interactive', 'propagate'];

interface Job {
  task: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class RunQueue {
  /** One FIFO per priority, most urgent first (the order of RUN_PRIORITIES). */
  private readonly lanes: Job[][] = RUN_PRIORITIES.map(() => []);
  private running = false;
  private idleWaiters: (() => void)[] = [];
  private closed: CinesegError | null = null;
  /** Runs started per priority (tests and metrics read it). */
  readonly started: Record<RunPriority, number> = { live: 0, interactive: 0, propagate: 0 };

  /** Runs waiting (not counting the one running). */
  get waiting(): number {
    return this.lanes.reduce((n, l) => n + l.length, 0);
  }

  get busy(): boolean {
    return this.running;
  }

  /** Queues `task`; it starts when nothing more urgent (or older at its priority) is waiting. */
  push<T>(priority: RunPriority, task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    const lane = this.lanes[RUN_PRIORITIES.indexOf(priority)];
    if (!lane) return Promise.reject(new CinesegError(ErrorCode.E_INTERNAL, `unknown run priority "${String(priority)}"`));
    return new Promise<T>((resolve, reject) => {
      lane.push({ task, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  /** Rejects every waiting run with `error` and refuses new ones; the running one finishes. */
  close(error: CinesegError): void {
    if (this.closed) return;
    this.closed = error;
    for (const lane of this.lanes) for (const job of lane.splice(0)) job.reject(error);
  }

  /** Resolves once no run is running (at once when none is). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    if (this.running) return;
    for (let p = 0; p < this.lanes.length; p++) {
      const job = this.lanes[p]!.shift();
      if (!job) continue;
      this.running = true;
      this.started[RUN_PRIORITIES[p]!]++;
      let settled: Promise<unknown>;
      try {
        settled = job.task();
      } catch (e) {
        settled = Promise.reject(e);
      }
      settled.then(job.resolve, job.reject).finally(() => {
        this.running = false;
        this.pump();
      });
      return;
    }
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
