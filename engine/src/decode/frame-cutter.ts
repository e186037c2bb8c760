/**
 * Cuts ffmpeg's rawvideo pipe into whole frames of `frameBytes` each. Until the frame size is
 * known (source size, and stderr's first showinfo line behind stdout) the bytes are held as they
 * came. Frame buffers the consumer hands back are reused before new ones are allocated: a live
 * stream would otherwise allocate a frame's worth of memory 30 times a second, and the garbage
 * collections that buys land on frames' latency.
 */

/** Recycled frame buffers kept for reuse (a live consumer holds at most two or three at once). */
const MAX_SPARE_FRAMES = 4;

export class FrameCutter {
  /** Whole frames' pixels, oldest first, waiting for their timing. */
  readonly frames: Uint8Array[] = [];
  /** Bytes of the frame being filled. */
  fill = 0;
  /** Bytes held while the frame size is unknown. */
  heldBytes = 0;
  private held: Buffer[] = [];
  private cur: Uint8Array | null = null;
  private readonly spare: Uint8Array[] = [];

  /** @param frameBytes bytes per frame; 0 while unknown */
  constructor(public frameBytes: number) {}

  /** Takes pipe bytes: cut into frames, or held while the size is unknown. */
  push(chunk: Buffer): void {
    if (this.frameBytes === 0) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      return;
    }
    this.cut(chunk);
  }

  /** Sets the frame size once it is known and cuts what was held. */
  setFrameBytes(frameBytes: number): void {
    this.frameBytes = frameBytes;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const c of held) this.cut(c);
  }

  /** Keeps a frame buffer nobody references any more for the next frame (see FrameDecoder.recycle). */
  recycle(rgb: Uint8Array): void {
    if (rgb.length === this.frameBytes && this.spare.length < MAX_SPARE_FRAMES && !this.spare.includes(rgb)) this.spare.push(rgb);
  }

  /** Drops everything but the spare buffers and the frame size (a restarted run). */
  reset(): void {
    this.held = [];
    this.heldBytes = 0;
    this.cur = null;
    this.fill = 0;
    this.frames.length = 0;
  }

  private cut(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (!this.cur) {
        this.cur = this.spare.pop() ?? new Uint8Array(this.frameBytes);
        this.fill = 0;
      }
      const n = Math.min(this.frameBytes - this.fill, chunk.length - off);
      this.cur.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.frameBytes) {
        this.frames.push(this.cur);
        this.cur = null;
        this.fill = 0;
      }
    }
  }
}
