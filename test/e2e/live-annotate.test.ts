/**
 * Annotating the live view in Chromium (a clip looped as if live): a box dragged on the picture
 * makes a new object that gets masks and an area; freeze (`f`) stops the picture on one frame while
 * the server goes on tracking, a click on the frozen frame is applied to that very frame (long after
 * the server's held frames passed it), resume shows the newest frames again; the pictures the page
 * was sent are stored for review (GET /api/live-records). A looped DICOM cine with an ultrasound
 * region shows the areas in mm².
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/model/test-bundle.js';
import { clipFrames, writeUsCine } from '../fixtures/dicom/make-us-cine.js';
import { colorOf } from '../../player/src/overlay/paint.js';
import { SCREENSHOTS, startE2e, type E2e } from './harness.js';

const CLIP_DIR = join(REPO_ROOT, 'samples/generated/endoscopy-1');
const prompts = JSON.parse(readFileSync(join(CLIP_DIR, 'prompts.json'), 'utf8')) as {
  width: number;
  height: number;
  objects: { object_id: number; point: [number, number]; box: [number, number, number, number] }[];
};
const HOLD = 6; // the server's held frames (LivePipeline holdFrames default)

let e: E2e;
let pictures: string;
beforeAll(async () => {
  pictures = mkdtempSync(join(tmpdir(), 'cineseg-e2e-live-pictures-'));
  e = await startE2e({ media: [join(REPO_ROOT, 'samples', 'generated')], live: `loop:${join(CLIP_DIR, 'clip.mp4')}`, liveRecordPictures: pictures });
});
afterAll(async () => {
  await e?.destroy();
  rmSync(pictures, { recursive: true, force: true });
});

/** A hash of the live picture canvas (changes whenever another frame is drawn). */
const pictureHash = () =>
  e.page.evaluate(() => {
    const c = document.querySelector('canvas.live-frame') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]!) | 0;
    return h;
  });

const OBJ1 = colorOf(1);
const OBJ2 = colorOf(2);
/** Centroid (video pixels) and count of the overlay pixels painted in one object's colour. */
const colourCentroid = (rgb: readonly number[]) =>
  e.page.evaluate((col) => {
    const c = document.querySelector('canvas[data-testid="overlay"]') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3]! === 0 || Math.abs(d[i]! - col[0]!) > 4 || Math.abs(d[i + 1]! - col[1]!) > 4 || Math.abs(d[i + 2]! - col[2]!) > 4) continue;
      const p = i / 4;
      n++;
      sx += p % c.width;
      sy += Math.floor(p / c.width);
    }
    return n ? { n, x: sx / n, y: sy / n } : { n: 0, x: -1, y: -1 };
  }, rgb);

