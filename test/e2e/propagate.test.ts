/**
 * Propagation and objects in Chromium, over a real SQLite store: from a middle frame backward, then
 * both ways (progress bar sized to the frames visited, timeline marks); a propagation cancelled
 * midway (bar gone, the frames done so far stay stored, the next one runs); two objects: one renamed
 * (the name stored as its label), hidden, shown, the other deleted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompressedRle } from '../../engine/src/mask/rle.js';
import type { SessionStore } from '../../engine/src/store/session-store.js';
import { REPO_ROOT } from '../engine/model/test-bundle.js';
import { clickVideoPixel, gtCentre, SCREENSHOTS, startE2eWithStore, type E2eWithStore } from './harness.js';

const CLIP = 'endoscopy-2';
const CLIP_DIR = join(REPO_ROOT, 'samples/generated', CLIP);
const meta = JSON.parse(readFileSync(join(CLIP_DIR, 'prompts.json'), 'utf8')) as { width: number; height: number; length: number; objects: { object_id: number; point: [number, number] }[] };
const gt = JSON.parse(readFileSync(join(CLIP_DIR, 'gt.json'), 'utf8')) as { annotations: { object_id: number; segmentations: (CompressedRle | null)[] }[] };
const { width: W, height: H, length: N } = meta;
const MID = Math.floor(N / 2);

let e: E2eWithStore;
let store: SessionStore;
beforeAll(async () => {
  e = await startE2eWithStore({ media: [join(REPO_ROOT, 'samples', 'generated')] });
  store = e.store;
});
afterAll(async () => e?.destroy());

const centre = (objectId: number, frame: number): [number, number] => gtCentre(gt, W, objectId, frame);
const clickVideo = (page: Page, x: number, y: number): Promise<void> => clickVideoPixel(page, W, H, x, y);

async function openClip(page: Page): Promise<string> {
  const old = await page.evaluate(() => window.__cineseg.sessionId);
  await page.click(`[data-clip="generated/${CLIP}"]`);
  await page.waitForFunction((o) => window.__cineseg.sessionId !== o && window.__cineseg.presentedFrame === 0, old, { timeout: 60_000 });
  return page.evaluate(() => window.__cineseg.sessionId!);
}

/** Seeks with a click on the timeline and waits until frame f is presented. */
async function seekTimeline(page: Page, f: number): Promise<void> {
  const tl = (await page.locator('canvas.timeline').boundingBox())!;
  await page.mouse.click(tl.x + ((f + 0.5) / N) * tl.width, tl.y + tl.height / 2);
  await page.waitForFunction((k) => window.__cineseg.presentedFrame === k && window.__cineseg.overlayFrame === k, f, { timeout: 10_000 });
}

/**
 * What the timeline shows for frame f: a prompt tick (yellow, top) and a mask strip (blue, bottom).
 * The timeline redraws after React has rendered the new state, so callers poll it.
 */
async function timelineAt(page: Page, f: number): Promise<{ prompt: boolean; mask: boolean }> {
  return page.evaluate(
    ({ f, n }) => {
      const c = document.querySelector('canvas.timeline') as HTMLCanvasElement;
      const ctx = c.getContext('2d')!;
      const x = Math.floor(((f + 0.5) / n) * c.width);
      const px = (y: number) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
      const [top, bottom] = [px(10), px(25)];
      return { prompt: top[0] === 0xff && top[1] === 0xd1 && top[2] === 0x66, mask: bottom[0] === 0x3f && bottom[1] === 0xa7 && bottom[2] === 0xd6 };
    },
    { f, n: N },
  );
}

const statusText = (page: Page) => page.locator('[data-testid="status"]').textContent();

async function propagate(page: Page, direction: 'forward' | 'backward' | 'both'): Promise<void> {
  await page.evaluate(() => (window.__cineseg.lastProgress = null));
  await page.selectOption('select[aria-label="direction"]', direction);
  await page.click('[data-testid="propagate"]');
}

const lastProgress = (page: Page) => page.evaluate(() => window.__cineseg.lastProgress);

