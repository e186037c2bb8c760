/**
 * Crash test: a child `cineseg batch --print-acks` propagates a clip into the store and is killed
 * with SIGKILL at random moments; after each kill every mask the child had acknowledged must be in
 * the store, current and byte-identical, and `PRAGMA integrity_check` must say ok. The next trial
 * restarts the same batch, which resumes from the store; a run that finishes starts a fresh store.
 * CINESEG_CRASH_TRIALS sets the number of kills (default 5; the full run uses 20 or more).
 *
 * Then the same promise over both backends (SQLite and PostgreSQL, a throwaway cluster from
 * bench/local-postgres.ts): a child writing through the AnnotationStore (store-writer-child.mjs)
 * acks each mask after its COMMIT and is SIGKILLed at a seeded random moment; on PostgreSQL every
 * third kill is of the database server itself (pg_ctl stop -m immediate, then a restart with WAL
 * replay). After each, every acked mask is there, byte-identical, and the store's integrity check
 * says ok. CINESEG_CRASH_SEED repeats a run (the seed is printed).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type LocalPostgres } from '../../../engine/src/bench/local-postgres.js';
import type { AnnotationStore } from '../../../engine/src/store/annotation-store.js';
import { PostgresStore } from '../../../engine/src/store/postgres-store.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { SqliteStore } from '../../../engine/src/store/sqlite-store.js';
import { prng } from '../../fixtures/prng.mjs';
import { CLI, ensureBuilt } from '../cli/track-helpers.js';
import { testBundleDir } from '../model/test-bundle.js';
import { GENERATED_DIR } from '../../global-setup.js';

const TRIALS = Number(process.env.CINESEG_CRASH_TRIALS ?? 5);
const CLIP = 'ultrasound-1';

interface Ack {
  object: number;
  frame: number;
  id: number;
  sha1: string;
}

let dir: string;
beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'cineseg-crash-'));
  mkdirSync(join(dir, 'clips'));
  symlinkSync(join(GENERATED_DIR, CLIP), join(dir, 'clips', CLIP));
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs the batch; kills it with SIGKILL `ms` after it started (`from: 'start'`: model loading,
 * prompts being recorded) or after its first acknowledgement (`from: 'ack'`: mid-propagation),
 * unless it ends first.
 */
function runChild(store: string, out: string, kill: { from: 'start' | 'ack'; ms: number }): Promise<{ killed: boolean; code: number | null; acks: Ack[]; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const args = [CLI, 'batch', join(dir, 'clips'), '--out', out, '--store', store, '--model', testBundleDir(), '--threads', '1', '--sample-prompt', 'mask', '--print-acks'];
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer ??= setTimeout(() => {
        killed = p.kill('SIGKILL');
      }, kill.ms);
    };
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (kill.from === 'ack' && stdout.includes('ack ')) arm();
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    if (kill.from === 'start') arm();
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      // Only whole lines count: a line cut by the kill was never fully acknowledged.
      const acks = stdout
        .split('\n')
        .slice(0, -1)
        .filter((l) => l.startsWith('ack '))
        .map((l) => {
          const [, , object, frame, id, sha1] = l.split(' ');
          return { object: Number(object), frame: Number(frame), id: Number(id), sha1: sha1! };
        });
      resolve({ killed, code, acks, stdout, stderr });
    });
  });
}

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');

