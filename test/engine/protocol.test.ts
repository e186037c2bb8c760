import { describe, expect, it } from 'vitest';
import { countsToMask, encodeMask } from '../../engine/src/mask/rle.js';
import {
  BinaryFrameError,
  FRAME_HEADER_BYTES,
  MAX_TEXT_MESSAGE_BYTES,
  decodeLiveFrame,
  decodeLivePicture,
  encodeLivePicture,
  PICTURE_HEADER_BYTES,
  decodeMaskFrame,
  encodeLiveFrame,
  encodeMaskFrame,
  parseClientMessage,
  binaryKind,
  createWallClock,
} from '../../engine/src/protocol.js';

describe('protocol: client message validation', () => {
  it('accepts every verb in its documented shape and fills defaults', () => {
    const ok = [
      { v: 1, seq: 1, type: 'startSession', clip: 'generated/ultrasound-1' },
      { v: 1, seq: 2, type: 'startSession', live: true },
      { v: 1, seq: 3, type: 'addPoints', sessionId: 's', frame: 0, objectId: 1, points: [{ x: 1, y: 2 }] },
      { v: 1, seq: 4, type: 'addBox', sessionId: 's', frame: 3, objectId: 2, box: [1, 2, 3, 4] },
      { v: 1, seq: 5, type: 'addMask', sessionId: 's', frame: 0, objectId: 1, rle: { size: [2, 2], counts: [1, 2, 1] } },
      { v: 1, seq: 6, type: 'propagate', sessionId: 's' },
      { v: 1, seq: 7, type: 'cancelPropagate', sessionId: 's' },
      { v: 1, seq: 8, type: 'removeObject', sessionId: 's', objectId: 1 },
      { v: 1, seq: 9, type: 'closeSession', sessionId: 's' },
    ];
    for (const m of ok) {
      const r = parseClientMessage(JSON.stringify(m));
      expect(r.ok, JSON.stringify(m)).toBe(true);
    }
    const p = parseClientMessage(JSON.stringify(ok[2]));
    expect(p.ok && p.msg.type === 'addPoints' && p.msg.points[0]!.label).toBe(1);
    const g = parseClientMessage(JSON.stringify(ok[5]));
    expect(g.ok && g.msg.type === 'propagate' && g.msg.direction).toBe('forward');
  });

  it('gives coded errors with the seq when it can be read', () => {
    const bad = (text: string) => {
      const r = parseClientMessage(text);
      if (r.ok) throw new Error(`accepted ${text}`);
      return r.error;
    };
    expect(bad('{not json').code).toBe('E_PROTOCOL_JSON');
    expect(bad('{not json').seq).toBeNull();
    expect(bad(JSON.stringify({ v: 2, seq: 4, type: 'ping' }))).toMatchObject({ code: 'E_PROTOCOL_VERSION', seq: 4 });
    expect(bad(JSON.stringify({ v: 1, seq: 5, type: 'nope' }))).toMatchObject({ code: 'E_PROTOCOL_INVALID', seq: 5 });
    expect(bad(JSON.stringify({ v: 1, seq: 6, type: 'addPoints', sessionId: 's', frame: 'zero', objectId: 1, points: [{ x: 1, y: 1 }] }))).toMatchObject({
      code: 'E_PROTOCOL_INVALID',
      seq: 6,
    });
    expect(bad(JSON.stringify({ v: 1, seq: 7, type: 'addPoints', sessionId: 's', frame: 0, objectId: 1, points: [{ x: 1, y: 1, label: 5 }] })).code).toBe('E_PROTOCOL_INVALID');
    expect(bad(JSON.stringify({ v: 1, seq: 8, type: 'startSession', clip: 'a', live: true })).code).toBe('E_PROTOCOL_INVALID');
    expect(bad(JSON.stringify({ v: 1, seq: -1, type: 'ping' })).seq).toBeNull();
    expect(bad('[]').code).toBe('E_PROTOCOL_INVALID');
    expect(bad('null').code).toBe('E_PROTOCOL_INVALID');
    expect(bad('x'.repeat(MAX_TEXT_MESSAGE_BYTES + 1)).code).toBe('E_MESSAGE_TOO_LARGE');
  });

  it('addSupport: a source session, optional source ids, a target id and 1..16 frames', () => {
    const parse = (m: Record<string, unknown>) => parseClientMessage(JSON.stringify({ v: 1, seq: 3, type: 'addSupport', sessionId: 's', ...m }));
    const full = parse({ fromSession: 'a', objectIds: [1, 2], targetObjectId: 5, frames: 16 });
    expect(full.ok && full.msg).toMatchObject({ type: 'addSupport', fromSession: 'a', objectIds: [1, 2], targetObjectId: 5, frames: 16 });
    const min = parse({ fromSession: 'a' });
    expect(min.ok && min.msg.type === 'addSupport' && [min.msg.objectIds, min.msg.targetObjectId, min.msg.frames]).toEqual([undefined, undefined, undefined]);
    for (const m of [
      {},
      { fromSession: '' },
      { fromSession: 'a', frames: 0 },
      { fromSession: 'a', frames: 17 },
      { fromSession: 'a', frames: 1.5 },
      { fromSession: 'a', objectIds: [] },
      { fromSession: 'a', objectIds: Array(65).fill(1) },
      { fromSession: 'a', objectIds: [-1] },
      { fromSession: 'a', targetObjectId: 'x' },
      { fromSession: 7 },
    ]) {
      const r = parse(m);
      expect(r.ok, JSON.stringify(m)).toBe(false);
      expect(!r.ok && r.error).toMatchObject({ code: 'E_PROTOCOL_INVALID', seq: 3 });
    }
  });
});

