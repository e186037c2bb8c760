/**
 * The real server on 127.0.0.1:0 with real ONNX sessions: protocol errors come back coded and the
 * server stays up; a prompt's mask arrives before its ack and is stored; propagation streams masks
 * in frame order; a client that leaves mid-propagation still gets its work stored.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { MAX_WS_PAYLOAD_BYTES, type ServerMessage } from '../../../engine/src/protocol.js';
import { MemorySink } from '../../../engine/src/server/annotation-sink.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { REPO_ROOT, testBundleDir } from '../model/test-bundle.js';
import { TestClient } from './ws-client.js';

const CLIP = 'generated/ultrasound-1';
const prompts = JSON.parse(readFileSync(join(REPO_ROOT, 'samples/generated/ultrasound-1/prompts.json'), 'utf8')) as {
  objects: { object_id: number; frame: number; point: [number, number] }[];
};

let server: CinesegServer;
let sessions: ModelSessions;
let sink: MemorySink;
let tmp: string;
let wsUrl: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-ws-'));
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  sink = new MemorySink();
  server = await startServer({ port: 0, sessions, sink, media: [join(REPO_ROOT, 'samples', 'generated')], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'no-player') });
  wsUrl = server.url.replace('http', 'ws') + 'ws';
});

afterAll(async () => {
  await server?.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const isError = (m: ServerMessage): m is Extract<ServerMessage, { type: 'error' }> => m.type === 'error';

describe('ws server: malformed input', () => {
  it('answers bad JSON, wrong types, unknown sessions and client binaries with coded errors and stays up', async () => {
    const c = await TestClient.connect(wsUrl);
    c.sendRaw('{"v":1,"seq":');
    expect(await c.waitFor(isError)).toMatchObject({ code: 'E_PROTOCOL_JSON', seq: null });
    expect(await c.request({ type: 'addPoints', sessionId: 'x', frame: -1, objectId: 1, points: [] })).toMatchObject({ type: 'error', code: 'E_PROTOCOL_INVALID' });
    expect(await c.request({ type: 'propagate', sessionId: 'no-such-session' })).toMatchObject({ type: 'error', code: 'E_SESSION_UNKNOWN' });
    expect(await c.request({ type: 'startSession', clip: 'generated/no-such-clip' })).toMatchObject({ type: 'error', code: 'E_CLIP_UNKNOWN' });
    expect(await c.request({ type: 'startSession', live: true })).toMatchObject({ type: 'error', code: 'E_LIVE_UNAVAILABLE' });
    c.sendRaw(Buffer.from([1, 2, 3]));
    expect(await c.waitFor((m) => isError(m) && m.code === 'E_PROTOCOL_BINARY')).toBeTruthy();
    // Same connection still works.
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'ack', request: 'ping' });
    await c.close();
  });

  it('closes a connection that sends more than the payload bound, and serves the next one', async () => {
    const ws = new WebSocket(wsUrl);
    await new Promise((r) => ws.once('open', r));
    const code = await new Promise<number>((r) => {
      ws.once('close', (c) => r(c));
      ws.on('error', () => undefined);
      ws.send(Buffer.alloc(MAX_WS_PAYLOAD_BYTES + 1, 32).toString('utf8'));
    });
    expect(code).toBe(1009);
    const c = await TestClient.connect(wsUrl);
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
    await c.close();
  });
});

describe('ws server: a recorded clip', () => {
  it('streams a prompt mask before the ack, then propagation masks in order, all stored', async () => {
    const c = await TestClient.connect(wsUrl);
    const started = await c.request({ type: 'startSession', clip: CLIP });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    expect(started).toMatchObject({ kind: 'recorded', width: 480, height: 360, numFrames: 90, clip: CLIP });
    expect(started.framePtsUs).toHaveLength(90);
    expect(started.framePtsUs![1]! - started.framePtsUs![0]!).toBeCloseTo(1e6 / 30, -1);
    const sid = started.sessionId;

    const o = prompts.objects[0]!;
    const ack = await c.request({ type: 'addPoints', sessionId: sid, frame: o.frame, objectId: o.object_id, points: [{ x: o.point[0], y: o.point[1] }] });
    expect(ack).toMatchObject({ type: 'ack', request: 'addPoints' });
    // The mask was sent (and stored) before the ack.
    expect(c.masks).toHaveLength(1);
    expect(c.masks[0]).toMatchObject({ handle: started.handle, frame: o.frame, objectId: o.object_id, width: 480, height: 360, ptsUs: started.framePtsUs![o.frame] });
    expect(sink.sessions.get(sid)!.masks.has(`${o.object_id}:${o.frame}`)).toBe(true);

    // A prompt while propagating is refused with a code.
    const p = await c.request({ type: 'propagate', sessionId: sid, direction: 'forward', maxFrames: 8 });
    expect(p).toMatchObject({ type: 'ack' });
    const busy = await c.request({ type: 'addPoints', sessionId: sid, frame: 3, objectId: 1, points: [{ x: 10, y: 10 }] });
    expect(busy).toMatchObject({ type: 'error', code: 'E_SESSION_BUSY' });
    const done = await c.waitFor((m) => m.type === 'propagateDone', true);
    expect(done).toMatchObject({ frames: 9, cancelled: false });
    const propagated = c.masks.slice(1).map((m) => m.frame);
    expect(propagated).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (const m of c.masks.slice(1)) expect(m.ptsUs).toBe(started.framePtsUs![m.frame]);
    expect(c.messages.filter((m) => m.type === 'propagateProgress').length).toBe(9);
    expect(sink.sessions.get(sid)!.masks.size).toBe(9);

    expect(await c.request({ type: 'removeObject', sessionId: sid, objectId: 99 })).toMatchObject({ type: 'error', code: 'E_OBJECT_UNKNOWN' });
    expect(await c.request({ type: 'removeObject', sessionId: sid, objectId: o.object_id })).toMatchObject({ type: 'ack' });
    expect(sink.sessions.get(sid)!.masks.size).toBe(0);
    expect(await c.request({ type: 'propagate', sessionId: sid })).toMatchObject({ type: 'error', code: 'E_TRACKER_STATE' });
    expect(await c.request({ type: 'closeSession', sessionId: sid })).toMatchObject({ type: 'ack' });
    expect(await c.request({ type: 'closeSession', sessionId: sid })).toMatchObject({ type: 'error', code: 'E_SESSION_UNKNOWN' });
    expect(sink.sessions.get(sid)!.closed).toBe(true);
    await c.close();
  });

  it('answers requests sent back to back in their order: a propagation behind a removal of its only object is refused, never acked and then failed', async () => {
    const c = await TestClient.connect(wsUrl);
    const started = await c.request({ type: 'startSession', clip: CLIP });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    const sid = started.sessionId;
    const o = prompts.objects[0]!;
    const click = { type: 'addPoints', sessionId: sid, frame: o.frame, objectId: 1, points: [{ x: o.point[0], y: o.point[1] }] };
    expect(await c.request(click)).toMatchObject({ type: 'ack' });
    // Not awaited one by one: the removal is still queued (it rebuilds the tracker) when the
    // propagation request arrives.
    const [removed, propagated] = await Promise.all([c.request({ type: 'removeObject', sessionId: sid, objectId: 1 }), c.request({ type: 'propagate', sessionId: sid, maxFrames: 3 })]);
    expect(removed).toMatchObject({ type: 'ack' });
    expect(propagated).toMatchObject({ type: 'error', code: 'E_TRACKER_STATE' });
    // A click then a propagation, back to back: the propagation sees the click's object; a
    // click sent after the propagation request waits for it (busy), as the client ordered them.
    const [clicked, again, late] = await Promise.all([c.request(click), c.request({ type: 'propagate', sessionId: sid, maxFrames: 3 }), c.request({ ...click, frame: 5 })]);
    expect(clicked).toMatchObject({ type: 'ack' });
    expect(again).toMatchObject({ type: 'ack' });
    expect(late).toMatchObject({ type: 'error', code: 'E_SESSION_BUSY' });
    const done = await c.waitFor((m) => m.type === 'propagateDone', true);
    expect(done).toMatchObject({ frames: 4, cancelled: false });
    // Exactly one answer per request: no error after an ack.
    const answers = new Map<number, number>();
    for (const m of c.messages) if (m.seq !== null && (m.type === 'ack' || m.type === 'error' || m.type === 'sessionStarted')) answers.set(m.seq, (answers.get(m.seq) ?? 0) + 1);
    expect([...answers.values()].every((n) => n === 1)).toBe(true);
    await c.close();
  });

  it('cancels a propagation on request', async () => {
    const c = await TestClient.connect(wsUrl);
    const started = await c.request({ type: 'startSession', clip: CLIP });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    const o = prompts.objects[0]!;
    await c.request({ type: 'addPoints', sessionId: started.sessionId, frame: 0, objectId: 1, points: [{ x: o.point[0], y: o.point[1] }] });
    await c.request({ type: 'propagate', sessionId: started.sessionId });
    await c.waitFor((m) => m.type === 'propagateProgress', true);
    expect(await c.request({ type: 'cancelPropagate', sessionId: started.sessionId })).toMatchObject({ type: 'ack' });
    const done = await c.waitFor((m) => m.type === 'propagateDone', true);
    expect(done).toMatchObject({ cancelled: true });
    expect((done as { frames: number }).frames).toBeLessThan(90);
    await c.close();
  });

  it('finishes and stores a propagation whose client left', async () => {
    const c = await TestClient.connect(wsUrl);
    const started = await c.request({ type: 'startSession', clip: CLIP });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    const o = prompts.objects[0]!;
    await c.request({ type: 'addPoints', sessionId: started.sessionId, frame: 0, objectId: 1, points: [{ x: o.point[0], y: o.point[1] }] });
    await c.request({ type: 'propagate', sessionId: started.sessionId, maxFrames: 20 });
    await c.close();
    await server.manager.idle();
    const stored = sink.sessions.get(started.sessionId)!;
    expect(stored.masks.size).toBe(21);
    expect(stored.closed).toBe(true);
    expect(server.manager.size).toBe(0);
  });
});
