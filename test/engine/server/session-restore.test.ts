/**
 * Stored sessions back on a server, over a real SQLite store and real HTTP / WebSocket servers on
 * 127.0.0.1: the store → tracker state conversion (prompt order, removed objects, score logits,
 * labels, support), orphans of a killed server closed at start, GET /api/sessions with clip ids,
 * close and delete routes (busy, unknown, token), and `openSession` over the WebSocket after the
 * server was destroyed and started again on the same store: every mask the first client received
 * comes back byte for byte, the objects and prompts too, and propagation goes on.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countsToString, encodeMask } from '../../../engine/src/mask/rle.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { ClipCatalog } from '../../../engine/src/server/clip-catalog.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { closeOrphans, listStoredSessions, loadForReopen, storedSessionState } from '../../../engine/src/server/session-restore.js';
import { registerClipFile } from '../../../engine/src/store/register-clip.js';
import { SqliteStore } from '../../../engine/src/store/sqlite-store.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { testBundleDir } from '../model/test-bundle.js';
import { errorCode, rawGet } from './http-client.js';
import { writeTinyClip } from './tiny-clip.js';
import { TestClient } from './ws-client.js';

const W = 64;
const H = 48;
const N = 12;

let tmp: string;
let media: string;
let clipPath: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-restore-'));
  media = join(tmp, 'media');
  mkdirSync(join(media, 'square'), { recursive: true });
  clipPath = join(media, 'square', 'clip.mp4');
  await writeTinyClip(clipPath, { width: W, height: H, frames: N });
}, 60_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function squareMask(frame: number): Uint8Array {
  const m = new Uint8Array(W * H);
  const x0 = 8 + frame;
  for (let y = 12; y < 32; y++) for (let x = x0; x < x0 + 20; x++) m[y * W + x] = 1;
  return m;
}

/** A store with one server session on the clip: prompts of three objects (one removed), masks, a label, support. */
async function seededStore(name: string): Promise<{ store: SessionStore; sid: string }> {
  const store = SessionStore.open(join(tmp, `${name}.db`));
  const clip = await registerClipFile(SqliteStore.wrap(store), clipPath);
  const sid = `s-${name}`;
  store.createSession(clip.id, { id: sid, meta: { tool: 'cineseg serve' } });
  store.addPrompt(sid, { objectId: 1, frame: 0, kind: 'points', points: [{ x: 10, y: 20, label: 1 }] });
  store.addPrompt(sid, { objectId: 2, frame: 3, kind: 'box', box: [5, 5, 30, 30] });
  store.addPrompt(sid, { objectId: 3, frame: 1, kind: 'mask', mask: encodeMask(squareMask(1), H, W) });
  store.addPrompt(sid, {
    objectId: 1,
    frame: 0,
    kind: 'points',
    points: [
      { x: 10, y: 20, label: 1 },
      { x: 40, y: 40, label: 0 },
    ],
    clearOld: true,
  });
  store.putMasks(sid, [
    { objectId: 1, frame: 0, rle: encodeMask(squareMask(0), H, W), score: 0.9, origin: 'prompt' },
    { objectId: 1, frame: 1, rle: encodeMask(squareMask(1), H, W), score: 0.25, origin: 'propagate' },
    { objectId: 2, frame: 3, rle: encodeMask(squareMask(3), H, W), score: null, origin: 'import' },
    { objectId: 3, frame: 1, rle: encodeMask(squareMask(1), H, W), score: 0.5, origin: 'prompt' },
  ]);
  store.removeObject(sid, 3);
  store.addObject(sid, 2, 'polyp');
  store.updateSessionMeta(sid, { support: [{ fromSession: 'other', objectIds: [1], frames: 4 }] });
  return { store, sid };
}

