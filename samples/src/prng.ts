/**
 * Seeded randomness for the generator. Nothing here touches Math.random: every clip is a pure
 * function of (kind, seed, options), so the same seed gives byte-identical frames on any machine
 * (only integer ops and IEEE double arithmetic, no platform-dependent functions in hot paths).
 */

/** 32-bit string hash (FNV-1a followed by an avalanche mix), used to derive per-purpose seeds. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** Avalanche mix of a 32-bit integer (murmur3 finaliser). */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Hash of two lattice coordinates and a seed to [0, 1); the basis of the value noise. */
export function hash2(ix: number, iy: number, seed: number): number {
  let h = Math.imul(ix | 0, 0x27d4eb2d) ^ Math.imul(iy | 0, 0x165667b1) ^ seed;
  h = mix32(h);
  return h / 4294967296;
}

/** Small fast PRNG (mulberry32 construction): a 32-bit state advanced by a Weyl step and mixed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A child generator for one purpose, so adding draws elsewhere does not shift this stream. */
  fork(label: string): Rng {
    return new Rng(mix32(this.state ^ hashString(label)));
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** Uniform integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** +1 or -1. */
  sign(): number {
    return this.float() < 0.5 ? -1 : 1;
  }

  /** Standard normal (Box-Muller; the second value is dropped to keep the stream simple). */
  gauss(): number {
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
