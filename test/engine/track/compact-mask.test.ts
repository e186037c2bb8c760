/** Packed masks (compact-mask.ts): exact round trips, and far smaller than the logits they replace. */
import { describe, expect, it } from 'vitest';
import { packBytes, packLogits, unpackMask } from '../../../engine/src/track/compact-mask.js';
import { CompactStore } from '../../../engine/src/track/compact-store.js';
import { prng } from '../../fixtures/prng.mjs';

describe('compact masks', () => {
  it('round-trips random, empty, full and blob masks exactly', () => {
    const rand = prng(7);
    const cases: Uint8Array[] = [new Uint8Array(0), new Uint8Array(100), new Uint8Array(100).fill(1)];
    for (let k = 0; k < 20; k++) cases.push(Uint8Array.from({ length: 1 + Math.floor(rand() * 5000) }, () => (rand() < 0.3 ? 1 : 0)));
    // Runs longer than 127 and 16383 need two and three varint bytes.
    const long = new Uint8Array(70_000);
    long.fill(1, 200, 20_000);
    cases.push(long);
    for (const m of cases) expect(unpackMask(packBytes(m), m.length)).toEqual(m);
  });

  it('packs logits by sign, a 256x256 blob in a few hundred bytes', () => {
    const L = 256;
    const logits = new Float32Array(L * L).fill(-5);
    for (let y = 60; y < 140; y++) for (let x = 90; x < 170; x++) logits[y * L + x] = 3;
    logits[0] = 0; // 0 is not > 0: outside
    const packed = packLogits(logits);
    expect(packed.length).toBeLessThan(400);
    const bits = unpackMask(packed, L * L);
    for (let i = 0; i < bits.length; i++) if (bits[i] !== (logits[i]! > 0 ? 1 : 0)) throw new Error(`pixel ${i}`);
  });

  it('refuses runs that do not cover the mask', () => {
    expect(() => unpackMask(packBytes(new Uint8Array(10)), 11)).toThrow(/covers 10/);
    expect(() => unpackMask(packBytes(new Uint8Array(10)), 9)).toThrow(/more than 9/);
  });
});

describe('CompactStore', () => {
  it('behaves like a Map of packed outputs through growth, replacement and pool compaction', () => {
    const rand = prng(11);
    const store = new CompactStore();
    const ref = new Map<number, { bytes: number[]; score: number }>();
    for (let k = 0; k < 20_000; k++) {
      const f = Math.floor(rand() * 5000);
      if (rand() < 0.2) {
        expect(store.delete(f)).toBe(ref.delete(f));
        continue;
      }
      const bytes = Array.from({ length: 1 + Math.floor(rand() * 300) }, () => Math.floor(rand() * 256));
      const score = Math.round(rand() * 100) / 4;
      store.set(f, { lowRes: Uint8Array.from(bytes), objectScore: score });
      ref.set(f, { bytes, score });
    }
    expect(store.size).toBe(ref.size);
    for (let f = 0; f < 5000; f++) {
      const want = ref.get(f);
      expect(store.has(f)).toBe(want !== undefined);
      const got = store.get(f);
      if (!want) expect(got).toBeUndefined();
      else expect([...got!.lowRes!, got!.objectScore]).toEqual([...want.bytes, want.score]);
    }
    // Replacements were reclaimed: the pool holds about the live bytes, not all ever written.
    const live = [...ref.values()].reduce((a, v) => a + v.bytes.length, 0);
    expect(store.bytes).toBeLessThan(live * 4 + 5000 * 12 * 4);
    // Restored entries (no bytes, a loader) sit beside them.
    const mask = () => new Uint8Array(4);
    store.set(7, { lowRes: null, objectScore: 1, videoMask: mask });
    expect(store.get(7)!.videoMask).toBe(mask);
    expect(store.size).toBe(ref.size + (ref.has(7) ? 0 : 1));
  });
});
