/**
 * The bad input corpus through the real server (media folder = the committed corpus, SQLite
 * store): a session is opened over the WebSocket for every clip the catalog offers; each refused
 * clip gets its manifest code, each odd valid one opens and takes a prompt. Meanwhile a good
 * session opened before keeps answering and its stored rows stay byte-identical. Then a live
 * source that stalls: the client gets a coded error and the server stays up.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import type { ServerMessage } from '../../../engine/src/protocol.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { BAD_VIDEOS, isCode, loadCorpus } from '../decode/bad-video-corpus.js';
import { ffmpegChildren } from '../decode/media-fixtures.js';
import { testBundleDir } from '../model/test-bundle.js';
import { snapshotSession } from './store-snapshot.js';
import { TestClient } from './ws-client.js';

const corpus = loadCorpus();
let sessions: ModelSessions;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-badsrv-'));
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
});
afterAll(async () => {
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const isError = (m: ServerMessage): m is Extract<ServerMessage, { type: 'error' }> => m.type === 'error';

describe('a session per corpus clip', () => {
  let server: CinesegServer;
  let db: string;
  beforeAll(async () => {
    const good = join(tmp, 'good');
    mkdirSync(good);
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=96x64:r=10:d=2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', join(good, 'clip.mp4')]);
    db = join(tmp, 'cineseg.db');
    server = await startServer({ port: 0, sessions, store: db, media: [BAD_VIDEOS, good], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'no-player') });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('refuses each bad clip with its code, opens each odd one, and never disturbs a good session', async () => {
    const ws = server.url.replace('http', 'ws') + 'ws';
    // The good session: a prompt and 10 propagated frames, stored.
    const good = await TestClient.connect(ws);
    const g = await good.request({ type: 'startSession', clip: 'good/clip' });
    if (g.type !== 'sessionStarted') throw new Error(JSON.stringify(g));
    expect(await good.request({ type: 'addPoints', sessionId: g.sessionId, frame: 0, objectId: 1, points: [{ x: 48, y: 32 }] })).toMatchObject({ type: 'ack' });
    expect(await good.request({ type: 'propagate', sessionId: g.sessionId, maxFrames: 10 })).toMatchObject({ type: 'ack' });
    expect(await good.waitFor((m) => m.type === 'propagateDone', true)).toMatchObject({ frames: 11, cancelled: false });
    const before = snapshotSession(db, g.sessionId);
    expect(JSON.parse(before).masks.length).toBe(12); // the prompt's mask, then frames 0..10

    // Which corpus files the catalog offers (it lists video containers only).
    const ids = new Map((await server.catalog.scan()).map((c) => [c.path, c.id]));
    const offered = corpus.filter((c) => ids.has(c.path));
    expect(offered.length).toBeGreaterThanOrEqual(25);
    expect(offered.filter((c) => isCode(c.expect.track)).length).toBeGreaterThanOrEqual(20);

    const bad = await TestClient.connect(ws);
    const got: [string, string][] = [];
    for (const c of offered) {
      const r = await bad.request({ type: 'startSession', clip: ids.get(c.path)! });
      if (r.type === 'sessionStarted') {
        got.push([c.file, 'ok']);
        const p = c.expect.probe as Record<string, number>;
        if (p.width !== undefined) expect([r.width, r.height], c.file).toEqual([p.width, p.height]);
        if (p.frameCount !== undefined) expect(r.numFrames, c.file).toBe(p.frameCount);
        const before = bad.masks.length;
        const ack = await bad.request({ type: 'addPoints', sessionId: r.sessionId, frame: 0, objectId: 1, points: [{ x: Math.floor(r.width / 2), y: Math.floor(r.height / 2) }] });
        expect(ack, c.file).toMatchObject({ type: 'ack' });
        expect(
          bad.masks.slice(before).map((m) => [m.width, m.height]),
          c.file,
        ).toEqual([[r.width, r.height]]);
        expect(await bad.request({ type: 'closeSession', sessionId: r.sessionId })).toMatchObject({ type: 'ack' });
      } else {
        if (!isError(r)) throw new Error(`${c.file}: ${JSON.stringify(r)}`);
        expect(r.message, c.file).not.toContain('\n');
        got.push([c.file, r.code]);
      }
      // The server still answers, on this connection and on the good one.
      expect(await bad.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
      expect(await good.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
    }
    expect(got).toEqual(offered.map((c) => [c.file, c.expect.track]));
    await bad.close();

    // Nothing of the good session changed, and it still tracks.
    expect(snapshotSession(db, g.sessionId)).toBe(before);
    const n = good.masks.length;
    expect(await good.request({ type: 'addPoints', sessionId: g.sessionId, frame: 15, objectId: 2, points: [{ x: 20, y: 20 }] })).toMatchObject({ type: 'ack' });
    expect(good.masks.slice(n).map((m) => [m.frame, m.objectId])).toEqual([[15, 2]]);
    const res = await fetch(`${server.url}api/clips`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }[]).map((c) => c.id)).toContain('good/clip');
    await good.close();
    await server.manager.idle();
    expect(server.manager.size).toBe(0);
    expect(ffmpegChildren()).toEqual([]);
  });
});

describe('a live source that stalls', () => {
  it('streams what it got, then the client gets a coded error; the server stays up', async () => {
    const payload = readFileSync(corpus.find((c) => c.expect.live)!.path);
    const held: Socket[] = [];
    let connections = 0;
    // The first connection gets 2 s of video and then silence, never a close; later ones are
    // refused, so the source's reconnect attempt fails at once.
    const src = createServer((s) => {
      held.push(s);
      if (connections++ === 0) s.write(payload);
      else s.destroy();
    });
    await new Promise<void>((r) => src.listen(0, '127.0.0.1', r));
    const live = `tcp://127.0.0.1:${(src.address() as AddressInfo).port}`;
    const logs: string[] = [];
    const server = await startServer({
      port: 0,
      sessions,
      media: [],
      live,
      liveReconnect: { maxAttempts: 1, initialDelayMs: 50 },
      cacheDir: join(tmp, 'hls2'),
      playerDir: join(tmp, 'no-player'),
      log: (l) => logs.push(l),
    });
    try {
      const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
      const started = await c.request({ type: 'startSession', live: true });
      expect(started).toMatchObject({ type: 'sessionStarted', kind: 'live', width: 32, height: 24 });
      const err = await c.waitFor((m) => isError(m) && m.seq === null, true, 40_000);
      expect(c.frames.length).toBeGreaterThan(0);
      // The stall ends the connection (E_LIVE_STALLED, logged as the outage's cause); the one
      // reconnect attempt allowed is refused, so the source is reported lost.
      expect(isError(err) && err.code).toBe('E_LIVE_SOURCE_LOST');
      expect(logs.join('\n')).toMatch(/E_LIVE_STALLED/);
      expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
      await c.close();
    } finally {
      await server.destroy();
      for (const s of held) s.destroy();
      await new Promise((r) => src.close(r));
    }
    expect(ffmpegChildren()).toEqual([]);
  });
});
