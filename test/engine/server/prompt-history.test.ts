/**
 * The prompt history of a recorded session over the real WebSocket server, the real tiny model
 * and a real SQLite store (issue 16): prompt acks with their stored id, emptiness and score; the
 * `prompts` message before every ack; removePrompt and clearFrame clearing one object's frame and
 * nothing else; undo / redo of add, remove, rename and removeObject giving back the exact masks
 * (COCO counts compared); the history surviving a server restart; propagate from a corrected
 * frame, forward, backward and both ways, over a range.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { decodeMaskFrame, type Ack, type AddPoints, type PromptsMessage, type ServerMessage } from '../../../engine/src/protocol.js';
import { MemorySink } from '../../../engine/src/server/annotation-sink.js';
import { RecordedSession } from '../../../engine/src/server/recorded-session.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { testBundleDir } from '../model/test-bundle.js';
import { writeTinyClip } from './tiny-clip.js';
import { TestClient } from './ws-client.js';

const W = 64;
const H = 48;
const N = 12;

let tmp: string;
let media: string;
let sessions: ModelSessions;
const servers: CinesegServer[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-history-'));
  media = join(tmp, 'media');
  mkdirSync(join(media, 'square'), { recursive: true });
  await writeTinyClip(join(media, 'square', 'clip.mp4'), { width: W, height: H, frames: N });
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
}, 60_000);
afterAll(async () => {
  for (const s of servers) await s.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

async function start(db: string): Promise<CinesegServer> {
  const s = await startServer({ port: 0, sessions, store: join(tmp, db), media: [media], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'no-player') });
  servers.push(s);
  return s;
}
async function stop(s: CinesegServer): Promise<void> {
  await s.destroy();
  servers.splice(servers.indexOf(s), 1);
}
const wsUrl = (s: CinesegServer) => s.url.replace('http', 'ws') + 'ws';

/** The newest mask the client got for (object, frame), as its counts joined. */
function last(c: TestClient, objectId: number, frame: number): string | undefined {
  for (let i = c.masks.length - 1; i >= 0; i--) {
    const m = c.masks[i]!;
    if (m.objectId === objectId && m.frame === frame) return Array.from(m.counts).join(',');
  }
  return undefined;
}
const area = (counts: string) => counts.split(',').reduce((a, c, i) => a + (i % 2 ? Number(c) : 0), 0);

async function ok(c: TestClient, msg: Record<string, unknown>): Promise<Ack> {
  const r = await c.request(msg);
  if (r.type !== 'ack') throw new Error(`${msg.type}: ${JSON.stringify(r)}`);
  return r;
}
/** The `prompts` message that came with a request (seq), checked to be before its ack. */
function promptsOf(c: TestClient, seq: number): PromptsMessage {
  const i = c.messages.findIndex((m) => m.type === 'prompts' && m.seq === seq);
  const a = c.messages.findIndex((m) => m.type === 'ack' && m.seq === seq);
  expect(i, `prompts message of seq ${seq}`).toBeGreaterThanOrEqual(0);
  expect(i).toBeLessThan(a);
  return c.messages[i] as PromptsMessage;
}

async function open(c: TestClient): Promise<string> {
  const r = await c.request({ type: 'startSession', clip: 'media/square' });
  if (r.type !== 'sessionStarted') throw new Error(JSON.stringify(r));
  return r.sessionId;
}

