/**
 * The review side of a server over a real SQLite store, a real HTTP server on 127.0.0.1 port 0
 * and real files read back: GET /api/sessions rows with objects, counts and approval;
 * approve / unapprove and what training then picks; exports of every format from the page's
 * route (COCO JSON, a zip of PNGs unpacked by the system's unzip and decoded by the project's
 * PNG decoder, a NIfTI header) with objects= and frames=; label sets from the media folder;
 * GET /api/models with a bundle under the store's models folder and a session started on it.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedSessionInputs } from '../../../engine/src/adapt/training-data.js';
import { encodeMask } from '../../../engine/src/mask/rle.js';
import { decodePngMask } from '../../../engine/src/mask/png-mask.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { registerClipFile } from '../../../engine/src/store/register-clip.js';
import { SqliteStore } from '../../../engine/src/store/sqlite-store.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { testBundleDir } from '../model/test-bundle.js';
import { writeTinyClip } from './tiny-clip.js';
import { TestClient } from './ws-client.js';

const W = 64;
const H = 48;
const N = 12;

let tmp: string;
let media: string;
let dbPath: string;
let sessions: ModelSessions;
let server: CinesegServer;

function square(frame: number, x0 = 8): Uint8Array {
  const m = new Uint8Array(W * H);
  for (let y = 12; y < 32; y++) for (let x = x0 + frame; x < x0 + frame + 16; x++) m[y * W + x] = 1;
  return m;
}

/** A closed server session with two named objects (masks on every frame for 1, frames 0-5 for 2) and a second, empty one. */
async function seed(): Promise<{ a: string; b: string }> {
  const store = SessionStore.open(dbPath);
  try {
    const clip = await registerClipFile(SqliteStore.wrap(store), join(media, 'square', 'clip.mp4'));
    const a = store.createSession(clip.id, { id: 'sess-a', meta: { tool: 'cineseg serve', createdBy: 'alice' } }).id;
    store.addPrompt(a, { objectId: 1, frame: 0, kind: 'points', points: [{ x: 16, y: 20, label: 1 }] });
    store.addPrompt(a, { objectId: 2, frame: 0, kind: 'box', box: [30, 30, 50, 46] });
    store.addObject(a, 1, 'polyp');
    store.addObject(a, 2, 'instrument');
    const masks = [];
    for (let t = 0; t < N; t++) masks.push({ objectId: 1, frame: t, rle: encodeMask(square(t), H, W), score: 0.9 });
    for (let t = 0; t < 6; t++) masks.push({ objectId: 2, frame: t, rle: encodeMask(square(t, 30), H, W), score: 0.8 });
    store.putMasks(a, masks);
    store.setSessionStatus(a, 'closed');
    const b = store.createSession(clip.id, { id: 'sess-b', meta: { tool: 'cineseg serve' } }).id;
    store.putMasks(b, [{ objectId: 1, frame: 3, rle: encodeMask(square(3), H, W) }]);
    store.setSessionStatus(b, 'closed');
    return { a, b };
  } finally {
    store.destroy();
  }
}

