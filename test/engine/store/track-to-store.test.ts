/**
 * trackSessionToStore over the async store (store/track-to-store.ts with mask-writer.ts): a real
 * model on a real clip, every frame's masks committed before onCommit sees them (read back through
 * a second connection at that moment), and a run stopped half-way resumes after its last complete
 * frame without rewriting the frames before it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { registerClipFile } from '../../../engine/src/store/register-clip.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { SqliteStore } from '../../../engine/src/store/sqlite-store.js';
import { trackSessionToStore } from '../../../engine/src/store/track-to-store.js';
import { testBundleDir } from '../model/test-bundle.js';
import { writeTinyClip } from '../server/tiny-clip.js';

const N = 10;
let tmp: string;
let clip: string;
let sessions: ModelSessions;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-track-store-'));
  clip = join(tmp, 'tiny.mp4');
  await writeTinyClip(clip, { frames: N });
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
});
afterAll(async () => {
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

describe('trackSessionToStore on the async store', () => {
  it('commits before it reports, and resumes after the last complete frame', async () => {
    const path = join(tmp, 't.db');
    const store = await SqliteStore.open(path);
    const ro = SessionStore.open(path, { readonly: true });
    try {
      const c = await registerClipFile(store, clip);
      const s = await store.createSession(c.id, { id: 'track' });
      await store.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'points', points: [{ x: 18, y: 20, label: 1 }] });
      let stopAfter = 5;
      let seenFrames = 0;
      const visibleAtCommit: boolean[] = [];
      const first = await trackSessionToStore({
        store,
        sessionId: s.id,
        sessions,
        maxBatch: 2,
        onCommit: (recs) => {
          seenFrames += recs.length;
          visibleAtCommit.push(...recs.map((r) => ro.getMask(s.id, r.objectId, r.frame)?.id === r.id));
        },
        cancelled: () => seenFrames >= stopAfter,
      });
      expect(first.complete).toBe(false);
      expect(visibleAtCommit.length).toBeGreaterThan(0);
      expect(visibleAtCommit.every(Boolean)).toBe(true);
      const done = await store.completeFrames(s.id);
      expect(done[0]).toBe(0);
      const before = new Map((await store.currentMasks(s.id)).map((m) => [m.frame, m.id]));

      stopAfter = Infinity;
      const second = await trackSessionToStore({ store, sessionId: s.id, sessions, maxBatch: 3 });
      expect(second.complete).toBe(true);
      expect(second.resumedAfter).toBe(done.at(-1));
      expect(await store.completeFrames(s.id)).toEqual([...Array(N).keys()]);
      // Frames committed before the stop were not written again.
      for (const [frame, id] of before) expect((await store.getMask(s.id, 1, frame))!.id).toBe(id);
      expect((await store.maskHistory(s.id, 1, done.at(-1)!)).length).toBe(1);
    } finally {
      ro.destroy();
      await store.destroy();
    }
  });
});
