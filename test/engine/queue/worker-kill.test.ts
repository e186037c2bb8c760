/**
 * Three real `cineseg worker` processes on one redis-server and one PostgreSQL store; one is
 * SIGKILLed mid-clip, after it committed masks. BullMQ's stalled check gives its job to another
 * worker, which resumes from the stored masks: every clip ends done, every frame has exactly one
 * mask row per object (nothing tracked twice), and every mask the killed worker acknowledged is
 * still the current one. Then SIGTERM: a worker hands its job back at the drain deadline, and
 * the next one resumes it the same way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type LocalPostgres } from '../../../engine/src/bench/local-postgres.js';
import { startRedis, type LocalRedis } from '../../../engine/src/bench/local-redis.js';
import { queueBatch } from '../../../engine/src/cli/queue-batch.js';
import { ClipQueue, type JobEnd } from '../../../engine/src/queue/clip-queue.js';
import type { AnnotationStore } from '../../../engine/src/store/annotation-store.js';
import { openStore } from '../../../engine/src/store/open-store.js';
import { ensureBuilt } from '../cli/track-helpers.js';
import { acksOf, shortClip, startWorker, stopWorker, type WorkerChild } from './queue-fixtures.js';

let redis: LocalRedis;
let pg: LocalPostgres;
let dir: string;
let queue: ClipQueue;
let store: AnnotationStore;
const workers: WorkerChild[] = [];
// Short locks so a dead worker's job moves on in seconds; a commit every 2 frames (2 objects),
// so the killed worker has committed some frames and not all.
const FAST = ['--lock-seconds', '4', '--stalled-seconds', '1', '--commit-masks', '4', '--print-acks'];
const CLIPS: [string, string, number][] = [
  ['us1', 'ultrasound-1', 24],
  ['us2', 'ultrasound-2', 24],
  ['en2', 'endoscopy-2', 24],
  ['en3', 'endoscopy-3', 24],
];

beforeAll(async () => {
  await ensureBuilt();
  [redis, pg] = await Promise.all([startRedis(), startPostgres()]);
  dir = mkdtempSync(join(tmpdir(), 'cineseg-worker-kill-'));
  for (const [name, sample, frames] of CLIPS) shortClip(join(dir, 'clips'), name, sample, frames);
  shortClip(join(dir, 'one'), 'us3', 'ultrasound-3', 40);
  queue = await ClipQueue.open(redis.url);
  store = await openStore(pg.url);
}, 300_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => stopWorker(w)));
  await store?.destroy();
  await queue?.destroy();
  await Promise.all([redis?.stop(), pg?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Every frame of the session has exactly one mask row per object (no second row from a re-run). */
async function rowsPerObjectFrame(sessionId: string): Promise<{ frames: number; objects: number; extra: string[] }> {
  const s = await store.loadSession(sessionId);
  const objects = await store.listObjects(sessionId);
  const extra: string[] = [];
  for (const o of objects) {
    for (let f = 0; f < s.clip.numFrames; f++) {
      const n = (await store.maskHistory(sessionId, o.objectId, f)).length;
      if (n !== 1) extra.push(`object ${o.objectId} frame ${f}: ${n} rows`);
    }
  }
  return { frames: s.clip.numFrames, objects: objects.length, extra };
}

