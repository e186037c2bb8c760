/**
 * The player's canvas in Chromium: the brush adds area to the active object's mask on the current
 * frame and the eraser takes it away (each stroke an `addMask` prompt the server tracks from and
 * stores; the server's mask for the frame grows and shrinks; Ctrl+Z takes a stroke back); `[` `]`
 * size the brush and its cursor circle; opacity and outline-only change what the mask canvas
 * shows; a small, tall clip (180×184) fits the window with the timeline and Propagate in view,
 * no page scrollbar, at 1280×800 and 1024×640.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/model/test-bundle.js';
import { overlayMask, SCREENSHOTS, startE2e, type E2e } from './harness.js';

const CLIP = 'generated/ultrasound-1';
const meta = JSON.parse(readFileSync(join(REPO_ROOT, 'samples', CLIP, 'prompts.json'), 'utf8')) as { width: number; height: number; objects: { object_id: number; point: [number, number] }[] };
const { width: W, height: H } = meta;

let e: E2e;
let media: string;
beforeAll(async () => {
  // A small, tall clip, as annotators meet them (a 180×184 crop of a generated one).
  media = mkdtempSync(join(tmpdir(), 'cineseg-tall-'));
  mkdirSync(join(media, 'tall'));
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-i',
    join(REPO_ROOT, 'samples', CLIP, 'clip.mp4'),
    '-vf',
    'crop=180:184:130:90',
    '-frames:v',
    '20',
    '-c:v',
    'libx264',
    '-pix_fmt',
    'yuv420p',
    join(media, 'tall', 'clip.mp4'),
  ]);
  e = await startE2e({ media: [join(REPO_ROOT, 'samples', 'generated'), media] });
});
afterAll(async () => {
  await e?.destroy();
  rmSync(media, { recursive: true, force: true });
});

async function screenAt(page: Page, x: number, y: number): Promise<[number, number]> {
  const b = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
  return [b.x + (x / W) * b.width, b.y + (y / H) * b.height];
}

/** A stroke through video pixels `path` with the mouse held down. */
async function stroke(page: Page, path: [number, number][]): Promise<void> {
  await page.mouse.move(...(await screenAt(page, ...path[0]!)));
  await page.mouse.down();
  for (const p of path.slice(1)) await page.mouse.move(...(await screenAt(page, ...p)), { steps: 4 });
  await page.mouse.up();
}

const storedArea = (sid: string, key: string): number => {
  const m = e.sink.sessions.get(sid)?.masks.get(key);
  if (!m) return -1;
  let a = 0;
  for (let i = 1; i < m.counts.length; i += 2) a += m.counts[i]!;
  return a;
};
const heldArea = (page: Page) => page.evaluate(() => window.__cineseg.masksHeld().find((m) => m.objectId === 1 && m.frame === 0)?.area ?? -1);

