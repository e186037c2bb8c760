/**
 * The player's panels in Chromium over a real SQLite store: per-object timeline tracks after a
 * propagation; a propagation over a range covers that range only; the review queue flags a frame
 * whose mask jumped and `n` jumps to it; after a correction, propagation starts at its frame;
 * `?` lists every binding of the shortcut table; the export dialog downloads a COCO file with
 * annotations; approving in the sessions panel changes the row's status (and the store's).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMask, type CompressedRle } from '../../engine/src/mask/rle.js';
import type { SessionStore } from '../../engine/src/store/session-store.js';
import { REPO_ROOT } from '../engine/model/test-bundle.js';
import { clickVideoPixel, gtCentre, SCREENSHOTS, startE2eWithStore, type E2eWithStore } from './harness.js';

const CLIP = 'endoscopy-2';
const CLIP_DIR = join(REPO_ROOT, 'samples/generated', CLIP);
const meta = JSON.parse(readFileSync(join(CLIP_DIR, 'prompts.json'), 'utf8')) as { width: number; height: number; length: number };
const gt = JSON.parse(readFileSync(join(CLIP_DIR, 'gt.json'), 'utf8')) as { annotations: { object_id: number; segmentations: (CompressedRle | null)[] }[] };
const { width: W, height: H, length: N } = meta;

let e: E2eWithStore;
let store: SessionStore;
beforeAll(async () => {
  e = await startE2eWithStore({ media: [join(REPO_ROOT, 'samples', 'generated')] });
  store = e.store;
});
afterAll(async () => e?.destroy());

const centre = (objectId: number, frame: number): [number, number] => gtCentre(gt, W, objectId, frame);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const storedFrames = (sid: string, objectId = 1) => store.currentMasks(sid, { objectId }).map((m) => m.frame);
const statusText = (page: Page) => page.locator('[data-testid="status"]').textContent();

async function openClip(page: Page): Promise<string> {
  const old = await page.evaluate(() => window.__cineseg.sessionId);
  await page.click(`[data-clip="generated/${CLIP}"]`);
  await page.waitForFunction((o) => window.__cineseg.sessionId !== o && window.__cineseg.presentedFrame === 0, old, { timeout: 60_000 });
  return page.evaluate(() => window.__cineseg.sessionId!);
}

async function seekTimeline(page: Page, f: number): Promise<void> {
  const tl = (await page.locator('canvas.timeline').boundingBox())!;
  await page.mouse.click(tl.x + ((f + 0.5) / N) * tl.width, tl.y + 10);
  await page.waitForFunction((k) => window.__cineseg.presentedFrame === k && window.__cineseg.overlayFrame === k, f, { timeout: 30_000 });
}

/** The RGB of the timeline's track of the `row`th object at frame f (the middle of the track's bar). */
async function trackPixel(page: Page, row: number, f: number): Promise<number[]> {
  return page.evaluate(
    ({ row, f, n }) => {
      const c = document.querySelector('canvas.timeline') as HTMLCanvasElement;
      const x = Math.floor(((f + 0.5) / n) * c.width);
      return Array.from(
        c
          .getContext('2d')!
          .getImageData(x, 36 + row * 14 + 7, 1, 1)
          .data.slice(0, 3),
      );
    },
    { row, f, n: N },
  );
}

