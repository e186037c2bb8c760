/**
 * Two `cineseg serve` on one PostgreSQL (two in-process servers from http-server.ts, each with its
 * own pool on a throwaway cluster from bench/local-postgres.ts, real WebSocket clients, the test
 * bundle): a session made through one is listed by the other (GET /api/sessions), and the same
 * object edited through both, the second editor behind the first, is E_EDIT_CONFLICT for the second
 * with nothing of its edit stored; the first editor's prompts and masks stay whole.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type LocalPostgres } from '../../../engine/src/bench/local-postgres.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { PostgresStore } from '../../../engine/src/store/postgres-store.js';
import { testBundleDir } from '../model/test-bundle.js';
import { rawGet } from './http-client.js';
import { writeTinyClip } from './tiny-clip.js';
import { TestClient } from './ws-client.js';

const W = 64;
const H = 48;
const N = 10;

let tmp: string;
let media: string;
let pgc: LocalPostgres;
let sessions: ModelSessions;
const servers: CinesegServer[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-multi-pg-'));
  media = join(tmp, 'media');
  mkdirSync(join(media, 'square'), { recursive: true });
  await writeTinyClip(join(media, 'square', 'clip.mp4'), { width: W, height: H, frames: N });
  pgc = await startPostgres();
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
}, 120_000);
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const s of servers) await s.destroy();
  await sessions?.destroy();
  await pgc?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function serve(name: string): Promise<CinesegServer> {
  const s = await startServer({ port: 0, sessions, store: pgc.url, media: [media], cacheDir: join(tmp, `hls-${name}`), playerDir: join(tmp, 'no-player') });
  servers.push(s);
  return s;
}
async function connect(server: CinesegServer): Promise<TestClient> {
  const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
  clients.push(c);
  return c;
}

describe('two servers on one PostgreSQL', () => {
  it('see the same sessions, and a stale edit of one object through the second is E_EDIT_CONFLICT with nothing stored', async () => {
    const a = await serve('a');
    const ca = await connect(a);
    const started = await ca.request({ type: 'startSession', clip: 'media/square' });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    const sid = started.sessionId;
    expect(await ca.request({ type: 'addPoints', sessionId: sid, frame: 0, objectId: 1, points: [{ x: 18, y: 22 }] })).toMatchObject({ type: 'ack' });
    expect(await ca.request({ type: 'propagate', sessionId: sid, direction: 'forward', maxFrames: 3 })).toMatchObject({ type: 'ack' });
    await ca.waitFor((m) => m.type === 'propagateDone', true);

    // A second server starts on the same database. Made through A, listed by B.
    const b = await serve('b');
    const list = JSON.parse((await rawGet('127.0.0.1', b.port, '/api/sessions')).body) as { id: string; status: string }[];
    expect(list.map((s) => s.id)).toContain(sid);

    // B's start left A's session alone: A is alive (its heartbeat, session-owner.ts), so the session
    // is not an orphan, and B refuses to open it while A holds it.
    const rw = await PostgresStore.open(pgc.url);
    const cb = await connect(b);
    try {
      expect((await rw.requireSession(sid)).status).toBe('open');
      expect((await rw.requireSession(sid)).meta.server).toMatchObject({ pid: process.pid });
      expect(await cb.request({ type: 'openSession', sessionId: sid })).toMatchObject({ type: 'error', code: 'E_SESSION_BUSY' });
      // B takes the session up while A still holds it (another annotator on another server): an
      // operator closed it by hand. From here two servers write one session, and the object
      // versions are what keep them from overwriting each other.
      await rw.setSessionStatus(sid, 'closed');
    } finally {
      await rw.destroy();
    }
    const opened = await cb.request({ type: 'openSession', sessionId: sid });
    if (opened.type !== 'sessionStarted') throw new Error(JSON.stringify(opened));
    const bSid = opened.sessionId;
    expect(opened.restored).toMatchObject({ masks: 4, objects: [{ objectId: 1 }] });

    // A corrects object 1: stored, and its version moves on.
    expect(await ca.request({ type: 'addPoints', sessionId: sid, frame: 2, objectId: 1, points: [{ x: 20, y: 22 }] })).toMatchObject({ type: 'ack' });
    const ro = await PostgresStore.open(pgc.url, { readonly: true });
    try {
      const snapshot = async () => ({
        prompts: (await ro.listPrompts(sid)).map((p) => [p.id, p.objectId, p.frame]),
        masks: (await ro.currentMasks(sid, { includeRemoved: true })).map((m) => [m.id, m.objectId, m.frame]),
        versions: await ro.objectVersions(sid),
        objects: (await ro.listObjects(sid, { includeRemoved: true })).map((o) => [o.objectId, o.label, o.removed]),
      });
      await expect.poll(async () => (await ro.listPrompts(sid)).length, { timeout: 10_000 }).toBe(2);
      // Let A's correction's masks land before the snapshot.
      await new Promise((r) => setTimeout(r, 500));
      const before = await snapshot();

      // B still has object 1 at the version it read: its edit is refused whole.
      const r = await cb.request({ type: 'addPoints', sessionId: bSid, frame: 5, objectId: 1, points: [{ x: 30, y: 22 }] });
      expect(r).toMatchObject({ type: 'error', code: 'E_EDIT_CONFLICT' });
      const r2 = await cb.request({ type: 'renameObject', sessionId: bSid, objectId: 1, name: 'from-b' });
      // After the error B re-read the versions (store-sink.ts): its next edit goes through.
      expect(r2).toMatchObject({ type: 'ack' });
      const after = await snapshot();
      expect(after.prompts).toEqual(before.prompts);
      expect(after.prompts.some(([, , frame]) => frame === 5)).toBe(false);
      expect(after.masks).toEqual(before.masks);
      expect(after.objects).toEqual([[1, 'from-b', false]]);
      expect(after.versions[1]).toBe(before.versions[1]! + 1);

      // And now A is the one behind: its next edit of object 1 is the conflict.
      const r3 = await ca.request({ type: 'renameObject', sessionId: sid, objectId: 1, name: 'from-a' });
      expect(r3).toMatchObject({ type: 'error', code: 'E_EDIT_CONFLICT' });
      expect((await ro.listObjects(sid))[0]!.label).toBe('from-b');
      expect(await ro.integrityCheck()).toBe('ok');
    } finally {
      await ro.destroy();
    }
  }, 180_000);
});
