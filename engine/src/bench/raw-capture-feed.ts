/**
 * A stand-in for a capture card, for measuring live latency from the moment a frame leaves the
 * source: raw rgb24 frames served over TCP on 127.0.0.1 at a fixed rate, looping over a clip, with
 * the wall-clock time each frame was written. A scanner behind a capture card hands over whole raw
 * frames the same way; there is no codec or demuxer delay to hide, so everything after the write —
 * ffmpeg reading the socket, our decoder pipe, tracking, the WebSocket, the browser — is counted.
 *
 * The writer runs in a worker thread so its pacing never waits for the server's event loop (which
 * onnxruntime blocks while a graph runs); send times are shared through a SharedArrayBuffer.
 */
import { Worker } from 'node:worker_threads';
import { FrameDecoder } from '../decode/frame-decoder.js';

/** The worker: CommonJS source run with `eval` so the same file works from dist/ and under vitest. */
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const net = require('node:net');
const { pictures, frameBytes, count, fps, sentBuffer } = workerData;
const sent = new Float64Array(sentBuffer);
// The wall clock of protocol.ts's createWallClock: system time, sub-ms steps.
let wall0 = Date.now(), mono0 = performance.now();
const wallMs = () => { const now = performance.now(); if (now - mono0 >= 1000) { wall0 = Date.now(); mono0 = now; } return wall0 + (now - mono0); };
let n = 0;
const sockets = new Set();
const server = net.createServer((sock) => {
  sockets.add(sock);
  sock.setNoDelay(true);
  sock.on('error', () => undefined);
  sock.on('close', () => sockets.delete(sock));
  const t0 = performance.now();
  let k = 0;
  const tick = () => {
    if (sock.destroyed) return;
    if (n >= sent.length) { sock.end(); return; }
    const i = n % count;
    sent[n] = wallMs();
    n++;
    sock.write(Buffer.from(pictures, i * frameBytes, frameBytes));
    k++;
    setTimeout(tick, Math.max(0, t0 + (k * 1000) / fps - performance.now()));
  };
  tick();
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  for (const s of sockets) s.destroy();
  server.close(() => parentPort.close());
});
`;

export interface RawCaptureFeedOptions {
  /** Clip whose frames are served, looped. */
  clip: string;
  /** Frames per second (default 30). */
  fps?: number;
  /** Frames to serve in all before the feed ends (default 100,000). */
  maxFrames?: number;
}

export class RawCaptureFeed {
  /** Decodes the clip's frames at its own size and starts serving them. */
  static async start(opts: RawCaptureFeedOptions): Promise<RawCaptureFeed> {
    const fps = opts.fps ?? 30;
    const dec = await FrameDecoder.open(opts.clip, { mode: 'backpressure' });
    const frames: Uint8Array[] = [];
    let width = 0;
    let height = 0;
    try {
      for await (const f of dec) {
        width = f.width;
        height = f.height;
        frames.push(f.rgb.slice());
      }
    } finally {
      await dec.destroy();
    }
    const frameBytes = width * height * 3;
    const pictures = new SharedArrayBuffer(frameBytes * frames.length);
    frames.forEach((f, i) => new Uint8Array(pictures, i * frameBytes, frameBytes).set(f));
    const sentBuffer = new SharedArrayBuffer(8 * (opts.maxFrames ?? 100_000));
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { pictures, frameBytes, count: frames.length, fps, sentBuffer } });
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('message', (m: { port: number }) => resolve(m.port));
      worker.once('error', reject);
    });
    return new RawCaptureFeed(worker, port, width, height, fps, new Float64Array(sentBuffer));
  }

  private constructor(
    private readonly worker: Worker,
    readonly port: number,
    readonly width: number,
    readonly height: number,
    readonly fps: number,
    private readonly sent: Float64Array,
  ) {}

  /** The live input for the server. */
  get url(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  /** ffmpeg input options that describe the raw stream. */
  get inputOptions(): string[] {
    return ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-video_size', `${this.width}x${this.height}`, '-framerate', String(this.fps)];
  }

  /** When frame `index` (counted from the first frame written) left the feed, or undefined. */
  sentMs(index: number): number | undefined {
    const t = index >= 0 && index < this.sent.length ? this.sent[index]! : 0;
    return t > 0 ? t : undefined;
  }

  async destroy(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage('stop');
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }
}
