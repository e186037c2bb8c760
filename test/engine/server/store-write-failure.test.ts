/**
 * Never acked then lost: a real SQLite store whose writes fail because another connection holds
 * its write lock (BEGIN IMMEDIATE, as another process would). A prompt or a propagation that
 * cannot be stored is answered with E_STORE_WRITE instead of an ack, the server stays up, every
 * mask a client received is in the store, and once the lock is gone writes are acked again. Live:
 * a record that failed to start is started later, and prompts meanwhile are refused, not dropped.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import type { ServerMessage, SessionStarted } from '../../../engine/src/protocol.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { StoreSink } from '../../../engine/src/server/store-sink.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { REPO_ROOT, testBundleDir } from '../model/test-bundle.js';
import { writeTinyClip } from './tiny-clip.js';
import { TestClient } from './ws-client.js';

let tmp: string;
let sessions: ModelSessions;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-storefail-'));
  mkdirSync(join(tmp, 'media'));
  await writeTinyClip(join(tmp, 'media', 'square.mp4'), { frames: 20 });
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
});
afterAll(async () => {
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const started = (m: ServerMessage): SessionStarted => {
  if (m.type !== 'sessionStarted') throw new Error(JSON.stringify(m));
  return m;
};

/** Another connection takes the store's write lock: every write of the server's fails (busy). */
function lock(dbPath: string): () => void {
  const db = new Database(dbPath);
  db.exec('BEGIN IMMEDIATE');
  return () => {
    db.exec('ROLLBACK');
    db.close();
  };
}

async function serve(dbPath: string, extra: Parameters<typeof startServer>[0] = {}): Promise<CinesegServer> {
  // A short busy timeout: the locked write fails in 50 ms, not in the default 5 s.
  const sink = new StoreSink(SessionStore.open(dbPath, { busyTimeoutMs: 50 }), true);
  return startServer({ port: 0, sessions, sink, media: [join(tmp, 'media')], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'no-player'), ...extra });
}

describe('a store that cannot write: recorded', () => {
  it('answers prompts and propagation with E_STORE_WRITE, keeps every mask it sent stored, and acks again once it can write', async () => {
    const dbPath = join(tmp, 'recorded.db');
    const server = await serve(dbPath);
    try {
      const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
      const s = started(await c.request({ type: 'startSession', clip: 'media/square' }));
      expect(await c.request({ type: 'addPoints', sessionId: s.sessionId, frame: 0, objectId: 1, points: [{ x: 18, y: 22 }] })).toMatchObject({ type: 'ack' });

      const unlock = lock(dbPath);
      const before = c.masks.length;
      const refused = await c.request({ type: 'addPoints', sessionId: s.sessionId, frame: 4, objectId: 2, points: [{ x: 20, y: 20 }] });
      expect(refused).toMatchObject({ type: 'error', code: 'E_STORE_WRITE' });
      expect(c.masks.length).toBe(before);
      // The propagation starts (ack), its first frame cannot be stored: an error, no mask sent.
      const prop = await c.request({ type: 'propagate', sessionId: s.sessionId });
      expect(prop).toMatchObject({ type: 'ack' });
      const err = await c.waitFor((m) => m.type === 'error' && m.seq === prop.seq, true);
      expect(err).toMatchObject({ code: 'E_STORE_WRITE' });
      expect(c.masks.length).toBe(before);
      expect(c.messages.some((m) => m.type === 'propagateDone')).toBe(false);
      // Up all along.
      expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
      expect(await server.metrics.value('cineseg_errors_total', { code: 'E_STORE_WRITE' })).toBe(2);
      unlock();

      expect(await c.request({ type: 'addPoints', sessionId: s.sessionId, frame: 0, objectId: 1, points: [{ x: 22, y: 24 }] })).toMatchObject({ type: 'ack' });
      const ro = SessionStore.open(dbPath, { readonly: true });
      try {
        const stored = new Map(ro.currentMasks(s.sessionId).map((m) => [`${m.objectId}:${m.frame}`, m]));
        // Every mask the client was sent is in the store (the last one per object and frame is the current one).
        const seen = new Map(c.masks.map((m) => [`${m.objectId}:${m.frame}`, m]));
        for (const k of seen.keys()) expect(stored.has(k)).toBe(true);
        expect(ro.listPrompts(s.sessionId)).toHaveLength(2);
      } finally {
        ro.destroy();
      }
      await c.close();
    } finally {
      await server.destroy();
    }
  });
});

describe('a store that cannot write: live', () => {
  it('refuses prompts while the record cannot start, then starts it and acks them', async () => {
    const dbPath = join(tmp, 'live.db');
    // Created (schema written) before it is locked.
    SessionStore.open(dbPath).destroy();
    const unlock = lock(dbPath);
    const server = await serve(dbPath, { media: [], live: `loop:${join(REPO_ROOT, 'samples/generated/endoscopy-1/clip.mp4')}`, liveStoreIntervalMs: -1 });
    try {
      const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
      const s = started(await c.request({ type: 'startSession', live: true }));
      const t0 = Date.now();
      while (c.frames.length < 3 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20));
      const refused = await c.request({ type: 'addPoints', sessionId: s.sessionId, frame: 0, objectId: 1, points: [{ x: 240, y: 180 }] });
      expect(refused).toMatchObject({ type: 'error', code: 'E_STORE_WRITE' });
      unlock();
      // The record is tried again at most once a second.
      await new Promise((r) => setTimeout(r, 1500));
      const ok = await c.request({ type: 'addPoints', sessionId: s.sessionId, frame: 0, objectId: 1, points: [{ x: 240, y: 180 }] });
      expect(ok).toMatchObject({ type: 'ack' });
      const ro = SessionStore.open(dbPath, { readonly: true });
      try {
        expect(ro.listPrompts(s.recordId!)).toHaveLength(1);
        expect(ro.currentMasks(s.recordId!).length).toBeGreaterThanOrEqual(1);
      } finally {
        ro.destroy();
      }
      await c.close();
    } finally {
      await server.destroy();
    }
  });
});