describe('e2e: annotating the live view', () => {
  it('a dragged box makes a new object with masks and an area', async () => {
    const { page, server } = e;
    await page.goto(server.url);
    await page.click('[data-testid="open-live"]');
    await page.waitForFunction(() => window.__cinesegLive.painted >= 10, undefined, { timeout: 60_000 });
    expect(server.live!.objectIds).toEqual([]);
    const [x0, y0, x1, y1] = prompts.objects[0]!.box;
    const r = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
    const px = (x: number) => r.x + (x / prompts.width) * r.width;
    const py = (y: number) => r.y + (y / prompts.height) * r.height;
    await page.mouse.move(px(x0), py(y0));
    await page.mouse.down();
    await page.mouse.move(px((x0 + x1) / 2), py((y0 + y1) / 2), { steps: 4 });
    expect(await page.locator('[data-testid="live-dragbox"]').count()).toBe(1);
    await page.mouse.move(px(x1), py(y1), { steps: 4 });
    await page.mouse.up();
    const box = (await page.evaluate(() => window.__cinesegLive.lastBox))!;
    for (const [got, want] of box.map((v, i) => [v, prompts.objects[0]!.box[i]!])) expect(Math.abs(got! - want!)).toBeLessThan(3);
    await page.waitForFunction(() => window.__cineseg.lastLivePrompt !== null, undefined, { timeout: 30_000 });
    // The server gave the box's object its id, tracks it, and the page lists it with an area.
    await expect.poll(() => server.live!.objectIds, { timeout: 30_000 }).toEqual([1]);
    await page.waitForFunction(() => window.__cinesegLive.areas.some((a) => a.objectId === 1 && a.pixels > 200), undefined, { timeout: 30_000 });
    expect(await page.locator('[data-object="1"]').count()).toBe(1);
    // An MP4 states no pixel size: the area is in pixels.
    await expect.poll(() => page.locator('[data-testid="live-areas"]').textContent(), { timeout: 30_000 }).toMatch(/object 1: \d+ px/);
    await page.screenshot({ path: join(SCREENSHOTS, 'live-box.png') });
  });

  it('freeze stops the picture, a click lands on the frozen frame, resume moves again', async () => {
    const { page, server } = e;
    const live = server.live!;
    await page.keyboard.press('f');
    await page.waitForFunction(() => window.__cinesegLive.frozenFrame !== null, undefined, { timeout: 30_000 });
    const h = await page.evaluate(() => ({ ...window.__cinesegLive }));
    const frozen = h.frozenFrame!;
    // The page froze on the frame it showed (the server still held it).
    expect(frozen).toBe(h.shownFrame);
    const hash = await pictureHash();
    // The server goes on tracking, well past its held frames.
    await expect.poll(() => live.heldFrames[0] ?? -1, { timeout: 30_000 }).toBeGreaterThan(frozen + 2);
    const after = await page.evaluate(() => ({ ...window.__cinesegLive }));
    expect(after.shownFrame).toBe(frozen);
    expect(after.painted).toBe(h.painted);
    expect(await pictureHash()).toBe(hash);
    expect(await page.locator('[data-testid="frozen-badge"]').textContent()).toContain(`frame ${frozen}`);
    expect(await page.locator('[data-testid="live-frame"]').textContent()).toBe(`frame ${frozen}`);

    // A new object clicked on the frozen frame: applied to that frame, its mask painted on it.
    await page.locator('button', { hasText: 'New object' }).first().click();
    const before = await page.evaluate(() => window.__cineseg.lastLivePrompt);
    const r = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
    // Where object 1 is on the frozen picture (its overlay pixels): object 2 is clicked there.
    const c1 = (await colourCentroid(OBJ1))!;
    expect(c1.n).toBeGreaterThan(200);
    await page.mouse.click(r.x + (c1.x / prompts.width) * r.width, r.y + (c1.y / prompts.height) * r.height);
    await page.waitForFunction((b) => JSON.stringify(window.__cineseg.lastLivePrompt) !== JSON.stringify(b), before, { timeout: 30_000 });
    const lp = (await page.evaluate(() => window.__cineseg.lastLivePrompt))!;
    process.stderr.write(`e2e live freeze: frozen on ${frozen}, server at ${live.trackedFrames}, click applied to ${lp.applied}\n`);
    expect(lp.asked).toBe(frozen);
    expect(lp.applied).toBe(frozen);
    expect(await page.locator('[data-testid="status"]').textContent()).toContain(`prompt on frame ${frozen}`);
    await expect.poll(() => live.objectIds.length, { timeout: 30_000 }).toBe(2);
    // Still frozen: the same picture, the new object's mask on it and its area listed.
    await page.waitForFunction(() => window.__cinesegLive.areas.length === 2, undefined, { timeout: 30_000 });
    expect(await pictureHash()).toBe(hash);
    expect(await page.locator('[data-testid="live-mark"]').count()).toBe(1);
    // Object 2's mask was made from the frozen picture: it lies on object 1 as shown there.
    const c2 = (await colourCentroid(OBJ2))!;
    process.stderr.write(`e2e live freeze: object 1 at ${c1.x.toFixed(0)},${c1.y.toFixed(0)} (${c1.n} px), object 2 at ${c2.x.toFixed(0)},${c2.y.toFixed(0)} (${c2.n} px)\n`);
    expect(c2.n).toBeGreaterThan(c1.n / 3);
    expect(Math.hypot(c2.x - c1.x, c2.y - c1.y)).toBeLessThan(20);
    await page.screenshot({ path: join(SCREENSHOTS, 'live-frozen.png') });

    // Resume: the newest frames are painted again and the server released the frame.
    await page.click('[data-testid="freeze"]');
    await page.waitForFunction((p) => window.__cinesegLive.painted >= p + 10, h.painted, { timeout: 30_000 });
    expect(await page.evaluate(() => window.__cinesegLive.shownFrame)).toBeGreaterThan(frozen + HOLD);
    expect(await page.evaluate(() => window.__cinesegLive.frozenFrame)).toBeNull();
    await expect.poll(() => live.frozenFrames, { timeout: 30_000 }).toEqual([]);
    expect(await pictureHash()).not.toBe(hash);
    expect(await page.locator('[data-testid="frozen-badge"]').count()).toBe(0);
  });

  it('stores the pictures the page was sent, frozen frame included, for review', async () => {
    const { server } = e;
    const record = server.live!.recordId;
    const list = (await (await fetch(`${server.url}api/live-records/${record}/frames`)).json()) as { frames: number[] };
    expect(list.frames.length).toBeGreaterThan(20);
    const frozenShot = list.frames[Math.floor(list.frames.length / 2)]!;
    const r = await fetch(`${server.url}api/live-records/${record}/frames/${frozenShot}.jpg`);
    expect(r.status).toBe(200);
    const b = new Uint8Array(await r.arrayBuffer());
    expect([b[0], b[1]]).toEqual([0xff, 0xd8]);
  });
});

describe('e2e: live areas in mm² from a DICOM cine', () => {
  let d: E2e;
  let dir: string;
  afterAll(async () => {
    await d?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows each object area in mm² where the source states its pixel size', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cineseg-e2e-live-dicom-'));
    const src = await clipFrames(join(REPO_ROOT, 'samples/generated/ultrasound-1/clip.mp4'), 30);
    const f = await writeUsCine(join(dir, 'us.dcm'), src, 'native', { pixelSpacing: [0.2, 0.25] });
    d = await startE2e({ media: [], live: `loop:${f.path}` });
    const { page, server } = d;
    await page.goto(server.url);
    await page.click('[data-testid="open-live"]');
    await page.waitForFunction(() => window.__cinesegLive.painted >= 5, undefined, { timeout: 60_000 });
    const r = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
    await page.mouse.click(r.x + r.width / 2, r.y + r.height / 2);
    await page.waitForFunction(() => window.__cinesegLive.areas.some((a) => a.pixels > 0), undefined, { timeout: 30_000 });
    const a = (await page.evaluate(() => window.__cinesegLive.areas.find((x) => x.pixels > 0)))!;
    // One pixel is 0.2 mm × 0.25 mm = 0.05 mm².
    expect(a.mm2).toBeCloseTo(a.pixels * 0.05, 6);
    await expect.poll(() => page.locator('[data-testid="live-areas"]').textContent(), { timeout: 30_000 }).toMatch(/[\d.]+ mm²/);
    await page.screenshot({ path: join(SCREENSHOTS, 'live-mm2.png') });
  });
});