describe('cineseg worker, killed', () => {
  // Each test stops its workers however it ends: one left running would take the next test's job.
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => stopWorker(w)));
  });

  it('SIGKILL mid-clip: another worker resumes the job from the stored masks, no mask lost or doubled', async () => {
    workers.push(...(await Promise.all(['w1', 'w2', 'w3'].map((n) => startWorker(n, redis.url, pg.url, FAST)))));
    const { jobs, batchKey } = await queueBatch({ input: join(dir, 'clips'), queueUrl: redis.url, store: pg.url, wait: false });
    expect(jobs).toHaveLength(CLIPS.length);

    // The first worker to commit masks of a clip is killed right then, mid-clip.
    const victim = await Promise.race(workers.map((w) => w.waitFor(/^ack (\S+) /m, 90_000).then((m) => ({ w, job: m[1]! }))));
    victim.w.child.kill('SIGKILL');
    await victim.w.exited;
    const acked = acksOf(victim.w.stdout()).filter((a) => a.job === victim.job);
    expect(acked.length).toBeGreaterThan(0);

    const ends = await queue.follow(
      jobs.map((j) => j.id),
      {},
      { pollMs: 500 },
    );
    const byId = new Map<string, JobEnd>(ends.map((e) => [e.id, e]));
    for (const e of ends) expect(e.state, JSON.stringify(e)).toBe('completed');
    for (const e of ends) if (e.state === 'completed') expect(e.result, `result of ${e.id}`).not.toBeNull();
    const killed = byId.get(victim.job)!;
    if (killed.state !== 'completed') throw new Error('unreachable');
    // Finished by another worker, after the run of frames the killed one had committed.
    expect(killed.result.worker).not.toBe(victim.w.name);
    expect(killed.result.resumedAfter).not.toBeNull();
    expect(killed.result.resumedAfter!).toBeGreaterThanOrEqual(Math.max(...acked.map((a) => a.frame)));
    expect(killed.result.framesWritten).toBeLessThan(killed.result.frames);

    for (const e of ends) {
      if (e.state !== 'completed') continue;
      const s = await store.requireSession(e.result.sessionId);
      expect(s.status).toBe('done');
      expect(s.meta.batch).toBe(batchKey);
      const rows = await rowsPerObjectFrame(s.id);
      expect(rows.frames).toBe(24);
      expect(rows.extra, `session of ${s.meta.clip}`).toEqual([]);
    }
    // Every mask the killed worker acknowledged is still the current one (never rewritten).
    const sid = killed.result.sessionId;
    for (const a of acked) expect((await store.getMask(sid, a.objectId, a.frame))?.id).toBe(a.maskId);
    expect(await store.integrityCheck()).toBe('ok');
  }, 180_000);

  it('SIGTERM past the drain deadline hands the job back; the next worker resumes it', async () => {
    const a = await startWorker('drainer', redis.url, pg.url, [...FAST, '--drain-seconds', '0', '--log-json']);
    workers.push(a);
    const { jobs } = await queueBatch({ input: join(dir, 'one'), queueUrl: redis.url, store: pg.url, wait: false });
    const id = jobs[0]!.id;
    await a.waitFor(new RegExp(`^ack ${id} `, 'm'));
    a.child.kill('SIGTERM');
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(a.stderr()).toMatch(new RegExp(`hand back ${id} us3 after \\d+ frame`));
    // --log-json: the worker's own lines are the server's JSON lines, not text.
    const logged = a
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; msg: string; pid: number });
    expect(logged.some((m) => m.level === 'info' && m.pid === a.child.pid && /^worker drainer taking jobs from/.test(m.msg))).toBe(true);
    expect(logged.some((m) => /^SIGTERM: finishing the active job/.test(m.msg))).toBe(true);
    expect(a.stderr()).not.toMatch(/^worker drainer taking jobs/m);
    // Back to wait at once (its own lock token), not after a stall: no attempt counted.
    const job = await queue.queue.getJob(id);
    expect(await job!.getState()).toBe('waiting');
    expect(job!.attemptsMade).toBe(0);
    const acked = acksOf(a.stdout());

    const b = await startWorker('next', redis.url, pg.url, FAST);
    workers.push(b);
    const [end] = await queue.follow([id], {}, { pollMs: 500 });
    if (end!.state !== 'completed') throw new Error(JSON.stringify(end));
    expect(end!.result.worker).toBe('next');
    expect(end!.result.resumedAfter!).toBeGreaterThanOrEqual(Math.max(...acked.map((x) => x.frame)));
    const rows = await rowsPerObjectFrame(end!.result.sessionId);
    expect(rows).toEqual({ frames: 40, objects: 1, extra: [] });
    for (const x of acked) expect((await store.getMask(end!.result.sessionId, x.objectId, x.frame))?.id).toBe(x.maskId);
  }, 120_000);
});
