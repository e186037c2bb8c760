/**
 * A volume plane opened as a recorded session (what the player's startSession does with a
 * `#axial` clip id): a click on the lesion's middle slice, propagated both ways, stores masks on
 * the lesion slices above and below it.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import type { AddPoints, Propagate } from '../../../engine/src/protocol.js';
import { MemorySink } from '../../../engine/src/server/annotation-sink.js';
import { ClipCatalog } from '../../../engine/src/server/clip-catalog.js';
import { startServer } from '../../../engine/src/server/http-server.js';
import { RecordedSession } from '../../../engine/src/server/recorded-session.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { TestClient } from '../server/ws-client.js';
import { testBundleDir } from '../model/test-bundle.js';
import { ctFixture, type CtFixture } from './volume-fixture.js';

let sessions: ModelSessions;
let root: string;
let ct: CtFixture;
beforeAll(async () => {
  ct = ctFixture();
  root = mkdtempSync(join(tmpdir(), 'cineseg-volsess-'));
  cpSync(ct.dir, join(root, 'media', 'ct-1'), { recursive: true });
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
});
afterAll(async () => {
  await sessions?.destroy();
  rmSync(root, { recursive: true, force: true });
});

describe('a volume as a recorded session', () => {
  it('click on the middle slice, propagate both ways: masks on lesion slices on both sides', async () => {
    const clip = await new ClipCatalog([join(root, 'media')]).get('media/ct-1/ct#axial:liver');
    const sink = new MemorySink();
    const s = await RecordedSession.open('v1', 1, clip, sessions, sink);
    try {
      const m = ct.facts.middleSlice;
      await s.prompt({ v: 1, type: 'addPoints', seq: 1, sessionId: 'v1', objectId: 1, frame: m, points: [{ x: 80, y: 58, label: 1 }], clearOld: true } as AddPoints);
      await s.propagate({ v: 1, type: 'propagate', seq: 2, sessionId: 'v1', direction: 'both', startFrame: m } as Propagate);
      await s.settle();
      const masks = sink.sessions.get('v1')!.masks;
      const withPixels = [...masks.entries()].filter(([, r]) => r.counts.length > 1).map(([k]) => Number(k.split(':')[1]));
      const [k0, k1] = ct.facts.lesionSlices;
      expect(withPixels.filter((t) => t >= k0 && t < m).length).toBeGreaterThan(3);
      expect(withPixels.filter((t) => t > m && t <= k1).length).toBeGreaterThan(3);
    } finally {
      await s.destroy();
    }
  });

  it('over the wire with a store: startSession picks the plane and window; the view is stored as its own clip and reopens', async () => {
    const store = join(root, 'volumes.db');
    const server = await startServer({ port: 0, sessions, store, media: [join(root, 'media')], cacheDir: join(root, 'hls'), playerDir: join(root, 'no-player') });
    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    let sid = '';
    try {
      const st = await c.request({ type: 'startSession', clip: 'media/ct-1/ct#axial', plane: 'coronal', window: 'liver' });
      if (st.type !== 'sessionStarted') throw new Error(JSON.stringify(st));
      sid = st.sessionId;
      // Coronal slices: as many frames as the volume has rows (dims are i, j, k).
      expect(st.numFrames).toBe(ct.facts.dims[1]);
      expect(await c.request({ type: 'addPoints', sessionId: sid, frame: Math.floor(st.numFrames! / 2), objectId: 1, points: [{ x: 40, y: 20 }] })).toMatchObject({ type: 'ack' });
      expect(await c.request({ type: 'closeSession', sessionId: sid })).toMatchObject({ type: 'ack' });
      const r = await c.request({ type: 'openSession', sessionId: sid });
      if (r.type !== 'sessionStarted') throw new Error(JSON.stringify(r));
      expect(r.numFrames).toBe(ct.facts.dims[1]);
      expect(r.restored?.prompts).toHaveLength(1);
    } finally {
      await c.close();
      await server.destroy();
    }
    const ro = SessionStore.open(store, { readonly: true });
    try {
      const clip = ro.getClip(ro.requireSession(sid).clipId)!;
      expect(clip.path).toMatch(/ct\.nii\.gz#coronal:liver$/);
      expect(clip.numFrames).toBe(ct.facts.dims[1]);
    } finally {
      ro.destroy();
    }
  }, 120_000);
});