describe('store → restored state', () => {
  it('keeps prompt order and kinds, leaves removed objects out, turns scores back into logits', async () => {
    const { store, sid } = await seededStore('state');
    try {
      const st = await storedSessionState(SqliteStore.wrap(store), sid);
      expect(st.prompts.map((p) => [p.kind, p.objectId, p.frame])).toEqual([
        ['points', 1, 0],
        ['box', 2, 3],
        ['points', 1, 0],
      ]);
      expect(st.prompts[2]).toEqual({
        kind: 'points',
        objectId: 1,
        frame: 0,
        points: [
          { x: 10, y: 20, label: 1 },
          { x: 40, y: 40, label: 0 },
        ],
        clearOld: true,
        promptId: 4,
      });
      expect(st.prompts[1]).toEqual({ kind: 'box', objectId: 2, frame: 3, box: [5, 5, 30, 30], points: [], promptId: 2 });
      // The removed object's mask prompt is kept aside (an undone removal brings it back).
      expect(st.dormant?.map((p) => [p.kind, p.objectId, p.promptId])).toEqual([['mask', 3, 3]]);
      expect(st.masks.map((m) => [m.objectId, m.frame, m.origin])).toEqual([
        [1, 0, 'prompt'],
        [1, 1, 'propagate'],
        [2, 3, 'prompt'],
      ]);
      expect(st.masks[0]!.score).toBeCloseTo(Math.log(0.9 / 0.1), 5);
      expect(st.masks[1]!.score).toBeCloseTo(Math.log(0.25 / 0.75), 5);
      expect(st.masks[2]!.score).toBe(0);
      // Counts exactly as stored (and as the client was sent them).
      expect(countsToString(st.masks[1]!.counts)).toBe(store.getMask(sid, 1, 1)!.rle.counts);
      expect(st.masks[1]!.counts.reduce((a, b) => a + b, 0)).toBe(W * H);
      expect(st.labels).toEqual({ 2: 'polyp' });
      expect(st.support).toEqual([{ fromSession: 'other', objectIds: [1], frames: 4 }]);
      expect(st.promptVersion).toBe(4);
    } finally {
      store.destroy();
    }
  });

  it('a mask prompt comes back as counts at the clip size', async () => {
    const { store, sid } = await seededStore('maskprompt');
    try {
      store.addPrompt(sid, { objectId: 3, frame: 2, kind: 'mask', mask: encodeMask(squareMask(2), H, W) });
      const p = (await storedSessionState(SqliteStore.wrap(store), sid)).prompts.find((q) => q.kind === 'mask')!;
      expect(p).toMatchObject({ kind: 'mask', objectId: 3, frame: 2 });
      if (p.kind !== 'mask') throw new Error('not a mask prompt');
      expect(p.counts).toEqual(encodeMask(squareMask(2), H, W).counts);
    } finally {
      store.destroy();
    }
  });
});

describe('orphans and the list', () => {
  it('closes what a killed server left open, not what other tools hold', async () => {
    const { store, sid } = await seededStore('orphans');
    try {
      const clip = store.getClip(store.requireSession(sid).clipId)!;
      const batch = store.createSession(clip.id, { meta: { tool: 'cineseg batch' } });
      expect(store.requireSession(sid).status).toBe('open');
      expect(await closeOrphans(SqliteStore.wrap(store))).toEqual([sid]);
      expect(store.requireSession(sid).status).toBe('closed');
      expect(typeof store.requireSession(sid).meta.orphanedAt).toBe('string');
      expect(store.requireSession(batch.id).status).toBe('open');
      expect(await closeOrphans(SqliteStore.wrap(store))).toEqual([]);

      const list = await listStoredSessions(SqliteStore.wrap(store), new ClipCatalog([media]));
      const mine = list.find((s) => s.id === sid)!;
      expect(mine).toMatchObject({ kind: 'recorded', clip: 'media/square', clipName: 'square/clip.mp4', status: 'closed', objects: 2, numFrames: N, reopenable: true });
      expect(mine.maskedFrames).toBeGreaterThanOrEqual(3);
      // A batch session is listed but not offered; nor is one whose clip no media folder of the server holds.
      expect(list.find((s) => s.id === batch.id)).toMatchObject({ reopenable: false });
      const elsewhere = await listStoredSessions(SqliteStore.wrap(store), new ClipCatalog([join(tmp, 'nothing-here')]));
      expect(elsewhere.find((s) => s.id === sid)).toMatchObject({ clip: null, reopenable: false });
      await expect(loadForReopen(SqliteStore.wrap(store), new ClipCatalog([join(tmp, 'nothing-here')]), sid)).rejects.toMatchObject({ code: 'E_CLIP_UNKNOWN' });
      await expect(loadForReopen(SqliteStore.wrap(store), new ClipCatalog([media]), batch.id)).rejects.toMatchObject({ code: 'E_SESSION_BUSY' });
      store.setSessionStatus(batch.id, 'done');
      await expect(loadForReopen(SqliteStore.wrap(store), new ClipCatalog([media]), batch.id)).rejects.toMatchObject({ code: 'E_TRACKER_STATE' });
      const ok = await loadForReopen(SqliteStore.wrap(store), new ClipCatalog([media]), sid);
      expect(ok.summary).toMatchObject({
        masks: 3,
        objects: [
          { objectId: 1, label: 'object' },
          { objectId: 2, label: 'polyp' },
        ],
      });
      expect(ok.summary.prompts).toHaveLength(3);
    } finally {
      store.destroy();
    }
  });

  it('refuses a clip whose bytes changed since the session was stored', async () => {
    const other = join(tmp, 'media2');
    mkdirSync(join(other, 'square'), { recursive: true });
    copyFileSync(clipPath, join(other, 'square', 'clip.mp4'));
    const store = SessionStore.open(join(tmp, 'changed.db'));
    try {
      const clip = await registerClipFile(SqliteStore.wrap(store), join(other, 'square', 'clip.mp4'));
      const s = store.createSession(clip.id, { meta: { tool: 'cineseg serve' } });
      store.setSessionStatus(s.id, 'closed');
      await writeTinyClip(join(other, 'square', 'clip.mp4'), { width: W, height: H, frames: N + 2 });
      await expect(loadForReopen(SqliteStore.wrap(store), new ClipCatalog([other]), s.id)).rejects.toMatchObject({ code: 'E_INPUT_NOT_FOUND' });
    } finally {
      store.destroy();
    }
  }, 60_000);
});

