/**
 * A token bucket: `burst` requests at once, then `perSecond` on average. Each prompt runs the
 * mask decoder (and on a new frame the image encoder), so an unbounded prompt stream from one
 * client would starve every other session on the same ONNX sessions.
 */
import { performance } from 'node:perf_hooks';

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly burst: number,
    readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false (and nothing taken) when the bucket is empty. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token (0 when one is there). */
  retryAfterMs(): number {
    return this.tokens >= 1 || this.perSecond <= 0 ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }
}
