/**
 * Live prompts over the real server, a looped clip and a real SQLite store: a click lands on the
 * frame the client names while the server still holds it (else on the newest tracked frame, and the
 * ack says which); prompts and their masks are stored before the ack, tracked masks at the
 * configured rate; removing an object takes it out of the tracker and tells the client.
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

let sessions: ModelSessions;
let tmp: string;
const servers: CinesegServer[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-live-prompts-'));
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
});

afterAll(async () => {
  for (const s of servers) await s.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

/** A server on a looped clip with its own SQLite file; `every`: the live store interval. */
async function liveServer(every: number): Promise<{ server: CinesegServer; dbPath: string }> {
  const dbPath = join(tmp, `store-${every}.db`);
  const server = await startServer({
    port: 0,
    sessions,
    media: [],
    store: dbPath,
    cacheDir: join(tmp, 'hls'),
    playerDir: tmp,
    live: `loop:${join(CLIP_DIR, 'clip.mp4')}`,
    liveStoreIntervalMs: every,
    liveGraceMs: 0,
  });
  servers.push(server);
  return { server, dbPath };
}

const until = async (cond: () => boolean, ms = 30_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

function ack(m: ServerMessage): Ack {
  if (m.type !== 'ack') throw new Error(JSON.stringify(m));
  return m;
}

describe('live prompts', () => {
  it('applies a click to the frame on screen, stores prompts and every mask in SQLite, removes objects from the tracker', async () => {
    const { server, dbPath } = await liveServer(0);
    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    const started = (await c.request({ type: 'startSession', live: true })) as SessionStarted;
    expect(started.type).toBe('sessionStarted');
    const record = started.recordId!;
    expect(record).toMatch(/^[0-9a-f-]{36}$/);
    await until(() => c.frames.length >= 5);
    const o = prompts.objects[0]!;
    const sid = started.sessionId;

    // A frame two frames older than the newest the client has: the server still holds it, so the
    // click lands there (and not on the frame the tracker is at).
    const shown = decodeLiveFrame(c.frames.at(-3)!);
    const a1 = ack(await c.request({ type: 'addPoints', sessionId: sid, frame: shown.frame, objectId: 1, points: [{ x: o.point[0], y: o.point[1] }] }));
    expect(a1.frame).toBe(shown.frame);
    expect(a1.ptsUs).toBe(shown.ptsUs);
    // The prompt's own mask came before the ack, for that frame.
    const pm = c.masks.find((m) => m.frame === shown.frame && m.objectId === 1)!;
    expect(pm).toBeDefined();
    expect(pm.ptsUs).toBe(shown.ptsUs);

    // Frame 0 is long gone: the click goes to the newest tracked frame, and the ack says so.
    await until(() => c.frames.length >= 12);
    const a2 = ack(await c.request({ type: 'addPoints', sessionId: sid, frame: 0, objectId: 2, points: [{ x: o.point[0] + 40, y: o.point[1] }] }));
    expect(a2.frame).toBeGreaterThan(shown.frame);
    const frameIdx = c.frames.map((b) => decodeLiveFrame(b).frame);
    expect(a2.frame).toBeGreaterThanOrEqual(Math.max(...frameIdx));

    // A correction of object 1 on a frame it was tracked on: the prompt's mask supersedes the tracked one.
    const n = c.frames.length;
    await until(() => c.frames.length >= n + 3);
    const tracked = decodeLiveFrame(c.frames.at(-1)!);
    expect(tracked.objects).toBe(2);
    const a3 = ack(
      await c.request({
        type: 'addPoints',
        sessionId: sid,
        frame: tracked.frame,
        objectId: 1,
        points: [
          { x: o.point[0], y: o.point[1] },
          { x: o.point[0] + 60, y: o.point[1] + 30, label: 0 },
        ],
      }),
    );
    expect(a3.frame).toBe(tracked.frame);

    // Let the tracked masks flow for a while, then remove object 2.
    const t0 = Date.now();
    await until(() => Date.now() - t0 > 1500);
    const live = server.live!;
    expect(live.objectIds).toEqual([1, 2]);
    expect(await c.request({ type: 'removeObject', sessionId: sid, objectId: 2 })).toMatchObject({ type: 'ack' });
    // Everything sent before the ack has arrived; nothing tracked later carries object 2.
    const lastBeforeAck = Math.max(...c.frames.map((b) => decodeLiveFrame(b).frame));
    expect(live.objectIds).toEqual([1]);
    await c.waitFor((m) => m.type === 'objectRemoved' && m.objectId === 2, true, 5_000);
    const removedAt = c.frames.length;
    await until(() => c.frames.length >= removedAt + 3);
    for (const b of c.frames.slice(removedAt)) expect(decodeLiveFrame(b).objects).toBe(1);
    expect(c.masks.filter((m) => m.objectId === 2 && m.frame > lastBeforeAck)).toHaveLength(0);
    expect(c.masks.filter((m) => m.objectId === 1 && m.frame > lastBeforeAck).length).toBeGreaterThanOrEqual(3);
    expect(await c.request({ type: 'removeObject', sessionId: sid, objectId: 2 })).toMatchObject({ type: 'error', code: 'E_OBJECT_UNKNOWN' });
    expect(await c.request({ type: 'renameObject', sessionId: sid, objectId: 1, name: 'vessel' })).toMatchObject({ type: 'ack' });

    // The client leaves: the source stops and the record is closed.
    await c.close();
    const lastFrame = Math.max(...c.masks.map((m) => m.frame));
    await server.manager.idle();
    await until(() => !live.active, 10_000);

    const ro = SessionStore.open(dbPath, { readonly: true });
    try {
      const s = ro.getSession(record)!;
      expect(s.status).toBe('closed');
      expect(s.meta).toMatchObject({ live: true });
      const clip = ro.getClip(s.clipId)!;
      expect([clip.width, clip.height]).toEqual([480, 360]);
      // Prompts: on the frames the acks named, in order.
      const pr = ro.listPrompts(record);
      expect(pr.map((p) => [p.objectId, p.frame, p.kind])).toEqual([
        [1, a1.frame, 'points'],
        [2, a2.frame, 'points'],
        [1, a3.frame, 'points'],
      ]);
      // Each prompt's mask is stored as it was sent, and is the current one of its frame.
      for (const [id, f] of [
        [1, a1.frame],
        [2, a2.frame],
        [1, a3.frame],
      ] as const) {
        const m = ro.maskHistory(record, id, f).at(-1)!;
        expect(m.origin).toBe('prompt');
        expect(m.current).toBe(true);
        const sent = c.masks.filter((x) => x.objectId === id && x.frame === f).at(-1)!;
        expect(stringToCounts(m.rle.counts)).toEqual([...sent.counts]);
      }
      expect(ro.maskHistory(record, 1, a3.frame).map((m) => m.origin)).toEqual(['propagate', 'prompt']);
      // Every tracked mask sent is stored (interval 0), and the pseudo clip covers the frames seen.
      for (const m of c.masks) {
        expect(
          ro.maskHistory(record, m.objectId, m.frame).some((r) => stringToCounts(r.rle.counts).join() === [...m.counts].join()),
          `object ${m.objectId} frame ${m.frame}`,
        ).toBe(true);
      }
      // (Frames tracked while the client was leaving are stored, not received.)
      const stored = ro.currentMasks(record, { includeRemoved: true }).map((m) => m.frame);
      expect(clip.numFrames).toBe(Math.max(...stored) + 1);
      expect(clip.numFrames).toBeGreaterThanOrEqual(lastFrame + 1);
      // Object 2 is removed in the store too; its masks stay in history.
      expect(ro.listObjects(record).map((x) => [x.objectId, x.label])).toEqual([[1, 'vessel']]);
      expect(ro.listObjects(record, { includeRemoved: true }).map((x) => [x.objectId, x.removed])).toEqual([
        [1, false],
        [2, true],
      ]);
    } finally {
      ro.destroy();
    }
  });

  it('stores tracked masks at the configured rate, prompts always', async () => {
    const every = 300;
    const { server, dbPath } = await liveServer(every);
    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    const started = (await c.request({ type: 'startSession', live: true })) as SessionStarted;
    await until(() => c.frames.length >= 3);
    const o = prompts.objects[0]!;
    const a = ack(await c.request({ type: 'addPoints', sessionId: started.sessionId, frame: decodeLiveFrame(c.frames.at(-1)!).frame, objectId: 1, points: [{ x: o.point[0], y: o.point[1] }] }));
    const t0 = Date.now();
    const n0 = c.frames.length;
    await until(() => Date.now() - t0 > 2000 && c.frames.length >= n0 + 20);
    await c.close();
    await server.manager.idle();
    await until(() => !server.live!.active, 10_000);
    const elapsed = Date.now() - t0;
    const sent = new Set(c.masks.map((m) => m.frame));
    const ro = SessionStore.open(dbPath, { readonly: true });
    try {
      const masks = ro.currentMasks(started.recordId!);
      expect(masks.filter((m) => m.origin === 'prompt').map((m) => m.frame)).toEqual([a.frame]);
      const tracked = masks.filter((m) => m.origin === 'propagate').map((m) => m.frame);
      // At most one frame per interval (about one in nine at 30 fps), whatever the tracker's speed.
      expect(tracked.length).toBeGreaterThanOrEqual(3);
      expect(tracked.length).toBeLessThanOrEqual(Math.ceil(elapsed / every) + 1);
      // Stored frames are frames clients got (but for one tracked while the client was leaving).
      const lastSent = Math.max(...sent);
      for (const f of tracked) if (f <= lastSent) expect(sent.has(f)).toBe(true);
    } finally {
      ro.destroy();
    }
  });
});
