/**
 * The wire of the prompt history (issue 16): removePrompt / clearFrame / undo / redo validate as
 * documented, and the mask header's stability field (bytes 2..3) round-trips, 0 reading as unknown.
 */
import { describe, expect, it } from 'vitest';
import { decodeMaskFrame, encodeMaskFrame, parseClientMessage, type MaskFrame } from '../../../engine/src/protocol.js';

const mask = (stability?: number): MaskFrame => ({
  handle: 3,
  frame: 7,
  objectId: 2,
  ptsUs: 1234.5,
  width: 4,
  height: 3,
  score: 1.5,
  counts: [5, 4, 3],
  ...(stability === undefined ? {} : { stability }),
});

describe('prompt history messages', () => {
  it('accepts the four verbs and refuses bad ids', () => {
    for (const m of [
      { type: 'removePrompt', sessionId: 's', promptId: 4 },
      { type: 'clearFrame', sessionId: 's', frame: 3 },
      { type: 'clearFrame', sessionId: 's', frame: 3, objectId: 1 },
      { type: 'undo', sessionId: 's' },
      { type: 'redo', sessionId: 's' },
    ]) {
      const r = parseClientMessage(JSON.stringify({ v: 1, seq: 9, ...m }));
      expect(r.ok, JSON.stringify(m)).toBe(true);
      if (r.ok) expect(r.msg).toEqual({ v: 1, seq: 9, ...m });
    }
    for (const m of [
      { type: 'removePrompt', sessionId: 's' },
      { type: 'removePrompt', sessionId: 's', promptId: -1 },
      { type: 'clearFrame', sessionId: 's' },
      { type: 'clearFrame', sessionId: 's', frame: 1.5 },
      { type: 'undo' },
    ]) {
      const r = parseClientMessage(JSON.stringify({ v: 1, seq: 9, ...m }));
      expect(r.ok ? 'ok' : r.error.code, JSON.stringify(m)).toBe('E_PROTOCOL_INVALID');
    }
  });
});

describe('mask header stability', () => {
  it('round-trips to within 1/65534, ends included', () => {
    for (const s of [0, 1e-6, 0.25, 0.5, 0.987654, 1]) {
      const d = decodeMaskFrame(encodeMaskFrame(mask(s)));
      expect(d.stability).toBeDefined();
      expect(Math.abs(d.stability! - s)).toBeLessThanOrEqual(0.5 / 65534 + 1e-12);
      expect(d).toMatchObject({ handle: 3, frame: 7, objectId: 2, ptsUs: 1234.5, width: 4, height: 3, score: 1.5 });
      expect(Array.from(d.counts)).toEqual([5, 4, 3]);
    }
    // The raw field: round(s * 65534) + 1.
    const raw = (s: number) => new DataView(encodeMaskFrame(mask(s)).buffer).getUint16(2, true);
    expect([raw(0), raw(0.5), raw(1)]).toEqual([1, 32768, 65535]);
  });

  it('unknown is 0 on the wire and undefined decoded (what older senders wrote)', () => {
    const enc = encodeMaskFrame(mask());
    expect(new DataView(enc.buffer).getUint16(2, true)).toBe(0);
    const d = decodeMaskFrame(enc);
    expect(d.stability).toBeUndefined();
    expect('stability' in d).toBe(false);
  });
});
