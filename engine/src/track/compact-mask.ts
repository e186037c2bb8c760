/**
 * Binary masks as run lengths in LEB128 varints: what a bounded tracker keeps of a frame it has
 * finished with, instead of its float logits. A 256 x 256 low-res mask is 256 KB of float32
 * logits and typically 100–600 bytes here, so an hour of frames per object fits in megabytes.
 * Runs are row-major and alternate, starting with a run of zeros (which may be empty).
 */

/** Packs `n` pixels for which `on(i)` says whether pixel i is set. */
export function packMask(n: number, on: (i: number) => boolean): Uint8Array {
  const out: number[] = [];
  let cur = false;
  let run = 0;
  for (let i = 0; i < n; i++) {
    const v = on(i);
    if (v === cur) {
      run++;
      continue;
    }
    pushVarint(out, run);
    cur = v;
    run = 1;
  }
  pushVarint(out, run);
  return Uint8Array.from(out);
}

/** Packs a 0/1 (or 0/nonzero) byte mask. */
export function packBytes(mask: Uint8Array): Uint8Array {
  return packMask(mask.length, (i) => mask[i] !== 0);
}

/** Packs logits: pixel i is set when `logits[i] > 0`. */
export function packLogits(logits: Float32Array): Uint8Array {
  return packMask(logits.length, (i) => logits[i]! > 0);
}

/** Unpacks into `n` bytes (1 = set). @throws Error when the runs do not cover exactly n pixels */
export function unpackMask(packed: Uint8Array, n: number, out: Uint8Array = new Uint8Array(n)): Uint8Array {
  let pos = 0;
  let cur = 0;
  let i = 0;
  while (i < packed.length) {
    let run = 0;
    let shift = 0;
    for (;;) {
      const b = packed[i++]!;
      run += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
    }
    if (pos + run > n) throw new Error(`packed mask covers more than ${n} pixels`);
    out.fill(cur, pos, pos + run);
    pos += run;
    cur ^= 1;
  }
  if (pos !== n) throw new Error(`packed mask covers ${pos} pixels, expected ${n}`);
  return out;
}

function pushVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}
