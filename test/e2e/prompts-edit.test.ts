/**
 * Prompts you can see and undo, in Chromium: a click and a right-click on a recorded clip are
 * drawn on their frame (a green-cored + and a red-cored − in the object's colour ring), the
 * right-click reaches the server as a negative refinement (clearOld false); clicking a marker
 * selects it, Delete removes it (removePrompt) and the frame's mask changes; Ctrl+Z brings it back
 * with the mask it had, Ctrl+Shift+Z / Ctrl+Y do the removal again. A click that finds nothing says
 * so under the video.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/model/test-bundle.js';
import { SCREENSHOTS, startE2e, type E2e } from './harness.js';

const CLIP = 'generated/ultrasound-1';
const meta = JSON.parse(readFileSync(join(REPO_ROOT, 'samples', CLIP, 'prompts.json'), 'utf8')) as { width: number; height: number; objects: { object_id: number; point: [number, number] }[] };
const { width: W, height: H } = meta;

let e: E2e;
beforeAll(async () => {
  e = await startE2e({ media: [join(REPO_ROOT, 'samples', 'generated')] });
});
afterAll(async () => {
  await e?.destroy();
});

/** Screen position of video pixel (x, y) on the overlay. */
async function screenAt(page: Page, x: number, y: number): Promise<[number, number]> {
  const b = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
  return [b.x + (x / W) * b.width, b.y + (y / H) * b.height];
}

/** The prompt layer's colour at video pixel (x, y) moved by (dx, dy) CSS pixels (its canvas is in device pixels). */
async function layerRgb(page: Page, x: number, y: number, dx = 3, dy = 3): Promise<[number, number, number, number]> {
  return page.evaluate(
    ({ x, y, dx, dy, W, H }) => {
      const c = document.querySelector('canvas[data-testid="prompt-layer"]') as HTMLCanvasElement;
      const k = c.width / c.clientWidth;
      const d = c.getContext('2d')!.getImageData(Math.round((x / W) * c.width + dx * k), Math.round((y / H) * c.height + dy * k), 1, 1).data;
      return [d[0]!, d[1]!, d[2]!, d[3]!] as [number, number, number, number];
    },
    { x, y, dx, dy, W, H },
  );
}

const area = (page: Page, objectId: number, frame: number) =>
  page.evaluate(({ o, f }) => window.__cineseg.masksHeld().find((m) => m.objectId === o && m.frame === f)?.area ?? -1, { o: objectId, f: frame });
const listed = (page: Page) => page.evaluate(() => window.__cineseg.promptList);