const storedFrames = (sid: string, objectId = 1) => store.currentMasks(sid, { objectId }).map((m) => m.frame);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('e2e: propagation and objects in Chromium', () => {
  it('propagates backward, then both ways, from a middle frame', async () => {
    const { page } = e;
    await page.goto(e.server.url);
    const sid = await openClip(page);
    await seekTimeline(page, MID);
    // Frame-step keys: one back, one forward.
    await page.keyboard.press(',');
    await page.waitForFunction((k) => window.__cineseg.presentedFrame === k, MID - 1, { timeout: 10_000 });
    await page.keyboard.press('.');
    await page.waitForFunction((k) => window.__cineseg.presentedFrame === k, MID, { timeout: 10_000 });
    const [x, y] = centre(1, MID);
    await clickVideo(page, x, y);
    await expect.poll(() => storedFrames(sid), { timeout: 30_000 }).toEqual([MID]);
    expect(store.listPrompts(sid)).toMatchObject([{ objectId: 1, frame: MID, kind: 'points' }]);

    await propagate(page, 'backward');
    await expect.poll(() => statusText(page), { timeout: 60_000 }).toBe(`propagated over ${MID + 1} frames`);
    // The bar was sized to the frames the pass visits (MID..0), not the clip, and filled.
    expect(await lastProgress(page)).toEqual({ done: MID + 1, total: MID + 1 });
    expect(await page.locator('[data-testid="progress"]').count()).toBe(0);
    expect(storedFrames(sid)).toEqual(range(0, MID));
    await expect.poll(() => timelineAt(page, 3), { timeout: 5_000 }).toEqual({ prompt: false, mask: true });
    await expect.poll(() => timelineAt(page, MID + 5), { timeout: 5_000 }).toEqual({ prompt: false, mask: false });
    await seekTimeline(page, MID - 10);
    await expect.poll(() => timelineAt(page, MID), { timeout: 5_000 }).toEqual({ prompt: true, mask: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'propagate-backward.png') });

    await propagate(page, 'both');
    // Forward MID..N-1, then backward MID..0: the prompted frame is visited twice.
    await expect.poll(() => statusText(page), { timeout: 60_000 }).toBe(`propagated over ${N + 1} frames`);
    expect(await lastProgress(page)).toEqual({ done: N + 1, total: N + 1 });
    expect(storedFrames(sid)).toEqual(range(0, N - 1));
    await expect.poll(() => timelineAt(page, N - 3), { timeout: 5_000 }).toEqual({ prompt: false, mask: true });
    // The second pass superseded the first pass's masks before MID, without deleting them.
    expect(store.maskHistory(sid, 1, 3).map((m) => m.origin)).toEqual(['propagate', 'propagate']);
  });

  it('cancels a propagation midway: the bar goes, the frames done stay stored, a new propagation runs', async () => {
    const { page } = e;
    const sid = await openClip(page);
    const [x, y] = centre(1, 0);
    await clickVideo(page, x, y);
    await expect.poll(() => storedFrames(sid), { timeout: 30_000 }).toEqual([0]);
    await propagate(page, 'forward');
    await page.waitForFunction(() => Number((document.querySelector('[data-testid="progress"]') as HTMLProgressElement | null)?.value ?? 0) >= 8, undefined, { timeout: 30_000 });
    await page.click('[data-testid="cancel"]');
    await expect.poll(() => statusText(page), { timeout: 30_000 }).toMatch(/^propagation cancelled after \d+ frames$/);
    const done = Number(/after (\d+) frames/.exec((await statusText(page))!)![1]);
    expect(done).toBeGreaterThanOrEqual(8);
    expect(done).toBeLessThan(N);
    // The bar stopped where the propagation did, and is gone.
    expect(await lastProgress(page)).toEqual({ done, total: N });
    expect(await page.locator('[data-testid="progress"]').count()).toBe(0);
    await page.screenshot({ path: join(SCREENSHOTS, 'propagate-cancelled.png') });
    // Every frame done before the cancel is stored; nothing after.
    expect(storedFrames(sid)).toEqual(range(0, done - 1));
    await expect.poll(() => timelineAt(page, done - 2), { timeout: 5_000 }).toEqual({ prompt: false, mask: true });
    await expect.poll(() => timelineAt(page, done + 2), { timeout: 5_000 }).toEqual({ prompt: false, mask: false });

    await propagate(page, 'forward');
    await expect.poll(() => statusText(page), { timeout: 60_000 }).toBe(`propagated over ${N} frames`);
    expect(await lastProgress(page)).toEqual({ done: N, total: N });
    expect(storedFrames(sid)).toEqual(range(0, N - 1));
  });

  it('renames, hides, shows and deletes objects', async () => {
    const { page } = e;
    const sid = await page.evaluate(() => window.__cineseg.sessionId!);
    await seekTimeline(page, 10);
    // A second object on frame 10.
    await page.getByText('+ New object').click();
    const [x2, y2] = centre(2, 10);
    await clickVideo(page, x2, y2);
    await expect.poll(() => store.getMask(sid, 2, 10) !== undefined, { timeout: 30_000 }).toBe(true);
    await expect.poll(() => overlayObjects(page), { timeout: 10_000 }).toEqual([1, 2]);

    // A new name is stored when the field is left, and becomes the object's category in exports.
    await page.fill('[aria-label="name of object 1"]', 'polyp');
    await page.press('[aria-label="name of object 1"]', 'Enter');
    expect(await page.inputValue('[aria-label="name of object 1"]')).toBe('polyp');
    expect(await page.locator('[data-object]').count()).toBe(2);
    await expect
      .poll(() => store.listObjects(sid).map((o) => [o.objectId, o.label]), { timeout: 10_000 })
      .toEqual([
        [1, 'polyp'],
        [2, 'object'],
      ]);
    const vis = store.toVisJson(sid);
    expect(vis.categories.map((c) => c.name).sort()).toEqual(['object', 'polyp']);
    const ann1 = vis.annotations.find((a) => a.object_id === 1)!;
    expect(vis.categories.find((c) => c.id === ann1.category_id)!.name).toBe('polyp');

    await page.click('[data-object="1"] button[title="hide"]');
    await expect.poll(() => overlayObjects(page), { timeout: 5_000 }).toEqual([2]);
    expect(await page.locator('[data-object="1"] button[title="show"]').count()).toBe(1);
    await page.screenshot({ path: join(SCREENSHOTS, 'objects-hidden.png') });
    await page.click('[data-object="1"] button[title="show"]');
    await expect.poll(() => overlayObjects(page), { timeout: 5_000 }).toEqual([1, 2]);

    // Deleting asks first (the ✕ sits beside hide); the test says yes and checks it was asked.
    const asked = new Promise<string>((resolve) =>
      page.once('dialog', (d) => {
        resolve(d.message());
        void d.accept();
      }),
    );
    await page.click('[data-object="2"] button[title="delete"]');
    expect(await asked).toMatch(/delete|remove/i);
    await expect.poll(() => page.locator('[data-object]').count(), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => store.listObjects(sid).map((o) => o.objectId), { timeout: 20_000 }).toEqual([1]);
    await expect.poll(() => overlayObjects(page), { timeout: 5_000 }).toEqual([1]);
    expect(await page.inputValue('[aria-label="name of object 1"]')).toBe('polyp');
    // Object 1's masks are untouched by the deletion.
    expect(storedFrames(sid)).toEqual(range(0, N - 1));
  });
});

