/**
 * The browser flow of a server with a token, in Chromium: the printed URL (…/?token=…) opens the
 * player, the server's HttpOnly SameSite=Strict cookie carries the clip list, hls.js and the
 * WebSocket from then on, and the token leaves the address bar; a browser without the cookie gets
 * 401 and no connection.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/model/test-bundle.js';
import { launchChromium, startE2e, type E2e } from './harness.js';

const TOKEN = 'e2e-token-abcdefghijklmnop';
let e: E2e;
beforeAll(async () => {
  e = await startE2e({ media: [join(REPO_ROOT, 'samples', 'generated')], token: TOKEN });
});
afterAll(async () => {
  await e?.destroy();
});

describe('e2e: token', () => {
  it('opens from the token URL, then authenticates everything by cookie', async () => {
    const { page, server } = e;
    expect(server.openUrl).toBe(`${server.url}?token=${TOKEN}`);
    await page.goto(server.openUrl);
    await page.waitForFunction(() => window.__cineseg.connected, undefined, { timeout: 30_000 });
    expect(page.url()).toBe(server.url);
    // The page cannot read the cookie; the browser holds it as the server set it.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    const cookie = (await e.browser.cookies(server.url)).find((c) => c.name === `cineseg_token_${server.port}`);
    expect(cookie).toMatchObject({ value: TOKEN, httpOnly: true, sameSite: 'Strict', path: '/' });
    // The clip list came through (fetch), and a clip plays (hls.js) with a session (WebSocket).
    await page.click('[data-clip="generated/ultrasound-1"]', { timeout: 30_000 });
    await page.waitForFunction(() => window.__cineseg.presentedFrame === 0 && window.__cineseg.sessionId !== null, undefined, { timeout: 60_000 });
  });

  it('a browser without the cookie gets 401 and cannot connect', async () => {
    const other = await launchChromium(e.tmp);
    try {
      const page = other.pages()[0] ?? (await other.newPage());
      const r = await page.goto(e.server.url);
      expect(r?.status()).toBe(401);
      expect(JSON.parse(await r!.text())).toMatchObject({ code: 'E_AUTH_REQUIRED' });
      const ws = await page.evaluate(
        (url) =>
          new Promise<string>((resolve) => {
            const s = new WebSocket(url);
            s.onopen = () => resolve('open');
            s.onerror = () => resolve('refused');
          }),
        e.server.url.replace('http', 'ws') + 'ws',
      );
      expect(ws).toBe('refused');
    } finally {
      await other.close();
    }
  });
});
