/**
 * Two servers on one store (two StoreSinks, each with its own connection to one SQLite file, as
 * two `cineseg serve` on one PostgreSQL would be): an edit of an object the other changed since
 * this one last read it is E_EDIT_CONFLICT with nothing of it stored, the first editor's data stays,
 * and the next edit after the error goes through (the sink re-read the versions).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMask } from '../../../engine/src/mask/rle.js';
import type { SinkMask } from '../../../engine/src/server/annotation-sink.js';
import { StoreSink } from '../../../engine/src/server/store-sink.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { SqliteStore } from '../../../engine/src/store/sqlite-store.js';
import { writeTinyClip } from './tiny-clip.js';

const W = 64;
const H = 48;
let tmp: string;
let clip: string;
let dbPath: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-conflict-'));
  clip = join(tmp, 'tiny.mp4');
  dbPath = join(tmp, 'shared.db');
  await writeTinyClip(clip, { width: W, height: H, frames: 6 });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function mask(objectId: number, frame: number, x0: number): SinkMask {
  const m = new Uint8Array(W * H);
  for (let y = 5; y < 20; y++) for (let x = x0; x < x0 + 10; x++) m[y * W + x] = 1;
  // Column-major COCO counts, as the tracker hands them to a sink.
  const counts = encodeMask(m, H, W).counts as number[];
  return { objectId, frame, ptsUs: 0, score: 2, counts, origin: 'propagate' };
}

describe('two StoreSinks on one store', () => {
  it('the later edit of an object changed meanwhile is E_EDIT_CONFLICT, stores nothing, and the next one goes through', async () => {
    const a = new StoreSink(await SqliteStore.open(dbPath), true);
    const b = new StoreSink(await SqliteStore.open(dbPath), true);
    try {
      const sid = 'shared-session';
      await a.startSession({ sessionId: sid, kind: 'recorded', source: clip, width: W, height: H, fps: 12, numFrames: 6 });
      await a.recordReady(sid);
      await a.putPrompt(sid, { kind: 'points', objectId: 1, frame: 0, points: [{ x: 12, y: 12, label: 1 }], clearOld: true });
      await a.putMasks(sid, [mask(1, 0, 10), mask(1, 1, 11)]);
      expect(a.knownVersions(sid)).toEqual({ 1: 2 });

      // Server B takes the session up (as after A's client left) and corrects object 1 on frame 1.
      await b.resumeSession(sid);
      expect(b.knownVersions(sid)).toEqual({ 1: 2 });
      await b.putMasks(sid, [mask(1, 1, 30)]);
      await b.putPrompt(sid, { kind: 'points', objectId: 2, frame: 2, points: [{ x: 40, y: 12, label: 1 }], clearOld: true });

      const ro = SessionStore.open(dbPath, { readonly: true });
      const snapshot = () => ({
        masks: ro.currentMasks(sid).map((m) => [m.objectId, m.frame, m.rle.counts]),
        history: ro.maskHistory(sid, 1, 1).length,
        prompts: ro.listPrompts(sid).length,
        versions: ro.objectVersions(sid),
        objects: ro.listObjects(sid, { includeRemoved: true }).map((o) => [o.objectId, o.label, o.removed]),
      });
      try {
        const before = snapshot();
        expect(before.versions).toEqual({ 1: 3, 2: 1 });
        // A still believes object 1 is at version 2: each of its edits of object 1 is refused whole.
        const conflict = { code: 'E_EDIT_CONFLICT', message: expect.stringMatching(/session "shared-session" object 1 .*stored version 3, this edit expected 2/) };
        await expect(a.putMasks(sid, [mask(1, 1, 12), mask(1, 2, 12)])).rejects.toMatchObject(conflict);
        expect(snapshot()).toEqual(before);
        // The error was E_EDIT_CONFLICT (not E_STORE_WRITE), and the sink now knows what is stored.
        expect(a.knownVersions(sid)).toEqual({ 1: 3, 2: 1 });

        // B's correction is intact: frame 1 of object 1 is B's mask.
        const f1 = ro.getMask(sid, 1, 1)!;
        expect(f1.rle.counts).toBe(ro.maskHistory(sid, 1, 1).at(-1)!.rle.counts);
        expect(ro.maskHistory(sid, 1, 1)).toHaveLength(2);

        // The user saw the error and edits again: it goes through, and the versions follow.
        await a.putMasks(sid, [mask(1, 2, 12)]);
        expect(ro.getMask(sid, 1, 2)).toBeDefined();
        expect(a.knownVersions(sid)).toEqual({ 1: 4, 2: 1 });
        // Now B is behind: its removal of object 1 is refused in turn, and object 1 stays.
        await expect(b.removeObject(sid, 1)).rejects.toMatchObject({ code: 'E_EDIT_CONFLICT' });
        expect(ro.listObjects(sid).map((o) => o.objectId)).toEqual([1, 2]);
        // A name and a removal through A (which is current) go through.
        await a.labelObject(sid, 2, 'tool');
        await a.removeObject(sid, 2);
        expect(snapshot().objects).toEqual([
          [1, 'object', false],
          [2, 'tool', true],
        ]);
      } finally {
        ro.destroy();
      }
    } finally {
      await a.destroy();
      await b.destroy();
    }
  });

  it("a sink's own concurrent writes of one session never conflict with each other", async () => {
    const path = join(tmp, 'own.db');
    const a = new StoreSink(await SqliteStore.open(path), true);
    try {
      const sid = 'own';
      await a.startSession({ sessionId: sid, kind: 'recorded', source: clip, width: W, height: H, fps: 12, numFrames: 6 });
      await a.putPrompt(sid, { kind: 'points', objectId: 1, frame: 0, points: [{ x: 12, y: 12, label: 1 }], clearOld: true });
      // Not awaited one by one: all in flight at once, as a propagation's frames and a click can be.
      await Promise.all([
        a.putMasks(sid, [mask(1, 0, 10)]),
        a.putMasks(sid, [mask(1, 1, 11)]),
        a.labelObject(sid, 1, 'polyp'),
        a.putPrompt(sid, { kind: 'points', objectId: 1, frame: 2, points: [{ x: 12, y: 12, label: 1 }], clearOld: true }),
        a.putMasks(sid, [mask(1, 2, 12), mask(1, 3, 13)]),
      ]);
      const ro = SessionStore.open(path, { readonly: true });
      try {
        expect(ro.currentMasks(sid).map((m) => m.frame)).toEqual([0, 1, 2, 3]);
        expect(ro.objectVersions(sid)).toEqual({ 1: 6 });
        expect(a.knownVersions(sid)).toEqual({ 1: 6 });
      } finally {
        ro.destroy();
      }
    } finally {
      await a.destroy();
    }
  });
});
