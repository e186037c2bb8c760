/**
 * The operators the live flow is made of (server/live-pipeline.ts wires them):
 *
 *   source frames ── retryWithBackoff ──▶ latestWhenIdle(track) ──▶ shareWithGrace ──▶ viewers
 *
 * - `retryWithBackoff`: a stream that stops is resubscribed (a new ffmpeg) after a wait that
 *   doubles per failed attempt, capped; frames flowing again reset the count; after `maxAttempts`
 *   failures in a row the error that ends the flow is the caller's (E_LIVE_SOURCE_LOST).
 * - `latestWhenIdle`: the tracker is slower than the source. While it works on a frame, newer
 *   frames replace each other and only the newest is taken when it is free; each replaced one is
 *   handed to `onReplaced` (a drop: counted, its pixels recycled).
 * - `shareWithGrace`: one run of the source for every viewer; when the last one leaves the run is
 *   kept `graceMs` (a reload, a brief disconnect) and a viewer arriving in that time joins the same
 *   run, with its tracker and objects; after it the run is torn down.
 *
 * Each is a plain RxJS operator so the timing can be tested with marbles (TestScheduler).
 */
import { defer, from, Observable, share, Subject, Subscription, throwError, timer, type MonoTypeOperatorFunction, type ObservableInput, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { retry } from 'rxjs';

/**
 * Runs `work` on the newest value whenever the previous work is done; values that arrive while
 * it runs replace each other (each replaced one goes to `onReplaced`). The output completes after
 * the source has and the last work is done; an error of either ends it.
 */
export function latestWhenIdle<T, R>(work: (value: T) => ObservableInput<R>, onReplaced: (value: T) => void = () => undefined): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((out) => {
      let pending: { value: T } | null = null;
      let busy = false;
      let sourceDone = false;
      // Each work's subscription is added here (teardown), and `looping` keeps a work that
      // finishes synchronously from recursing: the loop below takes the next value instead.
      const inner = new Subscription();
      let looping = false;
      const runNext = (): void => {
        if (looping) return;
        looping = true;
        try {
          while (!busy && pending && !out.closed) {
            const { value } = pending;
            pending = null;
            busy = true;
            inner.add(
              from(work(value)).subscribe({
                next: (r) => out.next(r),
                error: (e: unknown) => out.error(e),
                complete: () => {
                  busy = false;
                  runNext();
                },
              }),
            );
          }
        } finally {
          looping = false;
        }
        if (!busy && !pending && sourceDone) out.complete();
      };
      const outer = source.subscribe({
        next: (v) => {
          if (pending) onReplaced(pending.value);
          pending = { value: v };
          runNext();
        },
        error: (e: unknown) => out.error(e),
        complete: () => {
          sourceDone = true;
          if (!busy && !pending) out.complete();
        },
      });
      return () => {
        outer.unsubscribe();
        inner.unsubscribe();
      };
    });
}

/** How a flow retries after its source failed. */
export interface BackoffOptions {
  /** Consecutive failed attempts before giving up (0 = never retry). */
  maxAttempts: number;
  /** Wait before the first attempt, ms; doubled after each failed one. */
  initialDelayMs: number;
  /** Cap of the wait, ms. */
  maxDelayMs: number;
  /** Errors that are not retried (they end the flow as they are). Default: every error is retried. */
  retryable?: (err: unknown) => boolean;
  /** The error that ends the flow when the attempts are spent (default: the last error). */
  giveUp?: (lastErr: unknown, attempts: number) => unknown;
  /** Called as each attempt is scheduled: its number in the current outage, its wait, the error. */
  onAttempt?: (attempt: number, delayMs: number, err: unknown) => void;
  scheduler?: SchedulerLike;
}

/** The wait before attempt `n` (1-based) of an outage. */
export function backoffDelay(n: number, initialDelayMs: number, maxDelayMs: number): number {
  return Math.min(maxDelayMs, initialDelayMs * 2 ** (n - 1));
}

/**
 * Resubscribes to the source after it errors, waiting `backoffDelay` between attempts. A value
 * from the source resets the count (frames again = the outage is over), so `maxAttempts` counts
 * failures in a row, not over the flow's life.
 */
export function retryWithBackoff<T>(opts: BackoffOptions): MonoTypeOperatorFunction<T> {
  return retry<T>({
    resetOnSuccess: true,
    delay: (err: unknown, n: number) => {
      if (opts.retryable && !opts.retryable(err)) return throwError(() => err);
      if (n > opts.maxAttempts) return throwError(() => (opts.giveUp ? opts.giveUp(err, opts.maxAttempts) : err));
      const wait = backoffDelay(n, opts.initialDelayMs, opts.maxDelayMs);
      opts.onAttempt?.(n, wait, err);
      return opts.scheduler ? timer(wait, opts.scheduler) : timer(wait);
    },
  });
}

/**
 * `share` for viewers: one subscription to the source for all of them; when the last one leaves,
 * the source stays subscribed `graceMs` (0: torn down at once) and a viewer arriving within it
 * joins it. An error or completion resets, so the next viewer starts a fresh run.
 */
export function shareWithGrace<T>(graceMs: number, scheduler?: SchedulerLike): MonoTypeOperatorFunction<T> {
  return share<T>({
    connector: () => new Subject<T>(),
    resetOnError: true,
    resetOnComplete: true,
    resetOnRefCountZero: graceMs > 0 ? () => (scheduler ? timer(graceMs, scheduler) : timer(graceMs)) : true,
  });
}

/** An Observable of one run: `open` is called per subscription, `close` when it ends however it ends. */
export function usingAsync<R, T>(open: () => Promise<R>, body: (r: R) => Observable<T>, close: (r: R) => void): Observable<T> {
  return defer(() => {
    let res: R | undefined;
    let closed = false;
    return new Observable<T>((out) => {
      const sub = new Subscription();
      open().then(
        (r) => {
          res = r;
          if (out.closed) {
            closed = true;
            close(r);
            return;
          }
          sub.add(body(r).subscribe(out));
        },
        (e: unknown) => out.error(e),
      );
      return () => {
        sub.unsubscribe();
        if (res !== undefined && !closed) {
          closed = true;
          close(res);
        }
      };
    });
  });
}
