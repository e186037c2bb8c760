import { describe, expect, it } from 'vitest';
import { hooks, LIVE_SAMPLES_KEPT, recordLivePaint } from '../../player/src/test-hooks.js';

describe('live test hooks', () => {
  it('keep the newest samples only, numbered by painted frame, over an hour of frames', () => {
    const hour = 30 * 3600;
    let longest = 0;
    for (let i = 0; i < hour; i++) {
      recordLivePaint({ frame: 1000 + i, paintMs: i * 33, arrivedMs: i * 33 - 2, latencyMs: i % 50, serverMs: i % 20 });
      longest = Math.max(longest, hooks.liveLatenciesMs.length);
    }
    expect(hooks.livePainted).toBe(hour);
    expect(longest).toBeLessThan(2 * LIVE_SAMPLES_KEPT);
    expect(hooks.liveLatenciesMs.length).toBeGreaterThanOrEqual(LIVE_SAMPLES_KEPT);
    // Every array holds the same frames, and element i is painted frame liveSampleBase + i.
    const n = hooks.liveLatenciesMs.length;
    expect(hooks.liveSampleBase + n).toBe(hour);
    for (const a of [hooks.liveFrames, hooks.livePaintMs, hooks.liveArrivedMs, hooks.liveServerMs]) expect(a.length).toBe(n);
    for (const i of [0, n - 1]) {
      const painted = hooks.liveSampleBase + i;
      expect([hooks.liveFrames[i], hooks.livePaintMs[i], hooks.liveArrivedMs[i], hooks.liveLatenciesMs[i], hooks.liveServerMs[i]]).toEqual([
        1000 + painted,
        painted * 33,
        painted * 33 - 2,
        painted % 50,
        painted % 20,
      ]);
    }
  });
});
