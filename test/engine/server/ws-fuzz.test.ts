/**
 * WebSocket fuzzer: at least 10,000 malformed, hostile, out-of-range and valid-but-mistimed
 * messages (fuzz-messages.ts, seeded: CINESEG_FUZZ_SEED, count CINESEG_FUZZ_N) to the real server
 * with the real SQLite store and ONNX sessions. Every message must get exactly one answer: a coded
 * error its case allows or a valid reply, matched by seq (or in order, for messages that carry no
 * usable seq). Messages over the connection's payload bound close that connection (1009) instead.
 * Afterwards: no uncaught exception or rejection in the process, no prototype pollution, the good
 * session of another connection is byte-identical in the store and still tracks, /api/clips is
 * served, a fresh session tracks exactly like the good one did, memory did not run away, and no
 * ffmpeg is left.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { rssAfterGc } from '../../../engine/src/bench/process-stats.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { MAX_TEXT_MESSAGE_BYTES, type ServerMessage } from '../../../engine/src/protocol.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { ffmpegChildren } from '../decode/media-fixtures.js';
import { testBundleDir } from '../model/test-bundle.js';
import { FuzzMessages, type FuzzCase, type FuzzTargets } from './fuzz-messages.js';
import { snapshotSession } from './store-snapshot.js';
import { TestClient } from './ws-client.js';

const N = Number(process.env.CINESEG_FUZZ_N ?? 10_000);
const SEED = Number(process.env.CINESEG_FUZZ_SEED ?? 1);
/** Messages in flight on the fuzzing connection (sent, not yet answered). */
const WINDOW = 64;
const CLIP = 'media/clip';

const uncaught: unknown[] = [];
const onUncaught = (e: unknown): void => {
  uncaught.push(e);
};

let tmp: string;
let sessions: ModelSessions;
let server: CinesegServer;
let db: string;
let wsUrl: string;

beforeAll(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-fuzz-'));
  mkdirSync(join(tmp, 'media'));
  // 20 frames at 96x64: every session decodes it in a fraction of a second.
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=96x64:r=10:d=2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', join(tmp, 'media', 'clip.mp4')]);
  db = join(tmp, 'cineseg.db');
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  server = await startServer({ port: 0, sessions, store: db, media: [join(tmp, 'media')], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'no-player') });
  wsUrl = server.url.replace('http', 'ws') + 'ws';
});

