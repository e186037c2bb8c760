/**
 * The live run outlives its viewers and belongs to none of them, over the real server (ws on
 * 127.0.0.1 port 0, a looped clip, real model, real SQLite): object ids come from the server, a
 * viewer's reload within the grace period finds the same run, objects and record (nothing is
 * replayed), the run stops after it; a correction on a held frame re-tracks the held frames after
 * it, and their new masks go out and to the store; clicks sent with clearOld false accumulate.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringToCounts } from '../../../engine/src/mask/rle.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { decodeLiveFrame, type Ack, type ServerMessage, type SessionStarted } from '../../../engine/src/protocol.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { REPO_ROOT, testBundleDir } from '../model/test-bundle.js';
import { TestClient } from './ws-client.js';

const CLIP_DIR = join(REPO_ROOT, 'samples/generated/endoscopy-1');
const prompts = JSON.parse(readFileSync(join(CLIP_DIR, 'prompts.json'), 'utf8')) as { objects: { object_id: number; point: [number, number] }[] };
const GRACE_MS = 2500;

let sessions: ModelSessions;
let tmp: string;
let server: CinesegServer;
let dbPath: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-live-grace-'));
  dbPath = join(tmp, 'store.db');
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  server = await startServer({
    port: 0,
    sessions,
    media: [],
    store: dbPath,
    cacheDir: join(tmp, 'hls'),
    playerDir: tmp,
    live: `loop:${join(CLIP_DIR, 'clip.mp4')}`,
    // Tracked masks are not stored: what the store holds came from prompts (and their re-tracking).
    liveStoreIntervalMs: -1,
    liveGraceMs: GRACE_MS,
    limits: { resumeGraceMs: 0 },
  });
});

afterAll(async () => {
  await server?.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const until = async (cond: () => boolean, ms = 30_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const wsUrl = () => server.url.replace('http', 'ws') + 'ws';
function ack(m: ServerMessage): Ack {
  if (m.type !== 'ack') throw new Error(JSON.stringify(m));
  return m;
}
async function viewer(): Promise<{ c: TestClient; s: SessionStarted }> {
  const c = await TestClient.connect(wsUrl());
  const s = (await c.request({ type: 'startSession', live: true })) as SessionStarted;
  expect(s.type).toBe('sessionStarted');
  await until(() => c.frames.length >= 3);
  return { c, s };
}

describe('live run and viewers', () => {
  it('gives object ids from the server; a reload within the grace keeps the run and its objects; after the grace it stops', async () => {
    const live = server.live!;
    const [p1, p2] = [prompts.objects[0]!.point, [prompts.objects[0]!.point[0] + 60, prompts.objects[0]!.point[1]] as const];
    const a = await viewer();
    const b = await viewer();
    expect(b.s.recordId).toBe(a.s.recordId);
    // Both viewers ask for a new object with the same temporary id: the server gives two.
    const fa = decodeLiveFrame(a.c.frames.at(-1)!).frame;
    const fb = decodeLiveFrame(b.c.frames.at(-1)!).frame;
    const [ackA, ackB] = await Promise.all([
      a.c.request({ type: 'addPoints', sessionId: a.s.sessionId, frame: fa, objectId: 0, newObject: true, points: [{ x: p1[0], y: p1[1] }] }),
      b.c.request({ type: 'addPoints', sessionId: b.s.sessionId, frame: fb, objectId: 0, newObject: true, points: [{ x: p2[0], y: p2[1] }] }),
    ]);
    const ids = [ack(ackA).objectId, ack(ackB).objectId];
    expect(new Set(ids).size).toBe(2);
    expect(ids.every((id) => typeof id === 'number' && id >= 1)).toBe(true);
    expect([...live.objectIds].sort()).toEqual([...ids].sort());
    // An old client naming its own id still works, and the next server id skips past it.
    const fa2 = decodeLiveFrame(a.c.frames.at(-1)!).frame;
    expect(ack(await a.c.request({ type: 'addPoints', sessionId: a.s.sessionId, frame: fa2, objectId: 7, points: [{ x: p1[0], y: p1[1] }] })).objectId).toBe(7);
    const fa3 = decodeLiveFrame(a.c.frames.at(-1)!).frame;
    expect(ack(await a.c.request({ type: 'addPoints', sessionId: a.s.sessionId, frame: fa3, objectId: 0, newObject: true, points: [{ x: p2[0], y: p2[1] }] })).objectId).toBe(8);
    const objects = [...live.objectIds];

    // Everyone leaves (a reload): the run goes on.
    await a.c.close();
    await b.c.close();
    await server.manager.idle();
    const tracked = live.trackedFrames;
    await new Promise((r) => setTimeout(r, 500));
    expect(live.active).toBe(true);
    expect(live.trackedFrames).toBeGreaterThan(tracked);

    // The reloaded viewer: same record, same objects, their masks arrive without any prompt.
    const r = await viewer();
    expect(r.s.recordId).toBe(a.s.recordId);
    expect(live.objectIds).toEqual(objects);
    await until(() => r.c.frames.some((f) => decodeLiveFrame(f).objects === objects.length));
    expect(new Set(r.c.masks.map((m) => m.objectId))).toEqual(new Set(objects));

    // Gone for longer than the grace: the run and its ffmpeg stop, the record is closed.
    await r.c.close();
    await server.manager.idle();
    await new Promise((res) => setTimeout(res, GRACE_MS / 2));
    expect(live.active).toBe(true);
    await until(() => !live.active, GRACE_MS + 10_000);
    const ro = SessionStore.open(dbPath, { readonly: true });
    try {
      expect(ro.getSession(a.s.recordId!)!.status).toBe('closed');
      expect(
        ro
          .listObjects(a.s.recordId!)
          .map((o) => o.objectId)
          .sort(),
      ).toEqual([...objects].sort());
    } finally {
      ro.destroy();
    }
    // The next viewer starts a fresh run: a new record, no objects.
    const n = await viewer();
    expect(n.s.recordId).not.toBe(a.s.recordId);
    expect(live.objectIds).toEqual([]);
    await n.c.close();
    await server.manager.idle();
  });

  it('a correction on a held frame re-tracks the held frames after it (sent and stored); clicks with clearOld false accumulate', async () => {
    const live = server.live!;
    const o = prompts.objects[0]!.point;
    const { c, s } = await viewer();
    const f0 = decodeLiveFrame(c.frames.at(-1)!).frame;
    const id = ack(await c.request({ type: 'addPoints', sessionId: s.sessionId, frame: f0, objectId: 0, newObject: true, points: [{ x: o[0], y: o[1] }] })).objectId!;
    const n = c.frames.length;
    await until(() => c.frames.length >= n + 4);
    // An older frame the viewer has seen (still held: the server holds 6): a negative click refines it.
    const shown = decodeLiveFrame(c.frames.at(-3)!);
    const a1 = ack(await c.request({ type: 'addPoints', sessionId: s.sessionId, frame: shown.frame, objectId: id, points: [{ x: o[0] + 20, y: o[1] + 15, label: 0 }], clearOld: false }));
    expect(a1.frame).toBe(shown.frame);
    expect(a1.objectId).toBe(id);
    const a2 = ack(await c.request({ type: 'addPoints', sessionId: s.sessionId, frame: shown.frame, objectId: id, points: [{ x: o[0] - 20, y: o[1] - 10, label: 0 }], clearOld: false }));
    expect(a2.frame).toBe(shown.frame);
    // The tracker's prompt on that frame holds both clicks (this frame had none before: a fresh start).
    expect([...live['run']!.tracker!.objectState(id)!.pointInputs.get(shown.frame)!.labels]).toEqual([0, 0]);

    const ro = SessionStore.open(dbPath, { readonly: true });
    try {
      const record = s.recordId!;
      const stored = ro.currentMasks(record, { objectId: id });
      const later = stored.filter((m) => m.frame > shown.frame);
      // Re-tracked frames after the corrected one are stored (tracked masks are not, here)…
      expect(later.length).toBeGreaterThanOrEqual(1);
      for (const m of later) {
        expect(m.origin).toBe('propagate');
        // …and were sent: the last mask the viewer got for that frame is the stored one.
        const sent = c.masks.filter((x) => x.objectId === id && x.frame === m.frame).at(-1)!;
        expect(sent).toBeDefined();
        expect(stringToCounts(m.rle.counts)).toEqual([...sent.counts]);
      }
      expect(ro.listPrompts(record, { objectId: id }).map((p) => p.frame)).toEqual([f0, shown.frame, shown.frame]);
    } finally {
      ro.destroy();
    }
    await c.close();
    await server.manager.idle();
  });
});
