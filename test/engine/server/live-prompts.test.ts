/**
 * Live prompts over the real server and a looped clip: a click lands on the frame the client names
 * while the server still holds it (else on the newest tracked frame), and the ack says which.
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

let sessions: ModelSessions;
let tmp: string;
let server: CinesegServer;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-live-prompts-'));
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  server = await startServer({ port: 0, sessions, media: [], cacheDir: join(tmp, 'hls'), playerDir: tmp, live: `loop:${join(CLIP_DIR, 'clip.mp4')}` });
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

function ack(m: ServerMessage): Ack {
  if (m.type !== 'ack') throw new Error(JSON.stringify(m));
  return m;
}

describe('live prompts', () => {
  it('applies a click to the frame on screen, or to the newest tracked frame when that one has passed', async () => {
    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    const started = (await c.request({ type: 'startSession', live: true })) as SessionStarted;
    expect(started.type).toBe('sessionStarted');
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

    // A correction of object 1 on a frame it was tracked on lands there too.
    const n = c.frames.length;
    await until(() => c.frames.length >= n + 3);
    const tracked = decodeLiveFrame(c.frames.at(-1)!);
    expect(tracked.objects).toBe(2);
    const a3 = ack(await c.request({ type: 'addPoints', sessionId: sid, frame: tracked.frame, objectId: 1, points: [{ x: o.point[0], y: o.point[1] }, { x: o.point[0] + 60, y: o.point[1] + 30, label: 0 }] }));
    expect(a3.frame).toBe(tracked.frame);
    const m = await until(() => c.frames.length >= n + 6).then(() => c.frames.slice(-2).map((b) => decodeLiveFrame(b)));
    for (const f of m) expect(f.objects).toBe(2);
    await c.close();
  });
});
