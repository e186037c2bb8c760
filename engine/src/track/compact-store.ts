/**
 * The packed outputs of one object (ObjectState.compact), by frame, with a Map's has/get/set/
 * delete/size. An hour at 30 fps is 108,000 entries per object: one Map entry, one object and
 * one ArrayBuffer each would cost more (≈ 250 bytes, much of it malloc'd outside the JS heap,
 * measured as RSS growing with the clip) than the packed mask itself (≈ 100 bytes). So the bytes
 * live in one append-only pool and the index in typed arrays by frame; `get` builds the
 * CompactOutput view when asked (rarely: a correction or a pass starting near a packed frame).
 * Restored frames (a closure over the store's counts, no bytes) sit in a side map.
 */

/**
 * What a bounded tracker keeps of a tracked frame once no propagation step can select it: the
 * mask (low-res, packed: compact-mask.ts) and the score, not the logits, pointer and memory.
 * It is enough to show the mask, to know the frame was tracked (a click there is a correction)
 * and to rebuild memory and pointer from the mask when a correction or a later pass needs them
 * (memory-rehydration.ts).
 */
export interface CompactOutput {
  /** predMasks > 0, lowRes x lowRes, packed; null for a restored frame (see videoMask). */
  lowRes: Uint8Array | null;
  objectScore: number;
  /**
   * A restored frame: its stored mask at video size, decoded on demand from what the caller
   * holds anyway (the store's counts), so restoring an hour of masks costs no decoding up front.
   */
  videoMask?: () => Uint8Array;
}

const NONE = -1;

export class CompactStore {
  private pool = new Uint8Array(64 * 1024);
  private used = 0;
  /** Bytes of deleted or replaced entries still in the pool (reclaimed when over half). */
  private garbage = 0;
  private offset = new Int32Array(1024).fill(NONE);
  private length = new Int32Array(1024);
  private score = new Float32Array(1024);
  private count = 0;
  private readonly restored = new Map<number, CompactOutput>();

  get size(): number {
    return this.count + this.restored.size;
  }

  has(frame: number): boolean {
    return this.restored.has(frame) || (frame >= 0 && frame < this.offset.length && this.offset[frame]! !== NONE);
  }

  get(frame: number): CompactOutput | undefined {
    const r = this.restored.get(frame);
    if (r) return r;
    if (frame < 0 || frame >= this.offset.length || this.offset[frame]! === NONE) return undefined;
    const o = this.offset[frame]!;
    return { lowRes: this.pool.subarray(o, o + this.length[frame]!), objectScore: this.score[frame]! };
  }

  set(frame: number, c: CompactOutput): this {
    this.delete(frame);
    if (!c.lowRes || frame < 0 || !Number.isInteger(frame)) {
      this.restored.set(frame, c);
      return this;
    }
    this.grow(frame + 1);
    const bytes = c.lowRes;
    if (this.used + bytes.length > this.pool.length) this.makeRoom(bytes.length);
    this.pool.set(bytes, this.used);
    this.offset[frame] = this.used;
    this.length[frame] = bytes.length;
    this.score[frame] = c.objectScore;
    this.used += bytes.length;
    this.count++;
    return this;
  }

  delete(frame: number): boolean {
    if (this.restored.delete(frame)) return true;
    if (frame < 0 || frame >= this.offset.length || this.offset[frame]! === NONE) return false;
    this.garbage += this.length[frame]!;
    this.offset[frame] = NONE;
    this.count--;
    return true;
  }

  clear(): void {
    this.offset.fill(NONE);
    this.used = 0;
    this.garbage = 0;
    this.count = 0;
    this.restored.clear();
  }

  /** Bytes held (pool and index), for tests and benches. */
  get bytes(): number {
    return this.pool.byteLength + this.offset.byteLength * 3;
  }

  private grow(n: number): void {
    if (n <= this.offset.length) return;
    let cap = this.offset.length;
    while (cap < n) cap *= 2;
    const off = new Int32Array(cap).fill(NONE);
    off.set(this.offset);
    const len = new Int32Array(cap);
    len.set(this.length);
    const sc = new Float32Array(cap);
    sc.set(this.score);
    this.offset = off;
    this.length = len;
    this.score = sc;
  }

  /** Drops garbage when it is over half the pool (re-propagation replaces entries), else doubles. */
  private makeRoom(extra: number): void {
    const live = this.used - this.garbage;
    const cap = Math.max(this.pool.length * (this.garbage * 2 > this.used ? 1 : 2), (live + extra) * 2);
    const next = new Uint8Array(cap);
    let pos = 0;
    for (let f = 0; f < this.offset.length; f++) {
      const o = this.offset[f]!;
      if (o === NONE) continue;
      const l = this.length[f]!;
      next.set(this.pool.subarray(o, o + l), pos);
      this.offset[f] = pos;
      pos += l;
    }
    this.pool = next;
    this.used = pos;
    this.garbage = 0;
  }
}
