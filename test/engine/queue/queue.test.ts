/**
 * The clip queue on a real redis-server: idempotent enqueue, status counts, a corrupt clip failing
 * with its code and retried, and the CLI's queue commands. The worker here runs in-process on a
 * SQLite store (the multi-process kill test, worker-kill.test.ts, uses PostgreSQL).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type LocalRedis } from '../../../engine/src/bench/local-redis.js';
import { startServer } from '../../../engine/src/server/http-server.js';
import { queueBatch } from '../../../engine/src/cli/queue-batch.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { ClipQueue } from '../../../engine/src/queue/clip-queue.js';
import { ClipWorker } from '../../../engine/src/queue/clip-worker.js';
import { clipJobId } from '../../../engine/src/queue/job-types.js';
import type { AnnotationStore } from '../../../engine/src/store/annotation-store.js';
import { openStore } from '../../../engine/src/store/open-store.js';
import { hashClip } from '../../../engine/src/store/register-clip.js';
import { cineseg, ensureBuilt } from '../cli/track-helpers.js';
import { testBundleDir } from '../model/test-bundle.js';
import { shortClip } from './queue-fixtures.js';

let redis: LocalRedis;
let dir: string;
let clips: string;
let storePath: string;
let queue: ClipQueue;
let store: AnnotationStore;
let sessions: ModelSessions;
let worker: ClipWorker | null = null;
const FRAMES = 10;

beforeAll(async () => {
  await ensureBuilt();
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'cineseg-queue-'));
  clips = join(dir, 'clips');
  shortClip(clips, 'good', 'ultrasound-3', FRAMES);
  // A truncated mp4 (no moov atom): the probe fails with E_DECODE_CORRUPT, on every worker alike.
  const bad = shortClip(join(dir, 'spare'), 'bad', 'endoscopy-3', FRAMES);
  mkdirSync(join(clips, 'bad'));
  copyFileSync(join(bad, 'prompts.json'), join(clips, 'bad', 'prompts.json'));
  writeFileSync(join(clips, 'bad', 'clip.mp4'), Buffer.alloc(30_000, 7));
  storePath = join(dir, 'store.db');
  queue = await ClipQueue.open(redis.url);
  store = await openStore(storePath);
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu', threads: 1 });
}, 300_000);

afterAll(async () => {
  await worker?.destroy();
  await sessions?.destroy();
  await store?.destroy();
  await queue?.destroy();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('batch --queue and cineseg queue', () => {
  it('enqueues one job per clip, once: the same folder twice adds nothing', async () => {
    const first = await queueBatch({ input: clips, queueUrl: redis.url, store: storePath, wait: false });
    expect(first.jobs.map((j) => [j.clip, j.added])).toEqual([
      ['bad', true],
      ['good', true],
    ]);
    // The id is the clip's content hash with the batch key (the folder without --out).
    expect(first.jobs[1]!.id).toBe(clipJobId(clips, await hashClip(join(clips, 'good', 'clip.mp4'))));
    const second = await queueBatch({ input: clips, queueUrl: redis.url, store: storePath, wait: false });
    expect(second.jobs.map((j) => [j.id, j.added, j.state])).toEqual(first.jobs.map((j) => [j.id, false, 'waiting']));
    expect((await queue.status()).counts).toEqual({ waiting: 2, active: 0, completed: 0, failed: 0, delayed: 0 });
    // A CLI run says the same, and its --json is the same status.
    const r = await cineseg(['batch', clips, '--queue', redis.url, '--store', storePath, '--no-wait']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/0 job\(s\) added, 2 already in the queue \(2 waiting\)/);
    const s = await cineseg(['queue', 'status', '--queue', redis.url, '--json']);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).counts).toEqual({ waiting: 2, active: 0, completed: 0, failed: 0, delayed: 0 });
    const job = await queue.queue.getJob(first.jobs[1]!.id);
    expect(job!.data).toMatchObject({ v: 1, clip: join(clips, 'good', 'clip.mp4'), name: 'good', batchKey: clips, model: null, prompts: [{ objectId: 1, frame: 0, kind: 'box' }] });
    // The store spec never travels in a job.
    expect(JSON.stringify(job!.data)).not.toContain(storePath);
  });

  it('a worker tracks the good clip; the corrupt one fails at once with its code, and is retried', async () => {
    worker = await ClipWorker.start({ queueUrl: redis.url, store, sessions, name: 'in-test', lockDurationMs: 5000, stalledIntervalMs: 2000 });
    const ids = (await queueBatch({ input: clips, queueUrl: redis.url, store: storePath, wait: false })).jobs.map((j) => j.id);
    const ends = await queue.follow(ids, {}, { pollMs: 300 });
    expect(ends.map((e) => e.state)).toEqual(['failed', 'completed']);
    const failed = ends[0]!;
    if (failed.state !== 'failed') throw new Error('expected a failure');
    expect(failed.code).toBe('E_DECODE_CORRUPT');
    // Bad input is not retried: one attempt, not three.
    expect(failed.attemptsMade).toBe(1);
    const done = ends[1]!;
    if (done.state !== 'completed') throw new Error('expected a completion');
    expect(done.result).toMatchObject({ frames: FRAMES, objects: 1, framesWritten: FRAMES, resumedAfter: null, worker: 'in-test' });
    expect((await store.requireSession(done.result.sessionId)).status).toBe('done');
    expect(await store.completeFrames(done.result.sessionId)).toHaveLength(FRAMES);

    const st = await queue.status();
    expect(st.counts).toEqual({ waiting: 0, active: 0, completed: 1, failed: 1, delayed: 0 });
    expect(st.failed).toMatchObject([{ id: failed.id, clip: 'bad', code: 'E_DECODE_CORRUPT' }]);
    const text = await cineseg(['queue', 'status', '--queue', redis.url]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/0 waiting, 0 active, 1 completed, 1 failed, 0 delayed/);
    expect(text.stdout).toMatch(new RegExp(`^${failed.id}\\s+bad\\s+E_DECODE_CORRUPT\\s+1\\s+`, 'm'));

    // Again: the good clip is done in the store (skipped before the queue), the failed job kept.
    const again = await queueBatch({ input: clips, queueUrl: redis.url, store: storePath, wait: false });
    expect(again.jobs.map((j) => [j.clip, j.added, j.state])).toEqual([['bad', false, 'failed']]);
    expect(again.rows).toMatchObject([{ clip: 'good', status: 'skipped', sessionId: done.result.sessionId }]);

    // Someone fixes the file in place; the retried job reads it and completes.
    copyFileSync(join(dir, 'spare', 'bad', 'clip.mp4'), join(clips, 'bad', 'clip.mp4'));
    const retry = await cineseg(['queue', 'retry', '--queue', redis.url, failed.id]);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout).toContain(`1 job(s) retried: ${failed.id}`);
    const [end] = await queue.follow([failed.id], {}, { pollMs: 300 });
    expect(end).toMatchObject({ state: 'completed', result: { frames: FRAMES, framesWritten: FRAMES } });
    expect((await queue.status()).counts).toMatchObject({ completed: 2, failed: 0 });
  });

  it('a batch that waits follows its jobs to the summary table', async () => {
    // A new batch key: new jobs and new sessions for the same clips.
    const r = await cineseg(['batch', clips, '--queue', redis.url, '--store', storePath, '--batch-key', 'second', '--out', join(dir, 'out')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^bad\s+done\s+10\s+2\s+10\s/m);
    expect(r.stdout).toMatch(/^good\s+done\s+10\s+1\s+10\s/m);
    expect(r.stdout).toMatch(/2 clip\(s\): 2 done, 0 resumed, 0 skipped, 0 failed/);
  });

  it("a worker downloads a clip from a cineseg server's /media URL with its token, and a wrong token fails at once", async () => {
    // The real server, its token required, serving two media folders; the worker reads through it.
    const server = await startServer({
      port: 0,
      sessions,
      store: join(dir, 'server.db'),
      token: 'worker-token-0123456789',
      media: [join(dir, 'spare'), clips],
      cacheDir: join(dir, 'hls'),
      playerDir: join(dir, 'no-player'),
    });
    try {
      const base = `${server.url}media/spare/bad`;
      const list = join(dir, 'urls.txt');
      writeFileSync(list, `${base}?token=worker-token-0123456789\n${server.url}media/clips/good?token=wrong\n`);
      const prompts = join(dir, 'url-prompts.json');
      writeFileSync(prompts, JSON.stringify({ '*': [{ object: 1, frame: 0, box: [150, 100, 300, 250] }] }));
      const { jobs } = await queueBatch({ input: list, queueUrl: redis.url, store: storePath, prompts, wait: false });
      // The token is not part of the clip's identity (it changes, and is secret).
      expect(jobs[0]!.id).toBe(clipJobId(list, base));
      const [ok, denied] = await queue.follow(
        jobs.map((j) => j.id),
        {},
        { pollMs: 300 },
      );
      if (ok!.state !== 'completed') throw new Error(JSON.stringify(ok));
      expect(ok!.result).toMatchObject({ frames: FRAMES, framesWritten: FRAMES });
      expect(denied).toMatchObject({ state: 'failed', code: 'E_AUTH_INVALID', attemptsMade: 1 });
      // The same bytes were registered before (the fixed clip): the stored clip keeps its path.
      const s = await store.loadSession(ok!.result.sessionId);
      expect(s.clip.path).toBe(join(clips, 'bad', 'clip.mp4'));
    } finally {
      await server.destroy();
    }
  });

  it('says what is wrong: no such job, a job that did not fail, no Redis', async () => {
    const none = await cineseg(['queue', 'retry', '--queue', redis.url, 'clip-nope']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^E_QUEUE_JOB_UNKNOWN: /);
    const [completed] = (await queue.status()).counts.completed ? await queue.queue.getCompleted(0, 0) : [];
    const notFailed = await cineseg(['queue', 'retry', '--queue', redis.url, completed!.id!]);
    expect(notFailed.code).toBe(2);
    expect(notFailed.stderr).toMatch(/^E_USAGE: job "clip-\w+" is completed, not failed/);
    const both = await cineseg(['queue', 'retry', '--queue', redis.url]);
    expect(both.stderr).toMatch(/^E_USAGE: name one failed job, or give --all/);
    const gone = await cineseg(['queue', 'status', '--queue', 'redis://127.0.0.1:1']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^E_QUEUE_UNAVAILABLE: Redis at redis:\/\/127\.0\.0\.1:1/);
    const url = await cineseg(['worker', '--queue', 'http://x', '--store', storePath]);
    expect(url.stderr).toMatch(/^E_USAGE: --queue must be a redis:\/\/ or rediss:\/\/ URL/);
  });
});
