/**
 * A CT volume in Chromium (the synthetic samples/generated/ct-1, test/engine/source/volume-fixture.ts):
 * opened from the clip list, the liver window picked (a new session on that view), a click on
 * the lesion's middle slice, propagated both ways: masks on lesion slices above and below it and
 * none far from it. Then the coronal plane: another session with one slice per volume row, its
 * own HLS view, and the picture stretched by the voxel spacing (2.5 mm rows under 0.8 mm columns),
 * not squashed to the voxel counts' 128:40. Last, the axial session reopened from the sessions
 * list (a real SQLite store): back on its view, plane and window pickers set, masks shown.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreSink } from '../../engine/src/server/store-sink.js';
import { SessionStore } from '../../engine/src/store/session-store.js';
import { REPO_ROOT } from '../engine/model/test-bundle.js';
import { ctFixture, type CtFixture } from '../engine/source/volume-fixture.js';
import { clickVideoPixel, SCREENSHOTS, startE2e, type E2e } from './harness.js';

const CLIP = 'generated/ct-1/ct#axial';
/** Where the lesion is on the middle axial slice (as volume-session.test.ts clicks it). */
const LESION: [number, number] = [80, 58];

let e: E2e;
let ct: CtFixture;
let store: SessionStore;
let tmp: string;
const hlsRequests: string[] = [];
beforeAll(async () => {
  ct = ctFixture();
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-e2e-volume-'));
  store = SessionStore.open(join(tmp, 'cineseg.db'));
  e = await startE2e({ media: [join(REPO_ROOT, 'samples', 'generated')], sink: new StoreSink(store) });
  e.page.on('request', (r) => {
    if (r.url().includes('/hls/')) hlsRequests.push(decodeURIComponent(r.url()));
  });
});
afterAll(async () => {
  await e?.destroy();
  store?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const statusText = (page: Page) => page.locator('[data-testid="status"]').textContent();
const frameLabel = (page: Page) => page.locator('[data-testid="frame-label"]').textContent();

/**
 * Does `action` (which opens a session) and waits for a session other than the one before with
 * its first slice on screen; returns its id. The presented-frame hook is cleared first: the old
 * view's frame 0 must not pass for the new one's (a seek before the new video is ready is lost).
 */
async function newSession(page: Page, action: () => Promise<unknown>): Promise<string> {
  const old = await page.evaluate(() => {
    window.__cineseg.presentedFrame = -1;
    return window.__cineseg.sessionId;
  });
  await action();
  await page.waitForFunction((o) => window.__cineseg.sessionId !== null && window.__cineseg.sessionId !== o && window.__cineseg.presentedFrame === 0, old, { timeout: 90_000 });
  return page.evaluate(() => window.__cineseg.sessionId!);
}

async function seekTimeline(page: Page, f: number, n: number): Promise<void> {
  const tl = (await page.locator('canvas.timeline').boundingBox())!;
  await page.mouse.click(tl.x + ((f + 0.5) / n) * tl.width, tl.y + tl.height / 2);
  await page
    .waitForFunction((k) => window.__cineseg.presentedFrame === k && window.__cineseg.overlayFrame === k, f, { timeout: 15_000 })
    .catch(async (err: Error) => {
      const h = await page.evaluate(() => ({
        p: window.__cineseg.presentedFrame,
        o: window.__cineseg.overlayFrame,
        t: window.__cineseg.presentedMediaTime,
        z: window.__cineseg.frame0MediaTime,
        cur: (document.querySelector('video') as HTMLVideoElement).currentTime,
      }));
      await page.screenshot({ path: join(SCREENSHOTS, 'volume-seek-failed.png') });
      throw new Error(`seek to ${f}: ${JSON.stringify(h)} ${err.message}`);
    });
}

const maskedSlices = (page: Page) =>
  page.evaluate(() =>
    [
      ...new Set(
        window.__cineseg
          .masksHeld()
          .filter((m) => m.area > 0)
          .map((m) => m.frame),
      ),
    ].sort((a, b) => a - b),
  );

describe('e2e: a CT volume in the player', () => {
  it('liver window, a click on the middle slice, propagate both ways; the coronal plane; the axial view reopened', async () => {
    const { page } = e;
    const [nx, ny, nz] = ct.facts.dims as [number, number, number];
    const mid = ct.facts.middleSlice;
    const [k0, k1] = ct.facts.lesionSlices;
    await page.goto(e.server.url);
    const first = await newSession(page, () => page.click(`[data-clip="${CLIP}"]`));
    await expect.poll(() => frameLabel(page)).toBe(`slice 1 / ${nz}`);
    await expect(page.locator('[data-testid="volume-controls"]').count()).resolves.toBe(1);
    // The CT presets are offered; picking one starts the session again on that view.
    const windows = await page.locator('[data-testid="volume-window"] option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(windows).toEqual(expect.arrayContaining(['soft-tissue', 'lung', 'bone', 'liver', 'auto']));
    const axial = await newSession(page, () => page.selectOption('[data-testid="volume-window"]', 'liver'));
    expect(axial).not.toBe(first);
    expect(hlsRequests.some((u) => u.includes('/hls/generated/ct-1/ct#axial:liver/'))).toBe(true);
    // Axial pixels are square (0.8 × 0.8 mm): the stage keeps the voxel counts' ratio.
    const a = (await page.locator('[data-testid="stage"]').boundingBox())!;
    expect(a.width / a.height).toBeCloseTo(nx / ny, 1);

    await seekTimeline(page, mid, nz);
    await expect.poll(() => frameLabel(page)).toBe(`slice ${mid + 1} / ${nz}`);
    await clickVideoPixel(page, nx, ny, LESION[0], LESION[1]);
    await expect.poll(() => maskedSlices(page), { timeout: 60_000 }).toEqual([mid]);
    await page.selectOption('select[aria-label="direction"]', 'both');
    await page.click('[data-testid="propagate"]');
    // Forward mid..last, then backward mid..0: the prompted slice is visited twice.
    await expect.poll(() => statusText(page), { timeout: 120_000 }).toBe(`propagated over ${nz + 1} frames`);
    const slices = await maskedSlices(page);
    expect(slices.filter((k) => k >= k0 && k < mid).length).toBeGreaterThan(3);
    expect(slices.filter((k) => k > mid && k <= k1).length).toBeGreaterThan(3);
    // Far from the lesion the tiny test model does leak (onto the liver around it): said, not asserted.
    const areas = await page.evaluate(() =>
      window.__cineseg
        .masksHeld()
        .map((m) => `${m.frame}:${m.area}`)
        .join(' '),
    );
    process.stderr.write(`volume e2e: masked slices ${slices.join(',')}; areas ${areas}\n`);
    await seekTimeline(page, mid - 4, nz);
    await page.screenshot({ path: join(SCREENSHOTS, 'volume-axial.png') });

    // Coronal: a new session, one slice per volume row, the window kept.
    const coronal = await newSession(page, () => page.selectOption('[data-testid="volume-plane"]', 'coronal'));
    expect(coronal).not.toBe(axial);
    await expect.poll(() => frameLabel(page)).toBe(`slice 1 / ${ny}`);
    expect(hlsRequests.some((u) => u.includes('/hls/generated/ct-1/ct#coronal:liver/'))).toBe(true);
    expect(await page.locator('[data-testid="volume-window"]').inputValue()).toBe('liver');
    // Coronal slices are nx × nz pixels of 0.8 × 2.5 mm: drawn at the patient's proportions.
    const [sx, , sz] = (ct.facts as unknown as { spacingMm: [number, number, number] }).spacingMm;
    const c = (await page.locator('[data-testid="stage"]').boundingBox())!;
    expect(c.width / c.height).toBeCloseTo((nx * sx) / (nz * sz), 1);
    expect(await page.evaluate(() => window.__cineseg.masksHeld().length)).toBe(0);
    await seekTimeline(page, Math.floor(ny / 2), ny);
    await page.screenshot({ path: join(SCREENSHOTS, 'volume-coronal.png') });

    // The axial liver session reopened from the sessions list: the page goes back to that view
    // (its stored clip is the view, `…#axial:liver`), with its masks.
    const masked = slices.length;
    await page.evaluate(() => (window.__cineseg.presentedFrame = -1));
    await page.click(`[data-session="${axial}"] [data-testid="reopen"]`, { timeout: 30_000 });
    await page.waitForFunction(
      ({ s, n }) =>
        window.__cineseg.sessionId === s &&
        new Set(
          window.__cineseg
            .masksHeld()
            .filter((m) => m.area > 0)
            .map((m) => m.frame),
        ).size >= n,
      { s: axial, n: masked },
      { timeout: 60_000 },
    );
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 0, undefined, { timeout: 30_000 });
    await expect.poll(() => frameLabel(page)).toBe(`slice 1 / ${nz}`);
    expect(await page.locator('[data-testid="volume-plane"]').inputValue()).toBe('axial');
    expect(await page.locator('[data-testid="volume-window"]').inputValue()).toBe('liver');
    expect(store.getClip(store.requireSession(axial).clipId)!.path).toMatch(/ct\.nii\.gz#axial:liver$/);
  }, 300_000);
});