describe('protocol: binary frames', () => {
  it('round-trips a mask message, counts equal to COCO RLE of the mask', () => {
    const w = 37;
    const h = 23;
    const mask = new Uint8Array(w * h);
    for (let y = 3; y < 17; y++) for (let x = 5; x < 30; x++) if ((x * 7 + y * 3) % 11 !== 0) mask[y * w + x] = 1;
    const rle = encodeMask(mask, h, w);
    const bytes = encodeMaskFrame({ handle: 7, frame: 41, objectId: 3, ptsUs: 1_366_666.5, width: w, height: h, score: 2.5, counts: rle.counts });
    expect(binaryKind(bytes)).toBe('mask');
    // Decoding works on a view at an odd offset too (as a Node Buffer from a socket can be).
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const m = decodeMaskFrame(shifted.subarray(1));
    expect(m).toMatchObject({ handle: 7, frame: 41, objectId: 3, ptsUs: 1_366_666.5, width: w, height: h, score: 2.5 });
    expect([...m.counts]).toEqual(rle.counts);
    expect(countsToMask(m.counts, w, h)).toEqual(mask);
  });

  it('rejects truncated or inconsistent mask messages', () => {
    const bytes = encodeMaskFrame({ handle: 1, frame: 0, objectId: 1, ptsUs: 0, width: 4, height: 4, score: 0, counts: [3, 10, 3] });
    expect(() => decodeMaskFrame(bytes.subarray(0, bytes.length - 4))).toThrow(/bytes/);
    const wrong = encodeMaskFrame({ handle: 1, frame: 0, objectId: 1, ptsUs: 0, width: 4, height: 4, score: 0, counts: [3, 10, 2] });
    expect(() => decodeMaskFrame(wrong)).toThrow(/cover 15 pixels/);
    expect(() => decodeMaskFrame(new Uint8Array([2, 1]))).toThrow(/not a mask/);
  });

  it('round-trips a live frame message', () => {
    const jpeg = new Uint8Array([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]);
    const bytes = encodeLiveFrame({ handle: 9, frame: 1234, drops: 17, ptsUs: 41_133_333, sourceMs: 1_790_000_000_123.25, width: 480, height: 360, objects: 2, serverUs: 41_250, jpeg });
    expect(binaryKind(bytes)).toBe('frame');
    const f = decodeLiveFrame(bytes);
    expect(f).toMatchObject({ handle: 9, frame: 1234, drops: 17, ptsUs: 41_133_333, sourceMs: 1_790_000_000_123.25, width: 480, height: 360, objects: 2, serverUs: 41_250 });
    expect([...f.jpeg]).toEqual([...jpeg]);
  });

  it('refuses a live frame of another protocol version with E_PROTOCOL_VERSION, not garbage', () => {
    const bytes = encodeLiveFrame({ handle: 9, frame: 12, drops: 0, ptsUs: 400_000, sourceMs: 1, width: 64, height: 48, objects: 1, serverUs: 10, jpeg: new Uint8Array([0xff, 0xd8]) });
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(BinaryFrameError);
        return `${(e as BinaryFrameError).code}: ${(e as Error).message}`;
      }
      return 'accepted';
    };
    const v2 = bytes.slice();
    v2[1] = 2;
    expect(code(() => decodeLiveFrame(v2))).toBe('E_PROTOCOL_VERSION: frame message version 2; this side speaks protocol version 1');
    // Another version's header may be shorter: the version is still what is reported.
    expect(code(() => decodeLiveFrame(v2.slice(0, 20)))).toMatch(/^E_PROTOCOL_VERSION: frame message version 2/);
    expect(code(() => decodeLiveFrame(bytes.slice(0, FRAME_HEADER_BYTES - 1)))).toMatch(/^E_PROTOCOL_BINARY: not a frame message: 47 bytes/);
    expect(code(() => decodeLiveFrame(encodeLivePicture({ handle: 1, frame: 1, jpeg: new Uint8Array(40) })))).toBe('E_PROTOCOL_BINARY: not a frame message');
    // The mask decoder reports a foreign version the same way.
    const mask = encodeMaskFrame({ handle: 1, frame: 0, objectId: 1, ptsUs: 0, width: 2, height: 2, score: 0, counts: [1, 2, 1] });
    mask[1] = 0;
    expect(code(() => decodeMaskFrame(mask))).toMatch(/^E_PROTOCOL_VERSION: mask message version 0/);
  });

  it('round-trips a live picture message and refuses a foreign version', () => {
    const jpeg = new Uint8Array([0xff, 0xd8, 9, 8, 7, 0xff, 0xd9]);
    const bytes = encodeLivePicture({ handle: 5, frame: 4321, jpeg });
    expect(binaryKind(bytes)).toBe('picture');
    expect(bytes.byteLength).toBe(PICTURE_HEADER_BYTES + jpeg.length);
    const p = decodeLivePicture(bytes);
    expect(p).toMatchObject({ handle: 5, frame: 4321 });
    expect([...p.jpeg]).toEqual([...jpeg]);
    const other = bytes.slice();
    other[1] = 99;
    expect(() => decodeLivePicture(other)).toThrow(/version 99/);
    expect(() => decodeLivePicture(bytes.slice(0, 5))).toThrow(/not a picture/);
  });
});

describe('createWallClock', () => {
  it('follows the system clock with sub-ms steps, across its once-a-second re-reading', async () => {
    const clock = createWallClock();
    const t0 = Date.now();
    let fractional = false;
    while (Date.now() - t0 < 1300) {
      const c = clock();
      const d = Date.now();
      // Date.now() is whole ms and read a moment later; between its once-a-second re-readings the
      // clock runs on the monotonic timer, so while the system clock is slewed or stepped (NTP)
      // it may lead by a fraction of a ms (CI saw +0.0095): the clock is within [d - 2, d + 2].
      expect(c).toBeGreaterThan(d - 2);
      expect(c).toBeLessThan(d + 2);
      if (c % 1 !== 0) fractional = true;
      await new Promise((r) => setTimeout(r, 7));
    }
    expect(fractional).toBe(true);
  });
});
