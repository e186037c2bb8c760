/**
 * The live latency bench in its smallest form: real server, real Chromium, a raw capture feed at
 * 30 fps (the bench's default source). Checks the numbers are measured, and a p99 bound that
 * catches a stalled live path; the 40 ms goal itself is the bench's (1,000 frames, machine idle).
 * `npm test` runs this file on its own after the others (scripts/test.mjs), so no other test
 * file shares the two cores with it.
 */
import { describe, expect, it } from 'vitest';
import { benchLiveLatency } from '../../engine/src/bench/live-latency-bench.js';
import { testBundleDir } from '../engine/model/test-bundle.js';
import { ensurePlayerBuilt } from './harness.js';

describe('benchLiveLatency', () => {
  it('measures glass-to-glass latency over painted frames with masks', async () => {
    ensurePlayerBuilt();
    const r = await benchLiveLatency({ frames: 150, warmupFrames: 30, model: testBundleDir() });
    process.stderr.write(`live latency (150 frames after 30 of warm-up): ${JSON.stringify(r)}\n`);
    expect(r.frames).toBeGreaterThanOrEqual(150);
    expect(r.warmupFrames).toBe(30);
    expect(r.liveLatencyP50Ms).toBeGreaterThan(0);
    expect(r.liveLatencyP99Ms).toBeGreaterThanOrEqual(r.liveLatencyP50Ms);
    // Steady state, the first second after the click left out (start-up had put 60-frame runs at
    // p99 146-147 ms). The bench's goal is 40 ms over 1,000 frames on an idle machine; 80 ms here
    // leaves room for a short run's tail, and a stall of the live path (a blocked loop, a growing
    // queue, frames sent twice) is hundreds of ms to seconds.
    expect(r.liveLatencyP99Ms).toBeLessThanOrEqual(80);
    expect(r.drops).toBeGreaterThanOrEqual(0);
    // The two shares add up to the whole (medians of parts are close to the median of the sum).
    expect(r.serverP50Ms).toBeGreaterThan(0);
    expect(r.browserP50Ms).toBeGreaterThan(0);
    expect(r.serverP50Ms).toBeLessThanOrEqual(r.liveLatencyP99Ms);
    // Timed from the feed's write, so the whole is the decoder-to-paint part plus a non-negative
    // source-to-decoder part (ffmpeg reading the socket, the pipe, a busy event loop).
    expect(r.source).toBe('capture');
    expect(r.sourceToDecoderP50Ms).toBeGreaterThanOrEqual(0);
    expect(r.liveLatencyP50Ms).toBeGreaterThanOrEqual(r.fromDecoderP50Ms);
    // Every source frame was either painted or dropped, except those still in flight at the end
    // (decoder -> tracker -> JPEG -> socket -> createImageBitmap): a few on an idle machine, up
    // to 12 of 88 seen in CI with the machine loaded. None may be painted twice or invented.
    expect(r.frames + r.drops).toBeLessThanOrEqual(r.sourceFrames + 4);
    expect(r.sourceFrames - r.frames - r.drops).toBeLessThanOrEqual(Math.max(4, Math.ceil(0.2 * r.sourceFrames)));
  });
});
