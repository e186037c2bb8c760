/**
 * "Improve the model" end to end on the smallest budget: an approved session in a real store, a
 * real server on port 0, POST /api/finetune → the real trainer (PyTorch, 2 steps, frozen image
 * encoder) → validation → GET /api/jobs/:id reaches `done` with the validation table; the new
 * bundle is listed by GET /api/models, and a session started on it tracks. Cancelling a second
 * job leaves it `cancelled` with no bundle.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rle } from '../../../engine/src/mask/rle.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { registerClipFile } from '../../../engine/src/store/register-clip.js';
import { openStore } from '../../../engine/src/store/open-store.js';
import { writeClip } from '../../../samples/src/clip-writer.js';
import { testBundleDir } from '../model/test-bundle.js';
import { TestClient } from '../server/ws-client.js';

const tmp = mkdtempSync(join(tmpdir(), 'cineseg-ftjobs-'));
const media = join(tmp, 'media');
// A seed of its own (nothing else uses 7110).
const CLIP = join(media, 'ultrasound-7110');
const dbPath = join(tmp, 'site.db');
let sessions: ModelSessions;
let server: CinesegServer;

beforeAll(async () => {
  await writeClip({ kind: 'ultrasound', seed: 7110, width: 160, height: 120, fps: 30, frames: 16 }, media, { skipExisting: false });
  const gt = JSON.parse(readFileSync(join(CLIP, 'gt.json'), 'utf8')) as { annotations: { object_id: number; segmentations: (Rle | null)[] }[] };
  const store = await openStore(dbPath);
  try {
    const clip = await registerClipFile(store, join(CLIP, 'clip.mp4'));
    const sid = (await store.createSession(clip.id, { id: 'annotated', meta: { tool: 'cineseg serve' } })).id;
    await store.putMasks(
      sid,
      gt.annotations.flatMap((a) => a.segmentations.flatMap((s, t) => (s ? [{ objectId: a.object_id, frame: t, rle: s, origin: 'edit' as const }] : []))),
    );
    await store.addObject(sid, gt.annotations[0]!.object_id, 'lesion');
    await store.setSessionStatus(sid, 'closed');
  } finally {
    await store.destroy();
  }
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  server = await startServer({
    port: 0,
    sessions,
    store: dbPath,
    media: [media],
    cacheDir: join(tmp, 'hls'),
    playerDir: join(tmp, 'no-player'),
    // The smallest run finetune supports; force: two steps need not beat the base.
    finetune: { steps: 2, minutes: 0, encoder: 'frozen', force: true },
  });
}, 300_000);
afterAll(async () => {
  await server?.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const url = (p: string) => new URL(p, server.url).toString();
async function call<T>(p: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const r = await fetch(url(p), init);
  return { status: r.status, body: (await r.json()) as T };
}

interface Job {
  jobId: string;
  state: string;
  progress: number;
  code?: string;
  message?: string;
  step?: number;
  steps?: number;
  result?: { modelId: string; bundleDir: string; validation: { before: { mean: number }; after: { mean: number }; items: unknown[] } };
}

async function waitJob(id: string, until: (j: Job) => boolean, timeoutMs: number): Promise<Job[]> {
  const seen: Job[] = [];
  const t0 = Date.now();
  for (;;) {
    const j = (await call<Job>(`/api/jobs/${id}`)).body;
    seen.push(j);
    if (until(j)) return seen;
    if (Date.now() - t0 > timeoutMs) throw new Error(`job ${id} still ${j.state} (${j.message ?? ''})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('POST /api/finetune', () => {
  it('with nothing approved: 400 E_INPUT_EMPTY', async () => {
    const r = await call<{ code: string }>('/api/finetune', { method: 'POST', body: '{}' });
    expect([r.status, r.body.code]).toEqual([400, 'E_INPUT_EMPTY']);
  });

  it('trains on the approved session, reaches done with validation; the model is offered and tracks', async () => {
    expect((await call(`/api/sessions/annotated/approve`, { method: 'POST' })).status).toBe(200);
    const start = await call<{ jobId: string; sessions: string[] }>('/api/finetune', { method: 'POST', body: '{}' });
    expect(start.status).toBe(202);
    expect(start.body.sessions).toEqual(['annotated']);
    const seen = await waitJob(start.body.jobId, (j) => j.state === 'done' || j.state === 'failed', 600_000);
    const last = seen.at(-1)!;
    expect(last, JSON.stringify(last)).toMatchObject({ state: 'done', progress: 1, result: { modelId: start.body.jobId } });
    // Progress only grows.
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.progress).toBeGreaterThanOrEqual(seen[i - 1]!.progress);
    const v = last.result!.validation;
    expect(v.items.length).toBeGreaterThan(0);
    expect(v.before.mean).toBeGreaterThan(0);
    expect(v.after.mean).toBeGreaterThan(0);
    // The work folder is gone; the bundle is where the catalog looks.
    expect(readdirSync(server.models.modelsDir!)).toEqual([start.body.jobId]);
    const models = (await call<{ models: { id: string; default: boolean; validation?: unknown; adaptation?: { sessions: string[] } }[] }>('/api/models')).body.models;
    const mine = models.find((m) => m.id === start.body.jobId)!;
    expect(mine).toMatchObject({ default: false, adaptation: { sessions: ['annotated'] } });
    expect(mine.validation).toEqual(v);

    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    try {
      const s = await c.request({ type: 'startSession', clip: 'media/ultrasound-7110', model: start.body.jobId });
      if (s.type !== 'sessionStarted') throw new Error(JSON.stringify(s));
      expect(await c.request({ type: 'addPoints', sessionId: s.sessionId, frame: 0, objectId: 1, points: [{ x: 80, y: 60, label: 1 }] })).toMatchObject({ type: 'ack' });
      expect(await c.request({ type: 'propagate', sessionId: s.sessionId })).toMatchObject({ type: 'ack' });
      await c.waitFor((m) => m.type === 'propagateDone' || m.type === 'error', true, 120_000);
      expect(new Set(c.masks.map((m) => m.frame)).size).toBe(16);
      await c.request({ type: 'closeSession', sessionId: s.sessionId });
    } finally {
      await c.close();
    }
  }, 900_000);

  it('cancel: the job ends cancelled and leaves no bundle', async () => {
    const start = await call<{ jobId: string }>('/api/finetune', { method: 'POST', body: JSON.stringify({ sessions: ['annotated'], steps: 400 }) });
    expect(start.status).toBe(202);
    await waitJob(start.body.jobId, (j) => (j.step ?? 0) >= 1 || j.state !== 'running', 600_000);
    const del = await call<Job>(`/api/jobs/${start.body.jobId}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const seen = await waitJob(start.body.jobId, (j) => j.state !== 'running' && j.state !== 'queued', 300_000);
    expect(seen.at(-1)!.state).toBe('cancelled');
    expect(existsSync(join(server.models.modelsDir!, start.body.jobId))).toBe(false);
    expect(readdirSync(server.models.modelsDir!).some((n) => n.includes(start.body.jobId))).toBe(false);
  }, 900_000);
});
