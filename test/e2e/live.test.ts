/**
 * Live mode in Chromium: a clip looped as if live (`loop:<file>`, real-time pacing) is decoded
 * once, tracked, and shown as JPEG frames with their masks; a click adds an object that the
 * following frames carry; latency and drops are counted and shown.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/model/test-bundle.js';
import { SCREENSHOTS, startE2e, type E2e } from './harness.js';

const CLIP_DIR = join(REPO_ROOT, 'samples/generated/endoscopy-1');
const prompts = JSON.parse(readFileSync(join(CLIP_DIR, 'prompts.json'), 'utf8')) as { width: number; height: number; objects: { object_id: number; point: [number, number] }[] };

let e: E2e;
beforeAll(async () => {
  e = await startE2e({ media: [join(REPO_ROOT, 'samples', 'generated')], live: `loop:${join(CLIP_DIR, 'clip.mp4')}` });
});
afterAll(async () => {
  await e?.destroy();
});

describe('e2e: live session in Chromium', () => {
  it('shows live frames with masks after a click, with latency and drop counters', async () => {
    const { page, server } = e;
    await page.goto(server.url);
    await page.click('[data-testid="open-live"]');
    await page.waitForFunction(() => window.__cineseg.livePainted >= 10, undefined, { timeout: 60_000 });
    const before = await page.evaluate(() => window.__cineseg.masksReceived);
    expect(before).toBe(0);

    const obj = prompts.objects[0]!;
    const box = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
    await page.mouse.click(box.x + (obj.point[0] / prompts.width) * box.width, box.y + (obj.point[1] / prompts.height) * box.height);
    // The click named the frame on screen; the server applied it there (or, when this loaded
    // machine let the page fall further behind than the server holds, to its newest frame), and the
    // page shows which. Exactness itself is checked in test/engine/server/live-prompts.test.ts.
    await page.waitForFunction(() => window.__cineseg.lastLivePrompt !== null, undefined, { timeout: 30_000 });
    const lp = (await page.evaluate(() => window.__cineseg.lastLivePrompt))!;
    process.stderr.write(`e2e live: click on frame ${lp.asked}, applied to frame ${lp.applied}\n`);
    expect(lp.applied).toBeGreaterThanOrEqual(lp.asked);
    expect(await page.locator('[data-testid="status"]').textContent()).toContain(`prompt on frame ${lp.applied}`);
    // Every painted frame after the prompt carries the object's mask message.
    await page.waitForFunction(() => window.__cineseg.masksReceived >= 20, undefined, { timeout: 60_000 });
    const painted0 = await page.evaluate(() => window.__cineseg.livePainted);
    await page.waitForFunction((p) => window.__cineseg.livePainted >= p + 20, painted0, { timeout: 60_000 });
    await page.screenshot({ path: join(SCREENSHOTS, 'live.png') });

    const h = await page.evaluate(() => ({ ...window.__cineseg }));
    expect(h.liveSampleBase + h.liveLatenciesMs.length).toBe(h.livePainted);
    for (const l of h.liveLatenciesMs) {
      expect(l).toBeGreaterThan(0);
      expect(l).toBeLessThan(5000);
    }
    const stats = await page.locator('[data-testid="live-stats"]').textContent();
    expect(stats).toMatch(/latency \d+ ms/);
    expect(stats).toMatch(/dropped \d+/);
    // The server's counters agree: frames in = frames tracked + dropped (give or take the one in flight).
    const live = server.live!;
    expect(live.framesIn).toBeGreaterThanOrEqual(live.framesSent + live.drops);
    expect(live.framesIn - live.framesSent - live.drops).toBeLessThanOrEqual(2);
    const sorted = [...h.liveLatenciesMs].sort((a, b) => a - b);
    process.stderr.write(
      `e2e live: painted ${h.livePainted}, drops ${live.drops}, frames in ${live.framesIn}, latency p50 ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms\n`,
    );
  });

  it('deletes the object: the server stops tracking it and the overlay clears', async () => {
    const { page, server } = e;
    const live = server.live!;
    expect(live.objectIds).toEqual([1]);
    const overlayPixels = () =>
      page.evaluate(() => {
        const c = document.querySelector('canvas[data-testid="overlay"]') as HTMLCanvasElement;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
        return n;
      });
    await expect.poll(overlayPixels, { timeout: 10_000 }).toBeGreaterThan(0);
    // Deleting asks first (the ✕ sits beside hide); the test says yes and checks it was asked.
    const asked = new Promise<string>((resolve) =>
      page.once('dialog', (d) => {
        resolve(d.message());
        void d.accept();
      }),
    );
    await page.locator('[data-object="1"] button[title="delete"]').click();
    expect(await asked).toMatch(/delete|remove/i);
    await expect.poll(() => live.objectIds, { timeout: 10_000 }).toEqual([]);
    await expect.poll(() => page.locator('[data-object]').count(), { timeout: 10_000 }).toBe(0);
    const painted = await page.evaluate(() => window.__cineseg.livePainted);
    await page.waitForFunction((p) => window.__cineseg.livePainted >= p + 5, painted, { timeout: 30_000 });
    expect(await overlayPixels()).toBe(0);
  });
});