describe('crash safety of the session store', () => {
  it(`after ${TRIALS} SIGKILLs at random moments every acknowledged mask is present and identical`, async () => {
    let gen = 0;
    let store = join(dir, `store-${gen}.db`);
    let out = join(dir, `out-${gen}`);
    let acked = new Map<string, Ack>();
    let kills = 0;
    let midRun = 0;
    let completions = 0;
    let totalAcks = 0;
    let resumedRuns = 0;
    while (kills < TRIALS) {
      // A quarter of the kills land while the child starts (model loading, session and prompts
      // being recorded); the rest while it propagates (the clip takes about 5 s on this machine).
      const plan = Math.random() < 0.25 ? { from: 'start' as const, ms: Math.random() * 3000 } : { from: 'ack' as const, ms: Math.random() * 4000 };
      const r = await runChild(store, out, plan);
      for (const a of r.acks) acked.set(`${a.object}:${a.frame}`, a);
      totalAcks += r.acks.length;
      const s = SessionStore.open(store);
      try {
        expect(s.integrityCheck()).toBe('ok');
        const sessions = s.listSessions();
        expect(sessions.length).toBeLessThanOrEqual(1);
        if (acked.size > 0) {
          const sid = sessions[0]!.id;
          for (const a of acked.values()) {
            const m = s.getMask(sid, a.object, a.frame);
            expect(m, `acked mask ${a.object}:${a.frame} missing`).toBeDefined();
            expect(m!.id).toBe(a.id);
            expect(sha1(m!.rle.counts)).toBe(a.sha1);
          }
          // Complete frames are a prefix: the resume point is well defined.
          const complete = s.completeFrames(sid);
          complete.forEach((f, i) => expect(f).toBe(i));
        }
      } finally {
        s.destroy();
      }
      if (r.killed) {
        kills++;
        if (r.acks.length > 0) midRun++;
      } else {
        expect(r.code, r.stderr).toBe(0);
        completions++;
        if (/^ultrasound-1\s+resumed\s/m.test(r.stdout)) resumedRuns++;
        // A finished run: the next trial starts from an empty store.
        gen++;
        store = join(dir, `store-${gen}.db`);
        out = join(dir, `out-${gen}`);
        acked = new Map();
      }
    }
    // Finish the last generation and check the result is whole.
    const last = await runChild(store, out, { from: 'start', ms: 300_000 });
    expect(last.killed).toBe(false);
    expect(last.code, last.stderr).toBe(0);
    if (/^ultrasound-1\s+resumed\s/m.test(last.stdout)) resumedRuns++;
    for (const a of last.acks) acked.set(`${a.object}:${a.frame}`, a);
    const s = SessionStore.open(store, { readonly: true });
    try {
      const [session] = s.listSessions();
      expect(session!.status).toBe('done');
      expect(s.completeFrames(session!.id)).toHaveLength(90);
      for (const a of acked.values()) expect(s.getMask(session!.id, a.object, a.frame)!.id).toBe(a.id);
    } finally {
      s.destroy();
    }
    console.log(
      `crash test: ${kills} kills (${midRun} after acks had started), ${completions} runs finished before their kill, ${resumedRuns} finished runs resumed a killed one, ${totalAcks} acks checked`,
    );
    // Random delays must have landed some kills in the middle of propagation.
    expect(midRun).toBeGreaterThan(0);
    // The last run continues the last killed one (unless that kill came before any session).
    expect(resumedRuns).toBeGreaterThan(0);
  }, 600_000);
});

const WRITER = new URL('./store-writer-child.mjs', import.meta.url).pathname;
const SEED = Number(process.env.CINESEG_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const WRITER_FRAMES = 400;

/** Runs the writer; `kill(child)` is called `ms` after its first ack (unless it ends first). */
function runWriter(
  spec: string,
  sessionId: string,
  seed: number,
  ms: number,
  kill: (p: ReturnType<typeof spawn>) => void,
): Promise<{ killed: boolean; code: number | null; acks: Ack[]; done: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [WRITER, spec, sessionId, String(seed), String(WRITER_FRAMES), '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (ms >= 0 && !timer && stdout.includes('ack ')) {
        timer = setTimeout(() => {
          killed = true;
          kill(p);
        }, ms);
      }
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      const lines = stdout.split('\n').slice(0, -1);
      const acks = lines
        .filter((l) => l.startsWith('ack '))
        .map((l) => {
          const [, object, frame, id, sha] = l.split(' ');
          return { object: Number(object), frame: Number(frame), id: Number(id), sha1: sha! };
        });
      resolve({ killed, code, acks, done: lines.includes('done'), stderr });
    });
  });
}

