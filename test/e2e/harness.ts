/**
 * End-to-end harness: the real server (in this process, 127.0.0.1 port 0, real ONNX sessions and
 * ffmpeg) and Debian's Chromium driven by playwright-core. The player is built first when its
 * build is missing or older than its sources.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { decodeMask, type CompressedRle } from '../../engine/src/mask/rle.js';
import { loadBundle } from '../../engine/src/model/bundle.js';
import { ModelSessions } from '../../engine/src/model/ort-sessions.js';
import { MemorySink } from '../../engine/src/server/annotation-sink.js';
import { StoreSink } from '../../engine/src/server/store-sink.js';
import { SessionStore } from '../../engine/src/store/session-store.js';
import { startServer, type CinesegServer, type ServeOptions } from '../../engine/src/server/http-server.js';
import { REPO_ROOT, testBundleDir } from '../engine/model/test-bundle.js';

export const CHROMIUM = process.env.CINESEG_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(REPO_ROOT, 'test-results', 'screenshots');
const PLAYER = join(REPO_ROOT, 'player');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds player/dist unless it is newer than player/src and protocol.ts. */
export function ensurePlayerBuilt(): void {
  const index = join(PLAYER, 'dist', 'index.html');
  const src = Math.max(newest(join(PLAYER, 'src')), statSync(join(REPO_ROOT, 'engine', 'src', 'protocol.ts')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs > src) return;
  // The player's own vite (7, for Node 20), not the root one vitest brought.
  const own = join(PLAYER, 'node_modules', 'vite', 'bin', 'vite.js');
  const vite = existsSync(own) ? own : join(REPO_ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  execFileSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: PLAYER, stdio: 'inherit' });
}

export interface E2e {
  server: CinesegServer;
  sink: MemorySink;
  sessions: ModelSessions;
  browser: BrowserContext;
  page: Page;
  tmp: string;
  /** Stops the server and starts a new one on the same port (a server restart, as a client sees it). */
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startE2e(opts: Partial<ServeOptions> = {}): Promise<E2e> {
  ensurePlayerBuilt();
  mkdirSync(SCREENSHOTS, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'cineseg-e2e-'));
  const sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  const sink = new MemorySink();
  const serveOpts: ServeOptions = { port: 0, sessions, sink, cacheDir: join(tmp, 'hls'), ...opts };
  const server = await startServer(serveOpts);
  const browser = await launchChromium(tmp);
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
  const e: E2e = {
    server,
    sink,
    sessions,
    browser,
    page,
    tmp,
    async restart() {
      const port = e.server.port;
      await e.server.destroy();
      e.server = await startServer({ ...serveOpts, port });
    },
    async destroy() {
      await browser.close().catch(() => undefined);
      await e.server.destroy();
      await sessions.destroy();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  return e;
}

export interface E2eWithStore extends E2e {
  /** The real SQLite store every prompt and mask of the test goes to (in its own folder). */
  store: SessionStore;
}

/** startE2e over a real SQLite store instead of the memory sink; destroy() closes and removes it. */
export async function startE2eWithStore(opts: Partial<ServeOptions> = {}): Promise<E2eWithStore> {
  const dir = mkdtempSync(join(tmpdir(), 'cineseg-e2e-store-'));
  const store = SessionStore.open(join(dir, 'cineseg.db'));
  const e = await startE2e({ ...opts, sink: new StoreSink(store) });
  const destroy = e.destroy.bind(e);
  return Object.assign(e, {
    store,
    async destroy() {
      await destroy();
      store.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/**
 * Debian's Chromium, headless, with a fresh profile folder (playwright takes the profile as
 * launchPersistentContext's first argument instead of --user-data-dir).
 */
export function launchChromium(tmp: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(join(tmp, 'chromium-')), {
    executablePath: CHROMIUM,
    viewport: { width: 1400, height: 900 },
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/** The overlay canvas as a 0/1 mask (alpha > 0) at its own size. */
export async function overlayMask(page: Page): Promise<{ width: number; height: number; mask: Uint8Array }> {
  const r = await page.evaluate(() => {
    const c = document.querySelector('canvas[data-testid="overlay"]') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 3; i < d.length; i += 4) s += d[i]! > 0 ? '1' : '0';
    return { width: c.width, height: c.height, bits: s };
  });
  const mask = new Uint8Array(r.bits.length);
  for (let i = 0; i < mask.length; i++) mask[i] = r.bits.charCodeAt(i) === 49 ? 1 : 0;
  return { width: r.width, height: r.height, mask };
}

/** The presented video frame as rgb24, drawn from the <video> element at its intrinsic size. */
export async function videoFrameRgb(page: Page): Promise<{ width: number; height: number; rgb: Uint8Array }> {
  const r = await page.evaluate(() => {
    const v = document.querySelector('video') as HTMLVideoElement;
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(v, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const rgb: number[] = new Array((d.length / 4) * 3);
    for (let i = 0, j = 0; i < d.length; i += 4) {
      rgb[j++] = d[i]!;
      rgb[j++] = d[i + 1]!;
      rgb[j++] = d[i + 2]!;
    }
    return { width: c.width, height: c.height, rgb };
  });
  return { width: r.width, height: r.height, rgb: Uint8Array.from(r.rgb) };
}

export function iou(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  let u = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k]! > 0;
    const y = b[k]! > 0;
    if (x && y) i++;
    if (x || y) u++;
  }
  return u === 0 ? 1 : i / u;
}

export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += Math.abs(a[k]! - b[k]!);
  return s / a.length;
}

/** Centre of an object's ground-truth mask on a frame (a clip's gt.json), in video pixels. */
export function gtCentre(gt: { annotations: { object_id: number; segmentations: (CompressedRle | null)[] }[] }, width: number, objectId: number, frame: number): [number, number] {
  const m = decodeMask(gt.annotations.find((a) => a.object_id === objectId)!.segmentations[frame]!);
  let sx = 0;
  let sy = 0;
  let n = 0;
  for (let i = 0; i < m.length; i++) {
    if (!m[i]) continue;
    sx += i % width;
    sy += Math.floor(i / width);
    n++;
  }
  return [sx / n, sy / n];
}

/** Clicks the video pixel (x, y) of a width x height clip on the player's overlay. */
export async function clickVideoPixel(page: Page, width: number, height: number, x: number, y: number): Promise<void> {
  const box = (await page.locator('canvas[data-testid="overlay"]').boundingBox())!;
  await page.mouse.click(box.x + ((x + 0.5) / width) * box.width, box.y + ((y + 0.5) / height) * box.height);
}
