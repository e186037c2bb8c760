/**
 * rgb24 frames → JPEG bytes through one long-lived ffmpeg mjpeg child (spawned by decode/ffmpeg.ts).
 * Frames go in and JPEGs come out in order, so each `encode` is answered by the next complete
 * JPEG (SOI … EOI) on stdout; mjpeg output has no embedded thumbnails, and 0xFF bytes inside
 * entropy-coded data are stuffed, so the first EOI after an SOI ends the picture.
 *
 * A lone frame must not wait for the next one (a whole frame interval of latency, or a deadlock
 * for a caller that waits for the JPEG before sending more). The encoder runs slice threads only
 * (ffmpeg's frame threading holds each JPEG until the next frame arrives), which leaves ffmpeg's
 * start: while it probes its input it keeps the first frames back. So until the first JPEG is out,
 * a frame whose JPEG has not come after NUDGE_MS is written again; the copies' JPEGs are
 * discarded. After that ffmpeg holds nothing back, and copies only cost: with the model running
 * on the event loop a 0.5 MB frame reaches the pipe in 64 KiB steps between graph runs, so a JPEG
 * often took longer than NUDGE_MS, and a third of the live frames were encoded twice, on a
 * machine whose cores the model needs.
 */
import type { ChildProcess } from 'node:child_process';
import { killChild, spawnJpegEncoder } from '../decode/ffmpeg.js';
import { CinesegError, ErrorCode } from '../errors.js';

export class JpegEncoder {
  private readonly child: ChildProcess;
  private readonly waiting: { resolve: (b: Uint8Array) => void; reject: (e: unknown) => void }[] = [];
  private readonly ignore = { resolve: () => undefined, reject: () => undefined };
  private lastReal: unknown = null;
  private buf: Buffer = Buffer.alloc(0);
  private failed: CinesegError | null = null;
  /** JPEGs that came out of ffmpeg (copies' included). */
  jpegsOut = 0;
  /** Extra copies of frames written to get ffmpeg's first pictures out. */
  copiesWritten = 0;

  constructor(
    readonly width: number,
    readonly height: number,
    quality = 5,
  ) {
    this.child = spawnJpegEncoder(width, height, quality);
    let tail = '';
    this.child.stderr!.on('data', (b: Buffer) => {
      tail = (tail + b.toString('utf8')).slice(-2000);
    });
    this.child.stdout!.on('data', (b: Buffer) => this.onData(b));
    this.child.stdin!.on('error', () => undefined);
    const fail = (why: string) => {
      this.failed ??= new CinesegError(ErrorCode.E_ENCODE_FAILED, `JPEG encoder stopped: ${why}`, { details: { stderr: tail } });
      for (const w of this.waiting.splice(0)) w.reject(this.failed);
    };
    this.child.once('error', (e) => fail(e.message));
    this.child.once('close', (code) => fail(`exit ${code}`));
  }

  /** Encodes one width x height rgb24 frame. */
  encode(rgb: Uint8Array): Promise<Uint8Array> {
    if (this.failed) return Promise.reject(this.failed);
    if (rgb.length !== this.width * this.height * 3)
      return Promise.reject(new CinesegError(ErrorCode.E_ENCODE_FAILED, `frame has ${rgb.length} bytes, encoder expects ${this.width}x${this.height} rgb24`));
    return new Promise((resolve, reject) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const real = {
        resolve: (b: Uint8Array) => {
          done = true;
          clearTimeout(timer);
          resolve(b);
        },
        reject: (e: unknown) => {
          done = true;
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiting.push(real);
      this.lastReal = real;
      this.child.stdin!.write(rgb);
      let pushes = 0;
      const nudge = () => {
        // Only while this frame is the newest request: a copy queued after a later frame's
        // request would take that frame's JPEG.
        if (done || this.failed || this.lastReal !== real || this.jpegsOut > 0) return;
        if (++pushes > MAX_NUDGES) return;
        this.waiting.push(this.ignore);
        this.copiesWritten++;
        this.child.stdin!.write(rgb);
        timer = setTimeout(nudge, NUDGE_MS);
      };
      timer = setTimeout(nudge, NUDGE_MS);
    });
  }

  private onData(b: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, b]) : b;
    for (;;) {
      const soi = this.buf.indexOf(SOI);
      if (soi < 0) return;
      const eoi = this.buf.indexOf(EOI, soi + 2);
      if (eoi < 0) return;
      const jpeg = new Uint8Array(this.buf.subarray(soi, eoi + 2));
      this.buf = this.buf.subarray(eoi + 2);
      this.jpegsOut++;
      this.waiting.shift()?.resolve(jpeg);
    }
  }

  async destroy(): Promise<void> {
    this.failed ??= new CinesegError(ErrorCode.E_CANCELLED, 'JPEG encoder destroyed');
    for (const w of this.waiting.splice(0)) w.reject(this.failed);
    this.child.stdin!.end();
    await killChild(this.child, 200);
  }
}

/** How long a frame's JPEG may take before another copy is pushed in, and how many copies at most. */
const NUDGE_MS = 15;
const MAX_NUDGES = 200;
const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);