afterAll(async () => {
  await server?.destroy();
  await sessions?.destroy();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The seq the server must echo: what protocol.ts can read before it gives up, else null. */
function expectedSeq(c: FuzzCase): number | null {
  if (c.kind === 'binary' || c.text.length > MAX_TEXT_MESSAGE_BYTES) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(c.text);
  } catch {
    return null;
  }
  const s = typeof raw === 'object' && raw !== null ? (raw as { seq?: unknown }).seq : undefined;
  return typeof s === 'number' && Number.isInteger(s) && s >= 0 ? s : null;
}

interface Sent {
  i: number;
  c: FuzzCase;
}

/**
 * Sends the cases over an open connection, WINDOW at a time, and checks each answer against its
 * case. Returns the violations (empty when all is well) and a per-category tally of answers.
 */
async function fuzz(ws: WebSocket, cases: FuzzCase[]): Promise<{ violations: string[]; tally: Map<string, Map<string, number>>; answered: number; late: string[] }> {
  const bySeq = new Map<number, Sent>();
  const nullQueue: Sent[] = [];
  const violations: string[] = [];
  const tally = new Map<string, Map<string, number>>();
  let answered = 0;
  const late: string[] = [];
  let wake: (() => void) | null = null;
  const check = (s: Sent, m: ServerMessage): void => {
    answered++;
    const got = m.type === 'error' ? m.code : m.type;
    const t = tally.get(s.c.category) ?? new Map<string, number>();
    t.set(got, (t.get(got) ?? 0) + 1);
    tally.set(s.c.category, t);
    const text = s.c.kind === 'text' ? s.c.text : `<${s.c.data.length} binary bytes>`;
    // Not JSON at all can only be E_PROTOCOL_JSON (or too large, before parsing).
    let allowed = s.c.allowed;
    if (s.c.kind === 'text' && s.c.text.length <= MAX_TEXT_MESSAGE_BYTES) {
      try {
        JSON.parse(s.c.text);
        allowed = allowed.filter((a) => a !== 'E_PROTOCOL_JSON');
      } catch {
        allowed = ['E_PROTOCOL_JSON'];
      }
    }
    if (!allowed.includes(got)) violations.push(`case ${s.i} (${s.c.category}): got ${got}${m.type === 'error' ? ` "${m.message}"` : ''}, allowed ${allowed.join('|')}; sent ${text.slice(0, 200)}`);
    if (m.type === 'error' && (!/^E_[A-Z_]+$/.test(m.code) || m.message.includes('\n'))) violations.push(`case ${s.i}: malformed error ${JSON.stringify(m).slice(0, 200)}`);
  };
  const onMessage = (data: Buffer, isBinary: boolean): void => {
    if (isBinary) return; // masks of valid prompts
    const m = JSON.parse(data.toString('utf8')) as ServerMessage;
    if (m.type !== 'ack' && m.type !== 'error' && m.type !== 'sessionStarted') return; // progress, done
    if (m.seq === null) {
      const s = nullQueue.shift();
      if (!s) violations.push(`an unrequested seq-null message: ${JSON.stringify(m).slice(0, 200)}`);
      else check(s, m);
    } else {
      const s = bySeq.get(m.seq);
      // A second answer to an answered request: an acknowledged propagation that failed later.
      if (!s) late.push(JSON.stringify(m).slice(0, 300));
      else {
        bySeq.delete(m.seq);
        check(s, m);
      }
    }
    wake?.();
  };
  ws.on('message', onMessage);
  const inFlight = (): number => bySeq.size + nullQueue.length;
  const waitBelow = async (n: number, timeoutMs: number): Promise<void> => {
    const t0 = Date.now();
    while (inFlight() > n) {
      if (Date.now() - t0 > timeoutMs)
        throw new Error(
          `${inFlight()} messages unanswered after ${timeoutMs} ms, e.g. ${[...bySeq.values(), ...nullQueue]
            .slice(0, 3)
            .map((s) => `case ${s.i} ${s.c.category}`)
            .join(', ')}`,
        );
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 200);
      });
      wake = null;
    }
  };
  for (const [i, c] of cases.entries()) {
    await waitBelow(WINDOW - 1, 60_000);
    const seq = expectedSeq(c);
    const s = { i, c };
    if (seq === null) nullQueue.push(s);
    else {
      if (bySeq.has(seq)) throw new Error(`generator bug: seq ${seq} reused (case ${i})`);
      bySeq.set(seq, s);
    }
    ws.send(c.kind === 'binary' ? c.data : c.text, { binary: c.kind === 'binary' });
  }
  await waitBelow(0, 120_000);
  ws.off('message', onMessage);
  return { violations, tally, answered, late };
}

