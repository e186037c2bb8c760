import { describe, expect, it } from 'vitest';
import { frameAtMediaTime, seekTimeOfFrame } from '../../../player/src/video/frame-time.js';

// 29.97 fps PTS as ffprobe reports them (µs, rounded), relative to frame 0.
const pts = Array.from({ length: 120 }, (_, i) => Math.round((i * 1001 * 1e6) / 30000) / 1e6);

describe('frame ↔ media time', () => {
  it('maps each frame PTS, and anything within half a frame of it, to that frame', () => {
    const d = 1001 / 30000;
    for (let k = 0; k < pts.length; k++) {
      expect(frameAtMediaTime(pts, pts[k]!)).toBe(k);
      expect(frameAtMediaTime(pts, pts[k]! + 0.45 * d)).toBe(k);
      if (k > 0) expect(frameAtMediaTime(pts, pts[k]! - 0.45 * d)).toBe(k);
    }
    expect(frameAtMediaTime(pts, -1)).toBe(0);
    expect(frameAtMediaTime(pts, 1e6)).toBe(pts.length - 1);
  });

  // A browser shows, at media time t, the last frame whose PTS is <= t.
  const shownAt = (t: number) => {
    let k = 0;
    while (k + 1 < pts.length && pts[k + 1]! <= t) k++;
    return k;
  };

  it("seeks inside the asked frame's display interval (its middle), with any offset", () => {
    for (const offset of [0, 0.0667, 1.4]) {
      for (let k = 0; k < pts.length; k++) {
        const t = seekTimeOfFrame(pts, k, 29.97, offset);
        expect(shownAt(t - offset)).toBe(k);
        // The presented frame reports its own PTS, which maps back to k.
        expect(frameAtMediaTime(pts, pts[shownAt(t - offset)]!)).toBe(k);
        expect(t - offset).toBeGreaterThan(pts[k]!);
      }
      // Out-of-range requests clamp to the first and last frame.
      expect(shownAt(seekTimeOfFrame(pts, -5, 29.97, offset) - offset)).toBe(0);
      expect(shownAt(seekTimeOfFrame(pts, 500, 29.97, offset) - offset)).toBe(pts.length - 1);
    }
  });
});
