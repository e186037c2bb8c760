/**
 * FinetuneJobs reads its sessions through the AnnotationStore, so "Improve the model" works on both
 * backends: on SQLite and on a real PostgreSQL cluster, the checks made before a job is queued
 * (nothing approved: E_INPUT_EMPTY; an open session: E_SESSION_BUSY; an unknown one:
 * E_SESSION_UNKNOWN; a second start while one runs: E_JOB_BUSY, also when both are asked at
 * once), and a job on an approved session whose clip is gone ends `failed` with the code that
 * names it (the masks came from the store; the data preparation found the clip missing). The
 * training itself is covered by finetune-jobs.test.ts (SQLite, through the server).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FinetuneJobs, type JobInfo } from '../../../engine/src/adapt/finetune-jobs.js';
import { startPostgres } from '../../../engine/src/bench/local-postgres.js';
import { encodeMask } from '../../../engine/src/mask/rle.js';
import type { AnnotationStore } from '../../../engine/src/store/annotation-store.js';
import { openStore } from '../../../engine/src/store/open-store.js';
import { approveSession } from '../../../engine/src/store/session-review.js';
import { testBundleDir } from '../model/test-bundle.js';

const tmp = mkdtempSync(join(tmpdir(), 'cineseg-ftjobs-store-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const backends = [
  { name: 'SQLite', start: async () => ({ spec: join(tmp, 'jobs.db'), stop: async () => undefined }) },
  {
    name: 'PostgreSQL',
    start: async () => {
      const pg = await startPostgres();
      return { spec: pg.url, stop: () => pg.stop() };
    },
  },
];

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: { code?: string }) => e.code ?? String(e),
  );
}

describe.each(backends)('FinetuneJobs on $name', ({ name, start }) => {
  let store: AnnotationStore;
  let jobs: FinetuneJobs;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    let spec: string;
    ({ spec, stop } = await start());
    store = await openStore(spec);
    const mask = encodeMask(new Uint8Array(64 * 48).fill(1, 0, 300), 48, 64);
    const gone = await store.upsertClip({ path: join(tmp, name, 'gone.mp4'), contentHash: 'c'.repeat(64), width: 64, height: 48, numFrames: 4, fps: 12 });
    for (const id of ['s-open', 's-closed']) {
      await store.createSession(gone.id, { id });
      await store.putMasks(id, [{ objectId: 1, frame: 0, rle: mask, origin: 'edit' }]);
    }
    await store.setSessionStatus('s-closed', 'closed');
    jobs = new FinetuneJobs({ store, modelsDir: join(tmp, name, 'models'), baseDir: testBundleDir(), settings: { steps: 1, minutes: 0, encoder: 'frozen' } });
  }, 300_000);
  afterAll(async () => {
    await jobs?.destroy();
    await store?.destroy();
    await stop?.();
  }, 120_000);

  it('refuses before queueing: nothing approved, an open session, an unknown one', async () => {
    expect(await codeOf(jobs.start())).toBe('E_INPUT_EMPTY');
    expect(await codeOf(jobs.start({ sessions: ['s-open'] }))).toBe('E_SESSION_BUSY');
    expect(await codeOf(jobs.start({ sessions: ['nope'] }))).toBe('E_SESSION_UNKNOWN');
    expect(jobs.list()).toEqual([]);
  });

  it('a job on the approved session reads its masks from the store and fails naming the missing clip; two starts at once give one job', async () => {
    await approveSession(store, 's-closed', 'tester');
    const [a, b] = await Promise.allSettled([jobs.start(), jobs.start()]);
    const started = [a, b].filter((r): r is PromiseFulfilledResult<JobInfo> => r.status === 'fulfilled');
    const refused = [a, b].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(started).toHaveLength(1);
    expect(refused.map((r) => (r.reason as { code?: string }).code)).toEqual(['E_JOB_BUSY']);
    const job = started[0]!.value;
    expect(job.sessions).toEqual(['s-closed']);
    await jobs.idle();
    const end = jobs.get(job.jobId);
    expect(end, JSON.stringify(end)).toMatchObject({ state: 'failed', code: 'E_INPUT_NOT_FOUND' });
    expect(end.message).toMatch(/gone\.mp4/);
    // Ended: the next start is not refused as busy.
    expect(await codeOf(jobs.start({ sessions: ['s-open'] }))).toBe('E_SESSION_BUSY');
  }, 120_000);
});
