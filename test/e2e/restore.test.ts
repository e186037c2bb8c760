/**
 * Restore in Chromium, with a real crash: `cineseg serve` runs as a child process on a SQLite
 * store; the page prompts and propagates, the server is killed with SIGKILL mid-propagation (from
 * the WebSocket frame handler, so the kill lands while masks are streaming) and started again on
 * the same store and port. The page finds it again and reopens the stored session by itself:
 * every mask it had received before the kill (each stored before it was sent) is back, the same
 * RLE, and painted. Then the session goes through the player's list: another clip is opened,
 * the stored session is reopened from the list, a correction is clicked and propagation runs to
 * the end of the clip, into the same session.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerChild, type ServerChild } from '../../engine/src/bench/server-child.js';
import { decodeMask, stringToCounts, type CompressedRle } from '../../engine/src/mask/rle.js';
import { SessionStore } from '../../engine/src/store/session-store.js';
import { ensureBuilt } from '../engine/cli/track-helpers.js';
import { REPO_ROOT, testBundleDir } from '../engine/model/test-bundle.js';
import { clickVideoPixel, ensurePlayerBuilt, gtCentre, iou, launchChromium, overlayMask, SCREENSHOTS } from './harness.js';

const CLIP = 'endoscopy-2';
const CLIP_DIR = join(REPO_ROOT, 'samples/generated', CLIP);
const meta = JSON.parse(readFileSync(join(CLIP_DIR, 'prompts.json'), 'utf8')) as { width: number; height: number; length: number };
const gt = JSON.parse(readFileSync(join(CLIP_DIR, 'gt.json'), 'utf8')) as { annotations: { object_id: number; segmentations: (CompressedRle | null)[] }[] };
const { width: W, height: H, length: N } = meta;
/** Mask messages the page receives from the propagation before the server is killed. */
const KILL_AFTER = 12;

let tmp: string;
let dbPath: string;
let server: ServerChild | null = null;
let browser: BrowserContext;
let page: Page;

const serve = (port = 0) => startServerChild({ store: dbPath, media: [join(REPO_ROOT, 'samples', 'generated')], port, model: testBundleDir(), threads: 1, extraArgs: ['--resume-grace', '0'] });

beforeAll(async () => {
  await ensureBuilt();
  ensurePlayerBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-e2e-restore-'));
  dbPath = join(tmp, 'cineseg.db');
  server = await serve();
  browser = await launchChromium(tmp);
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
}, 300_000);
afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await server?.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

const centre = (objectId: number, frame: number): [number, number] => gtCentre(gt, W, objectId, frame);
const clickVideo = (x: number, y: number): Promise<void> => clickVideoPixel(page, W, H, x, y);

async function seekTimeline(f: number): Promise<void> {
  const tl = (await page.locator('canvas.timeline').boundingBox())!;
  await page.mouse.click(tl.x + ((f + 0.5) / N) * tl.width, tl.y + tl.height / 2);
  await page.waitForFunction((k) => window.__cineseg.presentedFrame === k && window.__cineseg.overlayFrame === k, f, { timeout: 10_000 });
}

type Held = { objectId: number; frame: number; area: number; runs: number };
const held = (): Promise<Held[]> => page.evaluate(() => window.__cineseg.masksHeld());
const byKey = (hs: Held[]) => new Map(hs.map((h) => [`${h.objectId}:${h.frame}`, `${h.area}/${h.runs}`]));

/** Every held mask is a stored current mask with the same RLE (area and run count of its counts). */
function expectStored(sid: string, hs: Held[]): void {
  const ro = SessionStore.open(dbPath, { readonly: true });
  try {
    for (const h of hs) {
      const m = ro.getMask(sid, h.objectId, h.frame);
      expect(m, `mask of object ${h.objectId} on frame ${h.frame}`).toBeDefined();
      expect(`${m!.area}/${stringToCounts(m!.rle.counts).length}`).toBe(`${h.area}/${h.runs}`);
    }
  } finally {
    ro.destroy();
  }
}