describe('e2e: prompts drawn, selected, removed, undone', () => {
  it('draws + and −, removes the selected prompt with Delete, Ctrl+Z brings it back', async () => {
    const { page, server } = e;
    await page.goto(server.url);
    await page.click(`[data-clip="${CLIP}"]`);
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 0 && window.__cineseg.sessionId !== null, undefined, { timeout: 60_000 });
    const sid = await page.evaluate(() => window.__cineseg.sessionId!);
    const stored = e.sink.sessions.get(sid)!;
    const [px, py] = meta.objects.find((o) => o.object_id === 1)!.point;

    // + : a left click.
    await page.mouse.click(...(await screenAt(page, px + 0.5, py + 0.5)));
    await page.waitForFunction(() => window.__cineseg.promptList?.count === 1 && window.__cineseg.masksHeld().some((m) => m.frame === 0), undefined, { timeout: 30_000 });
    const onePoint = await area(page, 1, 0);
    expect(onePoint).toBeGreaterThan(0);
    let drawn = await page.evaluate(() => window.__cineseg.drawnPrompts);
    expect(drawn).toHaveLength(1);
    expect(drawn[0]).toMatchObject({ objectId: 1, frame: 0, kind: 'points', selected: false });
    expect(drawn[0]!.points[0]!.label).toBe(1);
    expect(Math.abs(drawn[0]!.points[0]!.x - px)).toBeLessThanOrEqual(1);
    // The marker's core is green-ish.
    const plus = await layerRgb(page, drawn[0]!.points[0]!.x, drawn[0]!.points[0]!.y);
    expect(plus[3]).toBeGreaterThan(200);
    expect(plus[1]).toBeGreaterThan(plus[0] + 60);

    // − : a right click beside it refines the frame (the page's context menu stays shut).
    const nx = Math.min(W - 5, px + 28);
    const masksBefore = await page.evaluate(() => window.__cineseg.masksReceived);
    await page.mouse.click(...(await screenAt(page, nx + 0.5, py + 0.5)), { button: 'right' });
    await page.waitForFunction((n) => window.__cineseg.promptList?.count === 2 && window.__cineseg.masksReceived > n, masksBefore, { timeout: 30_000 });
    await expect.poll(() => stored.prompts.length, { timeout: 30_000 }).toBe(2);
    expect(stored.prompts[1]).toMatchObject({ kind: 'points', objectId: 1, frame: 0, clearOld: false, points: [{ label: 0 }] });
    drawn = await page.evaluate(() => window.__cineseg.drawnPrompts);
    expect(drawn.map((d) => d.points[0]!.label)).toEqual([1, 0]);
    const minus = await layerRgb(page, drawn[1]!.points[0]!.x, drawn[1]!.points[0]!.y);
    expect(minus[3]).toBeGreaterThan(200);
    expect(minus[0]).toBeGreaterThan(minus[1] + 60);
    // Away from the markers the layer is clear (the masks are on a canvas of their own).
    expect((await layerRgb(page, 12, 12, 0, 0))[3]).toBe(0);
    const twoPoints = await area(page, 1, 0);
    await page.screenshot({ path: join(SCREENSHOTS, 'prompts-drawn.png') });

    // Select the + by clicking its marker (no new prompt), then Delete.
    const [plusId, minusId] = [drawn[0]!.promptId, drawn[1]!.promptId];
    await page.mouse.click(...(await screenAt(page, drawn[0]!.points[0]!.x + 2, drawn[0]!.points[0]!.y + 1)));
    await page.waitForFunction((id) => window.__cineseg.drawnPrompts.some((d) => d.promptId === id && d.selected), plusId, { timeout: 5_000 });
    expect((await listed(page))!.count).toBe(2);
    await page.screenshot({ path: join(SCREENSHOTS, 'prompts-selected.png') });
    await page.keyboard.press('Delete');
    await page.waitForFunction(() => window.__cineseg.promptList?.count === 1, undefined, { timeout: 30_000 });
    await expect.poll(() => page.evaluate(() => window.__cineseg.drawnPrompts.map((d) => d.promptId)), { timeout: 5_000 }).toEqual([minusId]);
    // Only the − left on the frame: its mask is not what the two clicks gave.
    await expect.poll(() => area(page, 1, 0), { timeout: 30_000 }).not.toBe(twoPoints);
    const afterDelete = await area(page, 1, 0);
    expect((await listed(page))!.canUndo).toBe(true);
    // No mask left: the page says so.
    if (afterDelete === 0) await expect.poll(() => page.locator('[data-testid="notice"]').textContent()).toMatch(/no mask for object 1 on frame 0/);
    await page.screenshot({ path: join(SCREENSHOTS, 'prompts-deleted.png') });

    // Ctrl+Z: the + is back, and so is the two clicks' mask.
    await page.keyboard.press('Control+z');
    await page.waitForFunction(() => window.__cineseg.promptList?.count === 2, undefined, { timeout: 30_000 });
    await expect.poll(() => area(page, 1, 0), { timeout: 30_000 }).toBe(twoPoints);
    expect((await page.evaluate(() => window.__cineseg.drawnPrompts)).map((d) => d.points[0]!.label).sort()).toEqual([0, 1]);
    expect((await listed(page))!.canRedo).toBe(true);

    // Ctrl+Shift+Z redoes the removal, Ctrl+Z undoes it again, Ctrl+Y redoes it once more.
    await page.keyboard.press('Control+Shift+z');
    await page.waitForFunction(() => window.__cineseg.promptList?.count === 1, undefined, { timeout: 30_000 });
    await expect.poll(() => area(page, 1, 0), { timeout: 30_000 }).toBe(afterDelete);
    await page.keyboard.press('Control+z');
    await page.waitForFunction(() => window.__cineseg.promptList?.count === 2, undefined, { timeout: 30_000 });
    await page.keyboard.press('Control+y');
    await page.waitForFunction(() => window.__cineseg.promptList?.count === 1 && !window.__cineseg.promptList.canRedo, undefined, { timeout: 30_000 });
    await page.keyboard.press('Control+z');
    await page.waitForFunction(() => window.__cineseg.promptList?.count === 2, undefined, { timeout: 30_000 });
    await expect.poll(() => area(page, 1, 0), { timeout: 30_000 }).toBe(twoPoints);
    expect(onePoint).toBeGreaterThan(0);
  });

  it('a negative click alone on a new object that finds nothing says so on screen', async () => {
    const { page } = e;
    await page.getByText('+ New object').click();
    // Top-left corner: background in this clip.
    await page.mouse.click(...(await screenAt(page, 12.5, 12.5)), { button: 'right' });
    await page.waitForFunction(() => window.__cineseg.masksHeld().some((m) => m.objectId === 2 && m.frame === 0), undefined, { timeout: 30_000 });
    const a = await area(page, 2, 0);
    const notice = page.locator('[data-testid="notice"]');
    if (a === 0) await expect.poll(() => notice.textContent(), { timeout: 5_000 }).toMatch(/no mask for object 2 on frame 0/);
    else await expect.poll(() => notice.count(), { timeout: 5_000 }).toBe(0);
    await page.screenshot({ path: join(SCREENSHOTS, 'prompts-empty-notice.png') });
  });
});