describe('server: session routes and openSession', () => {
  let sessions: ModelSessions;
  let server: CinesegServer | null = null;
  const dbPath = () => join(tmp, 'server.db');
  const start = (opts: { token?: string } = {}) => startServer({ port: 0, sessions, store: dbPath(), media: [media], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'no-player'), ...opts });

  beforeAll(async () => {
    sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  });
  afterAll(async () => {
    await server?.destroy();
    await sessions?.destroy();
  });

  it('lists, refuses busy and unknown ones, closes and deletes over HTTP; a token guards them', async () => {
    // A session left open in the file, as a kill -9 leaves it.
    const seeded = await seededStore('server');
    const sid = seeded.sid;
    // Support from a session this store does not hold would fail the reopen (its source is gone).
    seeded.store.updateSessionMeta(sid, { support: [] });
    seeded.store.destroy();
    copyFileSync(join(tmp, 'server.db'), dbPath());
    server = await start();
    const get = (path: string, method = 'GET') => rawGet('127.0.0.1', server!.port, path, {}, method);
    const list = JSON.parse((await get('/api/sessions')).body) as { id: string; status: string; reopenable: boolean }[];
    expect(list.find((s) => s.id === sid)).toMatchObject({ status: 'closed', reopenable: true });

    const wsUrl = server.url.replace('http', 'ws') + 'ws';
    const c = await TestClient.connect(wsUrl);
    try {
      const r = await c.request({ type: 'openSession', sessionId: sid });
      if (r.type === 'error') throw new Error(`${r.code}: ${r.message}`);
      expect(r).toMatchObject({ type: 'sessionStarted', sessionId: sid, clip: 'media/square', restored: { masks: 3 } });
      // Held: a second opener and a delete are refused; close works whoever holds it.
      const c2 = await TestClient.connect(wsUrl);
      expect(await c2.request({ type: 'openSession', sessionId: sid })).toMatchObject({ type: 'error', code: 'E_SESSION_BUSY' });
      await c2.close();
      const del = await get(`/api/sessions/${sid}`, 'DELETE');
      expect([del.status, errorCode(del)]).toEqual([409, 'E_SESSION_BUSY']);
      expect((await get(`/api/sessions/${sid}/close`, 'POST')).status).toBe(204);
      expect(server.manager.holds(sid)).toBe(false);
      expect(await c.request({ type: 'propagate', sessionId: sid })).toMatchObject({ type: 'error', code: 'E_SESSION_UNKNOWN' });
      expect((await get(`/api/sessions/${sid}`, 'DELETE')).status).toBe(204);
      const after = JSON.parse((await get('/api/sessions')).body) as { id: string }[];
      expect(after.some((s) => s.id === sid)).toBe(false);
      expect(errorCode(await get(`/api/sessions/${sid}`, 'DELETE'))).toBe('E_SESSION_UNKNOWN');
      expect(errorCode(await get(`/api/sessions/${sid}/close`, 'POST'))).toBe('E_SESSION_UNKNOWN');
      expect(await c.request({ type: 'openSession', sessionId: sid })).toMatchObject({ type: 'error', code: 'E_SESSION_UNKNOWN' });
    } finally {
      await c.close();
    }
    expect((await get('/api/sessions', 'DELETE')).status).toBe(405);
    expect([403, 404]).toContain((await get('/api/sessions/../etc', 'DELETE')).status);
    expect((await get('/api/sessions/a.b', 'DELETE')).status).toBe(404);

    await server.destroy();
    server = await start({ token: 'restore-test-token-0123456789' });
    const noToken = await rawGet('127.0.0.1', server.port, '/api/sessions');
    expect([noToken.status, errorCode(noToken)]).toEqual([401, 'E_AUTH_REQUIRED']);
    const withToken = await rawGet('127.0.0.1', server.port, '/api/sessions', { authorization: 'Bearer restore-test-token-0123456789' });
    expect(withToken.status).toBe(200);
    const cross = await rawGet('127.0.0.1', server.port, '/api/sessions/x/close', { authorization: 'Bearer restore-test-token-0123456789', origin: 'http://evil.example' }, 'POST');
    expect([cross.status, errorCode(cross)]).toEqual([403, 'E_AUTH_ORIGIN']);
    await server.destroy();
    server = null;
  }, 120_000);

  it('a reloaded tab opens its session within the resume grace: taken over with its masks; its SAM 2 flags are kept for a reopen', async () => {
    rmSync(dbPath(), { force: true });
    server = await startServer({
      port: 0,
      sessions,
      store: dbPath(),
      media: [media],
      cacheDir: join(tmp, 'hls'),
      playerDir: join(tmp, 'no-player'),
      limits: { resumeGraceMs: 20_000, heartbeatIntervalMs: 0 },
    });
    const wsUrl = () => server!.url.replace('http', 'ws') + 'ws';
    const c = await TestClient.connect(wsUrl());
    const started = await c.request({ type: 'startSession', clip: 'media/square', sam: { nonOverlapMasks: true, addAllFramesToCorrectAsCond: false } });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    const sid = started.sessionId;
    expect(await c.request({ type: 'addPoints', sessionId: sid, frame: 0, objectId: 1, points: [{ x: 18, y: 22 }] })).toMatchObject({ type: 'ack' });
    expect(await c.request({ type: 'propagate', sessionId: sid, direction: 'forward', maxFrames: 3 })).toMatchObject({ type: 'ack' });
    await c.waitFor((m) => m.type === 'propagateDone', true);
    const seen = new Map(c.masks.map((m) => [`${m.objectId}:${m.frame}`, Array.from(m.counts).join(',')]));
    expect(seen.size).toBe(4);
    // A page reload: the socket drops without a close frame; the new page has no resume token.
    c.ws.terminate();
    await new Promise((r) => setTimeout(r, 200));
    expect(server.manager.holds(sid)).toBe(true);
    const c2 = await TestClient.connect(wsUrl());
    try {
      const r = await c2.request({ type: 'openSession', sessionId: sid });
      if (r.type !== 'sessionStarted') throw new Error(JSON.stringify(r));
      expect(r).toMatchObject({ resumed: true, restored: { masks: 4, objects: [{ objectId: 1, label: 'object' }] } });
      expect(r.resumeToken).not.toBe(started.resumeToken);
      await expect.poll(() => c2.masks.length, { timeout: 10_000 }).toBe(4);
      expect(new Map(c2.masks.map((m) => [`${m.objectId}:${m.frame}`, Array.from(m.counts).join(',')]))).toEqual(seen);
      // The tab that left cannot take it back with its old token.
      const c3 = await TestClient.connect(wsUrl());
      expect(await c3.request({ type: 'resume', sessionId: sid, resumeToken: started.resumeToken! })).toMatchObject({ type: 'error', code: 'E_SESSION_UNKNOWN' });
      await c3.close();
      expect(await c2.request({ type: 'addPoints', sessionId: sid, frame: 5, objectId: 1, points: [{ x: 24, y: 22 }] })).toMatchObject({ type: 'ack' });
    } finally {
      await c2.close();
    }
    await server.destroy();
    server = null;
    const ro = SessionStore.open(dbPath(), { readonly: true });
    try {
      expect(ro.listPrompts(sid)).toHaveLength(2);
      // The flags it was tracked with, as a reopen after a restart will use them.
      expect((await storedSessionState(SqliteStore.wrap(ro), sid)).sam).toEqual({ nonOverlapMasks: true, addAllFramesToCorrectAsCond: false });
    } finally {
      ro.destroy();
    }
  }, 120_000);

  it('openSession after a restart: every mask the client saw, its objects and prompts; then it propagates on', async () => {
    rmSync(dbPath(), { force: true });
    server = await start();
    const wsUrl = () => server!.url.replace('http', 'ws') + 'ws';
    const c = await TestClient.connect(wsUrl());
    const started = await c.request({ type: 'startSession', clip: 'media/square' });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    const sid = started.sessionId;
    expect(await c.request({ type: 'addPoints', sessionId: sid, frame: 0, objectId: 1, points: [{ x: 18, y: 22 }] })).toMatchObject({ type: 'ack' });
    expect(await c.request({ type: 'renameObject', sessionId: sid, objectId: 1, name: 'square' })).toMatchObject({ type: 'ack' });
    expect(await c.request({ type: 'propagate', sessionId: sid, direction: 'forward', maxFrames: 5 })).toMatchObject({ type: 'ack' });
    await c.waitFor((m) => m.type === 'propagateDone', true);
    const seen = new Map(c.masks.map((m) => [`${m.objectId}:${m.frame}`, Array.from(m.counts).join(',')]));
    expect(seen.size).toBe(6);
    await c.close();
    await server.destroy();

    server = await start();
    const c2 = await TestClient.connect(wsUrl());
    try {
      const r = await c2.request({ type: 'openSession', sessionId: sid });
      if (r.type !== 'sessionStarted') throw new Error(JSON.stringify(r));
      expect(r.restored).toEqual({ objects: [{ objectId: 1, label: 'square' }], prompts: [{ promptId: 1, kind: 'points', objectId: 1, frame: 0, points: [{ x: 18, y: 22, label: 1 }] }], masks: 6 });
      // The prompts message comes right after the reply.
      const pm = c2.messages[c2.messages.indexOf(r) + 1];
      expect(pm).toMatchObject({
        type: 'prompts',
        seq: r.seq,
        sessionId: sid,
        prompts: [{ promptId: 1, objectId: 1, frame: 0, kind: 'points' }],
        objects: [{ objectId: 1, label: 'square' }],
        canUndo: true,
        canRedo: false,
      });
      expect(r.handle).toBeGreaterThan(0);
      await expect.poll(() => c2.masks.length, { timeout: 10_000 }).toBe(6);
      const back = new Map(c2.masks.map((m) => [`${m.objectId}:${m.frame}`, Array.from(m.counts).join(',')]));
      expect(back).toEqual(seen);
      expect(c2.masks.every((m) => m.handle === r.handle)).toBe(true);
      // It goes on: a correction on frame 8 and a propagation over the rest of the clip.
      expect(await c2.request({ type: 'addPoints', sessionId: sid, frame: 8, objectId: 1, points: [{ x: 24, y: 22 }] })).toMatchObject({ type: 'ack' });
      expect(await c2.request({ type: 'propagate', sessionId: sid, direction: 'forward' })).toMatchObject({ type: 'ack' });
      const done = await c2.waitFor((m) => m.type === 'propagateDone', true);
      expect(done).toMatchObject({ cancelled: false });
    } finally {
      await c2.close();
    }
    await server.destroy();
    server = null;
    const ro = SessionStore.open(dbPath(), { readonly: true });
    try {
      expect(ro.requireSession(sid).status).toBe('closed');
      expect(ro.completeFrames(sid)).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(ro.listPrompts(sid)).toHaveLength(2);
    } finally {
      ro.destroy();
    }
  }, 120_000);
});
