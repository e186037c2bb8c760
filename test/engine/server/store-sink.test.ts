/**
 * The server over the SQLite store: every mask a client received is in the store file (read back
 * through a second, read-only connection) with the same RLE, and the prompt and session status too.
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

const prompts = JSON.parse(readFileSync(join(REPO_ROOT, 'samples/generated/endoscopy-1/prompts.json'), 'utf8')) as { objects: { object_id: number; point: [number, number] }[] };
let server: CinesegServer;
let sessions: ModelSessions;
let tmp: string;
let dbPath: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-store-'));
  dbPath = join(tmp, 'cineseg.db');
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  server = await startServer({ port: 0, sessions, store: dbPath, media: [join(REPO_ROOT, 'samples', 'generated')], cacheDir: join(tmp, 'hls'), playerDir: tmp });
});
afterAll(async () => {
  await server?.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

describe('server with the SQLite store', () => {
  it('stores every prompt and mask before the client sees it', async () => {
    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    const started = await c.request({ type: 'startSession', clip: 'generated/endoscopy-1' });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    const sid = started.sessionId;
    const o = prompts.objects[0]!;
    await c.request({ type: 'addPoints', sessionId: sid, frame: 0, objectId: 3, points: [{ x: o.point[0], y: o.point[1] }] });
    await c.request({ type: 'propagate', sessionId: sid, maxFrames: 5 });
    await c.waitFor((m) => m.type === 'propagateDone', true);

    const ro = SessionStore.open(dbPath, { readonly: true });
    try {
      const masks = ro.currentMasks(sid);
      expect(masks.map((m) => m.frame)).toEqual([0, 1, 2, 3, 4, 5]);
      for (const m of masks) {
        const seen = c.masks.filter((x) => x.frame === m.frame).at(-1)!;
        expect(stringToCounts(m.rle.counts)).toEqual([...seen.counts]);
        expect(m.rle.size).toEqual([360, 480]);
        expect(m.objectId).toBe(3);
      }
      const pr = ro.listPrompts(sid);
      expect(pr).toHaveLength(1);
      expect(pr[0]).toMatchObject({ kind: 'points', objectId: 3, frame: 0 });
    } finally {
      ro.destroy();
    }
    await c.request({ type: 'closeSession', sessionId: sid });
    const ro2 = SessionStore.open(dbPath, { readonly: true });
    expect(ro2.getSession(sid)!.status).toBe('closed');
    ro2.destroy();
    await c.close();
  });

  it('stores object names as labels; a name given before the first prompt waits for it', async () => {
    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    const started = await c.request({ type: 'startSession', clip: 'generated/endoscopy-1' });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    const sid = started.sessionId;
    const o = prompts.objects[0]!;
    const labels = () => {
      const ro = SessionStore.open(dbPath, { readonly: true });
      try {
        return ro.listObjects(sid).map((x) => [x.objectId, x.label]);
      } finally {
        ro.destroy();
      }
    };
    expect(await c.request({ type: 'renameObject', sessionId: sid, objectId: 7, name: ' polyp ' })).toMatchObject({ type: 'ack' });
    // No prompt yet: no object row (it would be an empty object in exports).
    expect(labels()).toEqual([]);
    await c.request({ type: 'addPoints', sessionId: sid, frame: 0, objectId: 7, points: [{ x: o.point[0], y: o.point[1] }] });
    expect(labels()).toEqual([[7, 'polyp']]);
    expect(await c.request({ type: 'renameObject', sessionId: sid, objectId: 7, name: 'lesion' })).toMatchObject({ type: 'ack' });
    expect(labels()).toEqual([[7, 'lesion']]);
    // Later prompts keep the name.
    await c.request({ type: 'addPoints', sessionId: sid, frame: 0, objectId: 7, points: [{ x: o.point[0] + 2, y: o.point[1] }] });
    expect(labels()).toEqual([[7, 'lesion']]);
    expect(await c.request({ type: 'renameObject', sessionId: sid, objectId: 7, name: '   ' })).toMatchObject({ type: 'error', code: 'E_PROTOCOL_INVALID' });
    await c.close();
  });
});
