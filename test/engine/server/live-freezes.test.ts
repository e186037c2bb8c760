/**
 * Freezing a live view over the real server and a looped clip: a frame a viewer froze stays
 * promptable long after it left the tracker's held frames (a click on it is applied there, the ack
 * says so, its mask comes for that frame), while a click on an old frame nobody froze goes to the
 * newest frame; one frozen frame per viewer, released on unfreeze and on close. With
 * `liveRecordPictures` the JPEGs sent to viewers are stored and served by GET /api/live-records.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { decodeLiveFrame, type Ack, type ServerMessage, type SessionStarted } from '../../../engine/src/protocol.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { REPO_ROOT, testBundleDir } from '../model/test-bundle.js';
import { TestClient } from './ws-client.js';

const CLIP_DIR = join(REPO_ROOT, 'samples/generated/endoscopy-1');
const prompts = JSON.parse(readFileSync(join(CLIP_DIR, 'prompts.json'), 'utf8')) as { objects: { object_id: number; point: [number, number] }[] };
const HOLD = 6; // LivePipeline's default holdFrames

let sessions: ModelSessions;
let tmp: string;
let server: CinesegServer;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-live-freeze-'));
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  server = await startServer({
    port: 0,
    sessions,
    media: [],
    store: join(tmp, 'store.db'),
    cacheDir: join(tmp, 'hls'),
    playerDir: tmp,
    live: `loop:${join(CLIP_DIR, 'clip.mp4')}`,
    liveGraceMs: 0,
    liveRecordPictures: true,
  });
});

afterAll(async () => {
  await server?.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const until = async (cond: () => boolean, ms = 60_000) => {
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

const lastFrame = (c: TestClient) => decodeLiveFrame(c.frames.at(-1)!).frame;
/**
 * Frame `x` has left the server's held frames once more than HOLD frames after it were tracked
 * (each tracked frame sends one frame message). Counting frame indices would not do: with drops the
 * held frames span more indices than HOLD.
 */
const passed = (c: TestClient, x: number) => c.frames.filter((f) => decodeLiveFrame(f).frame > x).length > HOLD + 1;

describe('live freeze', () => {
  it('keeps a frozen frame promptable past the held frames; one per viewer, released on unfreeze and close', async () => {
    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    const started = (await c.request({ type: 'startSession', live: true })) as SessionStarted;
    expect(started.picturesStored).toBe(true);
    expect(started.pixelSpacingMm).toBeUndefined(); // an MP4 states no pixel size
    const sid = started.sessionId;
    await until(() => c.frames.length >= 3);
    const shown = lastFrame(c);
    const fz = ack(await c.request({ type: 'freezeLive', sessionId: sid, frame: shown }));
    // The frame on screen was still held (the server is a frame or two ahead at most here).
    expect(fz.frame).toBe(shown);
    expect(server.live!.frozenFrames).toEqual([shown]);

    // Let the tracker move well past its held frames.
    await until(() => passed(c, shown + 1));
    expect(server.live!.heldFrames[0]).toBeGreaterThan(shown + 1);
    const o = prompts.objects[0]!;
    const click = ack(await c.request({ type: 'addPoints', sessionId: sid, frame: shown, objectId: 1, newObject: true, points: [{ x: o.point[0], y: o.point[1], label: 1 }] }));
    expect(click.frame).toBe(shown);
    const id = click.objectId!;
    // Its mask went out for the frozen frame, and the object is tracked on the frames after.
    expect(c.masks.some((m) => m.frame === shown && m.objectId === id)).toBe(true);
    const t = server.live!.trackedFrames;
    await until(() => c.masks.some((m) => m.objectId === id && m.frame > t));

    // An old frame nobody froze is no longer held: that click goes to the newest frame.
    const old = shown + 1;
    const other = ack(await c.request({ type: 'addPoints', sessionId: sid, frame: old, objectId: id, points: [{ x: o.point[0], y: o.point[1], label: 1 }], clearOld: false }));
    expect(other.frame).toBeGreaterThan(old);

    // Freezing again replaces the viewer's frame (one per viewer).
    await until(() => c.frames.length >= 1);
    const again = ack(await c.request({ type: 'freezeLive', sessionId: sid, frame: lastFrame(c) }));
    expect(server.live!.frozenFrames).toEqual([again.frame]);
    ack(await c.request({ type: 'unfreezeLive', sessionId: sid }));
    expect(server.live!.frozenFrames).toEqual([]);
    // A prompt on the released frame, once it left the held ones, lands on the newest frame.
    await until(() => passed(c, again.frame!));
    const late = ack(await c.request({ type: 'addPoints', sessionId: sid, frame: again.frame!, objectId: id, points: [{ x: o.point[0], y: o.point[1], label: 1 }], clearOld: false }));
    expect(late.frame).toBeGreaterThan(again.frame!);

    // Closing the session releases its frozen frame.
    const second = (await c.request({ type: 'startSession', live: true })) as SessionStarted;
    await until(() => c.frames.length >= 1);
    ack(await c.request({ type: 'freezeLive', sessionId: second.sessionId, frame: lastFrame(c) }));
    expect(server.live!.frozenFrames).toHaveLength(1);
    ack(await c.request({ type: 'closeSession', sessionId: second.sessionId }));
    await until(() => server.live!.frozenFrames.length === 0, 10_000);

    // Freeze is for live sessions only, and a bad message is refused.
    const bad = await c.request({ type: 'freezeLive', sessionId: sid });
    expect(bad).toMatchObject({ type: 'error', code: 'E_PROTOCOL_INVALID' });

    // The pictures the viewer got are stored under the record and served with their frame numbers.
    const record = started.recordId!;
    const list = (await (await fetch(`${server.url}api/live-records/${record}/frames`)).json()) as { frames: number[] };
    expect(list.frames.length).toBeGreaterThan(HOLD);
    expect(list.frames).toContain(shown);
    const r = await fetch(`${server.url}api/live-records/${record}/frames/${shown}.jpg`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('image/jpeg');
    const body = new Uint8Array(await r.arrayBuffer());
    expect([body[0], body[1]]).toEqual([0xff, 0xd8]);
    expect((await fetch(`${server.url}api/live-records/${record}/frames/999999999.jpg`)).status).toBe(404);
    // A traversal never becomes a path (the request path check refuses it first, else the id pattern).
    expect([403, 404]).toContain((await fetch(`${server.url}api/live-records/..%2F..%2Fetc/frames/1.jpg`)).status);
    expect(await (await fetch(`${server.url}api/live-records`)).json()).toContain(record);
    await c.close();
  });
});
