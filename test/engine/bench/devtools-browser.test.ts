/**
 * The bare DevTools driver the latency bench uses, against Debian's Chromium: a real page served
 * on 127.0.0.1, a real click, and the failure paths (page exception, missing binary, Chromium gone).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevtoolsBrowser } from '../../../engine/src/bench/devtools-browser.js';

const CHROMIUM = process.env.CINESEG_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];

const PAGE = `<!doctype html><html><body style="margin:0">
<button id="b" style="position:absolute;left:100px;top:50px;width:80px;height:40px">hit</button>
<script>
window.clicks = [];
document.getElementById('b').addEventListener('click', (e) => window.clicks.push({ x: e.clientX, y: e.clientY, shift: e.shiftKey }));
setTimeout(() => { window.later = 42; }, 300);
</script></body></html>`;

describe('DevtoolsBrowser', () => {
  let http: Server;
  let url = '';
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cineseg-devtools-'));
    http = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const addr = http.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
  });
  afterAll(async () => {
    await new Promise((r) => http.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens a page, evaluates, waits and clicks with real mouse input', async () => {
    const b = await DevtoolsBrowser.launch({ executablePath: CHROMIUM, args: ARGS, profileDir: join(dir, 'p1') });
    try {
      expect(b.version).toMatch(/^(Headless)?Chrome\/\d+\./);
      const page = await b.openPage(url, { width: 640, height: 480 });
      await page.waitFor('window.later === 42', 20_000);
      expect(await page.evaluate<number>('innerWidth')).toBe(640);
      expect(await page.evaluate<{ a: number[] }>('({ a: [1, 2].map((x) => x * 3) })')).toEqual({ a: [3, 6] });
      await page.click(140, 70);
      await page.click(110, 60, 8);
      await page.click(10, 10); // outside the button: no click event on it
      expect(await page.evaluate('window.clicks')).toEqual([
        { x: 140, y: 70, shift: false },
        { x: 110, y: 60, shift: true },
      ]);
      await expect(page.evaluate('(() => { throw new Error("boom") })()')).rejects.toThrow(/E_INTERNAL|boom/);
      await expect(page.waitFor('false', 300)).rejects.toThrow(/not true within 300 ms/);
    } finally {
      await b.destroy();
    }
  }, 60_000);

  it('destroy ends Chromium, twice is harmless, and later commands fail clearly', async () => {
    const b = await DevtoolsBrowser.launch({ executablePath: CHROMIUM, args: ARGS, profileDir: join(dir, 'p2') });
    const pid = (b as unknown as { proc: { pid: number } }).proc.pid;
    await b.destroy();
    await b.destroy();
    expect(() => process.kill(pid, 0)).toThrow();
    await expect(b.send('Browser.getVersion')).rejects.toMatchObject({ code: 'E_INTERNAL' });
  }, 60_000);

  it('a missing binary is a usage error, not a hang', async () => {
    const missing = join(dir, 'no-such-chromium');
    expect(existsSync(missing)).toBe(false);
    await expect(DevtoolsBrowser.launch({ executablePath: missing, args: ARGS, profileDir: join(dir, 'p3') })).rejects.toMatchObject({ code: 'E_USAGE' });
  });
});
