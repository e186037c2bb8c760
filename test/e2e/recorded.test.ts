/**
 * A person's path through a recorded clip in Chromium: open the clip, click the object where its
 * prompts.json says it is, propagate, step to frame N with `.`, and check what is on screen: the
 * presented video frame is frame N (pixels against ffmpeg's decode), the overlay is exactly the
 * mask the server stored for frame N, which is exactly offline tracking's mask for frame N — zero
 * frames off end to end. Against gt.json the overlay must be a good mask (trained weights), and
 * the GT frame it matches best is the one offline tracking's mask matches best.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trackVideo } from '../../engine/src/cli/track-command.js';
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
    process.stderr.write(
      `e2e recorded: video pixels vs frames ${near.join(',')}: ${diffs.map((d) => d.toFixed(2)).join(', ')}; ${JSON.stringify(await page.evaluate(() => ({ ...window.__cineseg, liveLatenciesMs: 0 })))}\n`,
    );
    expect(near[diffs.indexOf(Math.min(...diffs))]).toBe(N);
    expect(diffs[2]).toBeLessThan(3);

    // The overlay is exactly frame N's stored mask.
    const ov = await overlayMask(page);
    expect([ov.width, ov.height]).toEqual([W, H]);
    const storedN = stored.masks.get(`1:${N}`)!;
    expect(ov.mask).toEqual(countsToMask(storedN.counts, W, H));
    // ...and that tells frames apart: the neighbours' stored masks are not all the same as frame N's.
    const neighbourIous = near.filter((f) => f !== N).map((f) => iou(countsToMask(stored.masks.get(`1:${f}`)!.counts, W, H), ov.mask));
    expect(Math.min(...neighbourIous)).toBeLessThan(1);

    // The stored mask is exactly what offline tracking (`cineseg track`) gives for frame N with the
    // same click: server, protocol and player add no offset of their own.
    const offline = await trackVideo({
      video: join(CLIP_DIR, 'clip.mp4'),
      prompts: [{ kind: 'point', objectId: 1, frame: 0, point: { x: pr.points[0]!.x, y: pr.points[0]!.y } }],
      maxFrames: N + 2,
      sessions: e.sessions,
    });
    const offlineN = decodeMask(offline.json.annotations[0]!.segmentations[N] as CompressedRle);
    expect(ov.mask).toEqual(offlineN);

    // Against the ground truth (only meaningful with trained weights): the mask must be good.
    const seg = gt.annotations.find((a) => a.object_id === 1)!.segmentations;
    const gtIous = near.map((f) => iou(ov.mask, decodeMask(seg[f]!)));
    process.stderr.write(`e2e recorded: overlay IoU vs GT frames ${near.join(',')}: ${gtIous.map((x) => x.toFixed(3)).join(', ')}\n`);
    if (hasTrainedBundle) expect(gtIous[2]).toBeGreaterThan(0.5);
  });

  it('adds a second object with a dragged box and a Shift-click on the current frame, then deletes it', async () => {
    const { page } = e;
    const sid = await page.evaluate(() => window.__cineseg.sessionId!);
    const stored = e.sink.sessions.get(sid)!;
    const o2 = prompts.objects.find((o) => o.object_id === 2)!;
    const box = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
    const at = (x: number, y: number) => [box.x + (x / W) * box.width, box.y + (y / H) * box.height] as const;
    await page.getByText('+ New object').click();
    const [x0, y0] = at(o2.point[0] - 20, o2.point[1] - 15);
    const [x1, y1] = at(o2.point[0] + 20, o2.point[1] + 15);
    await page.mouse.move(x0, y0);
    await page.mouse.down();
    await page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, { steps: 3 });
    await page.mouse.move(x1, y1, { steps: 3 });
    await page.mouse.up();
    await page.waitForFunction(() => document.querySelectorAll('[data-object]').length === 2);
    await expect.poll(() => stored.prompts.length, { timeout: 20_000 }).toBe(2);
    const bp = stored.prompts[1]!;
    expect(bp).toMatchObject({ kind: 'box', objectId: 2, frame: N });
    if (bp.kind !== 'box') throw new Error('not a box');
    expect(bp.box.map(Math.round)).toEqual([o2.point[0] - 20, o2.point[1] - 15, o2.point[0] + 20, o2.point[1] + 15].map((v) => expect.closeTo(v, 1.01) as unknown as number));

    const [nx, ny] = at(o2.point[0] + 30, o2.point[1]);
    await page.keyboard.down('Shift');
    await page.mouse.click(nx, ny);
    await page.keyboard.up('Shift');
    await expect.poll(() => stored.prompts.length, { timeout: 20_000 }).toBe(3);
    const np = stored.prompts[2]!;
    // The click refines the box on that frame: a prompt of its own with clearOld false (the box
    // stays in effect; the player draws and removes each separately).
    expect(np).toMatchObject({ kind: 'points', objectId: 2, frame: N, clearOld: false, points: [{ label: 0 }] });
    await expect.poll(() => page.evaluate((f) => window.__cineseg.drawnPrompts.filter((d) => d.objectId === 2 && d.frame === f).map((d) => d.kind), N), { timeout: 10_000 }).toEqual(['box', 'points']);
    await expect.poll(() => stored.masks.has(`2:${N}`), { timeout: 20_000 }).toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, 'recorded-two-objects.png') });

    // Deleting asks first (the ✕ sits beside hide); the test says yes and checks it was asked.
    const asked = new Promise<string>((resolve) =>
      page.once('dialog', (d) => {
        resolve(d.message());
        void d.accept();
      }),
    );
    await page.locator('[data-object="2"] button[title="delete"]').click();
    expect(await asked).toMatch(/delete|remove/i);
    await expect.poll(() => [...stored.masks.keys()].some((k) => k.startsWith('2:')), { timeout: 20_000 }).toBe(false);
    expect(await page.locator('[data-object]').count()).toBe(1);
  });
});
