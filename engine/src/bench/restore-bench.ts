/**
 * Restore after a crash, measured on the real thing: a `cineseg serve` child process on a SQLite
 * store, a WebSocket client that prompts and propagates, `kill -9` of the server mid-propagation,
 * a new server on the same store and port, and `openSession` of the session.
 *
 * - `restoreLostMasks`: masks the client had received before the kill (each was committed before
 *   it was sent: an ack) that do not come back after the reopen byte for byte. Goal 0.
 * - `restoreSeconds`: from the restart (spawn of the new server) to the last stored mask received
 *   after openSession; `reopenSeconds` is the openSession → last mask part of it.
 * - `correctedAfterRestore`: a correction and a propagation on the reopened session worked.
 *
 * Quick: a 90-frame sample clip, killed after a quarter of it. Full: a generated 900-frame clip
 * (a moving square), killed after 600 frames. `node engine/dist/bench/restore-bench.js [--quick]`
 * prints the JSON.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { encodeRgbFrames } from '../decode/ffmpeg.js';
import { GENERATED_SAMPLES_DIR } from '../paths.js';
import { binaryKind, decodeMaskFrame, type ServerMessage } from '../protocol.js';
import { printResult } from './print-result.js';
import { startServerChild, type ServerChild } from './server-child.js';

export interface RestoreBenchResult {
  restoreLostMasks: number;
  restoreSeconds: number;
  reopenSeconds: number;
  /** Masks the client had when the server was killed (all acknowledged: stored before sent). */
  ackedMasks: number;
  /** Masks the reopened session sent (the store's current masks: acked ones and those committed after the last send). */
  restoredMasks: number;
  clipFrames: number;
  correctedAfterRestore: boolean;
  /** Stored masks of the session after the correction's propagation (all frames: the clip's length). */
  framesAfterCorrection: number;
}

/** A protocol client: requests by seq, masks kept as `object:frame` → counts. */
class Client {
  private seq = 1;
  readonly masks = new Map<string, string>();
  readonly messages: ServerMessage[] = [];
  private waiters: { pred: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] = [];
  onMask: (() => void) | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (binary) {
        const u = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        if (binaryKind(u) !== 'mask') return;
        const m = decodeMaskFrame(u);
        this.masks.set(`${m.objectId}:${m.frame}`, Array.from(m.counts).join(','));
        this.onMask?.();
        return;
      }
      const m = JSON.parse(data.toString('utf8')) as ServerMessage;
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
  }

  static connect(url: string): Promise<Client> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + 'ws');
    return new Promise((res, rej) => {
      ws.once('open', () => res(new Client(ws)));
      ws.once('error', rej);
    });
  }

  waitFor(pred: (m: ServerMessage) => boolean, timeoutMs = 300_000): Promise<ServerMessage> {
    const past = this.messages.find(pred);
    if (past) return Promise.resolve(past);
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('restore bench: timed out waiting for the server')), timeoutMs);
      this.waiters.push({ pred, resolve: (m) => (clearTimeout(t), res(m)) });
    });
  }

  async request(msg: Record<string, unknown>): Promise<ServerMessage> {
    const seq = this.seq++;
    const p = this.waitFor((m) => m.seq === seq && (m.type === 'ack' || m.type === 'sessionStarted' || m.type === 'error'));
    this.ws.send(JSON.stringify({ v: 1, seq, ...msg }));
    const r = await p;
    if (r.type === 'error') throw new Error(`restore bench: ${String(msg.type)} failed: ${r.code}: ${r.message}`);
    return r;
  }

  close(): void {
    this.ws.terminate();
  }
}

/** A moving bright square on a dark ground, `n` frames at 160x120 (the full size's long clip). */
async function writeSquareClip(path: string, n: number): Promise<void> {
  const w = 160;
  const h = 120;
  async function* frames(): AsyncGenerator<Uint8Array> {
    for (let f = 0; f < n; f++) {
      const rgb = new Uint8Array(w * h * 3).fill(30);
      const x0 = 20 + Math.round(30 * Math.sin(f / 40));
      for (let y = 40; y < 80; y++) for (let x = x0; x < x0 + 40; x++) rgb.fill(220, 3 * (y * w + x), 3 * (y * w + x) + 3);
      yield rgb;
    }
  }
  await encodeRgbFrames(frames(), { width: w, height: h, fps: 30, output: path });
}

