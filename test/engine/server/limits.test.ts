/**
 * The server's bounds with small limits (real server on 127.0.0.1:0, real ws clients, real ONNX
 * sessions): sessions per connection and server-wide (concurrent opens cannot overshoot), the
 * per-session prompt bucket (coded E_RATE_LIMITED, the connection and other sessions unaffected),
 * the connection bound (503 on upgrade) and the message size bound (1009 close).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import type { ServerMessage } from '../../../engine/src/protocol.js';
import { MemorySink } from '../../../engine/src/server/annotation-sink.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { resolveLimits } from '../../../engine/src/server/limits.js';
import { TokenBucket } from '../../../engine/src/server/token-bucket.js';
import { testBundleDir } from '../model/test-bundle.js';
import { closeWs, tryUpgrade } from './http-client.js';
import { writeTinyClip } from './tiny-clip.js';
import { TestClient } from './ws-client.js';

const CLIP = 'media/square';
let tmp: string;
let sessions: ModelSessions;
let server: CinesegServer;
let sink: MemorySink;
let wsUrl: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-limits-'));
  mkdirSync(join(tmp, 'media'));
  await writeTinyClip(join(tmp, 'media', 'square.mp4'));
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  sink = new MemorySink();
  server = await startServer({
    port: 0,
    sessions,
    sink,
    media: [join(tmp, 'media')],
    cacheDir: join(tmp, 'hls'),
    playerDir: join(tmp, 'no-player'),
    limits: { maxSessions: 3, maxSessionsPerConnection: 2, promptBurst: 3, promptsPerSecond: 0.2, maxConnections: 4, maxMessageBytes: 64 * 1024 },
  });
  wsUrl = server.url.replace('http', 'ws') + 'ws';
});

afterAll(async () => {
  await server?.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

async function start(c: TestClient): Promise<ServerMessage> {
  return c.request({ type: 'startSession', clip: CLIP });
}

const sid = (m: ServerMessage): string => {
  if (m.type !== 'sessionStarted') throw new Error(JSON.stringify(m));
  return m.sessionId;
};

describe('limits', () => {
  it('fills defaults and refuses nonsense', () => {
    expect(resolveLimits()).toMatchObject({ maxConnections: 64, maxSessions: 16, maxSessionsPerConnection: 4, promptBurst: 20, promptsPerSecond: 10 });
    expect(() => resolveLimits({ maxSessions: 0 })).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => resolveLimits({ promptsPerSecond: Number.NaN })).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => resolveLimits({ maxConnections: 2.5 })).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });

  it('TokenBucket: burst at once, then the rate', () => {
    let t = 0;
    const b = new TokenBucket(2, 4, () => t);
    expect([b.take(), b.take(), b.take()]).toEqual([true, true, false]);
    expect(b.retryAfterMs()).toBe(250);
    t = 249;
    expect(b.take()).toBe(false);
    t = 251;
    expect(b.take()).toBe(true);
    t = 10_000;
    expect([b.take(), b.take(), b.take()]).toEqual([true, true, false]);
  });
});

describe('session bounds', () => {
  it('per connection: concurrent opens cannot overshoot; server-wide: the next connection is refused; closing frees a slot', async () => {
    const a = await TestClient.connect(wsUrl);
    // Three opens in flight at once: the slots are taken before the clip is decoded.
    const replies = await Promise.all([start(a), start(a), start(a)]);
    const started = replies.filter((m) => m.type === 'sessionStarted');
    const refused = replies.filter((m) => m.type === 'error');
    expect(started).toHaveLength(2);
    expect(refused).toEqual([expect.objectContaining({ code: 'E_SESSION_LIMIT' })]);
    expect((refused[0] as { message: string }).message).toContain('this connection');

    const b = await TestClient.connect(wsUrl);
    const b1 = sid(await start(b));
    const full = await start(b);
    expect(full).toMatchObject({ type: 'error', code: 'E_SESSION_LIMIT' });
    expect((full as { message: string }).message).toContain('server');
    expect(server.manager.counts()).toEqual({ recorded: 3, live: 0 });

    expect(await a.request({ type: 'closeSession', sessionId: sid(started[0]!) })).toMatchObject({ type: 'ack' });
    const b2 = sid(await start(b));
    expect(b2).not.toBe(b1);
    // A departed client's sessions are released with it.
    await a.close();
    await server.manager.idle();
    expect(server.manager.counts()).toEqual({ recorded: 2, live: 0 });
    await b.close();
    await server.manager.idle();
    expect(server.manager.counts()).toEqual({ recorded: 0, live: 0 });
  });

  it('a connection that leaves while its session opens does not leave the session behind', async () => {
    const before = new Set(sink.sessions.keys());
    const c = await TestClient.connect(wsUrl);
    c.sendRaw(JSON.stringify({ v: 1, seq: 1, type: 'startSession', clip: CLIP }));
    await c.close();
    // The open finishes after the client left: the session is registered in the sink, then released.
    const fresh = () => [...sink.sessions].filter(([id]) => !before.has(id)).map(([, s]) => s);
    for (let i = 0; i < 400 && !(fresh().length === 1 && fresh()[0]!.closed); i++) await new Promise((r) => setTimeout(r, 50));
    expect(fresh()).toEqual([expect.objectContaining({ closed: true })]);
    await server.manager.idle();
    expect(server.manager.size).toBe(0);
    expect(server.manager.counts()).toEqual({ recorded: 0, live: 0 });
  });
});

describe('prompt rate', () => {
  it('refuses prompts beyond the bucket with E_RATE_LIMITED; the connection and other sessions carry on', async () => {
    const c = await TestClient.connect(wsUrl);
    const s1 = sid(await start(c));
    const s2 = sid(await start(c));
    const prompt = (sessionId: string, x: number) => c.request({ type: 'addPoints', sessionId, frame: 0, objectId: 1, points: [{ x, y: 20 }] });
    const replies = await Promise.all(Array.from({ length: 7 }, (_, i) => prompt(s1, 10 + i)));
    expect(replies.filter((m) => m.type === 'ack')).toHaveLength(3);
    const limited = replies.filter((m) => m.type === 'error');
    expect(limited).toHaveLength(4);
    for (const e of limited) expect(e).toMatchObject({ code: 'E_RATE_LIMITED' });
    // Still connected, and the other session's bucket is its own.
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
    expect(await prompt(s2, 20)).toMatchObject({ type: 'ack', request: 'addPoints' });
    // Another client's session is unaffected too.
    const d = await TestClient.connect(wsUrl);
    const s3 = sid(await start(d));
    expect(await d.request({ type: 'addPoints', sessionId: s3, frame: 0, objectId: 1, points: [{ x: 20, y: 20 }] })).toMatchObject({ type: 'ack' });
    // Non-prompt requests are not rate-limited.
    expect(await c.request({ type: 'propagate', sessionId: s1, maxFrames: 2 })).toMatchObject({ type: 'ack' });
    await c.waitFor((m) => m.type === 'propagateDone', true);
    await c.close();
    await d.close();
    await server.manager.idle();
  });
});

describe('connection and message bounds', () => {
  it('answers the upgrade beyond maxConnections with 503 E_CONNECTION_LIMIT, and accepts again once one leaves', async () => {
    const open = await Promise.all(Array.from({ length: 4 }, () => TestClient.connect(wsUrl)));
    const r = await tryUpgrade(wsUrl);
    expect(r).toMatchObject({ ok: false, status: 503 });
    if (!r.ok) expect(JSON.parse(r.body)).toMatchObject({ code: 'E_CONNECTION_LIMIT' });
    for (const c of open) expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
    await open[0]!.close();
    for (let i = 0; i < 100 && server.ws.connections >= 4; i++) await new Promise((res) => setTimeout(res, 20));
    const again = await tryUpgrade(wsUrl);
    expect(again.ok).toBe(true);
    if (again.ok) await closeWs(again.ws);
    for (const c of open.slice(1)) await c.close();
  });

  it('closes a connection whose message exceeds maxMessageBytes (1009); a message under it is answered', async () => {
    const c = await TestClient.connect(wsUrl);
    c.sendRaw(JSON.stringify({ v: 1, seq: 1, type: 'ping', pad: 'x'.repeat(60 * 1024) }));
    expect(await c.waitFor((m) => m.seq === 1)).toMatchObject({ type: 'ack', request: 'ping' });
    const code = await new Promise<number>((res) => {
      c.ws.once('close', (k) => res(k));
      c.sendRaw('x'.repeat(64 * 1024 + 1));
    });
    expect(code).toBe(1009);
  });
});
