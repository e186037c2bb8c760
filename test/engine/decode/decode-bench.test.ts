import { describe, expect, it } from 'vitest';
import { benchDecode } from '../../../engine/src/bench/decode-bench.js';

describe('benchDecode (quick)', () => {
  it('times decode-to-tensor against ffmpeg -f null on the same clip', async () => {
    const r = await benchDecode({ quick: true });
    expect(r.frames).toBeGreaterThan(100);
    for (const v of [r.decodeRatio, r.decodeFps, r.ffmpegNullFps, r.scaleOnlyRatio, r.scaleOnlyFps]) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThan(0);
    }
    expect(r.size).toBe(256);
  });
});