describe('e2e: brush, eraser, colours and layout', () => {
  it('brush adds area and eraser removes it on the current frame; the server tracks and stores each stroke', async () => {
    const { page, server } = e;
    await page.goto(server.url);
    await page.click(`[data-clip="${CLIP}"]`);
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 0 && window.__cineseg.sessionId !== null, undefined, { timeout: 60_000 });
    const sid = await page.evaluate(() => window.__cineseg.sessionId!);
    const [px, py] = meta.objects.find((o) => o.object_id === 1)!.point;
    await page.mouse.click(...(await screenAt(page, px + 0.5, py + 0.5)));
    await page.waitForFunction(() => window.__cineseg.promptList?.count === 1 && window.__cineseg.masksHeld().some((m) => m.frame === 0), undefined, { timeout: 30_000 });
    const a0 = storedArea(sid, '1:0');
    expect(a0).toBeGreaterThan(0);

    // B: the brush; ] twice makes it bigger; the cursor circle shows its size.
    await page.keyboard.press('b');
    await expect.poll(() => page.evaluate(() => window.__cineseg.editTool)).toBe('brush');
    const r0 = await page.evaluate(() => window.__cineseg.brushRadius);
    await page.keyboard.press(']');
    await page.keyboard.press(']');
    await expect.poll(() => page.evaluate(() => window.__cineseg.brushRadius)).toBeGreaterThan(r0 + 1);
    const r = await page.evaluate(() => window.__cineseg.brushRadius);
    await page.mouse.move(...(await screenAt(page, 60, 60)));
    const ov = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
    const cur = (await page.locator('[data-testid="brush-cursor"]').boundingBox())!;
    expect(cur.width).toBeCloseTo(((2 * r) / W) * ov.width, 0);
    expect(await page.locator('[data-testid="tool-label"]').textContent()).toContain(`radius ${r}`);

    // A stroke away from the object: its area joins the object's mask (a new region, far from the click).
    const edits0 = await page.evaluate(() => window.__cineseg.maskEditsSent);
    await stroke(page, [
      [40, 300],
      [90, 300],
      [120, 310],
    ]);
    await page.waitForFunction((n) => window.__cineseg.maskEditsSent === n + 1, edits0);
    await expect.poll(() => e.sink.sessions.get(sid)!.prompts.at(-1)?.kind, { timeout: 30_000 }).toBe('mask');
    // The stroke covers about 80 px × 2r; the tracker's output for a mask prompt is that mask.
    const strokeArea = 80 * 2 * r;
    await expect.poll(() => storedArea(sid, '1:0'), { timeout: 30_000 }).toBeGreaterThan(a0 + 0.7 * strokeArea);
    const a1 = storedArea(sid, '1:0');
    await expect.poll(() => heldArea(page), { timeout: 30_000 }).toBe(a1);
    const m = await overlayMask(page);
    expect(m.mask[300 * W + 60]).toBe(1);
    expect(await page.evaluate(() => window.__cineseg.promptList)).toMatchObject({ count: 2, canUndo: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'brush-stroke.png') });

    // E: the eraser over the brushed region takes it away again.
    await page.keyboard.press('e');
    await expect.poll(() => page.evaluate(() => window.__cineseg.editTool)).toBe('eraser');
    await stroke(page, [
      [30, 300],
      [130, 305],
    ]);
    await page.waitForFunction((n) => window.__cineseg.maskEditsSent === n + 2, edits0);
    await expect.poll(() => storedArea(sid, '1:0'), { timeout: 30_000 }).toBeLessThan(a1 - 0.7 * strokeArea);
    const a2 = storedArea(sid, '1:0');
    await expect.poll(() => heldArea(page), { timeout: 30_000 }).toBe(a2);
    await page.screenshot({ path: join(SCREENSHOTS, 'eraser-stroke.png') });

    // E again: back to prompting; Ctrl+Z takes the eraser stroke back.
    await page.keyboard.press('e');
    await expect.poll(() => page.evaluate(() => window.__cineseg.editTool)).toBe('prompt');
    await page.keyboard.press('Control+z');
    await expect.poll(() => storedArea(sid, '1:0'), { timeout: 30_000 }).toBe(a1);
    await expect.poll(() => heldArea(page), { timeout: 30_000 }).toBe(a1);

    // `?` lists the editing keys with the others.
    await page.keyboard.press('?');
    await expect.poll(() => page.evaluate(() => document.body.innerText), { timeout: 5_000 }).toContain('brush on / off');
    expect(await page.evaluate(() => document.body.innerText)).toContain('remove the selected prompt');
    await page.screenshot({ path: join(SCREENSHOTS, 'help-editing-keys.png') });
    await page.keyboard.press('Escape');
  });

  it('opacity and outline-only change what the mask canvas shows; object 1 is not red', async () => {
    const { page } = e;
    const alphaAt = (x: number, y: number) =>
      page.evaluate(({ x, y }) => (document.querySelector('canvas[data-testid="overlay"]') as HTMLCanvasElement).getContext('2d')!.getImageData(x, y, 1, 1).data.slice(0, 4).join(','), { x, y });
    const filled = await overlayMask(page);
    const nFilled = filled.mask.reduce((a, b) => a + b, 0);
    expect(nFilled).toBeGreaterThan(0);
    const [px, py] = meta.objects.find((o) => o.object_id === 1)!.point;
    const [r, g, b, a] = (await alphaAt(px, py)).split(',').map(Number) as [number, number, number, number];
    expect(a).toBe(128);
    // Object 1's colour: green-cyan, never red (red-on-red vanishes on mucosa).
    expect(g).toBeGreaterThan(r + 60);
    expect(b).toBeGreaterThan(r);

    await page.locator('[data-testid="opacity"]').fill('100');
    await expect.poll(async () => (await alphaAt(px, py)).split(',')[3]).toBe('255');
    await page.locator('[aria-label="opacity of object 1"]').fill('50');
    await expect.poll(async () => (await alphaAt(px, py)).split(',')[3]).toBe('128');

    await page.locator('[data-testid="outline"]').check();
    await expect.poll(async () => (await overlayMask(page)).mask.reduce((x, y) => x + y, 0)).toBeLessThan(nFilled / 2);
    const outline = await overlayMask(page);
    // The outline lies on the filled mask, and the centre of the object is clear.
    for (let i = 0; i < outline.mask.length; i++) if (outline.mask[i]) expect(filled.mask[i]).toBe(1);
    expect(outline.mask[py * W + px]).toBe(0);
    await page.screenshot({ path: join(SCREENSHOTS, 'outline-mode.png') });
    await page.locator('[data-testid="outline"]').uncheck();
    await page.locator('[data-testid="opacity"]').fill('50');
    await page.locator('[aria-label="opacity of object 1"]').fill('100');
    await expect.poll(async () => (await alphaAt(px, py)).split(',')[3]).toBe('128');
  });

  for (const [vw, vh] of [
    [1280, 800],
    [1024, 640],
  ] as const) {
    it(`a 180×184 clip fits ${vw}×${vh}: no page scrollbar, timeline and Propagate in view`, async () => {
      const { page } = e;
      await page.setViewportSize({ width: vw, height: vh });
      await page.goto(e.server.url);
      const old = await page.evaluate(() => window.__cineseg.sessionId);
      // Forgotten first, so the wait sees the new view present its first frame, not the old one's.
      await page.evaluate(() => (window.__cineseg.presentedFrame = -1));
      await page.click('[data-clip*="tall"]');
      await page.waitForFunction((o) => window.__cineseg.sessionId !== o && window.__cineseg.presentedFrame === 0, old, { timeout: 60_000 });
      await page.waitForTimeout(300);
      const m = await page.evaluate(() => ({
        scroll: document.scrollingElement!.scrollHeight,
        inner: innerHeight,
        main: document.querySelector('main')!.scrollHeight - document.querySelector('main')!.clientHeight,
      }));
      expect(m.scroll).toBeLessThanOrEqual(m.inner);
      for (const sel of ['canvas.timeline', '[data-testid="propagate"]', '[data-testid="frame-label"]']) {
        const b = (await page.locator(sel).first().boundingBox())!;
        expect(b, sel).not.toBeNull();
        expect(b.y + b.height, `${sel} bottom`).toBeLessThanOrEqual(vh);
      }
      const stage = (await page.locator('[data-testid="stage"]').boundingBox())!;
      // Scaled to fit, not left at 180 px: the picture fills the height it is given, aspect kept.
      expect(stage.height).toBeGreaterThan(184);
      expect(stage.width / stage.height).toBeCloseTo(180 / 184, 1);
      await page.screenshot({ path: join(SCREENSHOTS, `layout-tall-${vw}x${vh}.png`) });
    });
  }
});