let ids: { a: string; b: string };

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-review-'));
  media = join(tmp, 'media');
  mkdirSync(join(media, 'square'), { recursive: true });
  await writeTinyClip(join(media, 'square', 'clip.mp4'), { width: W, height: H, frames: N });
  dbPath = join(tmp, 'store', 'site.db');
  mkdirSync(join(tmp, 'store'));
  ids = await seed();
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  server = await startServer({ port: 0, sessions, store: dbPath, media: [media], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'no-player') });
}, 120_000);
afterAll(async () => {
  await server?.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const url = (p: string) => new URL(p, server.url).toString();
async function getJson<T>(p: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const r = await fetch(url(p), init);
  return { status: r.status, body: (await r.json()) as T };
}

interface Row {
  id: string;
  status: string;
  objects: { objectId: number; label: string }[];
  maskCount: number;
  promptCount: number;
  createdBy: string;
  approvedAt?: string;
  approvedBy?: string;
  model?: string;
}

describe('GET /api/sessions rows', () => {
  it('carry objects with labels, mask and prompt counts, and who made them', async () => {
    const { status, body } = await getJson<Row[]>('/api/sessions');
    expect(status).toBe(200);
    const a = body.find((r) => r.id === ids.a)!;
    expect(a).toMatchObject({
      status: 'closed',
      objects: [
        { objectId: 1, label: 'polyp' },
        { objectId: 2, label: 'instrument' },
      ],
      maskCount: N + 6,
      promptCount: 2,
      createdBy: 'alice',
    });
    expect(a.approvedAt).toBeUndefined();
    const b = body.find((r) => r.id === ids.b)!;
    expect(b).toMatchObject({ maskCount: 1, promptCount: 0 });
    // No createdBy in its meta: the server's user.
    expect(b.createdBy.length).toBeGreaterThan(0);
  });
});

describe('approve / unapprove', () => {
  it('marks done with approvedAt/By; training then takes only approved sessions; unapprove takes it back', async () => {
    const store = () => SessionStore.open(dbPath, { readonly: true });
    // Nothing approved yet: training by default has nothing.
    const s0 = store();
    try {
      await expect(storedSessionInputs(SqliteStore.wrap(s0))).rejects.toThrow(/no approved session/);
    } finally {
      s0.destroy();
    }
    const r = await getJson<Row>(`/api/sessions/${ids.a}/approve`, { method: 'POST' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: ids.a, status: 'done' });
    expect(Date.parse(r.body.approvedAt!)).toBeGreaterThan(Date.now() - 60_000);
    expect(typeof r.body.approvedBy).toBe('string');
    const s1 = store();
    try {
      const inputs = await storedSessionInputs(SqliteStore.wrap(s1));
      expect(inputs.map((i) => i.origin)).toEqual([`session:${ids.a}`]);
      // The input is the session's masks with its labels as categories.
      const vis = inputs[0]!.masks as { categories: { name: string }[] };
      expect(vis.categories.map((c) => c.name).sort()).toEqual(['instrument', 'polyp']);
    } finally {
      s1.destroy();
    }
    // A batch's 'done' is not an approval.
    const w = SessionStore.open(dbPath);
    try {
      w.setSessionStatus(ids.b, 'done');
      expect((await storedSessionInputs(SqliteStore.wrap(w))).map((i) => i.origin)).toEqual([`session:${ids.a}`]);
      w.setSessionStatus(ids.b, 'closed');
    } finally {
      w.destroy();
    }
    const u = await getJson<Row>(`/api/sessions/${ids.b}/unapprove`, { method: 'POST' });
    expect(u.body).toMatchObject({ status: 'closed' });
    expect(u.body.approvedAt).toBeUndefined();
    const unknown = await getJson<{ code: string }>('/api/sessions/nope/approve', { method: 'POST' });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'E_SESSION_UNKNOWN']);
    expect((await fetch(url(`/api/sessions/${ids.a}/approve`))).status).toBe(405);
  });
});

