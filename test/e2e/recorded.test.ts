/**
 * A person's path through a recorded clip in Chromium: open the clip, click the object where its
 * prompts.json says it is, propagate, step to frame N with `.`, and check what is on screen: the
 * presented video frame is frame N (pixels against ffmpeg's decode), the overlay is exactly the
 * mask the server stored for frame N, and (with the trained model) it matches frame N's ground
 * truth better than any neighbour's — zero frames off.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../engine/src/decode/frame-decoder.js';
import { decodeMask, type CompressedRle } from '../../engine/src/mask/rle.js';
import { countsToMask } from '../../engine/src/protocol.js';
import { hasTrainedBundle, REPO_ROOT } from '../engine/model/test-bundle.js';
import { iou, meanAbsDiff, overlayMask, SCREENSHOTS, startE2e, videoFrameRgb, type E2e } from './harness.js';

const CLIP_DIR = join(REPO_ROOT, 'samples/generated/ultrasound-1');
const CLIP_ID = 'generated/ultrasound-1';
const W = 480;
const H = 360;
const N = 24;
const prompts = JSON.parse(readFileSync(join(CLIP_DIR, 'prompts.json'), 'utf8')) as { objects: { object_id: number; frame: number; point: [number, number] }[] };
const gt = JSON.parse(readFileSync(join(CLIP_DIR, 'gt.json'), 'utf8')) as { annotations: { object_id: number; segmentations: (CompressedRle | null)[] }[] };

let e: E2e;
beforeAll(async () => {
  e = await startE2e({ media: [join(REPO_ROOT, 'samples', 'generated')] });
});
afterAll(async () => {
  await e?.destroy();
});

async function decodeFrames(indices: number[]): Promise<Map<number, Uint8Array>> {
  const dec = await FrameDecoder.open(join(CLIP_DIR, 'clip.mp4'), { maxFrames: Math.max(...indices) + 1 });
  const out = new Map<number, Uint8Array>();
  try {
    for (let f = await dec.next(); f; f = await dec.next()) if (indices.includes(f.index)) out.set(f.index, f.rgb);
  } finally {
    await dec.destroy();
  }
  return out;
}

describe('e2e: recorded clip in Chromium', () => {
  it('click, propagate, step to frame N: video frame, overlay and stored mask agree (zero frames off)', async () => {
    const { page, server } = e;
    await page.goto(server.url);
    await page.click(`[data-clip="${CLIP_ID}"]`);
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 0 && window.__cineseg.sessionId !== null, undefined, { timeout: 60_000 });
    const obj = prompts.objects.find((o) => o.object_id === 1)!;
    const box = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
    await page.mouse.click(box.x + ((obj.point[0] + 0.5) / W) * box.width, box.y + ((obj.point[1] + 0.5) / H) * box.height);
    await page.waitForFunction(() => window.__cineseg.masksReceived >= 1, undefined, { timeout: 30_000 });
    await page.screenshot({ path: join(SCREENSHOTS, 'recorded-prompt.png') });

    // The click reached the server as a positive point at the prompt's pixel (within a pixel of rounding).
    const sid = await page.evaluate(() => window.__cineseg.sessionId!);
    const stored = e.sink.sessions.get(sid)!;
    const pr = stored.prompts[0]!;
    expect(pr).toMatchObject({ kind: 'points', objectId: 1, frame: 0 });
    if (pr.kind !== 'points') throw new Error('not a point prompt');
    expect(Math.abs(pr.points[0]!.x - obj.point[0])).toBeLessThanOrEqual(1);
    expect(Math.abs(pr.points[0]!.y - obj.point[1])).toBeLessThanOrEqual(1);
    expect(pr.points[0]!.label).toBe(1);

    await page.click('[data-testid="propagate"]');
    await page.waitForFunction(() => /propagated over/.test(document.querySelector('[data-testid="status"]')!.textContent ?? ''), undefined, { timeout: 90_000 });
    expect(stored.masks.size).toBe(90);

    for (let k = 1; k <= N; k++) {
      await page.keyboard.press('.');
      await page.waitForFunction((f) => window.__cineseg.presentedFrame === f && window.__cineseg.overlayFrame === f, k, { timeout: 10_000 });
    }
    await page.screenshot({ path: join(SCREENSHOTS, `recorded-frame-${N}.png`) });

    // The presented picture is frame N, not a neighbour.
    const shown = await videoFrameRgb(page);
    expect([shown.width, shown.height]).toEqual([W, H]);
    const near = [N - 2, N - 1, N, N + 1, N + 2];
    const decoded = await decodeFrames(near);
    const diffs = near.map((f) => meanAbsDiff(shown.rgb, decoded.get(f)!));
    expect(near[diffs.indexOf(Math.min(...diffs))]).toBe(N);
    expect(diffs[2]).toBeLessThan(3);

    // The overlay is exactly frame N's stored mask.
    const ov = await overlayMask(page);
    expect([ov.width, ov.height]).toEqual([W, H]);
    const storedN = stored.masks.get(`1:${N}`)!;
    expect(ov.mask).toEqual(countsToMask(storedN.counts, W, H));
    for (const f of near) {
      const m = countsToMask(stored.masks.get(`1:${f}`)!.counts, W, H);
      if (f !== N && iou(m, ov.mask) < 1) expect(iou(m, ov.mask)).toBeLessThan(1);
    }

    // Against the ground truth, frame N wins (only meaningful with trained weights).
    const seg = gt.annotations.find((a) => a.object_id === 1)!.segmentations;
    const gtIous = near.map((f) => iou(ov.mask, decodeMask(seg[f]!)));
    process.stderr.write(`e2e recorded: overlay IoU vs GT frames ${near.join(',')}: ${gtIous.map((x) => x.toFixed(3)).join(', ')}\n`);
    if (hasTrainedBundle) {
      expect(near[gtIous.indexOf(Math.max(...gtIous))]).toBe(N);
      expect(gtIous[2]).toBeGreaterThan(0.5);
    }
  });
});
