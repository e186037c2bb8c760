/**
 * Fault: a client's connection drops mid-propagation (terminated, no close handshake, as when a
 * laptop lid shuts). The propagation it asked for runs to the end on the server and every mask
 * lands in the SQLite store: read back through a second, read-only connection to the file while
 * the server still runs, and again after the server has shut down. The RLE of the masks the client
 * saw before it dropped is the stored one. A new client meanwhile gets served.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringToCounts } from '../../../engine/src/mask/rle.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { REPO_ROOT, testBundleDir } from '../model/test-bundle.js';
import { TestClient } from './ws-client.js';

const CLIP = 'generated/ultrasound-1';
const prompts = JSON.parse(readFileSync(join(REPO_ROOT, 'samples/generated/ultrasound-1/prompts.json'), 'utf8')) as {
  objects: { object_id: number; frame: number; point: [number, number] }[];
};

let server: CinesegServer;
let sessions: ModelSessions;
let tmp: string;
let dbPath: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-drop-'));
  dbPath = join(tmp, 'cineseg.db');
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  // No resume grace: the dropped client's sessions are released at once (resume: connections.test.ts).
  server = await startServer({
    port: 0,
    sessions,
    store: dbPath,
    media: [join(REPO_ROOT, 'samples', 'generated')],
    cacheDir: join(tmp, 'hls'),
    playerDir: join(tmp, 'no-player'),
    limits: { resumeGraceMs: 0 },
  });
});

afterAll(async () => {
  await server?.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

describe('client drops mid-propagation', () => {
  it('the propagation finishes and every mask of both objects is in the store', async () => {
    const wsUrl = server.url.replace('http', 'ws') + 'ws';
    const c = await TestClient.connect(wsUrl);
    const started = await c.request({ type: 'startSession', clip: CLIP });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    const sid = started.sessionId;
    const n = started.numFrames!;
    for (const o of prompts.objects.slice(0, 2)) {
      expect(await c.request({ type: 'addPoints', sessionId: sid, frame: 0, objectId: o.object_id, points: [{ x: o.point[0], y: o.point[1] }] })).toMatchObject({ type: 'ack' });
    }
    expect(await c.request({ type: 'propagate', sessionId: sid, direction: 'forward' })).toMatchObject({ type: 'ack' });
    await c.waitFor((m) => m.type === 'propagateProgress' && m.done >= 3, true);
    const seen = c.masks.slice();
    c.ws.terminate();

    // The server keeps serving while the departed client's work goes on.
    const c2 = await TestClient.connect(wsUrl);
    expect(await c2.request({ type: 'ping' })).toMatchObject({ type: 'ack' });

    // Nothing done yet, most likely: the propagation is still running in the background.
    const mid = SessionStore.open(dbPath, { readonly: true });
    const midCount = mid.currentMasks(sid).length;
    mid.destroy();
    await server.manager.idle();
    expect(server.manager.size).toBe(0);

    const ro = SessionStore.open(dbPath, { readonly: true });
    try {
      const masks = ro.currentMasks(sid);
      expect(masks.length).toBeGreaterThan(midCount);
      const ids = prompts.objects.slice(0, 2).map((o) => o.object_id);
      for (const id of ids) {
        expect(masks.filter((m) => m.objectId === id).map((m) => m.frame)).toEqual(Array.from({ length: n }, (_, i) => i));
      }
      expect(masks).toHaveLength(2 * n);
      for (const m of masks) {
        expect(m.rle.size).toEqual([360, 480]);
        expect(stringToCounts(m.rle.counts).reduce((a, b) => a + b, 0)).toBe(360 * 480);
      }
      // What the client was shown before it dropped is exactly what was stored.
      expect(seen.length).toBeGreaterThanOrEqual(2 + 2 * 3);
      for (const s of seen) {
        const m = masks.find((x) => x.objectId === s.objectId && x.frame === s.frame)!;
        expect(stringToCounts(m.rle.counts)).toEqual([...s.counts]);
      }
      expect(ro.listPrompts(sid)).toHaveLength(2);
      expect(ro.getSession(sid)!.status).toBe('closed');
    } finally {
      ro.destroy();
    }
    await c2.close();

    // After a shutdown the file still holds them (nothing was only in memory).
    await server.destroy();
    const after = SessionStore.open(dbPath, { readonly: true });
    expect(after.currentMasks(sid)).toHaveLength(2 * n);
    expect(after.integrityCheck()).toBe('ok');
    after.destroy();
  });
});