/** Every acked mask is in the store, byte-identical; the current row of each frame is the newest acked or later. */
async function checkAcks(store: AnnotationStore, sessionId: string, acks: Map<number, Ack>): Promise<void> {
  expect(await store.integrityCheck()).toBe('ok');
  const newest = new Map<string, number>();
  const byFrame = new Map<string, Map<number, string>>();
  for (const a of acks.values()) {
    const key = `${a.object}:${a.frame}`;
    newest.set(key, Math.max(newest.get(key) ?? 0, a.id));
    if (!byFrame.has(key)) byFrame.set(key, new Map());
    byFrame.get(key)!.set(a.id, a.sha1);
  }
  for (const [key, ids] of byFrame) {
    const [object, frame] = key.split(':').map(Number) as [number, number];
    const hist = await store.maskHistory(sessionId, object, frame);
    const stored = new Map(hist.map((m) => [m.id, sha1(m.rle.counts)]));
    for (const [id, sha] of ids) expect(stored.get(id), `acked mask ${id} (${key}) missing or changed`).toBe(sha);
    const current = hist.find((m) => m.current);
    expect(current, `no current mask for ${key}`).toBeDefined();
    expect(current!.id).toBeGreaterThanOrEqual(newest.get(key)!);
  }
  // Complete frames are a prefix: the writer's resume point is well defined.
  (await store.completeFrames(sessionId)).forEach((f, i) => expect(f).toBe(i));
}

describe.each(['sqlite', 'postgres'] as const)('crash safety of acknowledged writes: %s', (kind) => {
  let pgc: LocalPostgres | null = null;
  let spec: string;
  const open = (): Promise<AnnotationStore> => (kind === 'postgres' ? PostgresStore.open(spec, { poolSize: 1 }) : SqliteStore.open(spec));
  beforeAll(async () => {
    await ensureBuilt();
    if (kind === 'postgres') {
      pgc = await startPostgres();
      spec = pgc.url;
    } else {
      spec = join(dir, 'writer.db');
    }
  }, 300_000);
  afterAll(async () => {
    await pgc?.stop();
  });

  it(`after ${TRIALS} kills at seeded random moments every acknowledged mask is present and identical`, async () => {
    const rand = prng(SEED);
    console.log(`store crash test (${kind}): seed ${SEED} (CINESEG_CRASH_SEED repeats it)`);
    // A session per generation: a writer that finished starts the next trial on a fresh session.
    let gen = 0;
    const newSession = async (): Promise<string> => {
      const st = await open();
      try {
        const clip = await st.upsertClip({ path: '/clips/crash.mp4', contentHash: 'c'.repeat(64), width: 128, height: 96, numFrames: WRITER_FRAMES, fps: 25 });
        return (await st.createSession(clip.id, { id: `crash-${gen++}` })).id;
      } finally {
        await st.destroy();
      }
    };
    let sessionId = await newSession();
    let acks = new Map<number, Ack>();
    let childKills = 0;
    let serverKills = 0;
    let finished = 0;
    let totalAcks = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const killServer = kind === 'postgres' && trial % 3 === 2;
      const r = await runWriter(spec, sessionId, Math.floor(rand() * 2 ** 31), Math.floor(rand() * 600), (p) => {
        if (killServer) void pgc!.kill();
        else p.kill('SIGKILL');
      });
      for (const a of r.acks) acks.set(a.id, a);
      totalAcks += r.acks.length;
      if (killServer && r.killed) {
        serverKills++;
        await pgc!.restart();
        // The writer saw its database vanish: a coded failure, never a silent exit 0.
        if (!r.done) expect(r.stderr).toMatch(/E_STORE_UNAVAILABLE/);
      } else if (r.killed && !r.done) childKills++;
      else expect(r.code, r.stderr).toBe(0);
      const s = await open();
      try {
        await checkAcks(s, sessionId, acks);
      } finally {
        await s.destroy();
      }
      if (r.done) {
        finished++;
        sessionId = await newSession();
        acks = new Map();
      }
    }
    const last = await runWriter(spec, sessionId, 1, -1, () => undefined);
    expect(last.code, last.stderr).toBe(0);
    expect(last.done).toBe(true);
    for (const a of last.acks) acks.set(a.id, a);
    const s = await open();
    try {
      await checkAcks(s, sessionId, acks);
      expect(await s.completeFrames(sessionId)).toHaveLength(WRITER_FRAMES);
    } finally {
      await s.destroy();
    }
    console.log(`store crash test (${kind}): ${childKills} writer kills, ${serverKills} server kills, ${finished} runs finished first, ${totalAcks} acks checked`);
    expect(childKills + serverKills).toBeGreaterThan(0);
  }, 600_000);
});