export async function benchRestore(opts: { quick: boolean; log?: (line: string) => void }): Promise<RestoreBenchResult> {
  const log = opts.log ?? (() => undefined);
  const tmp = mkdtempSync(join(tmpdir(), 'cineseg-restore-bench-'));
  let server: ServerChild | null = null;
  const clients: Client[] = [];
  try {
    const media = join(tmp, 'media');
    mkdirSync(join(media, 'clip'), { recursive: true });
    const clipFile = join(media, 'clip', 'clip.mp4');
    let point: [number, number];
    let frames: number;
    if (opts.quick) {
      const sample = join(GENERATED_SAMPLES_DIR, 'ultrasound-1');
      // Copied, not linked: a media folder does not follow links out of itself.
      copyFileSync(join(sample, 'clip.mp4'), clipFile);
      const p = JSON.parse(readFileSync(join(sample, 'prompts.json'), 'utf8')) as { length: number; objects: { point: [number, number] }[] };
      point = p.objects[0]!.point;
      frames = p.length;
    } else {
      frames = 900;
      await writeSquareClip(clipFile, frames);
      point = [60, 60];
    }
    const killAfter = opts.quick ? Math.round(frames / 4) : 600;
    const store = join(tmp, 'cineseg.db');
    const serve = (port = 0) => startServerChild({ store, media: [media], port, threads: 1 });

    server = await serve();
    const c = await Client.connect(server.url);
    clients.push(c);
    const started = await c.request({ type: 'startSession', clip: 'media/clip' });
    if (started.type !== 'sessionStarted') throw new Error('restore bench: no session');
    const sid = started.sessionId;
    await c.request({ type: 'addPoints', sessionId: sid, frame: 0, objectId: 1, points: [{ x: point[0], y: point[1] }] });
    // Killed from the mask handler itself: no polling delay lets the propagation run on to the end.
    const victim = server;
    const killed = new Promise<void>((res) => {
      c.onMask = () => {
        if (c.masks.size < killAfter) return;
        c.onMask = null;
        victim.child.kill('SIGKILL');
        res();
      };
    });
    await c.request({ type: 'propagate', sessionId: sid, direction: 'forward' });
    await killed;
    await victim.kill();
    const acked = new Map(c.masks);
    c.close();
    log(`restore: killed the server after ${acked.size} acknowledged masks of ${frames} frames`);

    const t0 = performance.now();
    server = await serve(victim.port);
    const c2 = await Client.connect(server.url);
    clients.push(c2);
    const t1 = performance.now();
    const r = await c2.request({ type: 'openSession', sessionId: sid });
    if (r.type !== 'sessionStarted' || !r.restored) throw new Error('restore bench: openSession gave no restored session');
    const want = r.restored.masks;
    if (c2.masks.size < want) await new Promise<void>((res) => (c2.onMask = () => c2.masks.size >= want && res()));
    c2.onMask = null;
    const t2 = performance.now();
    let lost = 0;
    for (const [k, counts] of acked) if (c2.masks.get(k) !== counts) lost++;

    // Correct on a frame past what was tracked and propagate to the end.
    const fix = Math.min(frames - 1, acked.size + 2);
    await c2.request({ type: 'addPoints', sessionId: sid, frame: fix, objectId: 1, points: [{ x: point[0], y: point[1] }] });
    await c2.request({ type: 'propagate', sessionId: sid, direction: 'forward' });
    const done = await c2.waitFor((m) => m.type === 'propagateDone' || (m.type === 'error' && m.seq !== null));
    const framesAfter = new Set([...c2.masks.keys()].map((k) => k.split(':')[1])).size;
    return {
      restoreLostMasks: lost,
      restoreSeconds: Math.round((t2 - t0) / 10) / 100,
      reopenSeconds: Math.round((t2 - t1) / 10) / 100,
      ackedMasks: acked.size,
      restoredMasks: want,
      clipFrames: frames,
      correctedAfterRestore: done.type === 'propagateDone' && !done.cancelled,
      framesAfterCorrection: framesAfter,
    };
  } finally {
    for (const c of clients) c.close();
    await server?.kill('SIGTERM').catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  printResult(benchRestore({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`${l}\n`) }));
}