describe('GET /api/sessions/:id/export', () => {
  it('COCO: objects= and frames= cut the file; a download with a file name', async () => {
    const r = await fetch(url(`/api/sessions/${ids.a}/export?format=coco&objects=2&frames=2-8`));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-disposition')).toMatch(/^attachment; filename="square_sess-a_obj2_f2-8\.coco\.json"$/);
    const coco = (await r.json()) as {
      images: { frame_index: number }[];
      annotations: { track_id: number; attributes: { frame: number }; category_id: number }[];
      categories: { id: number; name: string }[];
    };
    expect(coco.images.map((i) => i.frame_index)).toEqual([2, 3, 4, 5, 6, 7, 8]);
    // Object 2 has masks on frames 0-5 only: 2-5 are inside the range.
    expect(coco.annotations.map((a) => [a.track_id, a.attributes.frame])).toEqual([2, 3, 4, 5].map((t) => [2, t]));
    expect(coco.categories.map((c) => c.name)).toEqual(['instrument']);
  });

  it('PNG: a zip of label maps and labels.json, unpacked by unzip, decoded by the PNG reader', async () => {
    const r = await fetch(url(`/api/sessions/${ids.a}/export?format=png&frames=3-4`));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/zip');
    const zip = join(tmp, 'masks.zip');
    writeFileSync(zip, Buffer.from(await r.arrayBuffer()));
    const out = join(tmp, 'unzipped');
    execFileSync('unzip', ['-q', zip, '-d', out]);
    // `unzip -t` checks every entry's CRC.
    expect(execFileSync('unzip', ['-t', zip], { encoding: 'utf8' })).toMatch(/No errors detected/);
    expect(readdirSync(out).sort()).toEqual(['frame_000003.png', 'frame_000004.png', 'labels.json']);
    const labels = JSON.parse(readFileSync(join(out, 'labels.json'), 'utf8')) as { labels: { value: number; objectId: number }[] };
    const v1 = labels.labels.find((l) => l.objectId === 1)!.value;
    const png = decodePngMask(readFileSync(join(out, 'frame_000003.png')), 'frame 3', v1);
    expect([png.width, png.height]).toEqual([W, H]);
    const want = square(3);
    let same = 0;
    for (let i = 0; i < W * H; i++) if ((png.mask[i] ? 1 : 0) === want[i]) same++;
    expect(same).toBe(W * H);
  });

  it('NIfTI: a gzipped NIfTI-1 volume of the clip grid, masks only inside the range', async () => {
    const r = await fetch(url(`/api/sessions/${ids.a}/export?format=nifti&objects=1&frames=0-1`));
    expect(r.status).toBe(200);
    const nii = gunzipSync(Buffer.from(await r.arrayBuffer()));
    expect(nii.readInt32LE(0)).toBe(348);
    expect(nii.toString('latin1', 344, 347)).toBe('n+1');
    // dim[1..3]: columns, rows, frames: the whole clip's grid.
    expect([nii.readInt16LE(42), nii.readInt16LE(44), nii.readInt16LE(46)]).toEqual([W, H, N]);
    const off = Math.round(nii.readFloatLE(108));
    const datatype = nii.readInt16LE(70);
    const bytes = datatype === 2 ? 1 : 2;
    const voxels = (z: number) => {
      let n = 0;
      for (let i = 0; i < W * H; i++) if ((bytes === 1 ? nii[off + z * W * H + i]! : nii.readUInt16LE(off + 2 * (z * W * H + i))) !== 0) n++;
      return n;
    };
    expect(voxels(0)).toBe(16 * 20);
    expect(voxels(1)).toBe(16 * 20);
    expect(voxels(2)).toBe(0);
  });

  it('answers coded JSON errors: unknown format, bad filter, unknown object, unknown session', async () => {
    const cases: [string, number, string][] = [
      [`/api/sessions/${ids.a}/export?format=tiff`, 400, 'E_EXPORT_FORMAT'],
      [`/api/sessions/${ids.a}/export?format=vis&frames=9-3`, 400, 'E_EXPORT_FILTER'],
      [`/api/sessions/${ids.a}/export?format=vis&frames=x`, 400, 'E_EXPORT_FILTER'],
      [`/api/sessions/${ids.a}/export?format=vis&objects=7`, 400, 'E_EXPORT_FILTER'],
      [`/api/sessions/${ids.a}/export?format=vis&frames=40-50`, 400, 'E_EXPORT_FILTER'],
      ['/api/sessions/nope/export?format=vis', 404, 'E_SESSION_UNKNOWN'],
    ];
    for (const [p, status, code] of cases) {
      const r = await getJson<{ code: string }>(p);
      expect([p, r.status, r.body.code]).toEqual([p, status, code]);
    }
  });

  it('VIS: every frame kept, masks outside the range null, the filter recorded', async () => {
    const r = await getJson<{ videos: { length: number }[]; annotations: { object_id: number; segmentations: unknown[] }[]; info: { exportFilter: unknown } }>(
      `/api/sessions/${ids.a}/export?format=vis&frames=10-99`,
    );
    expect(r.status).toBe(200);
    expect(r.body.videos[0]!.length).toBe(N);
    const a1 = r.body.annotations.find((a) => a.object_id === 1)!;
    expect(a1.segmentations.map((s) => s !== null)).toEqual(Array.from({ length: N }, (_, t) => t >= 10));
    expect(r.body.info.exportFilter).toEqual({ frames: [10, N - 1] });
  });
});