describe('prompt history over the server', () => {
  it('acks carry promptId, empty and objectScore; masks carry a stability; removePrompt and clearFrame clear one object only', async () => {
    const server = await start('acks.db');
    const c = await TestClient.connect(wsUrl(server));
    try {
      const sid = await open(c);
      const a1 = await ok(c, { type: 'addPoints', sessionId: sid, frame: 2, objectId: 1, points: [{ x: 20, y: 22 }] });
      expect(typeof a1.promptId).toBe('number');
      expect(typeof a1.objectScore).toBe('number');
      const m1 = last(c, 1, 2)!;
      expect(a1.empty).toBe(area(m1) === 0);
      const a2 = await ok(c, { type: 'addBox', sessionId: sid, frame: 2, objectId: 2, box: [40, 30, 60, 46] });
      expect(a2.promptId).not.toBe(a1.promptId);
      const m2 = last(c, 2, 2)!;
      expect(a2.empty).toBe(area(m2) === 0);
      // A mask prompt with no pixel: empty by construction, score below 0.
      const a3 = await ok(c, { type: 'addMask', sessionId: sid, frame: 5, objectId: 3, rle: { size: [H, W], counts: [W * H] } });
      expect(a3).toMatchObject({ empty: true });
      expect(a3.objectScore!).toBeLessThan(0);
      expect(area(last(c, 3, 5)!)).toBe(0);
      const pm = promptsOf(c, a3.seq);
      expect(pm.prompts.map((p) => [p.promptId, p.objectId, p.frame, p.kind])).toEqual([
        [a1.promptId, 1, 2, 'points'],
        [a2.promptId, 2, 2, 'box'],
        [a3.promptId, 3, 5, 'mask'],
      ]);
      expect(pm.prompts[1]).toMatchObject({ box: [40, 30, 60, 46], points: [] });
      expect(pm.objects.map((o) => o.objectId)).toEqual([1, 2, 3]);
      expect(pm).toMatchObject({ canUndo: true, canRedo: false });
      // Prompt masks carry SAM 2's stability score.
      for (const m of c.masks) {
        expect(m.stability).toBeDefined();
        expect(m.stability!).toBeGreaterThanOrEqual(0);
        expect(m.stability!).toBeLessThanOrEqual(1);
      }

      // Removing object 2's box: its frame is cleared (an empty mask), object 1 gets no new mask.
      const before1 = c.masks.filter((m) => m.objectId === 1).length;
      const r = await ok(c, { type: 'removePrompt', sessionId: sid, promptId: a2.promptId });
      expect(r).toMatchObject({ request: 'removePrompt', frame: 2, objectId: 2 });
      expect(area(last(c, 2, 2)!)).toBe(0);
      expect(c.masks.filter((m) => m.objectId === 1).length).toBe(before1);
      expect(last(c, 1, 2)).toBe(m1);
      expect(promptsOf(c, r.seq).prompts.map((p) => p.promptId)).toEqual([a1.promptId, a3.promptId]);
      expect(await c.request({ type: 'removePrompt', sessionId: sid, promptId: a2.promptId })).toMatchObject({ type: 'error', code: 'E_PROMPT_UNKNOWN' });
      expect(await c.request({ type: 'clearFrame', sessionId: sid, frame: 9 })).toMatchObject({ type: 'error', code: 'E_PROMPT_UNKNOWN' });

      // clearFrame of one object leaves the other objects' prompts on that frame.
      await ok(c, { type: 'addPoints', sessionId: sid, frame: 5, objectId: 1, points: [{ x: 22, y: 22 }] });
      const m15 = last(c, 1, 5)!;
      const cf = await ok(c, { type: 'clearFrame', sessionId: sid, frame: 5, objectId: 3 });
      expect(cf).toMatchObject({ frame: 5, objectId: 3 });
      expect(promptsOf(c, cf.seq).prompts.map((p) => [p.objectId, p.frame])).toEqual([
        [1, 2],
        [1, 5],
      ]);
      expect(last(c, 1, 5)).toBe(m15);

      // Stored: the prompts taken back are not in effect for the store either.
      const store = SessionStore.open(join(tmp, 'acks.db'), { readonly: true });
      try {
        expect([...store.history.removedPromptIds(sid)].sort()).toEqual([a2.promptId!, a3.promptId!].sort());
        expect(store.getMask(sid, 2, 2)!.area).toBe(0);
        expect(store.getMask(sid, 1, 2)!.area).toBe(area(m1));
      } finally {
        store.destroy();
      }
    } finally {
      await c.close();
      await stop(server);
    }
  }, 120_000);

  it('undo / redo of add, remove, rename and removeObject give back the exact masks; a new edit drops the redo branch', async () => {
    const server = await start('undo.db');
    const c = await TestClient.connect(wsUrl(server));
    try {
      const sid = await open(c);
      const p1 = await ok(c, { type: 'addPoints', sessionId: sid, frame: 0, objectId: 1, points: [{ x: 18, y: 22 }] });
      const m1 = last(c, 1, 0)!;
      const p2 = await ok(c, { type: 'addPoints', sessionId: sid, frame: 0, objectId: 1, points: [{ x: 12, y: 14, label: 0 }], clearOld: false });
      const m2 = last(c, 1, 0)!;
      // The negative click changes the mask, so getting m1 or m2 back says which prompts ran.
      expect(m2).not.toBe(m1);
      await ok(c, { type: 'addPoints', sessionId: sid, frame: 0, objectId: 2, points: [{ x: 50, y: 40 }] });
      const o2 = last(c, 2, 0)!;
      expect(area(o2)).toBeGreaterThan(0);

      // Undo of object 2's add clears its frame; undo of the refinement gives back the first mask exactly.
      const u1 = await ok(c, { type: 'undo', sessionId: sid });
      expect(u1).toMatchObject({ request: 'undo', frame: 0, objectId: 2 });
      expect(area(last(c, 2, 0)!)).toBe(0);
      expect(promptsOf(c, u1.seq).objects.map((o) => o.objectId)).toEqual([1, 2]);
      const u2 = await ok(c, { type: 'undo', sessionId: sid });
      expect(u2).toMatchObject({ frame: 0, objectId: 1 });
      expect(last(c, 1, 0)).toBe(m1);
      expect(promptsOf(c, u2.seq)).toMatchObject({ canUndo: true, canRedo: true, prompts: [{ promptId: p1.promptId }] });
      // Redo: the refinement again (same id), then object 2's click.
      const r1 = await ok(c, { type: 'redo', sessionId: sid });
      expect(last(c, 1, 0)).toBe(m2);
      expect(promptsOf(c, r1.seq).prompts.map((p) => p.promptId)).toEqual([p1.promptId, p2.promptId]);
      await ok(c, { type: 'redo', sessionId: sid });
      expect(last(c, 2, 0)).toBe(o2);
      expect(await c.request({ type: 'redo', sessionId: sid })).toMatchObject({ type: 'error', code: 'E_HISTORY_EMPTY' });

      // Remove the first click: the frame is run from the refinement alone; undo gives m2 back.
      await ok(c, { type: 'removePrompt', sessionId: sid, promptId: p1.promptId });
      const without = last(c, 1, 0)!;
      expect(without).not.toBe(m2);
      await ok(c, { type: 'undo', sessionId: sid });
      expect(last(c, 1, 0)).toBe(m2);
      await ok(c, { type: 'redo', sessionId: sid });
      expect(last(c, 1, 0)).toBe(without);
      await ok(c, { type: 'undo', sessionId: sid });
      expect(last(c, 1, 0)).toBe(m2);

      // Rename, undone and redone.
      const rn = await ok(c, { type: 'renameObject', sessionId: sid, objectId: 1, name: 'square' });
      expect(promptsOf(c, rn.seq).objects).toEqual([
        { objectId: 1, label: 'square' },
        { objectId: 2, label: 'object' },
      ]);
      const ru = await ok(c, { type: 'undo', sessionId: sid });
      expect(promptsOf(c, ru.seq).objects[0]).toEqual({ objectId: 1, label: 'object' });
      const rr = await ok(c, { type: 'redo', sessionId: sid });
      expect(promptsOf(c, rr.seq).objects[0]).toEqual({ objectId: 1, label: 'square' });

      // removeObject after a propagation, undone: the object, its prompts and every mask it had.
      await ok(c, { type: 'propagate', sessionId: sid, direction: 'forward', maxFrames: 4 });
      await c.waitFor((m) => m.type === 'propagateDone', true);
      const had = new Map<number, string>();
      for (let f = 0; f <= 4; f++) had.set(f, last(c, 1, f)!);
      const other = new Map<number, string>();
      for (let f = 0; f <= 4; f++) other.set(f, last(c, 2, f)!);
      const rm = await ok(c, { type: 'removeObject', sessionId: sid, objectId: 1 });
      expect(promptsOf(c, rm.seq).objects.map((o) => o.objectId)).toEqual([2]);
      expect(promptsOf(c, rm.seq).prompts.every((p) => p.objectId === 2)).toBe(true);
      const n = c.masks.length;
      const back = await ok(c, { type: 'undo', sessionId: sid });
      const pm = promptsOf(c, back.seq);
      expect(pm.objects).toEqual([
        { objectId: 1, label: 'square' },
        { objectId: 2, label: 'object' },
      ]);
      expect(pm.prompts.filter((p) => p.objectId === 1).map((p) => p.promptId)).toEqual([p1.promptId, p2.promptId]);
      const resent = c.masks.slice(n);
      for (let f = 0; f <= 4; f++) expect(resent.some((m) => m.objectId === 1 && m.frame === f && Array.from(m.counts).join(',') === had.get(f))).toBe(true);
      for (let f = 0; f <= 4; f++) expect(last(c, 2, f)).toBe(other.get(f));
      // It tracks on after coming back.
      await ok(c, { type: 'propagate', sessionId: sid, direction: 'forward' });
      const done = await c.waitFor((m) => m.type === 'propagateDone' && m.seq === c.messages.filter((x) => x.type === 'ack').at(-1)!.seq, true);
      expect(done).toMatchObject({ cancelled: false, frames: N });
      // Redo of the removal, then undo once more: the same masks again (from the store).
      await ok(c, { type: 'redo', sessionId: sid });
      expect(promptsOf(c, c.messages.filter((m) => m.type === 'ack').at(-1)!.seq).objects.map((o) => o.objectId)).toEqual([2]);

      // A new edit after an undo drops the redo branch.
      await ok(c, { type: 'undo', sessionId: sid });
      const add = await ok(c, { type: 'addPoints', sessionId: sid, frame: 7, objectId: 2, points: [{ x: 50, y: 40 }] });
      expect(promptsOf(c, add.seq)).toMatchObject({ canRedo: false });
      expect(await c.request({ type: 'redo', sessionId: sid })).toMatchObject({ type: 'error', code: 'E_HISTORY_EMPTY' });
    } finally {
      await c.close();
      await stop(server);
    }
  }, 180_000);

  it('survives a restart: the reopened session lists its prompts and undo / redo go on', async () => {
    let server = await start('restart.db');
    let c = await TestClient.connect(wsUrl(server));
    let sid: string;
    let m1: string;
    let m2: string;
    let p2: Ack;
    try {
      sid = await open(c);
      await ok(c, { type: 'addPoints', sessionId: sid, frame: 0, objectId: 1, points: [{ x: 18, y: 22 }] });
      m1 = last(c, 1, 0)!;
      p2 = await ok(c, { type: 'addPoints', sessionId: sid, frame: 0, objectId: 1, points: [{ x: 12, y: 14, label: 0 }], clearOld: false });
      m2 = last(c, 1, 0)!;
      expect(m2).not.toBe(m1);
      await ok(c, { type: 'addPoints', sessionId: sid, frame: 3, objectId: 1, points: [{ x: 24, y: 22 }] });
      // Taken back before the restart: redo must still find it after.
      await ok(c, { type: 'undo', sessionId: sid });
    } finally {
      await c.close();
      await stop(server);
    }

    server = await start('restart.db');
    c = await TestClient.connect(wsUrl(server));
    try {
      const r = await c.request({ type: 'openSession', sessionId: sid });
      if (r.type !== 'sessionStarted') throw new Error(JSON.stringify(r));
      expect(r.restored!.prompts.map((p) => [p.kind, p.frame])).toEqual([
        ['points', 0],
        ['points', 0],
      ]);
      expect(r.restored!.prompts[1]!.promptId).toBe(p2.promptId);
      const pm = c.messages.find((m): m is PromptsMessage => m.type === 'prompts' && m.seq === r.seq)!;
      expect(pm).toMatchObject({ canUndo: true, canRedo: true });
      expect(pm.prompts.map((p) => p.frame)).toEqual([0, 0]);
      await expect.poll(() => last(c, 1, 0)).toBe(m2);

      const redo = await ok(c, { type: 'redo', sessionId: sid });
      expect(redo).toMatchObject({ frame: 3, objectId: 1 });
      expect(area(last(c, 1, 3)!)).toBeGreaterThan(0);
      await ok(c, { type: 'undo', sessionId: sid });
      expect(area(last(c, 1, 3)!)).toBe(0);
      // The refinement made before the restart, undone after it: the first click's mask exactly.
      const u = await ok(c, { type: 'undo', sessionId: sid });
      expect(u).toMatchObject({ frame: 0, objectId: 1 });
      expect(last(c, 1, 0)).toBe(m1);
      await ok(c, { type: 'redo', sessionId: sid });
      expect(last(c, 1, 0)).toBe(m2);
    } finally {
      await c.close();
      await stop(server);
    }
  }, 180_000);

  it('resume: the prompts message follows sessionStarted', async () => {
    const server = await start('resume.db');
    const c = await TestClient.connect(wsUrl(server));
    const r0 = await c.request({ type: 'startSession', clip: 'media/square' });
    if (r0.type !== 'sessionStarted') throw new Error(JSON.stringify(r0));
    const a = await ok(c, { type: 'addPoints', sessionId: r0.sessionId, frame: 1, objectId: 4, points: [{ x: 20, y: 22 }] });
    c.ws.terminate();
    const c2 = await TestClient.connect(wsUrl(server));
    try {
      const r = await c2.request({ type: 'resume', sessionId: r0.sessionId, resumeToken: r0.resumeToken });
      expect(r).toMatchObject({ type: 'sessionStarted', resumed: true });
      const pm = c2.messages[c2.messages.indexOf(r) + 1];
      expect(pm).toMatchObject({ type: 'prompts', seq: r.seq, prompts: [{ promptId: a.promptId, objectId: 4, frame: 1, kind: 'points' }], objects: [{ objectId: 4, label: 'object' }], canUndo: true });
    } finally {
      await c2.close();
      await stop(server);
    }
  }, 120_000);

  it('propagate from a corrected frame re-tracks from there: forward, backward, both, over a range', async () => {
    const server = await start('range.db');
    const c = await TestClient.connect(wsUrl(server));
    try {
      const sid = await open(c);
      await ok(c, { type: 'addPoints', sessionId: sid, frame: 0, objectId: 1, points: [{ x: 18, y: 22 }] });
      const run = async (msg: Record<string, unknown>): Promise<number[]> => {
        const n = c.masks.length;
        const a = await ok(c, { type: 'propagate', sessionId: sid, ...msg });
        const done = (await c.waitFor((m) => m.type === 'propagateDone' && m.seq === a.seq, true)) as Extract<ServerMessage, { type: 'propagateDone' }>;
        const frames = c.masks.slice(n).map((m) => m.frame);
        expect(done.frames).toBe(frames.length);
        const progress = c.messages.filter((m) => m.type === 'propagateProgress' && m.seq === a.seq).at(-1) as Extract<ServerMessage, { type: 'propagateProgress' }>;
        // No frame to visit (backward from frame 0, as SAM 2): no progress message either.
        if (frames.length > 0) expect(progress).toMatchObject({ done: frames.length, total: frames.length });
        else expect(progress).toBeUndefined();
        return frames;
      };
      expect(await run({ direction: 'forward' })).toEqual(Array.from({ length: N }, (_, i) => i));
      // A correction on a tracked frame, then forward from it over a range.
      const before = [7, 8, 9, 10].map((f) => last(c, 1, f));
      await ok(c, { type: 'addPoints', sessionId: sid, frame: 6, objectId: 1, points: [{ x: 14, y: 14, label: 0 }], clearOld: false });
      expect(await run({ direction: 'forward', startFrame: 6, maxFrames: 3 })).toEqual([6, 7, 8, 9]);
      // Re-tracked from the corrected frame: new masks on 7..9 (stored again), frame 10 untouched.
      expect(c.masks.filter((m) => m.frame === 10).length).toBe(1);
      expect(last(c, 1, 10)).toBe(before[3]);
      expect(await run({ direction: 'backward', startFrame: 6, maxFrames: 2 })).toEqual([6, 5, 4]);
      expect(await run({ direction: 'both', startFrame: 6, maxFrames: 1 })).toEqual([6, 7, 6, 5]);
      expect(await run({ direction: 'backward', startFrame: 0 })).toEqual([]);
      expect(await c.request({ type: 'propagate', sessionId: sid, startFrame: N })).toMatchObject({ type: 'error', code: 'E_FRAME_OUT_OF_RANGE' });
    } finally {
      await c.close();
      await stop(server);
    }
  }, 180_000);
});

