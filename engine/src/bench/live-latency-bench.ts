/**
 * Glass-to-glass latency of live mode, measured in a real browser: a 30 fps live source tracked
 * with one prompted object and shown by the player in Debian's Chromium. By default the source is a
 * raw capture feed (RawCaptureFeed: the clip's frames written as raw rgb24 over TCP, as a capture
 * card hands them over), so a frame's latency runs from the moment it was written by the source to
 * the animation frame in which the page painted it together with its overlay — ffmpeg reading it,
 * tracking, the socket and the browser all count. With `source: 'loop'` the clip is played as a
 * live file (`loop:<file>`) and latency starts when the frame leaves our decoder (the file has no
 * send time). All clocks are this machine's wall clock. Needs the built player (player/dist) and a
 * Chromium binary (CINESEG_CHROMIUM, default /usr/bin/chromium), driven over a bare DevTools pipe.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';
import { GENERATED_SAMPLES_DIR, PLAYER_DIST_DIR } from '../paths.js';
import { startServer } from '../server/http-server.js';
import { DevtoolsBrowser } from './devtools-browser.js';
import { RawCaptureFeed } from './raw-capture-feed.js';

export interface LiveLatencyBenchOptions {
  /** Fewer frames (150 instead of 1,000). */
  quick?: boolean;
  /** Frames to measure (overrides quick). */
  frames?: number;
  /** Clip folder with clip.mp4 and prompts.json (default samples/generated/ultrasound-1). */
  clipDir?: string;
  /** Model bundle (default: the shipped tiny bundle). */
  model?: string;
  /** 'capture' (default): raw frames over TCP, timed from the write; 'loop': the clip as a live file, timed from our decoder. */
  source?: 'capture' | 'loop';
  /** Capture feed rate (default 30). */
  fps?: number;
  /** onnxruntime intra-op threads of the server (default: the server's default). */
  threads?: number;
  /**
   * Painted frames after the click left out of the figures (default 30, one second): the first
   * tracked frames run each graph's first inference with a growing memory bank, which is
   * start-up, not the steady state a procedure lives in.
   */
  warmupFrames?: number;
  log?: (line: string) => void;
}