describe('WebSocket fuzzer', () => {
  it(`answers ${N} hostile messages with coded errors and disturbs nothing else`, async () => {
    // The good session, on its own connection: one prompt and 5 propagated frames, stored.
    const good = await TestClient.connect(wsUrl);
    const g = await good.request({ type: 'startSession', clip: CLIP });
    if (g.type !== 'sessionStarted') throw new Error(JSON.stringify(g));
    const click = { type: 'addPoints', frame: 0, objectId: 1, points: [{ x: 48, y: 32 }] };
    expect(await good.request({ ...click, sessionId: g.sessionId })).toMatchObject({ type: 'ack' });
    expect(await good.request({ type: 'propagate', sessionId: g.sessionId, maxFrames: 5 })).toMatchObject({ type: 'ack' });
    await good.waitFor((m) => m.type === 'propagateDone', true);
    const goodMasks = good.masks.slice(1).map((m) => [m.frame, [...m.counts]]);
    const before = snapshotSession(db, g.sessionId);

    // The fuzzing connection's own session, and the wrong-order basics on it while it is fresh.
    const own = await TestClient.connect(wsUrl);
    const o = await own.request({ type: 'startSession', clip: CLIP });
    if (o.type !== 'sessionStarted') throw new Error(JSON.stringify(o));
    expect(await own.request({ type: 'propagate', sessionId: o.sessionId })).toMatchObject({ type: 'error', code: 'E_TRACKER_STATE' });
    expect(await own.request({ type: 'cancelPropagate', sessionId: o.sessionId })).toMatchObject({ type: 'ack' });
    expect(await own.request({ type: 'removeObject', sessionId: o.sessionId, objectId: 1 })).toMatchObject({ type: 'error', code: 'E_OBJECT_UNKNOWN' });

    const targets: FuzzTargets = { ownSession: o.sessionId, foreignSession: g.sessionId, clip: CLIP, width: o.width, height: o.height, numFrames: o.numFrames! };
    const gen = new FuzzMessages(SEED, targets);
    const cases = Array.from({ length: N }, () => gen.next());
    // Sessions belong to their connection: the fuzz goes over `own`'s socket.
    // The server runs in this process: RSS after a full GC, before and after, is its growth
    // (plus the client's small replies; the cases themselves exist before the first reading).
    const rss0 = await rssAfterGc();
    const t0 = Date.now();
    const result = await fuzz(own.ws, cases);
    const seconds = (Date.now() - t0) / 1000;
    const rss1 = await rssAfterGc();
    const summary = [...result.tally].map(([k, v]) => `${k}: ${[...v].map(([c, n]) => `${c} ${n}`).join(', ')}`).join('\n');
    process.stderr.write(
      `fuzz seed ${SEED}: ${N} messages in ${seconds.toFixed(1)} s, ${result.late.length} late extra replies, RSS ${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MiB\n${summary}\n`,
    );
    expect(result.violations.slice(0, 20)).toEqual([]);
    expect(result.answered).toBe(N);
    // Whatever was acknowledged also worked: no propagation failed after its ack.
    expect(result.late.slice(0, 5)).toEqual([]);

    // Messages over the payload bound: the connection is closed (1009), the server is not.
    for (let k = 0; k < 3; k++) {
      const ws = new WebSocket(wsUrl);
      await new Promise((r) => ws.once('open', r));
      const code = await new Promise<number>((r) => {
        ws.once('close', (c) => r(c));
        ws.on('error', () => undefined);
        ws.send(k === 1 ? Buffer.alloc(server.limits.maxMessageBytes + 1, 7) : 'x'.repeat(server.limits.maxMessageBytes + 1), { binary: k === 1 });
      });
      expect(code).toBe(1009);
    }

    expect(uncaught).toEqual([]);
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(rss1 - rss0).toBeLessThan(200 * 2 ** 20);

    // The other connection's session: untouched in the store, and still working.
    expect(snapshotSession(db, g.sessionId)).toBe(before);
    expect(await good.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
    expect(await good.request({ type: 'addPoints', sessionId: g.sessionId, frame: 10, objectId: 2, points: [{ x: 20, y: 20 }] })).toMatchObject({ type: 'ack' });

    const res = await fetch(`${server.url}api/clips`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }[]).map((c) => c.id)).toEqual([CLIP]);

    // A fresh session tracks exactly as the good one did before the storm.
    const fresh = await TestClient.connect(wsUrl);
    const f = await fresh.request({ type: 'startSession', clip: CLIP });
    if (f.type !== 'sessionStarted') throw new Error(JSON.stringify(f));
    expect(await fresh.request({ ...click, sessionId: f.sessionId })).toMatchObject({ type: 'ack' });
    expect(await fresh.request({ type: 'propagate', sessionId: f.sessionId, maxFrames: 5 })).toMatchObject({ type: 'ack' });
    await fresh.waitFor((m) => m.type === 'propagateDone', true);
    expect(fresh.masks.slice(1).map((m) => [m.frame, [...m.counts]])).toEqual(goodMasks);

    await Promise.all([fresh.close(), good.close(), own.close()]);
    await server.manager.idle();
    expect(server.manager.size).toBe(0);
    expect(ffmpegChildren()).toEqual([]);
    expect(uncaught).toEqual([]);
  });
});