/** Object ids whose colour covers at least 20 overlay pixels (nearest object colour, as the object list's swatches show them, of each painted pixel). */
async function overlayObjects(page: Page): Promise<number[]> {
  return page.evaluate(() => {
    const ids: number[] = [];
    const palette: number[][] = [];
    for (const li of document.querySelectorAll<HTMLElement>('[data-object]')) {
      const m = /rgba?\((\d+), ?(\d+), ?(\d+)/.exec(getComputedStyle(li.querySelector('.swatch')!).backgroundColor);
      if (!m) continue;
      ids.push(Number(li.dataset.object));
      palette.push([Number(m[1]), Number(m[2]), Number(m[3])]);
    }
    const c = document.querySelector('canvas[data-testid="overlay"]') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const counts = palette.map(() => 0);
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] === 0) continue;
      let best = 0;
      let bd = Infinity;
      palette.forEach((p, k) => {
        const dd = (p[0]! - d[i]!) ** 2 + (p[1]! - d[i + 1]!) ** 2 + (p[2]! - d[i + 2]!) ** 2;
        if (dd < bd) [bd, best] = [dd, k];
      });
      counts[best]!++;
    }
    return counts.flatMap((n, k) => (n >= 20 ? [ids[k]!] : [])).sort((a, b) => a - b);
  });
}
