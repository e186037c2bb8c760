/**
 * Live pipeline over the real server: a looped clip played in real time, frames (JPEG) and masks
 * arrive with matching indices, drops are counted, and stopping releases ffmpeg.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { decodeLiveFrame, decodeLivePicture } from '../../../engine/src/protocol.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { REPO_ROOT, testBundleDir } from '../model/test-bundle.js';
import { TestClient } from './ws-client.js';

const CLIP_DIR = join(REPO_ROOT, 'samples/generated/endoscopy-1');
const prompts = JSON.parse(readFileSync(join(CLIP_DIR, 'prompts.json'), 'utf8')) as { objects: { object_id: number; point: [number, number] }[] };

let server: CinesegServer;
let sessions: ModelSessions;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-live-'));
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  server = await startServer({ port: 0, sessions, media: [], cacheDir: join(tmp, 'hls'), playerDir: tmp, live: `loop:${join(CLIP_DIR, 'clip.mp4')}`, liveGraceMs: 0 });
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
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('live session', () => {
  it('streams JPEG frames, then masks with the same frame index after a prompt; stops when the client leaves', async () => {
    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    const started = await c.request({ type: 'startSession', live: true });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    expect(started).toMatchObject({ kind: 'live', width: 480, height: 360, numFrames: null });
    await until(() => c.frames.length >= 5);
    const f0 = decodeLiveFrame(c.frames[0]!);
    // The picture went ahead of the frame message (same index), as a whole JPEG.
    expect(f0.jpeg).toHaveLength(0);
    const p0 = c.pictures.map((b) => decodeLivePicture(b)).find((p) => p.frame === f0.frame)!;
    expect(p0).toMatchObject({ handle: started.handle });
    expect([p0.jpeg[0], p0.jpeg[1], p0.jpeg.at(-2), p0.jpeg.at(-1)]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
    expect(f0).toMatchObject({ handle: started.handle, width: 480, height: 360, objects: 0 });
    expect(c.masks).toHaveLength(0);

    const o = prompts.objects[0]!;
    const ack = await c.request({ type: 'addPoints', sessionId: started.sessionId, frame: f0.frame, objectId: 1, points: [{ x: o.point[0], y: o.point[1] }] });
    expect(ack).toMatchObject({ type: 'ack' });
    const nFrames = c.frames.length;
    await until(() => c.frames.length >= nFrames + 5);
    // Each frame after the prompt was preceded by its masks (same index and PTS).
    const frames = c.frames.map((b) => decodeLiveFrame(b));
    const withObj = frames.filter((f) => f.objects === 1);
    expect(withObj.length).toBeGreaterThanOrEqual(5);
    for (const f of withObj) {
      const m = c.masks.find((x) => x.frame === f.frame)!;
      expect(m).toBeDefined();
      expect(m.ptsUs).toBe(f.ptsUs);
      expect(m.objectId).toBe(1);
    }
    // A frame's picture comes before its masks and its frame message (masks answering the prompt
    // come after the prompted frame's message: that frame was already on screen).
    const order = c.binaryOrder;
    for (let i = 0; i < order.length; i++) {
      const e = order[i]!;
      if (e.kind === 'mask' || e.kind === 'frame') {
        const pic = order.findIndex((x) => x.kind === 'picture' && x.frame === e.frame);
        expect(pic, `${e.kind} of frame ${e.frame} after its picture`).toBeGreaterThanOrEqual(0);
        expect(pic).toBeLessThan(i);
      }
    }
    // Frame indices increase; gaps are drops.
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.frame).toBeGreaterThan(frames[i - 1]!.frame);
    const last = frames.at(-1)!;
    const live = server.live!;
    expect(live.framesIn).toBeGreaterThanOrEqual(live.framesSent);
    expect(last.drops).toBeLessThanOrEqual(live.drops + 1);

    expect(await c.request({ type: 'propagate', sessionId: started.sessionId })).toMatchObject({ type: 'error', code: 'E_TRACKER_STATE' });
    await c.close();
    await server.manager.idle();
    await until(() => !live.active, 10_000);
  });

  it('starts the source again for the next client, with a new record and fresh tracker', async () => {
    const live = server.live!;
    expect(live.active).toBe(false);
    const before = live.recordId;
    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    const started = await c.request({ type: 'startSession', live: true });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    expect(started).toMatchObject({ kind: 'live', width: 480, height: 360 });
    expect(started.recordId).not.toBe(before);
    await until(() => c.frames.length >= 3);
    expect(decodeLiveFrame(c.frames[0]!).objects).toBe(0);
    expect(live.objectIds).toEqual([]);
    await c.close();
    await server.manager.idle();
    await until(() => !live.active, 10_000);
  });
});