describe('e2e: restore after kill -9', () => {
  it('every acknowledged mask is back on screen after a crash and a restart; the session goes on', async () => {
    // Killed from the frame handler, while the propagation streams its masks.
    const victim = server!;
    let armed = false;
    let binaries = 0;
    const killed = new Promise<void>((resolve) => {
      page.on('websocket', (ws) =>
        ws.on('framereceived', (f) => {
          if (!armed || typeof f.payload === 'string') return;
          if (++binaries === KILL_AFTER) {
            victim.child.kill('SIGKILL');
            resolve();
          }
        }),
      );
    });
    await page.goto(server!.url);
    await page.click(`[data-clip="generated/${CLIP}"]`);
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 0 && window.__cineseg.sessionId !== null, undefined, { timeout: 60_000 });
    const sid = await page.evaluate(() => window.__cineseg.sessionId!);
    const [x, y] = centre(1, 0);
    await clickVideo(x, y);
    await page.waitForFunction(() => window.__cineseg.masksReceived >= 1, undefined, { timeout: 30_000 });
    armed = true;
    await page.click('[data-testid="propagate"]');
    await killed;
    await victim.kill();
    await page.waitForFunction(() => !window.__cineseg.connected, undefined, { timeout: 10_000 });
    const acked = await held();
    // Killed mid-propagation: some frames were tracked and acknowledged, not all.
    expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(acked.length).toBeLessThan(N);
    expectStored(sid, acked);

    // The same server address again, on the same store: the page reopens the stored session itself.
    server = await serve(victim.port);
    await page.waitForFunction(
      ({ s, n }) => window.__cineseg.connected && window.__cineseg.sessionId === s && window.__cineseg.restoredMasks !== null && window.__cineseg.masksHeld().length >= n,
      { s: sid, n: acked.length },
      { timeout: 60_000 },
    );
    const back = byKey(await held());
    for (const [k, v] of byKey(acked)) expect(back.get(k), `mask ${k} after the restart`).toBe(v);
    expect(await page.locator('[data-testid="connection"]').textContent()).toBe('connected');

    // On screen: a tracked frame's overlay is the stored mask.
    const f = Math.max(...acked.map((a) => a.frame)) - 1;
    await seekTimeline(f);
    const ro = SessionStore.open(dbPath, { readonly: true });
    const storedMask = decodeMask(ro.getMask(sid, 1, f)!.rle);
    ro.destroy();
    await expect
      .poll(
        async () => {
          const o = await overlayMask(page);
          return o.width === W ? iou(o.mask, storedMask) : 0;
        },
        { timeout: 10_000 },
      )
      .toBeGreaterThan(0.98);
    await page.screenshot({ path: join(SCREENSHOTS, 'restored-after-kill.png') });

    // Through the list: another clip, then the stored session reopened from the list.
    await page.click('[data-clip="generated/endoscopy-1"]');
    await page.waitForFunction((s) => window.__cineseg.sessionId !== s && window.__cineseg.presentedFrame === 0, sid, { timeout: 60_000 });
    // Forgotten first, so the wait below sees the reopened session's view present its first frame, not the old one's.
    await page.evaluate(() => (window.__cineseg.presentedFrame = -1));
    await page.click(`[data-session="${sid}"] [data-testid="reopen"]`, { timeout: 30_000 });
    await page.waitForFunction(({ s, n }) => window.__cineseg.sessionId === s && window.__cineseg.masksHeld().length >= n, { s: sid, n: acked.length }, { timeout: 60_000 });
    const again = byKey(await held());
    for (const [k, v] of byKey(acked)) expect(again.get(k)).toBe(v);
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 0, undefined, { timeout: 30_000 });

    // Correct and propagate on: a click on a frame past the tracked ones, then the rest of the clip.
    const fix = Math.min(N - 5, acked.length + 5);
    await seekTimeline(fix);
    const [fx, fy] = centre(1, fix);
    await clickVideo(fx, fy);
    await expect.poll(() => page.evaluate(() => window.__cineseg.masksHeld().length), { timeout: 30_000 }).toBeGreaterThan(acked.length);
    await page.click('[data-testid="propagate"]');
    await expect.poll(() => page.locator('[data-testid="status"]').textContent(), { timeout: 120_000 }).toMatch(/^propagated over \d+ frames$/);
    const final = SessionStore.open(dbPath, { readonly: true });
    try {
      expect(final.completeFrames(sid)).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(final.listPrompts(sid).map((p) => p.frame)).toEqual([0, fix]);
      expect(final.integrityCheck()).toBe('ok');
    } finally {
      final.destroy();
    }
    await page.screenshot({ path: join(SCREENSHOTS, 'restored-corrected.png') });
  });
});