/** The bounding box [x0, y0, x1, y1] of an object's ground-truth mask on a frame, in video pixels. */
function gtBox(objectId: number, frame: number): [number, number, number, number] {
  const m = decodeMask(gt.annotations.find((a) => a.object_id === objectId)!.segmentations[frame]!);
  let [x0, y0, x1, y1] = [W, H, 0, 0];
  for (let i = 0; i < m.length; i++) {
    if (!m[i]) continue;
    const x = i % W;
    const y = Math.floor(i / W);
    [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  }
  return [x0, y0, x1, y1];
}

/** Drags a box prompt over the video from (x0, y0) to (x1, y1), video pixels. */
async function dragBox(page: Page, [x0, y0, x1, y1]: [number, number, number, number]): Promise<void> {
  const b = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
  const at = (x: number, y: number): [number, number] => [b.x + ((x + 0.5) / W) * b.width, b.y + ((y + 0.5) / H) * b.height];
  await page.mouse.move(...at(x0, y0));
  await page.mouse.down();
  await page.mouse.move(...at((x0 + x1) / 2, (y0 + y1) / 2), { steps: 4 });
  await page.mouse.move(...at(x1, y1), { steps: 4 });
  await page.mouse.up();
}

/** The swatch colour of an object in the object list, as [r, g, b]. */
async function swatch(page: Page, objectId: number): Promise<number[]> {
  const bg = await page.locator(`[data-object="${objectId}"] .swatch`).evaluate((el) => getComputedStyle(el).backgroundColor);
  return bg.match(/\d+/g)!.slice(0, 3).map(Number);
}

describe('e2e: timeline, review, keyboard, export and sessions panels', () => {
  it('propagates over a range only, and the timeline shows the object track there', async () => {
    const { page } = e;
    await page.goto(e.server.url);
    const sid = await openClip(page);
    await expect.poll(() => page.locator('[data-testid="session-id"]').textContent()).toBe(`session ${sid}`);
    await seekTimeline(page, 12);
    const [x, y] = centre(1, 12);
    await clickVideoPixel(page, W, H, x, y);
    await expect.poll(() => storedFrames(sid), { timeout: 30_000 }).toEqual([12]);
    await page.selectOption('select[aria-label="propagate from"]', 'range');
    await page.fill('input[aria-label="range from"]', '10');
    await page.fill('input[aria-label="range to"]', '20');
    await page.selectOption('select[aria-label="direction"]', 'forward');
    await page.click('[data-testid="propagate"]');
    await expect.poll(() => statusText(page), { timeout: 60_000 }).toBe('propagated over 11 frames');
    expect(storedFrames(sid)).toEqual(range(10, 20));
    expect(await page.locator('canvas.timeline').getAttribute('data-tracks')).toBe('1');
    const colour = await swatch(page, 1);
    // Tracked (present) inside the range in the object's colour; nothing outside it.
    await expect.poll(() => trackPixel(page, 0, 15), { timeout: 5_000 }).toEqual(colour);
    expect(await trackPixel(page, 0, 30)).not.toEqual(colour);
    expect(await trackPixel(page, 0, 5)).not.toEqual(colour);
    await page.screenshot({ path: join(SCREENSHOTS, 'panels-range-timeline.png') });
  });

  it('flags a frame whose mask jumped, lists it, and `n` / `p` jump to it', async () => {
    const { page } = e;
    const sid = await page.evaluate(() => window.__cineseg.sessionId!);
    // Object 1's mask erased on frame 15 with the eraser (a mask prompt: the mask as drawn): empty
    // (or, if a rim is left, under half its area) between present frames 14 and 16.
    await seekTimeline(page, 15);
    await page.keyboard.press('e');
    for (let i = 0; i < 8; i++) await page.keyboard.press(']');
    await expect.poll(() => page.evaluate(() => window.__cineseg.editTool)).toBe('eraser');
    const [x0, y0, x1, y1] = gtBox(1, 15);
    const b = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
    const at = (x: number, y: number): [number, number] => [b.x + (x / W) * b.width, b.y + (y / H) * b.height];
    for (let y = y0 - 20; y <= y1 + 20; y += 15) {
      await page.mouse.move(...at(x0 - 25, y));
      await page.mouse.down();
      await page.mouse.move(...at(x1 + 25, y), { steps: 12 });
      await page.mouse.up();
    }
    await page.keyboard.press('e');
    await expect.poll(() => store.getMask(sid, 1, 15)?.origin, { timeout: 20_000 }).toBe('prompt');
    await expect.poll(() => page.locator('[data-flag-frame="15"]').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await page.locator('[data-flag-frame="15"]').first().textContent()).toMatch(/(empty mask|absent \(score -?[\d.]+\)) between present frames|area changed by \d+ %/);
    const flagged = [...new Set(await page.locator('[data-flag-frame]').evaluateAll((li) => li.map((l) => Number(l.getAttribute('data-flag-frame')))))].sort((a, b) => a - b);
    // The tiny test model may flag other frames of the propagated range too: n / p go to the nearest.
    expect(flagged).toContain(15);
    expect(flagged.every((f) => f >= 10 && f <= 20)).toBe(true);
    await seekTimeline(page, 2);
    await page.keyboard.press('n');
    await page.waitForFunction((k) => window.__cineseg.presentedFrame === k, flagged[0], { timeout: 30_000 });
    await page.screenshot({ path: join(SCREENSHOTS, 'panels-review.png') });
    await seekTimeline(page, 40);
    await page.keyboard.press('p');
    await page.waitForFunction((k) => window.__cineseg.presentedFrame === k, flagged[flagged.length - 1], { timeout: 30_000 });
    // Frame keys of the table: Home, +10 (PageDown), next prompted frame (Ctrl+→).
    await page.keyboard.press('Home');
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 0, undefined, { timeout: 30_000 });
    await page.keyboard.press('PageDown');
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 10, undefined, { timeout: 30_000 });
    await page.keyboard.press('Control+ArrowRight');
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 12, undefined, { timeout: 30_000 });
  });

  it('after a correction, propagation starts at the corrected frame by default', async () => {
    const { page } = e;
    const sid = await page.evaluate(() => window.__cineseg.sessionId!);
    // The last correction was the eraser's mask prompt on frame 15 (inside the tracked frames).
    await page.selectOption('select[aria-label="propagate from"]', 'prompt');
    expect(await page.locator('select[aria-label="propagate from"] option[value="prompt"]').textContent()).toBe('from the last correction (frame 15)');
    await page.selectOption('select[aria-label="direction"]', 'forward');
    await page.keyboard.press('Enter');
    await expect.poll(() => statusText(page), { timeout: 90_000 }).toBe(`propagated over ${N - 15} frames`);
    expect(await page.evaluate(() => window.__cineseg.lastProgress)).toEqual({ done: N - 15, total: N - 15 });
    expect(storedFrames(sid)).toEqual(range(10, N - 1));
  });

  it('`?` shows the help listing every binding', async () => {
    const { page } = e;
    await page.keyboard.press('?');
    const help = page.locator('[data-testid="help-overlay"]');
    await help.waitFor({ timeout: 5_000 });
    const ids = await help.locator('[data-shortcut]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-shortcut')));
    for (const id of [
      'frame-step',
      'play',
      'back-10',
      'forward-10',
      'first-frame',
      'last-frame',
      'prev-prompted',
      'next-prompted',
      'select-object',
      'next-flagged',
      'prev-flagged',
      'propagate',
      'escape',
      'overlay',
      'help',
    ])
      expect(ids).toContain(id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(await help.textContent()).toContain('next flagged frame');
    await page.screenshot({ path: join(SCREENSHOTS, 'panels-help.png') });
    await page.keyboard.press('Escape');
    await expect.poll(() => help.count(), { timeout: 5_000 }).toBe(0);
  });

  it('the export dialog downloads a COCO file with annotations', async () => {
    const { page } = e;
    await page.click('[data-testid="open-export"]');
    await page.selectOption('select[aria-label="export format"]', 'coco');
    await page.check('input[aria-label="frame range"]');
    await page.fill('input[aria-label="export from"]', '10');
    await page.fill('input[aria-label="export to"]', '15');
    await page.screenshot({ path: join(SCREENSHOTS, 'panels-export.png') });
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.click('[data-testid="export-download"]')]);
    expect(await dl.failure()).toBeNull();
    const coco = JSON.parse(readFileSync((await dl.path())!, 'utf8')) as { images: unknown[]; annotations: { image_id: number; segmentation: unknown }[]; categories: unknown[] };
    expect(coco.annotations.length).toBeGreaterThan(0);
    expect(coco.categories.length).toBeGreaterThan(0);
    expect(coco.images.length).toBeLessThanOrEqual(6);
  });

  it('approves a session in the sessions panel: the row says approved, the store says done', async () => {
    const { page } = e;
    const first = await page.evaluate(() => window.__cineseg.sessionId!);
    // A second session: the first one is closed and listed with its counts.
    await openClip(page);
    const row = page.locator(`[data-session="${first}"]`);
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 30_000 }).toBe('closed');
    await row.locator('[data-testid="approve"]').click();
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 30_000 }).toBe('done');
    expect(await row.locator('[data-testid="session-status"]').textContent()).toBe('approved');
    expect(store.requireSession(first).status).toBe('done');
    await page.screenshot({ path: join(SCREENSHOTS, 'panels-sessions.png') });
    await row.locator('[data-testid="unapprove"]').click();
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 30_000 }).toBe('closed');
  });
});
