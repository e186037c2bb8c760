/**
 * Connections that stop answering (real server on 127.0.0.1:0, real ws clients, real ONNX
 * sessions, real ffmpeg): a dead tab (a client that answers no ping) is terminated and its
 * sessions released, so dead tabs no longer lock everyone out with E_SESSION_LIMIT; a dropped
 * client resumes its session with its token and gets every current mask; a stalled live viewer
 * (its socket paused) gets frames dropped as units while the server's unsent bytes stay bounded
 * and another viewer keeps getting frames; a stalled recorded viewer makes its propagation wait,
 * then is closed as too slow.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { decodeLiveFrame, type ServerMessage, type SessionStarted } from '../../../engine/src/protocol.js';
import { MemorySink } from '../../../engine/src/server/annotation-sink.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { SocketOutput } from '../../../engine/src/server/socket-output.js';
import { REPO_ROOT, testBundleDir } from '../model/test-bundle.js';
import { writeTinyClip } from './tiny-clip.js';
import { TestClient } from './ws-client.js';

const CLIP = 'media/square';
let tmp: string;
let sessions: ModelSessions;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-conn-'));
  mkdirSync(join(tmp, 'media'));
  await writeTinyClip(join(tmp, 'media', 'square.mp4'), { frames: 40 });
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
});
afterAll(async () => {
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const until = async (cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> => {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};
const started = (m: ServerMessage): SessionStarted => {
  if (m.type !== 'sessionStarted') throw new Error(JSON.stringify(m));
  return m;
};
const socketOf = (c: TestClient): Socket => (c.ws as unknown as { _socket: Socket })._socket;
const wsUrl = (s: CinesegServer): string => s.url.replace('http', 'ws') + 'ws';

async function serve(extra: Parameters<typeof startServer>[0] = {}): Promise<{ server: CinesegServer; sink: MemorySink }> {
  const sink = new MemorySink();
  const server = await startServer({ port: 0, sessions, sink, media: [join(tmp, 'media')], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'no-player'), ...extra });
  return { server, sink };
}

describe('heartbeat', () => {
  let server: CinesegServer;
  beforeAll(async () => {
    ({ server } = await serve({ limits: { maxSessions: 2, heartbeatIntervalMs: 100, heartbeatMissedPongs: 2, resumeGraceMs: 300, idleTimeoutMs: 0 } }));
  });
  afterAll(async () => server?.destroy());

  it('terminates tabs that answer no ping and releases their sessions: the next client gets a slot', async () => {
    const dead = [await TestClient.connect(wsUrl(server)), await TestClient.connect(wsUrl(server))];
    for (const d of dead) started(await d.request({ type: 'startSession', clip: CLIP }));
    // Paused: the tab reads nothing from now on (a frozen or sleeping tab), so it answers no ping.
    for (const d of dead) socketOf(d).pause();
    const live = await TestClient.connect(wsUrl(server));
    expect(await live.request({ type: 'startSession', clip: CLIP })).toMatchObject({ type: 'error', code: 'E_SESSION_LIMIT' });

    await until(() => server.ws.closedBy.heartbeat === 2 && server.ws.connections === 1, 5000);
    // The grace passes with no resume: the sessions are released.
    await until(() => server.manager.size === 0, 5000);
    await server.manager.idle();
    started(await live.request({ type: 'startSession', clip: CLIP }));
    // A client that answers pings stays through many heartbeats.
    await new Promise((r) => setTimeout(r, 600));
    expect(await live.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
    expect(server.ws.closedBy.heartbeat).toBe(2);
    await live.close();
    for (const d of dead) d.ws.terminate();
  });
});

describe('resume', () => {
  let server: CinesegServer;
  let sink: MemorySink;
  beforeAll(async () => {
    ({ server, sink } = await serve({ limits: { resumeGraceMs: 1500, heartbeatIntervalMs: 0 } }));
  });
  afterAll(async () => server?.destroy());

  it('a dropped client takes its session back with its token and gets every current mask; a wrong token does not', async () => {
    const a = await TestClient.connect(wsUrl(server));
    const s = started(await a.request({ type: 'startSession', clip: CLIP }));
    expect(s.resumeToken).toMatch(/^[\w-]{20,}$/);
    expect(await a.request({ type: 'addPoints', sessionId: s.sessionId, frame: 0, objectId: 1, points: [{ x: 18, y: 22 }] })).toMatchObject({ type: 'ack' });
    expect(await a.request({ type: 'propagate', sessionId: s.sessionId })).toMatchObject({ type: 'ack' });
    await a.waitFor((m) => m.type === 'propagateProgress' && m.done >= 2, true);
    a.ws.terminate();

    const b = await TestClient.connect(wsUrl(server));
    expect(await b.request({ type: 'resume', sessionId: s.sessionId, resumeToken: 'x'.repeat(24) })).toMatchObject({ type: 'error', code: 'E_SESSION_UNKNOWN' });
    const r = started(await b.request({ type: 'resume', sessionId: s.sessionId, resumeToken: s.resumeToken }));
    expect(r).toMatchObject({ resumed: true, sessionId: s.sessionId, handle: s.handle, numFrames: 40 });
    if (r.propagating) await b.waitFor((m) => m.type === 'propagateDone', true);
    // Every frame's mask is here (resent or sent since), and each is the stored one.
    const stored = sink.sessions.get(s.sessionId)!.masks;
    await until(() => new Set(b.masks.map((m) => m.frame)).size === 40, 10_000);
    for (const m of stored.values()) {
      const got = b.masks.filter((x) => x.frame === m.frame && x.objectId === m.objectId).at(-1)!;
      expect([...got.counts]).toEqual([...m.counts]);
    }
    // The session is b's now: it can go on with it; the old connection's owner cannot.
    expect(await b.request({ type: 'addPoints', sessionId: s.sessionId, frame: 5, objectId: 2, points: [{ x: 25, y: 20 }] })).toMatchObject({ type: 'ack' });
    // After b's grace too it would be released; a clean close releases at once.
    await b.close();
    await server.manager.idle();
    expect(server.manager.size).toBe(0);
  });

  it('after the grace the session is released and a resume is refused', async () => {
    const a = await TestClient.connect(wsUrl(server));
    const s = started(await a.request({ type: 'startSession', clip: CLIP }));
    a.ws.terminate();
    await until(() => server.manager.size === 1);
    await new Promise((r) => setTimeout(r, 1800));
    await server.manager.idle();
    expect(server.manager.size).toBe(0);
    expect(sink.sessions.get(s.sessionId)!.closed).toBe(true);
    const b = await TestClient.connect(wsUrl(server));
    expect(await b.request({ type: 'resume', sessionId: s.sessionId, resumeToken: s.resumeToken })).toMatchObject({ type: 'error', code: 'E_SESSION_UNKNOWN' });
    await b.close();
  });
});

describe('a stalled live viewer', () => {
  let server: CinesegServer;
  beforeAll(async () => {
    ({ server } = await serve({
      media: [],
      live: `loop:${join(REPO_ROOT, 'samples/generated/endoscopy-1/clip.mp4')}`,
      limits: { liveMaxBufferedBytes: 64 << 10, maxBufferedBytes: 8 << 20, heartbeatIntervalMs: 0 },
    }));
  });
  afterAll(async () => server?.destroy());

  it('gets whole frames dropped while unsent bytes stay bounded; another viewer keeps getting frames', async () => {
    const stalled = await TestClient.connect(wsUrl(server));
    const ok = await TestClient.connect(wsUrl(server));
    started(await stalled.request({ type: 'startSession', live: true }));
    started(await ok.request({ type: 'startSession', live: true }));
    await until(() => stalled.frames.length > 3 && ok.frames.length > 3);
    socketOf(stalled).pause();
    // Until the kernel's socket buffers are full nothing is held in the server; then drops start.
    await until(async () => (await server.metrics.value('cineseg_live_viewer_frames_dropped_total')) > 0, 60_000);
    const okBefore = ok.frames.length;
    let peak = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 3000) {
      peak = Math.max(peak, server.ws.bufferedBytes);
      await new Promise((r) => setTimeout(r, 10));
    }
    // Bounded: the live bound plus at most one frame (picture + frame message of 480x360 JPEGs).
    expect(peak).toBeLessThan((64 << 10) + 200_000);
    expect(ok.frames.length - okBefore).toBeGreaterThan(20);
    expect(stalled.frames.length).toBeGreaterThan(0);

    // Resumed reading, the viewer gets only whole frames: every frame message after a picture of
    // the same index (or with its picture inline), never a picture alone before another frame.
    const from = stalled.binaryOrder.length;
    socketOf(stalled).resume();
    await until(() => stalled.binaryOrder.length > from + 40);
    const order = stalled.binaryOrder.slice(from);
    for (let i = 0; i < order.length - 1; i++) {
      const o = order[i]!;
      if (o.kind === 'picture') expect(order.slice(i + 1).find((x) => x.kind !== 'mask')).toMatchObject({ kind: 'frame', frame: o.frame });
    }
    const last = decodeLiveFrame(stalled.frames.at(-1)!);
    expect(last.frame).toBeGreaterThan(0);
    await stalled.close();
    await ok.close();
  });
});

describe('a stalled recorded viewer', () => {
  it('drained() waits while the viewer takes nothing and resumes when it reads; past the drain timeout the viewer is too slow', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    const pair = async (drainTimeoutMs: number, onTooSlow: (why: string) => void) => {
      const srv = new Promise<WebSocket>((r) => wss.once('connection', r));
      const client = new WebSocket(url);
      await new Promise((r) => client.once('open', r));
      const ws = await srv;
      const out = new SocketOutput(ws, { liveMaxBufferedBytes: 1 << 20, recordedMaxBufferedBytes: 256 << 10, maxBufferedBytes: 256 << 20, drainTimeoutMs, onTooSlow });
      return { client, ws, out };
    };
    const big = new Uint8Array(1 << 20).fill(7);
    // Byte 4..8 is a session handle no live sessionStarted announced: a recorded mask stream.
    const a = await pair(60_000, () => undefined);
    (a.client as unknown as { _socket: Socket })._socket.pause();
    for (let i = 0; i < 24; i++) a.out.binary(big);
    expect(a.ws.bufferedAmount).toBeGreaterThan(256 << 10);
    let drained = false;
    const d = a.out.drained().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(drained).toBe(false);
    (a.client as unknown as { _socket: Socket })._socket.resume();
    await d;
    expect(a.ws.bufferedAmount).toBeLessThanOrEqual(256 << 10);
    a.client.close();

    let why = '';
    const b = await pair(300, (w) => (why = w));
    (b.client as unknown as { _socket: Socket })._socket.pause();
    for (let i = 0; i < 24; i++) b.out.binary(big);
    const t0 = Date.now();
    await b.out.drained();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(why).toMatch(/^E_CLIENT_SLOW: /);
    // Closed for sends: nothing more is queued behind the stalled socket.
    const held = b.ws.bufferedAmount;
    b.out.binary(big);
    expect(b.ws.bufferedAmount).toBe(held);
    b.client.terminate();
    b.ws.terminate();
    await new Promise((r) => wss.close(r));
  });

  it("a paused viewer's propagation does not hold another viewer's", async () => {
    const { server } = await serve({ limits: { recordedMaxBufferedBytes: 1, drainTimeoutMs: 2000, heartbeatIntervalMs: 0, resumeGraceMs: 0 } });
    try {
      const stalled = await TestClient.connect(wsUrl(server));
      const s = started(await stalled.request({ type: 'startSession', clip: CLIP }));
      expect(await stalled.request({ type: 'addPoints', sessionId: s.sessionId, frame: 0, objectId: 1, points: [{ x: 18, y: 22 }] })).toMatchObject({ type: 'ack' });
      socketOf(stalled).pause();
      stalled.sendRaw(JSON.stringify({ v: 1, seq: 99, type: 'propagate', sessionId: s.sessionId }));
      const other = await TestClient.connect(wsUrl(server));
      const o = started(await other.request({ type: 'startSession', clip: CLIP }));
      expect(await other.request({ type: 'addPoints', sessionId: o.sessionId, frame: 0, objectId: 1, points: [{ x: 18, y: 22 }] })).toMatchObject({ type: 'ack' });
      expect(await other.request({ type: 'propagate', sessionId: o.sessionId })).toMatchObject({ type: 'ack' });
      await other.waitFor((m) => m.type === 'propagateDone', true, 60_000);
      expect(new Set(other.masks.filter((m) => m.handle === o.handle).map((m) => m.frame)).size).toBe(40);
      expect(server.ws.bufferedBytes).toBeLessThan(64 << 10);
      await other.close();
      stalled.ws.terminate();
    } finally {
      await server.destroy();
    }
  });
});
