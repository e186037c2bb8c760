/**
 * Image features by frame, computed once and shared by every object (SAM2 caches only the last
 * frame; a small LRU also serves prompt-then-propagate and forward-then-reverse without
 * re-encoding). Concurrent requests for one frame share a single encoder run.
 */
import type { ImageFeatures } from './sam-runner.js';

export class FeatureCache {
  private readonly entries = new Map<number, Promise<ImageFeatures>>();
  /** Encoder runs so far (tests check that objects share them). */
  encodes = 0;

  constructor(
    private readonly capacity: number,
    private readonly compute: (frame: number) => Promise<ImageFeatures>,
  ) {}

  get(frame: number): Promise<ImageFeatures> {
    const hit = this.entries.get(frame);
    if (hit) {
      // Map keeps insertion order: re-inserting marks it most recently used.
      this.entries.delete(frame);
      this.entries.set(frame, hit);
      return hit;
    }
    this.encodes++;
    const p = this.compute(frame);
    this.entries.set(frame, p);
    p.catch(() => this.entries.delete(frame));
    while (this.entries.size > Math.max(1, this.capacity)) {
      const oldest = this.entries.keys().next().value as number;
      this.entries.delete(oldest);
    }
    return p;
  }

  clear(): void {
    this.entries.clear();
  }
}