describe('label sets', () => {
  const clip = encodeURIComponent('media/square');
  it('defaults, then the media folder labels.json written by PUT, validated', async () => {
    const d = await getJson<{ source: string; labels: { name: string; color: string }[] }>(`/api/labels?clip=${clip}`);
    expect(d.body.source).toBe('default');
    expect(d.body.labels.map((l) => l.name).slice(0, 4)).toEqual(['polyp', 'instrument', 'vessel', 'lesion']);
    for (const l of d.body.labels) expect(l.color).toMatch(/^#[0-9a-f]{6}$/);
    const set = {
      labels: [
        { name: 'polyp', color: '#22CC88' },
        { name: 'adenoma', color: '#112233' },
      ],
    };
    const put = await getJson<{ source: string }>(`/api/labels?clip=${clip}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(set) });
    expect(put).toMatchObject({ status: 200, body: { source: 'folder' } });
    expect(JSON.parse(readFileSync(join(media, 'labels.json'), 'utf8'))).toEqual({
      labels: [
        { name: 'polyp', color: '#22cc88' },
        { name: 'adenoma', color: '#112233' },
      ],
    });
    const back = await getJson<{ source: string; labels: { name: string }[] }>(`/api/labels?clip=${clip}`);
    expect(back.body).toEqual({
      source: 'folder',
      labels: [
        { name: 'polyp', color: '#22cc88' },
        { name: 'adenoma', color: '#112233' },
      ],
    });
    for (const bad of [
      { labels: [{ name: 'x', color: 'red' }] },
      {
        labels: [
          { name: 'a', color: '#000000' },
          { name: 'A', color: '#111111' },
        ],
      },
      { nope: 1 },
    ]) {
      const r = await getJson<{ code: string }>(`/api/labels?clip=${clip}`, { method: 'PUT', body: JSON.stringify(bad) });
      expect([r.status, r.body.code]).toEqual([400, 'E_LABELS_INVALID']);
    }
    const unknownClip = await getJson<{ code: string }>('/api/labels?clip=media%2Fnope');
    expect([unknownClip.status, unknownClip.body.code]).toEqual([404, 'E_CLIP_UNKNOWN']);
  });

  it('refuses a labels.json that is a symlink out of the media folder', async () => {
    const outside = join(tmp, 'outside.json');
    writeFileSync(outside, JSON.stringify({ labels: [{ name: 'secret', color: '#000000' }] }));
    symlinkSync(outside, join(media, 'square', 'labels.json'));
    try {
      const r = await getJson<{ code: string }>(`/api/labels?clip=${clip}`);
      expect([r.status, r.body.code]).toEqual([403, 'E_PATH_FORBIDDEN']);
      const w = await getJson<{ code: string }>(`/api/labels?clip=${clip}`, { method: 'PUT', body: JSON.stringify({ labels: [] }) });
      expect(w.status).toBe(403);
      expect(JSON.parse(readFileSync(outside, 'utf8')).labels[0].name).toBe('secret');
    } finally {
      rmSync(join(media, 'square', 'labels.json'));
    }
  });
});

describe('models', () => {
  it('lists the default and a bundle under the store folder; a session started on it runs and records it', async () => {
    const modelsDir = server.models.modelsDir!;
    expect(modelsDir).toBe(join(tmp, 'store', 'site.models'));
    const first = await getJson<{ models: { id: string; default: boolean }[] }>('/api/models');
    expect(first.body.models).toEqual([expect.objectContaining({ id: 'default', default: true, name: sessions.bundle.name })]);
    // A bundle as a finetune job leaves it (with the validation table in its manifest).
    const dir = join(modelsDir, 'ft-test1');
    cpSync(testBundleDir(), dir, { recursive: true });
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    m.name = 'site-ft-test1';
    m.adaptation = { createdAt: '2026-01-02T03:04:05.000Z', base: { name: sessions.bundle.name }, sessions: [ids.a], steps: 2, validation: { before: { mean: 0.5 }, after: { mean: 0.6 } } };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    mkdirSync(join(modelsDir, '.work-ft-x'), { recursive: true });
    const list = await getJson<{ models: { id: string; name: string; default: boolean; validation?: { after: { mean: number } }; createdAt: string }[] }>('/api/models');
    expect(list.body.models.map((x) => [x.id, x.default])).toEqual([
      ['default', true],
      ['ft-test1', false],
    ]);
    expect(list.body.models[1]).toMatchObject({ name: 'site-ft-test1', createdAt: '2026-01-02T03:04:05.000Z', validation: { after: { mean: 0.6 } } });

    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    try {
      const bad = await c.request({ type: 'startSession', clip: 'media/square', model: 'ft-nope' });
      expect(bad).toMatchObject({ type: 'error', code: 'E_MODEL_UNKNOWN' });
      const started = await c.request({ type: 'startSession', clip: 'media/square', model: 'ft-test1' });
      if (started.type !== 'sessionStarted') throw new Error(JSON.stringify(started));
      const sid = started.sessionId;
      const ack = await c.request({ type: 'addPoints', sessionId: sid, frame: 0, objectId: 1, points: [{ x: 18, y: 22, label: 1 }] });
      expect(ack).toMatchObject({ type: 'ack' });
      for (let i = 0; i < 100 && !c.masks.some((mk) => mk.objectId === 1 && mk.frame === 0); i++) await new Promise((r) => setTimeout(r, 50));
      expect(c.masks.some((mk) => mk.objectId === 1 && mk.frame === 0)).toBe(true);
      const rows = (await getJson<Row[]>('/api/sessions')).body;
      expect(rows.find((r) => r.id === sid)).toMatchObject({ model: 'ft-test1', status: 'open' });
      await c.request({ type: 'closeSession', sessionId: sid });
    } finally {
      await c.close();
    }
    expect(existsSync(dir)).toBe(true);
  }, 120_000);
});

describe('jobs', () => {
  it('refuses bad bodies and unknown jobs; one job at a time; a failing trainer ends failed with its code', async () => {
    const post = (body: unknown) => getJson<{ jobId?: string; code?: string }>('/api/finetune', { method: 'POST', body: JSON.stringify(body) });
    expect((await post({ steps: 'many' })).body.code).toBe('E_PROTOCOL_INVALID');
    expect((await post({ sessions: ['nope'] })).status).toBe(404);
    const unknown = await getJson<{ code: string }>('/api/jobs/ft-nope');
    expect([unknown.status, unknown.body.code]).toEqual([404, 'E_JOB_UNKNOWN']);
    // A Python that does not exist: the job runs its data preparation, then fails with the trainer's code.
    const py = process.env.CINESEG_PYTHON;
    process.env.CINESEG_PYTHON = join(tmp, 'no-python');
    try {
      const r = await post({ sessions: [ids.a], steps: 1 });
      expect(r.status).toBe(202);
      const jobId = r.body.jobId!;
      const busy = await post({ sessions: [ids.a] });
      expect([busy.status, busy.body.code]).toEqual([409, 'E_JOB_BUSY']);
      await server.jobs!.idle();
      const j = await getJson<{ state: string; code: string; kind: string; progress: number }>(`/api/jobs/${jobId}`);
      expect(j.body).toMatchObject({ kind: 'finetune', state: 'failed', code: 'E_TRAIN_UNAVAILABLE' });
      expect(readdirSync(server.models.modelsDir!).filter((n) => n.includes(jobId))).toEqual([]);
      // Cancelling an ended job leaves it as it ended.
      expect((await getJson<{ state: string }>(`/api/jobs/${jobId}`, { method: 'DELETE' })).body.state).toBe('failed');
    } finally {
      if (py === undefined) delete process.env.CINESEG_PYTHON;
      else process.env.CINESEG_PYTHON = py;
    }
  }, 120_000);
});
