/**
 * Fault: the live source's ffmpeg dies mid-stream. The test finds the decoding ffmpeg (the
 * pipeline's pid, checked in /proc to be this process's ffmpeg child) and SIGKILLs it while a
 * WebSocket client watches a tracked object. The source reconnects after its backoff (counted and
 * logged), frames and the object's masks keep coming with increasing indices, and the tracker is
 * the same one (no new prompt needed). The JPEG encoder's ffmpeg is killed too: one frame is
 * lost, the next one gets a new encoder. Then the clip is deleted and the decoder killed again:
 * the attempts fail, the client gets E_LIVE_SOURCE_LOST, the server stays up, nothing is left
 * running, and once the clip is back the next client starts the source afresh.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childProcesses, isOwnFfmpeg } from '../../../engine/src/bench/process-stats.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { decodeLiveFrame, type ServerMessage } from '../../../engine/src/protocol.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { REPO_ROOT, testBundleDir } from '../model/test-bundle.js';
import { TestClient } from './ws-client.js';

const CLIP_DIR = join(REPO_ROOT, 'samples/generated/endoscopy-1');
const prompts = JSON.parse(readFileSync(join(CLIP_DIR, 'prompts.json'), 'utf8')) as { objects: { object_id: number; point: [number, number] }[] };

let server: CinesegServer;
let sessions: ModelSessions;
let tmp: string;
let clip: string;
const logs: string[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-live-faults-'));
  clip = join(tmp, 'clip.mp4');
  copyFileSync(join(CLIP_DIR, 'clip.mp4'), clip);
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  server = await startServer({
    port: 0,
    sessions,
    media: [],
    cacheDir: join(tmp, 'hls'),
    playerDir: tmp,
    live: `loop:${clip}`,
    liveReconnect: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 400 },
    liveGraceMs: 0,
    log: (l) => logs.push(l),
  });
});

afterAll(async () => {
  await server?.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const until = async (cond: () => boolean, ms = 30_000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('live source faults', () => {
  it('ffmpeg killed mid-stream: reconnects and keeps tracking; source gone for good: E_LIVE_SOURCE_LOST', async () => {
    const live = server.live!;
    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    const started = await c.request({ type: 'startSession', live: true });
    if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
    await until(() => c.frames.length >= 3);
    const o = prompts.objects[0]!;
    const shown = decodeLiveFrame(c.frames.at(-1)!).frame;
    expect(await c.request({ type: 'addPoints', sessionId: started.sessionId, frame: shown, objectId: 1, points: [{ x: o.point[0], y: o.point[1] }] })).toMatchObject({ type: 'ack' });
    await until(() => c.frames.filter((f) => decodeLiveFrame(f).objects === 1).length >= 5);

    // Kill the decoding ffmpeg the hard way.
    const pid = live.sourcePid!;
    expect(isOwnFfmpeg(pid)).toBe(true);
    const trackedBefore = live.trackedFrames;
    const lastBefore = decodeLiveFrame(c.frames.at(-1)!).frame;
    const framesBefore = c.frames.length;
    process.kill(pid, 'SIGKILL');

    // Frames and masks of object 1 come again, from the same tracker, without a new prompt.
    // (8, not 5: a frame or two the tracker had taken at trackedBefore may not have reached the client yet.)
    await until(() => live.sourceStats!.reconnects === 1 && c.masks.filter((m) => m.objectId === 1 && m.frame > lastBefore + 3).length >= 8);
    expect(live.sourcePid).not.toBe(pid);
    expect(isOwnFfmpeg(live.sourcePid!)).toBe(true);
    expect(live.sourceStats).toMatchObject({ reconnects: 1, attempts: 1, failedInARow: 0, lastBackoffMs: 100 });
    expect(live.trackedFrames).toBeGreaterThan(trackedBefore + 5);
    expect(live.objectIds).toEqual([1]);
    const after = c.frames.slice(framesBefore).map((f) => decodeLiveFrame(f));
    expect(after.length).toBeGreaterThanOrEqual(5);
    expect(after.filter((f) => f.objects === 1).length).toBeGreaterThanOrEqual(5);
    const all = c.frames.map((f) => decodeLiveFrame(f));
    for (let i = 1; i < all.length; i++) {
      expect(all[i]!.frame).toBeGreaterThan(all[i - 1]!.frame);
      expect(all[i]!.ptsUs).toBeGreaterThan(all[i - 1]!.ptsUs);
    }
    for (const m of c.masks.filter((x) => x.frame > lastBefore + 3)) expect(m.counts.length).toBeGreaterThan(1);
    expect(logs.some((l) => /reconnect attempt 1\/3 in 100 ms/.test(l))).toBe(true);
    expect(c.messages.filter((m) => m.type === 'error')).toEqual([]);

    // The other ffmpeg child, the JPEG encoder of the live view, dies too.
    const jpegPid = childProcesses('ffmpeg')
      .map((p) => p.pid)
      .find((p) => p !== live.sourcePid)!;
    expect(jpegPid).toBeGreaterThan(0);
    process.kill(jpegPid, 'SIGKILL');
    const n = c.frames.length;
    await until(() => c.frames.length >= n + 5);
    const encoders = childProcesses('ffmpeg')
      .map((p) => p.pid)
      .filter((p) => p !== live.sourcePid);
    expect(encoders).toHaveLength(1);
    expect(encoders[0]).not.toBe(jpegPid);
    expect(c.messages.filter((m) => m.type === 'error' && m.code === 'E_ENCODE_FAILED').length).toBeLessThanOrEqual(1);
    expect(decodeLiveFrame(c.frames.at(-1)!).objects).toBe(1);

    // The source goes away for good.
    unlinkSync(clip);
    const t0 = Date.now();
    process.kill(live.sourcePid!, 'SIGKILL');
    const lost = await c.waitFor((m: ServerMessage) => m.type === 'error' && m.code === 'E_LIVE_SOURCE_LOST', true, 20_000);
    expect(lost).toMatchObject({ seq: null });
    expect((lost as { message: string }).message).toMatch(/3 reconnect attempt\(s\) failed; last: E_INPUT_NOT_FOUND/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100 + 200 + 400);
    // The attempts are counted for monitoring too: one in the first outage, three in the second.
    const metrics = await (await fetch(`${server.url}metrics`)).text();
    expect(metrics).toMatch(/^cineseg_live_reconnect_attempts_total 4$/m);
    await until(() => !live.active, 10_000);
    expect(childProcesses('ffmpeg')).toEqual([]);

    // The server is still up; a new live session is refused with a code, not left hanging.
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
    const c2 = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    expect(await c2.request({ type: 'startSession', live: true })).toMatchObject({ type: 'error', code: 'E_INPUT_NOT_FOUND' });
    // With the clip back, the next client starts a new run: a fresh tracker, frames again.
    copyFileSync(join(CLIP_DIR, 'clip.mp4'), clip);
    expect(await c2.request({ type: 'startSession', live: true })).toMatchObject({ type: 'sessionStarted' });
    await until(() => c2.frames.length >= 3);
    expect(live.objectIds).toEqual([]);
    expect(live.sourceStats).toMatchObject({ reconnects: 0, connections: 1 });
    await c2.close();
    await c.close();
    await server.manager.idle();
    expect(childProcesses('ffmpeg')).toEqual([]);
  });

  it('two clients arriving at once share one source (no second, orphaned ffmpeg)', async () => {
    const url = server.url.replace('http', 'ws') + 'ws';
    const [a, b] = await Promise.all([TestClient.connect(url), TestClient.connect(url)]);
    const [sa, sb] = await Promise.all([a.request({ type: 'startSession', live: true }), b.request({ type: 'startSession', live: true })]);
    expect([sa.type, sb.type]).toEqual(['sessionStarted', 'sessionStarted']);
    await until(() => a.frames.length >= 3 && b.frames.length >= 3);
    // One decoder and one JPEG encoder.
    expect(childProcesses('ffmpeg')).toHaveLength(2);
    await a.close();
    await b.close();
    await server.manager.idle();
    await until(() => !server.live!.active, 10_000);
    expect(childProcesses('ffmpeg')).toEqual([]);
  });
});
