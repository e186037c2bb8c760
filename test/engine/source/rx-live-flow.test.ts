/**
 * Marble tests (virtual time, rxjs TestScheduler) of the live flow's operators: which frame the
 * tracker takes and when (latest-when-idle), the reconnect schedule (retry with backoff, reset by
 * frames flowing again, given up after the attempts), and the teardown of a shared run after the
 * last viewer's grace period.
 */
import { defer, delay, of } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { backoffDelay, latestWhenIdle, retryWithBackoff, shareWithGrace } from '../../../engine/src/source/rx-live-flow.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('latestWhenIdle', () => {
  it('takes the newest frame when the work is done; frames replaced meanwhile are drops', () => {
    const drops: string[] = [];
    scheduler().run(({ cold, expectObservable }) => {
      // Work takes 3 ms a frame; frames come every 1 ms, then one later on.
      const src = cold('abc-----e|');
      const out = src.pipe(
        latestWhenIdle(
          (v: string) => of(v.toUpperCase()).pipe(delay(3)),
          (v) => drops.push(v),
        ),
      );
      // a at once; b replaced by c while a runs; c when a is done; e alone; completes after it.
      expectObservable(out).toBe('---A--C----(E|)');
    });
    expect(drops).toEqual(['b']);
  });

  it('runs a synchronous work on every frame (an idle tracker drops nothing)', () => {
    const drops: string[] = [];
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(
        cold('ab-c|').pipe(
          latestWhenIdle(
            (v: string) => of(v + v),
            (v) => drops.push(v),
          ),
        ),
      ).toBe('xy-z|', { x: 'aa', y: 'bb', z: 'cc' });
    });
    expect(drops).toEqual([]);
  });

  it('an unsubscribe stops the work in flight', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const work = cold('----(w|)');
      const src = cold('a------');
      expectObservable(src.pipe(latestWhenIdle(() => work)), '^--!').toBe('---');
      expectSubscriptions(work.subscriptions).toBe('^--!');
    });
  });
});

describe('retryWithBackoff', () => {
  it('waits 10, 20, … ms (capped) between attempts, resets when frames flow again, gives up after the attempts', () => {
    const attempts: [number, number][] = [];
    scheduler().run(({ cold, expectObservable }) => {
      let run = 0;
      // Run 1 delivers a then stops; run 3 delivers b then stops; every other run fails at once.
      const src = defer(() => {
        run++;
        return run === 1 ? cold('a-#') : run === 3 ? cold('b-#') : cold('#');
      });
      const out = src.pipe(retryWithBackoff<string>({ maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 25, giveUp: () => 'lost', onAttempt: (n, ms) => attempts.push([n, ms]) }));
      // a at 0; stop at 2, +10 → run 2 fails at 12, +20 → run 3: b at 32 (count reset); stop at
      // 34, +10 → 44 fails, +20 → 64 fails, +25 (capped) → 89 fails: the 4th failure in a row.
      expectObservable(out).toBe('a 31ms b 56ms #', undefined, 'lost');
    });
    expect(attempts).toEqual([
      [1, 10],
      [2, 20],
      [1, 10],
      [2, 20],
      [3, 25],
    ]);
  });

  it('does not retry an error that is not retryable, and maxAttempts 0 never retries', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('a#', undefined, 'bad url').pipe(retryWithBackoff({ maxAttempts: 5, initialDelayMs: 1, maxDelayMs: 1, retryable: (e) => e !== 'bad url' }))).toBe(
        'a#',
        undefined,
        'bad url',
      );
      expectObservable(cold('a#', undefined, 'gone').pipe(retryWithBackoff({ maxAttempts: 0, initialDelayMs: 1, maxDelayMs: 1 }))).toBe('a#', undefined, 'gone');
    });
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, 500, 10_000))).toEqual([500, 1000, 2000, 4000, 8000]);
  });
});

describe('shareWithGrace', () => {
  it('keeps the run for the grace period after the last viewer; a viewer within it joins the same run, after it a fresh one starts', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('a-b-c-d-e-f-g-h-i-j-k-l-m-n');
      const shared = src.pipe(shareWithGrace<string>(4));
      expectObservable(shared, '^--!').toBe('a-b');
      // Joins at 6, within the grace (3 + 4): the same run, at its 4th frame.
      expectObservable(shared, '------^--!').toBe('------d-e');
      // Left at 9: torn down at 13. At 20 a new run starts from its first frame.
      expectObservable(shared, '--------------------^--!').toBe('--------------------a-b');
      expectSubscriptions(src.subscriptions).toBe(['^------------!', '--------------------^------!']);
    });
  });

  it('grace 0 tears down with the last viewer', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('a-b-c-d');
      expectObservable(src.pipe(shareWithGrace<string>(0)), '^--!').toBe('a-b');
      expectSubscriptions(src.subscriptions).toBe('^--!');
    });
  });
});