describe('prompt history without a store (MemorySink)', () => {
  it('keeps the history in memory: undo of removeObject brings back its prompts and masks', async () => {
    const path = join(media, 'square', 'clip.mp4');
    const sink = new MemorySink();
    const s = await RecordedSession.open('mem', 1, { id: 'media/square', name: 'square', path, rootReal: media }, sessions, sink);
    const json: ServerMessage[] = [];
    const masks: string[] = [];
    s.output.attach({ json: (m) => json.push(m), binary: (d) => masks.push(`${decodeMaskFrame(d).objectId}:${decodeMaskFrame(d).frame}:${Array.from(decodeMaskFrame(d).counts).join(',')}`) });
    const click = (frame: number, x: number, y: number, seq: number): AddPoints => ({
      v: 1,
      type: 'addPoints',
      seq,
      sessionId: 'mem',
      objectId: 1,
      frame,
      points: [{ x, y, label: 1 }],
      clearOld: true,
    });
    try {
      const a = await s.prompt(click(0, 18, 22, 1));
      const b = await s.prompt(click(4, 22, 22, 2));
      expect([a.promptId, b.promptId]).toEqual([1, 2]);
      const stored = [...sink.sessions.get('mem')!.masks.values()].map((m) => `${m.objectId}:${m.frame}:${m.counts.join(',')}`).sort();
      await s.removeObject(1, 3);
      expect(sink.sessions.get('mem')!.masks.size).toBe(0);
      expect((json.at(-1) as PromptsMessage).objects).toEqual([]);
      const n = masks.length;
      await s.edit({ v: 1, type: 'undo', seq: 4, sessionId: 'mem' });
      const pm = json.at(-1) as PromptsMessage;
      expect(pm).toMatchObject({ type: 'prompts', seq: 4, canUndo: true, canRedo: true, objects: [{ objectId: 1, label: 'object' }] });
      expect(pm.prompts.map((p) => [p.promptId, p.frame])).toEqual([
        [1, 0],
        [2, 4],
      ]);
      expect(masks.slice(n).sort()).toEqual(stored);
      expect([...sink.sessions.get('mem')!.masks.values()].map((m) => `${m.objectId}:${m.frame}:${m.counts.join(',')}`).sort()).toEqual(stored);
      // Tracked again from the restored prompts.
      await s.propagate({ v: 1, type: 'propagate', seq: 5, sessionId: 'mem', direction: 'forward' });
      await s.settle();
      expect(json.some((m) => m.type === 'propagateDone' && m.seq === 5 && !m.cancelled)).toBe(true);
      // Live sessions aside, a refused edit leaves the history as it was.
      await expect(s.edit({ v: 1, type: 'removePrompt', seq: 6, sessionId: 'mem', promptId: 77 })).rejects.toMatchObject({ code: 'E_PROMPT_UNKNOWN' });
      expect(await s.promptsMessage(null)).toMatchObject({ canUndo: true, canRedo: true });
    } finally {
      await s.destroy();
    }
  }, 120_000);
});