export interface LiveLatencyBenchResult {
  /** From where the source lets the frame go (see `source`) to its paint. */
  liveLatencyP50Ms: number;
  liveLatencyP99Ms: number;
  source: 'capture' | 'loop';
  /** From our decoder handing the frame over to its paint (the part the server and browser own). */
  fromDecoderP50Ms: number;
  fromDecoderP99Ms: number;
  /** Capture feed only: from the write to our decoder handing the frame over (ffmpeg, the pipe, a busy event loop). */
  sourceToDecoderP50Ms: number;
  sourceToDecoderP99Ms: number;
  /** Frames painted (with their masks) during the measurement. */
  frames: number;
  /** Frames the source produced that were never painted (server and browser drops). */
  drops: number;
  /** Source frames during the measurement. */
  sourceFrames: number;
  meanTrackMs: number;
  /** Medians of the server's share (decoder → socket) and the browser's share (socket → paint). */
  serverP50Ms: number;
  browserP50Ms: number;
  /** The same shares at the 99th percentile: which side the tail comes from. */
  serverP99Ms: number;
  browserP99Ms: number;
  /** The browser's share split: server send → the completing message handled in the page (socket, event loop)… */
  socketP50Ms: number;
  socketP99Ms: number;
  /** …and that message → the animation frame that painted it (picture decode if late, the wait for the display's next frame, a busy page). */
  paintWaitP50Ms: number;
  paintWaitP99Ms: number;
  chromium: string;
  /** Painted frames after the click that were not measured (see the option). */
  warmupFrames: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Runs the live latency measurement; see the module comment. */
export async function benchLiveLatency(opts: LiveLatencyBenchOptions = {}): Promise<LiveLatencyBenchResult> {
  const log = opts.log ?? (() => undefined);
  const target = opts.frames ?? (opts.quick ? 150 : 1000);
  const clipDir = opts.clipDir ?? join(GENERATED_SAMPLES_DIR, 'ultrasound-1');
  const chromiumPath = process.env.CINESEG_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(join(PLAYER_DIST_DIR, 'index.html'))) throw new CinesegError(ErrorCode.E_USAGE, 'the player is not built: run `npm run build -w player`');
  if (!existsSync(chromiumPath)) throw new CinesegError(ErrorCode.E_USAGE, `no Chromium at ${chromiumPath} (apt-get install chromium, or set CINESEG_CHROMIUM)`);
  const prompts = JSON.parse(readFileSync(join(clipDir, 'prompts.json'), 'utf8')) as { width: number; height: number; objects: { point: [number, number] }[] };
  const tmp = mkdtempSync(join(tmpdir(), 'cineseg-latency-'));
  const sourceKind = opts.source ?? 'capture';
  const feed = sourceKind === 'capture' ? await RawCaptureFeed.start({ clip: join(clipDir, 'clip.mp4'), ...(opts.fps ? { fps: opts.fps } : {}) }) : null;
  const liveInput = feed ? { live: feed.url, liveInputOptions: feed.inputOptions } : { live: `loop:${join(clipDir, 'clip.mp4')}` };
  const server = await startServer({
    port: 0,
    ...liveInput,
    media: [],
    cacheDir: join(tmp, 'hls'),
    ...(opts.model ? { model: opts.model } : {}),
    ...(opts.threads ? { threads: opts.threads } : {}),
    log,
  });
  // Driven over a bare DevTools pipe, not Playwright: see devtools-browser.ts for why.
  const browser = await DevtoolsBrowser.launch({
    executablePath: chromiumPath,
    profileDir: join(tmp, 'profile'),
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  }).catch(async (e: unknown) => {
    await server.destroy();
    await feed?.destroy();
    throw e;
  });
  try {
    const page = await browser.openPage(server.url, { width: 1280, height: 800 });
    await page.waitFor(`!!document.querySelector('[data-testid="open-live"]')`);
    await page.evaluate(`document.querySelector('[data-testid="open-live"]').click()`);
    await page.waitFor('window.__cineseg.livePainted >= 5');
    const box = await page.evaluate<{ x: number; y: number; width: number; height: number }>(
      `(() => { const r = document.querySelector('canvas[data-testid="overlay"]').getBoundingClientRect(); return { x: r.x, y: r.y, width: r.width, height: r.height }; })()`,
    );
    const pt = prompts.objects[0]!.point;
    await page.click(box.x + (pt[0] / prompts.width) * box.width, box.y + (pt[1] / prompts.height) * box.height);
    await page.waitFor('window.__cineseg.masksReceived > 0');
    // Every frame now carries the object's mask; measure after the warm-up frames.
    const warmup = opts.warmupFrames ?? 30;
    const clicked = await page.evaluate<number>('window.__cineseg.livePainted');
    await page.waitFor(`window.__cineseg.livePainted >= ${clicked + warmup}`);
    const live = server.live!;
    const start = await page.evaluate<{ painted: number; clientDrops: number }>('({ painted: window.__cineseg.livePainted, clientDrops: window.__cineseg.liveClientDrops })');
    const in0 = live.framesIn;
    const drops0 = live.drops;
    const trackSamples: number[] = [];
    log(`live latency: measuring ${target} frames`);
    const deadline = Date.now() + (target / 30) * 1000 * 4 + 60_000;
    // The page keeps only its newest samples (a live session runs for hours), so they are
    // collected while the run goes, by painted-frame number.
    const end = { lat: [] as number[], server: [] as number[], frames: [] as number[], paintMs: [] as number[], arrivedMs: [] as number[], clientDrops: start.clientDrops };
    let next = start.painted;
    for (;;) {
      const got = await page.evaluate<{ lost: number; lat: number[]; server: number[]; frames: number[]; paintMs: number[]; arrivedMs: number[]; clientDrops: number }>(
        `(() => { const h = window.__cineseg, i = ${next} - h.liveSampleBase; const f = Math.max(0, i); return { lost: Math.max(0, -i), lat: h.liveLatenciesMs.slice(f), server: h.liveServerMs.slice(f), frames: h.liveFrames.slice(f), paintMs: h.livePaintMs.slice(f), arrivedMs: h.liveArrivedMs.slice(f), clientDrops: h.liveClientDrops }; })()`,
      );
      if (got.lost > 0) throw new CinesegError(ErrorCode.E_INTERNAL, `live latency bench: the page dropped ${got.lost} samples before they were read`);
      end.lat.push(...got.lat);
      end.server.push(...got.server);
      end.frames.push(...got.frames);
      end.paintMs.push(...got.paintMs);
      end.arrivedMs.push(...got.arrivedMs);
      end.clientDrops = got.clientDrops;
      next += got.lat.length;
      trackSamples.push(live.trackMs);
      if (next - start.painted >= target) break;
      if (Date.now() > deadline) throw new CinesegError(ErrorCode.E_INTERNAL, `live latency bench: only ${next - start.painted} of ${target} frames painted in time`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const fromDecoder = [...end.lat].sort((a, b) => a - b);
    let sorted = fromDecoder;
    let pickup: number[] = [];
    if (feed) {
      sorted = end.frames.map((f, i) => {
        const sent = feed.sentMs(f);
        if (sent === undefined) throw new CinesegError(ErrorCode.E_INTERNAL, `live latency bench: frame ${f} was painted but the feed never sent it`);
        return end.paintMs[i]! - sent;
      });
      sorted.sort((a, b) => a - b);
      // written by the feed → handed over by our decoder (paint − latency from the decoder = decoder time)
      pickup = end.frames.map((f, i) => end.paintMs[i]! - end.lat[i]! - feed.sentMs(f)!).sort((a, b) => a - b);
    }
    const serverPart = [...end.server].sort((a, b) => a - b);
    const browserPart = end.lat.map((l, i) => l - (end.server[i] ?? 0)).sort((a, b) => a - b);
    // sent by the server = paint − latency from the decoder + the server's share
    const socketPart = end.arrivedMs.map((a, i) => a - (end.paintMs[i]! - end.lat[i]! + end.server[i]!)).sort((a, b) => a - b);
    const paintWait = end.arrivedMs.map((a, i) => end.paintMs[i]! - a).sort((a, b) => a - b);
    const sourceFrames = live.framesIn - in0;
    return {
      liveLatencyP50Ms: percentile(sorted, 50),
      liveLatencyP99Ms: percentile(sorted, 99),
      source: sourceKind,
      fromDecoderP50Ms: percentile(fromDecoder, 50),
      fromDecoderP99Ms: percentile(fromDecoder, 99),
      sourceToDecoderP50Ms: feed ? percentile(pickup, 50) : 0,
      sourceToDecoderP99Ms: feed ? percentile(pickup, 99) : 0,
      frames: sorted.length,
      drops: live.drops - drops0 + (end.clientDrops - start.clientDrops),
      sourceFrames,
      meanTrackMs: trackSamples.reduce((a, b) => a + b, 0) / Math.max(1, trackSamples.length),
      serverP50Ms: percentile(serverPart, 50),
      browserP50Ms: percentile(browserPart, 50),
      serverP99Ms: percentile(serverPart, 99),
      browserP99Ms: percentile(browserPart, 99),
      socketP50Ms: percentile(socketPart, 50),
      socketP99Ms: percentile(socketPart, 99),
      paintWaitP50Ms: percentile(paintWait, 50),
      paintWaitP99Ms: percentile(paintWait, 99),
      chromium: browser.version,
      warmupFrames: warmup,
    };
  } finally {
    await browser.destroy();
    await server.destroy();
    await feed?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}
