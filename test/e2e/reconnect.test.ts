/**
 * The server restarts under an open player: the page shows it is reconnecting, finds the new
 * server on the same address, opens its clip again and replays its prompts (the mask comes back).
 * Live is the other way round: its objects live on the server, so a reload finds them there (no
 * click sent again), and after a server restart the old clicks are not replayed onto whatever
 * anatomy the new run shows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/model/test-bundle.js';
import { SCREENSHOTS, startE2e, type E2e } from './harness.js';

const CLIP_DIR = join(REPO_ROOT, 'samples/generated/endoscopy-1');
const prompts = JSON.parse(readFileSync(join(CLIP_DIR, 'prompts.json'), 'utf8')) as { width: number; height: number; objects: { point: [number, number] }[] };

let e: E2e;
beforeAll(async () => {
  e = await startE2e({ media: [join(REPO_ROOT, 'samples', 'generated')] });
});
afterAll(async () => {
  await e?.destroy();
});

describe('e2e: reconnect', () => {
  it('re-opens the clip and replays prompts after a server restart', async () => {
    const { page } = e;
    await page.goto(e.server.url);
    await page.click('[data-clip="generated/endoscopy-1"]');
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 0, undefined, { timeout: 60_000 });
    const box = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
    const pt = prompts.objects[0]!.point;
    await page.mouse.click(box.x + (pt[0] / prompts.width) * box.width, box.y + (pt[1] / prompts.height) * box.height);
    await page.waitForFunction(() => window.__cineseg.masksReceived >= 1, undefined, { timeout: 30_000 });
    const first = await page.evaluate(() => window.__cineseg.sessionId);

    // Stop the server and show the page without it, then start a new one on the same port.
    const port = e.server.port;
    await e.server.destroy();
    await page.waitForFunction(() => !window.__cineseg.connected, undefined, { timeout: 10_000 });
    expect(await page.locator('[data-testid="connection"]').textContent()).toBe('reconnecting…');
    await e.restart();
    expect(e.server.port).toBe(port);
    await page.waitForFunction((old) => window.__cineseg.connected && window.__cineseg.sessionId !== old && window.__cineseg.masksReceived >= 1, first, { timeout: 30_000 });
    expect(await page.evaluate(() => window.__cineseg.reconnects)).toBe(1);
    expect(await page.locator('[data-testid="connection"]').textContent()).toBe('connected');
    const second = await page.evaluate(() => window.__cineseg.sessionId!);
    const stored = e.sink.sessions.get(second)!;
    expect(stored.prompts).toHaveLength(1);
    expect(stored.prompts[0]).toMatchObject({ kind: 'points', objectId: 1, frame: 0 });
    await page.screenshot({ path: join(SCREENSHOTS, 'reconnected.png') });
  });

  it('a dropped socket (server still up) resumes the same session: no new session, nothing replayed', async () => {
    const { page } = e;
    await page.goto(e.server.url);
    await page.click('[data-clip="generated/endoscopy-1"]');
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 0 && window.__cineseg.connected, undefined, { timeout: 60_000 });
    const box = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
    const pt = prompts.objects[0]!.point;
    await page.mouse.click(box.x + (pt[0] / prompts.width) * box.width, box.y + (pt[1] / prompts.height) * box.height);
    await page.waitForFunction(() => window.__cineseg.masksReceived >= 1, undefined, { timeout: 30_000 });
    const first = (await page.evaluate(() => window.__cineseg.sessionId))!;
    const reconnects = await page.evaluate(() => window.__cineseg.reconnects);
    const sessionsBefore = e.sink.sessions.size;

    // The network drops the connection (no close handshake): the server keeps the session for its
    // resume grace, and the page takes it back with its token.
    for (const ws of e.server.ws.wss.clients) ws.terminate();
    await page.waitForFunction((n) => window.__cineseg.connected && window.__cineseg.reconnects > n, reconnects, { timeout: 30_000 });
    await page.waitForFunction(() => /reconnected/.test(document.body.textContent ?? ''), undefined, { timeout: 30_000 });
    expect(await page.evaluate(() => window.__cineseg.sessionId)).toBe(first);
    expect(e.sink.sessions.size).toBe(sessionsBefore);
    expect(e.sink.sessions.get(first)!.prompts).toHaveLength(1);
    // The resumed session still answers: a second click on it is stored in the same session (away
    // from the first click's marker, which a click on would select instead).
    await page.mouse.click(box.x + (pt[0] / prompts.width) * box.width + 20, box.y + (pt[1] / prompts.height) * box.height + 4);
    await expect.poll(() => e.sink.sessions.get(first)!.prompts.length, { timeout: 30_000 }).toBe(2);
  });
});

describe('e2e: live reload and reconnect', () => {
  let l: E2e;
  beforeAll(async () => {
    l = await startE2e({ media: [join(REPO_ROOT, 'samples', 'generated')], live: `loop:${join(CLIP_DIR, 'clip.mp4')}` });
  });
  afterAll(async () => {
    await l?.destroy();
  });

  const clickObject = async () => {
    const box = (await l.page.locator('canvas[data-testid="overlay"]').boundingBox())!;
    const pt = prompts.objects[0]!.point;
    await l.page.mouse.click(box.x + (pt[0] / prompts.width) * box.width, box.y + (pt[1] / prompts.height) * box.height);
  };
  const promptsOf = (record: string) => l.sink.sessions.get(record)?.prompts.length ?? 0;

  it('a reload finds the live objects on the server; after a server restart old clicks are not replayed', async () => {
    const { page } = l;
    await page.goto(l.server.url);
    await page.click('[data-testid="open-live"]');
    await page.waitForFunction(() => window.__cineseg.livePainted >= 5, undefined, { timeout: 60_000 });
    await clickObject();
    await page.waitForFunction(() => window.__cineseg.masksReceived >= 3, undefined, { timeout: 30_000 });
    const live = l.server.live!;
    const record = live.recordId;
    expect(live.objectIds).toEqual([1]);
    expect(promptsOf(record)).toBe(1);

    // Reload: a new page, a new connection, no click; the object and its masks are there.
    await page.reload();
    await page.click('[data-testid="open-live"]');
    await page.waitForFunction(() => window.__cineseg.masksReceived >= 3, undefined, { timeout: 30_000 });
    await expect.poll(() => page.locator('[data-object="1"]').count(), { timeout: 10_000 }).toBe(1);
    expect(live.recordId).toBe(record);
    expect(live.objectIds).toEqual([1]);
    expect(promptsOf(record)).toBe(1);

    // The server restarts: the player reconnects and opens live again, with nothing replayed.
    const first = await page.evaluate(() => window.__cineseg.sessionId);
    await l.restart();
    await page.waitForFunction((old) => window.__cineseg.connected && window.__cineseg.sessionId !== old, first, { timeout: 30_000 });
    const painted = await page.evaluate(() => window.__cineseg.livePainted);
    await page.waitForFunction((p) => window.__cineseg.livePainted >= p + 10, painted, { timeout: 30_000 });
    const again = l.server.live!;
    expect(again.recordId).not.toBe(record);
    expect(again.objectIds).toEqual([]);
    expect(promptsOf(again.recordId)).toBe(0);
  });
});
