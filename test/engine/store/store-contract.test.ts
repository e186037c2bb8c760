/**
 * Over 500 lines: the one suite both backends must pass reads best whole, in one file.
 *
 * The store contract (store/annotation-store.ts) over both backends: one suite of cases run against
 * SQLite (a temp file) and PostgreSQL (a throwaway cluster, bench/local-postgres.ts, one per file;
 * a fresh database per case). A machine without PostgreSQL fails the postgres half: it is never
 * skipped. Then what only PostgreSQL has: migrations raced by several openers, a newer schema
 * refused, an unreachable database named without its password.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeMask, encodeMask, type RleCounts } from 'cineseg';
import { startPostgres, type LocalPostgres } from '../../../engine/src/bench/local-postgres.js';
import type { AnnotationStore } from '../../../engine/src/store/annotation-store.js';
import { PostgresStore } from '../../../engine/src/store/postgres-store.js';
import { PG_SCHEMA_VERSION } from '../../../engine/src/store/postgres-schema.js';
import { SqliteStore } from '../../../engine/src/store/sqlite-store.js';
import type { ClipInput } from '../../../engine/src/store/session-store.js';

const W = 64;
const H = 48;

function rect(x0: number, y0: number, x1: number, y1: number): Uint8Array {
  const m = new Uint8Array(W * H);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * W + x] = 1;
  return m;
}
const mask = (x0: number, y0: number, x1: number, y1: number) => encodeMask(rect(x0, y0, x1, y1), H, W);
const clipInput = (hash = 'a'.repeat(64)): ClipInput => ({ path: '/clips/x.mp4', contentHash: hash, width: W, height: H, numFrames: 10, fps: 25 });

interface Backend {
  /** A new empty store's spec (a file, a database). */
  fresh(): Promise<string>;
  open(spec: string, opts?: { readonly?: boolean }): Promise<AnnotationStore>;
}

let dir: string;
let pgc: LocalPostgres | null = null;
let dbCount = 0;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cineseg-contract-'));
  pgc = await startPostgres();
}, 120_000);
afterAll(async () => {
  await pgc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function freshDatabase(): Promise<string> {
  if (!pgc) throw new Error('PostgreSQL did not start (see beforeAll): the postgres half of the store suite cannot run');
  const name = `t${++dbCount}`;
  const admin = new pg.Client({ connectionString: pgc.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return pgc.url.replace(/\/cineseg$/, `/${name}`);
}

const backends: [string, Backend][] = [
  ['sqlite', { fresh: async () => join(dir, `s${++dbCount}.db`), open: (spec, opts) => SqliteStore.open(spec, opts) }],
  ['postgres', { fresh: freshDatabase, open: (spec, opts) => PostgresStore.open(spec, { ...opts, poolSize: 3 }) }],
];

describe.each(backends)('AnnotationStore contract: %s', (kind, backend) => {
  let spec: string;
  const opened: AnnotationStore[] = [];
  const open = async (opts?: { readonly?: boolean }) => {
    const s = await backend.open(spec, opts);
    opened.push(s);
    return s;
  };
  beforeEach(async () => {
    spec = await backend.fresh();
    return async () => {
      for (const s of opened.splice(0)) await s.destroy();
    };
  });

  it('keeps clips, sessions, prompts and masks; another instance on the same store sees them all', async () => {
    const a = await open();
    expect(a.kind).toBe(kind);
    const clip = await a.upsertClip({
      ...clipInput(),
      frameTimeMs: 40,
      dicom: { studyInstanceUid: '1.2', seriesInstanceUid: '1.3', sopInstanceUid: '1.4', sopClassUid: '1.5', pixelSpacing: [0.5, 0.5] },
    });
    const s = await a.createSession(clip.id, { meta: { model: 'tiny', nested: { a: [1, 2] } } });
    const p = await a.addPrompt(s.id, { objectId: 3, frame: 2, kind: 'points', points: [{ x: 10.5, y: 12, label: 1 }], box: [1, 2, 30, 40] });
    expect(p.version).toBe(1);
    const m = await a.addPrompt(s.id, { objectId: 3, frame: 5, kind: 'mask', mask: mask(1, 1, 9, 9) });
    expect(m.version).toBe(2);
    const recs = await a.putMasks(s.id, [
      { objectId: 3, frame: 2, rle: mask(5, 5, 20, 30), score: 0.9, origin: 'prompt' },
      { objectId: 3, frame: 3, rle: mask(6, 5, 21, 30), score: 0.123456789 },
    ]);
    expect(recs.map((r) => r.area)).toEqual([15 * 25, 15 * 25]);
    expect(recs[0]).toMatchObject({ bbox: [5, 5, 15, 25], promptVersion: 2, origin: 'prompt', current: true, supersededBy: null, sessionId: s.id });
    expect(recs[1]!.origin).toBe('propagate');
    expect(recs[1]!.id).toBeGreaterThan(recs[0]!.id);

    const b = await open();
    expect(await b.integrityCheck()).toBe('ok');
    expect((await b.openSessions()).map((x) => x.id)).toEqual([s.id]);
    const loaded = await b.loadSession(s.id);
    expect(loaded.clip).toEqual(clip);
    expect(loaded.session.meta).toEqual({ model: 'tiny', nested: { a: [1, 2] } });
    expect(loaded.prompts).toEqual([p, m]);
    expect(loaded.prompts[0]).toMatchObject({ kind: 'points', objectId: 3, frame: 2, points: [{ x: 10.5, y: 12, label: 1 }], box: [1, 2, 30, 40] });
    expect(decodeMask((loaded.prompts[1] as { mask: RleCounts }).mask)).toEqual(rect(1, 1, 9, 9));
    expect(loaded.objects.map((o) => [o.objectId, o.label, o.removed])).toEqual([[3, 'object', false]]);
    expect(loaded.masks).toEqual(recs);
    expect(decodeMask(loaded.masks[1]!.rle)).toEqual(rect(6, 5, 21, 30));
    expect(new Date(loaded.session.createdAt).toISOString()).toBe(loaded.session.createdAt);
    expect(await b.getMask(s.id, 3, 3)).toEqual(recs[1]);
    expect(await b.getMask(s.id, 3, 4)).toBeUndefined();
    expect(await b.getClip(clip.contentHash)).toEqual(clip);
    expect(await b.getClip(clip.id + 100)).toBeUndefined();
  });

  it('supersedes a corrected mask without deleting it, also twice in one batch, and stamps the prompt version', async () => {
    const store = await open();
    const s = await store.createSession((await store.upsertClip(clipInput())).id);
    await store.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 10, 10] });
    const [first] = await store.putMasks(s.id, [{ objectId: 1, frame: 4, rle: mask(0, 0, 8, 8) }]);
    expect((await store.addPrompt(s.id, { objectId: 1, frame: 4, kind: 'points', points: [{ x: 30, y: 30 }] })).version).toBe(2);
    const batch = await store.putMasks(s.id, [
      { objectId: 1, frame: 4, rle: mask(20, 20, 40, 40) },
      { objectId: 1, frame: 5, rle: mask(1, 1, 2, 2) },
      { objectId: 1, frame: 4, rle: mask(21, 20, 40, 40), promptVersion: 1 },
    ]);
    expect(batch.map((r) => [r.current, r.supersededBy])).toEqual([
      [false, batch[2]!.id],
      [true, null],
      [true, null],
    ]);
    expect(batch[0]!.promptVersion).toBe(2);
    expect(batch[2]!.promptVersion).toBe(1);
    const hist = await store.maskHistory(s.id, 1, 4);
    expect(hist.map((h) => h.id)).toEqual([first!.id, batch[0]!.id, batch[2]!.id]);
    expect(hist.map((h) => h.supersededBy)).toEqual([batch[0]!.id, batch[2]!.id, null]);
    expect(hist.map((h) => h.current)).toEqual([false, false, true]);
    expect((await store.getMask(s.id, 1, 4))!.id).toBe(batch[2]!.id);
    expect((await store.currentMasks(s.id)).map((m) => m.frame)).toEqual([4, 5]);
    expect(await store.integrityCheck()).toBe('ok');
  });

  it('one clip per content hash; a live clip grows and never shrinks', async () => {
    const store = await open();
    const a = await store.upsertClip(clipInput('1'.repeat(64)));
    const b = await store.upsertClip({ ...clipInput('1'.repeat(64)), path: '/moved/x.mp4' });
    const c = await store.upsertClip(clipInput('2'.repeat(64)));
    expect(b.id).toBe(a.id);
    expect(b.path).toBe('/moved/x.mp4');
    expect(c.id).not.toBe(a.id);
    await store.growClip(a.id, 30);
    await store.growClip(a.id, 20);
    expect((await store.getClip(a.id))!.numFrames).toBe(30);
  });

  it('rejects bad writes with coded errors and leaves nothing half-written', async () => {
    const store = await open();
    const s = await store.createSession((await store.upsertClip(clipInput())).id);
    await expect(store.putMasks('nope', [{ objectId: 1, frame: 0, rle: mask(0, 0, 1, 1) }])).rejects.toMatchObject({ code: 'E_SESSION_UNKNOWN' });
    await expect(store.putMasks(s.id, [{ objectId: 1, frame: 0, rle: encodeMask(new Uint8Array(4), 2, 2) }])).rejects.toMatchObject({ code: 'E_MASK_INVALID' });
    await expect(
      store.putMasks(s.id, [
        { objectId: 1, frame: 0, rle: mask(0, 0, 1, 1) },
        { objectId: 1, frame: 10, rle: mask(0, 0, 1, 1) },
      ]),
    ).rejects.toMatchObject({ code: 'E_FRAME_OUT_OF_RANGE' });
    expect(await store.currentMasks(s.id)).toHaveLength(0);
    expect(await store.listObjects(s.id, { includeRemoved: true })).toHaveLength(0);
    await expect(store.putMasks(s.id, [{ objectId: 1, frame: 0, rle: null as unknown as RleCounts }])).rejects.toMatchObject({ code: 'E_MASK_INVALID' });
    await expect(store.putMasks(s.id, [{ objectId: -1, frame: 0, rle: mask(0, 0, 1, 1) }])).rejects.toMatchObject({ code: 'E_PROMPT_INVALID' });
    await expect(store.removeObject(s.id, 9)).rejects.toMatchObject({ code: 'E_OBJECT_UNKNOWN' });
    await expect(store.addPrompt(s.id, { objectId: 1, frame: -1, kind: 'box', box: [1, 1, 2, 2] })).rejects.toMatchObject({ code: 'E_PROMPT_INVALID' });
    await expect(store.addPrompt('nope', { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 2, 2] })).rejects.toMatchObject({ code: 'E_SESSION_UNKNOWN' });
    await expect(store.requireSession('nope')).rejects.toMatchObject({ code: 'E_SESSION_UNKNOWN' });
    await expect(store.setSessionStatus('nope', 'done')).rejects.toMatchObject({ code: 'E_SESSION_UNKNOWN' });
    await expect(store.createSession(12345)).rejects.toMatchObject({ code: 'E_STORE' });
    await expect(store.createSession(s.clipId, { id: s.id })).rejects.toMatchObject({ code: 'E_STORE' });
    expect((await store.requireSession(s.id)).promptVersion).toBe(0);
    expect(await store.putMasks(s.id, [])).toEqual([]);
  });

  it('removed objects leave exports and complete frames; the VIS view has nulls where no mask was written', async () => {
    const store = await open();
    const s = await store.createSession((await store.upsertClip(clipInput())).id, { meta: { batch: 'b1' } });
    await store.addObject(s.id, 1, 'vessel');
    await store.putMasks(s.id, [
      { objectId: 1, frame: 1, rle: mask(1, 1, 5, 5), score: 0.5 },
      { objectId: 2, frame: 1, rle: mask(9, 9, 12, 12) },
      { objectId: 1, frame: 2, rle: mask(1, 1, 5, 5) },
    ]);
    expect(await store.completeFrames(s.id)).toEqual([1]);
    await store.removeObject(s.id, 2);
    expect(await store.completeFrames(s.id)).toEqual([1, 2]);
    const vis = await store.toVisJson(s.id);
    expect(vis.info).toMatchObject({ tool: 'cineseg store', sessionId: s.id, status: 'open', batch: 'b1' });
    expect(vis.videos).toEqual([{ id: 1, width: W, height: H, length: 10, fps: 25, file: '/clips/x.mp4' }]);
    expect(vis.annotations).toHaveLength(1);
    expect(vis.categories).toEqual([{ id: 1, name: 'vessel' }]);
    const segs = vis.annotations[0]!.segmentations;
    expect(segs.filter((x) => x !== null)).toHaveLength(2);
    expect(decodeMask(segs[1]!)).toEqual(rect(1, 1, 5, 5));
    expect(vis.annotations[0]!.scores![1]).toBe(0.5);
    expect(vis.annotations[0]!.areas![2]).toBe(16);
    expect(await store.currentMasks(s.id, { includeRemoved: true })).toHaveLength(3);
    expect((await store.currentMasks(s.id, { objectId: 1 })).map((m) => m.frame)).toEqual([1, 2]);
    // A mask written for a removed object brings it back, as a prompt does.
    await store.putMasks(s.id, [{ objectId: 2, frame: 3, rle: mask(1, 1, 2, 2) }]);
    expect((await store.listObjects(s.id)).map((o) => o.objectId)).toEqual([1, 2]);
  });

  it('sessions: listed newest first and filtered, summaries count, meta merges, status, delete takes everything of one session only', async () => {
    const store = await open();
    const clip = await store.upsertClip(clipInput());
    const other = await store.upsertClip(clipInput('b'.repeat(64)));
    const a = await store.createSession(clip.id, { id: 'A', meta: { x: 1, keep: true } });
    const b = await store.createSession(clip.id, { id: 'B' });
    const c = await store.createSession(other.id, { id: 'C' });
    expect((await store.listSessions()).map((s) => s.id)).toEqual(['C', 'B', 'A']);
    expect((await store.listSessions({ clipId: clip.id })).map((s) => s.id)).toEqual(['B', 'A']);
    await store.setSessionStatus(b.id, 'done');
    expect((await store.listSessions({ status: 'done' })).map((s) => s.id)).toEqual(['B']);
    expect((await store.openSessions()).map((s) => s.id)).toEqual(['C', 'A']);
    await store.updateSessionMeta(a.id, { x: 2, y: 'z' });
    expect((await store.requireSession(a.id)).meta).toEqual({ x: 2, keep: true, y: 'z' });
    for (const s of [a, b]) {
      await store.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'points', points: [{ x: 5, y: 5, label: 1 }] });
      await store.putMasks(s.id, [{ objectId: 1, frame: 0, rle: mask(0, 0, 8, 8) }]);
      await store.putMasks(s.id, [
        { objectId: 1, frame: 0, rle: mask(0, 0, 9, 9) },
        { objectId: 2, frame: 3, rle: mask(0, 0, 9, 9) },
      ]);
      await store.history.pushEdit(s.id, 'add', { promptIds: [1] });
    }
    const sums = await store.sessionSummaries();
    expect(sums.map((x) => [x.id, x.clipPath, x.numFrames, x.objects, x.maskedFrames])).toEqual([
      ['C', '/clips/x.mp4', 10, 0, 0],
      ['B', '/clips/x.mp4', 10, 2, 2],
      ['A', '/clips/x.mp4', 10, 2, 2],
    ]);
    await store.deleteSession(a.id);
    expect(await store.getSession(a.id)).toBeUndefined();
    expect(await store.listPrompts(a.id)).toEqual([]);
    expect(await store.maskHistory(a.id, 1, 0)).toEqual([]);
    expect(await store.listObjects(a.id, { includeRemoved: true })).toEqual([]);
    expect(await store.history.editState(a.id)).toEqual({ canUndo: false, canRedo: false });
    expect(await store.maskHistory(b.id, 1, 0)).toHaveLength(2);
    expect(await store.listPrompts(b.id)).toHaveLength(1);
    expect(await store.history.editState(b.id)).toEqual({ canUndo: true, canRedo: false });
    expect(await store.getClip(clip.id)).toBeDefined();
    await expect(store.deleteSession(a.id)).rejects.toMatchObject({ code: 'E_SESSION_UNKNOWN' });
    expect(await store.integrityCheck()).toBe('ok');
  });

  it('removeObject keeps the prompt version of the removal in meta removals', async () => {
    const store = await open();
    const s = await store.createSession((await store.upsertClip(clipInput())).id, { meta: { tool: 'x' } });
    await store.addPrompt(s.id, { objectId: 2, frame: 0, kind: 'points', points: [{ x: 5, y: 5, label: 1 }] });
    await store.addPrompt(s.id, { objectId: 3, frame: 0, kind: 'points', points: [{ x: 5, y: 5, label: 1 }] });
    await store.removeObject(s.id, 2);
    expect((await store.requireSession(s.id)).meta).toEqual({ tool: 'x', removals: { 2: 2 } });
    await store.addPrompt(s.id, { objectId: 2, frame: 1, kind: 'points', points: [{ x: 5, y: 5, label: 1 }] });
    await store.removeObject(s.id, 3);
    await store.removeObject(s.id, 2);
    expect((await store.requireSession(s.id)).meta.removals).toEqual({ 2: 3, 3: 3 });
  });

  it('every write that touches an object adds one to its version', async () => {
    const store = await open();
    const s = await store.createSession((await store.upsertClip(clipInput())).id);
    expect((await store.addObject(s.id, 1)).version).toBe(1);
    expect((await store.addObject(s.id, 1)).version).toBe(1);
    expect((await store.addObject(s.id, 1, 'polyp')).version).toBe(2);
    expect((await store.addObject(s.id, 1, 'polyp')).version).toBe(2);
    await store.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
    await store.putMasks(s.id, [
      { objectId: 1, frame: 0, rle: mask(1, 1, 5, 5) },
      { objectId: 1, frame: 1, rle: mask(1, 1, 5, 5) },
      { objectId: 2, frame: 1, rle: mask(1, 1, 5, 5) },
    ]);
    expect(await store.objectVersions(s.id)).toEqual({ 1: 4, 2: 1 });
    expect(await store.history.setLabel(s.id, 2, 'tool')).toBe(true);
    await store.removeObject(s.id, 2);
    expect(await store.objectVersions(s.id)).toEqual({ 1: 4, 2: 3 });
    expect((await store.listObjects(s.id, { includeRemoved: true })).map((o) => [o.objectId, o.label, o.version])).toEqual([
      [1, 'polyp', 4],
      [2, 'tool', 3],
    ]);
    // Reviving a removed object is a change.
    expect((await store.addObject(s.id, 2)).version).toBe(4);
  });

  it('ifVersions: a touched object at another version is E_EDIT_CONFLICT with nothing written', async () => {
    const store = await open();
    const s = await store.createSession((await store.upsertClip(clipInput())).id);
    await store.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
    await store.addPrompt(s.id, { objectId: 2, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
    const seen = await store.objectVersions(s.id);
    // Another editor, through another instance on the same store, corrects object 1 meanwhile.
    const other = await open();
    await other.putMasks(s.id, [{ objectId: 1, frame: 3, rle: mask(0, 0, 4, 4) }]);
    const state = async () => ({
      versions: await store.objectVersions(s.id),
      masks: (await store.currentMasks(s.id)).length,
      prompts: (await store.listPrompts(s.id)).length,
      session: await store.requireSession(s.id),
      objects: await store.listObjects(s.id, { includeRemoved: true }),
    });
    const before = await state();
    const conflict = { code: 'E_EDIT_CONFLICT', message: expect.stringMatching(/session "[^"]+" object 1 .*stored version 2, this edit expected 1/) };
    const opts = { ifVersions: seen };
    await expect(
      store.putMasks(
        s.id,
        [
          { objectId: 2, frame: 4, rle: mask(0, 0, 4, 4) },
          { objectId: 1, frame: 4, rle: mask(0, 0, 4, 4) },
        ],
        opts,
      ),
    ).rejects.toMatchObject(conflict);
    await expect(store.addPrompt(s.id, { objectId: 1, frame: 2, kind: 'box', box: [1, 1, 5, 5] }, opts)).rejects.toMatchObject(conflict);
    await expect(store.removeObject(s.id, 1, opts)).rejects.toMatchObject(conflict);
    await expect(store.addObject(s.id, 1, 'renamed', opts)).rejects.toMatchObject(conflict);
    await expect(store.history.setLabel(s.id, 1, 'renamed', opts)).rejects.toMatchObject(conflict);
    expect(await state()).toEqual(before);
    // Objects not named, or at the version named, go through.
    expect((await store.putMasks(s.id, [{ objectId: 2, frame: 4, rle: mask(0, 0, 4, 4) }], opts))[0]!.objectId).toBe(2);
    expect((await store.putMasks(s.id, [{ objectId: 3, frame: 4, rle: mask(0, 0, 4, 4) }], opts))[0]!.objectId).toBe(3);
    await store.removeObject(s.id, 1, { ifVersions: { 1: 2 } });
    expect(await store.objectVersions(s.id)).toEqual({ 1: 3, 2: 2, 3: 1 });
  });

  it('two instances editing one object at once: exactly one of two conditional writes wins', async () => {
    const a = await open();
    const b = await open();
    const s = await a.createSession((await a.upsertClip(clipInput())).id);
    await a.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
    const seen = await b.objectVersions(s.id);
    const results = await Promise.allSettled([
      a.putMasks(s.id, [{ objectId: 1, frame: 1, rle: mask(0, 0, 4, 4) }], { ifVersions: seen }),
      b.putMasks(s.id, [{ objectId: 1, frame: 1, rle: mask(0, 0, 5, 5) }], { ifVersions: seen }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toMatchObject({ code: 'E_EDIT_CONFLICT' });
    expect(await a.maskHistory(s.id, 1, 1)).toHaveLength(1);
    expect(await a.objectVersions(s.id)).toEqual({ 1: 2 });
  });

  it('concurrent putMasks from two instances on one store: every mask kept, one current per frame', async () => {
    const a = await open();
    const b = await open();
    const s = await a.createSession((await a.upsertClip({ ...clipInput(), numFrames: 200 })).id);
    const write = (st: AnnotationStore, objectId: number) =>
      Promise.all(
        Array.from({ length: 10 }, (_, k) =>
          st.putMasks(
            s.id,
            Array.from({ length: 20 }, (_, f) => ({ objectId, frame: k * 20 + f, rle: mask(objectId, 0, objectId + 4, 4 + k) })),
          ),
        ),
      );
    // Both write object 1 too: the later writer of each frame supersedes the earlier.
    const [ra, rb, rc] = await Promise.all([write(a, 1), write(b, 2), write(b, 1)]);
    const ids = [...ra, ...rb, ...rc].flat().map((r) => r.id);
    expect(new Set(ids).size).toBe(600);
    const current = await a.currentMasks(s.id);
    expect(current).toHaveLength(400);
    expect(await a.completeFrames(s.id)).toHaveLength(200);
    for (let f = 0; f < 200; f += 37) expect(await b.maskHistory(s.id, 1, f)).toHaveLength(2);
    expect((await a.objectVersions(s.id))[1]).toBe(20);
    expect(await b.integrityCheck()).toBe('ok');
  });

  it('transaction(): commits together or not at all; a caught failure inside leaves the rest', async () => {
    const store = await open();
    const clip = await store.upsertClip(clipInput());
    await expect(
      store.transaction(async (tx) => {
        const s = await tx.createSession(clip.id, { id: 'half' });
        await tx.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
        await tx.putMasks(s.id, [{ objectId: 1, frame: 0, rle: mask(0, 0, 3, 3) }]);
        // Not visible to others before COMMIT (PostgreSQL; SQLite makes others wait).
        if (kind === 'postgres') expect(await store.getSession('half')).toBeUndefined();
        expect((await tx.getSession('half'))!.promptVersion).toBe(1);
        await tx.addPrompt(s.id, { objectId: 1, frame: -1, kind: 'box', box: [1, 1, 5, 5] });
      }),
    ).rejects.toMatchObject({ code: 'E_PROMPT_INVALID' });
    expect(await store.getSession('half')).toBeUndefined();
    expect(await store.listSessions()).toEqual([]);
    const s = await store.transaction(async (tx) => {
      const x = await tx.createSession(clip.id, { id: 'whole' });
      await tx.addPrompt(x.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
      // A failed call inside writes nothing of its own and leaves the transaction usable.
      await expect(
        tx.putMasks(x.id, [
          { objectId: 1, frame: 0, rle: mask(0, 0, 3, 3) },
          { objectId: 1, frame: 99, rle: mask(0, 0, 3, 3) },
        ]),
      ).rejects.toMatchObject({ code: 'E_FRAME_OUT_OF_RANGE' });
      await expect(tx.addPrompt(x.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] }, { ifVersions: { 1: 0 } })).rejects.toMatchObject({ code: 'E_EDIT_CONFLICT' });
      await tx.putMasks(x.id, [{ objectId: 1, frame: 1, rle: mask(0, 0, 3, 3) }]);
      return x;
    });
    expect((await store.listPrompts(s.id)).length).toBe(1);
    expect((await store.currentMasks(s.id)).map((m) => m.frame)).toEqual([1]);
    expect(await store.objectVersions(s.id)).toEqual({ 1: 2 });
    expect(await store.integrityCheck()).toBe('ok');
  });

  it('prompt history: undo / redo cursor, prompts taken back, exact labels', async () => {
    const store = await open();
    const s = await store.createSession((await store.upsertClip(clipInput())).id, { id: 's1' });
    const h = store.history;
    expect(await h.editState(s.id)).toEqual({ canUndo: false, canRedo: false });
    expect(await h.peekEdit(s.id, 'undo')).toBeNull();
    const e1 = await h.pushEdit(s.id, 'add', { promptIds: [1] });
    const e2 = await h.pushEdit(s.id, 'add', { promptIds: [2] });
    const e3 = await h.pushEdit(s.id, 'rename', { objectId: 1, before: 'object', after: 'a' });
    expect(await h.peekEdit(s.id, 'undo')).toEqual({ id: e3, kind: 'rename', data: { objectId: 1, before: 'object', after: 'a' } });
    await h.markEdit(s.id, e3, true);
    await h.markEdit(s.id, e2, true);
    expect(await h.editState(s.id)).toEqual({ canUndo: true, canRedo: true });
    expect((await h.peekEdit(s.id, 'redo'))!.id).toBe(e2);
    expect((await h.peekEdit(s.id, 'undo'))!.id).toBe(e1);
    await h.markEdit(s.id, e2, false);
    expect((await h.peekEdit(s.id, 'redo'))!.id).toBe(e3);
    const e4 = await h.pushEdit(s.id, 'remove', { promptIds: [1] });
    expect(await h.peekEdit(s.id, 'redo')).toBeNull();
    expect((await h.peekEdit(s.id, 'undo'))!.id).toBe(e4);
    await expect(h.markEdit(s.id, 999, true)).rejects.toMatchObject({ code: 'E_STORE' });
    expect(await h.editState('other')).toEqual({ canUndo: false, canRedo: false });

    const p1 = await store.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
    const p2 = await store.addPrompt(s.id, { objectId: 1, frame: 1, kind: 'box', box: [1, 1, 5, 5] });
    await h.setPromptsRemoved(s.id, [p1.id, p2.id], true);
    await h.setPromptsRemoved(s.id, [p1.id], true);
    expect([...(await h.removedPromptIds(s.id))].sort()).toEqual([p1.id, p2.id].sort());
    await h.setPromptsRemoved(s.id, [p2.id], false);
    expect([...(await h.removedPromptIds(s.id))]).toEqual([p1.id]);
    await store.addObject(s.id, 1, 'liver');
    expect(await h.setLabel(s.id, 1, 'object')).toBe(true);
    expect((await store.listObjects(s.id))[0]!.label).toBe('object');
    expect(await h.setLabel(s.id, 7, 'x')).toBe(false);
    const again = await open();
    expect([...(await again.history.removedPromptIds(s.id))]).toEqual([p1.id]);
    expect((await again.listPrompts(s.id, { objectId: 1 })).map((p) => p.id)).toEqual([p1.id, p2.id]);
  });

  it('a read-only store reads and refuses writes; a destroyed one refuses everything', async () => {
    const w = await open();
    const s = await w.createSession((await w.upsertClip(clipInput())).id);
    const ro = await open({ readonly: true });
    expect(ro.readonly).toBe(true);
    expect((await ro.requireSession(s.id)).id).toBe(s.id);
    await expect(ro.upsertClip(clipInput('c'.repeat(64)))).rejects.toMatchObject({ code: 'E_STORE' });
    await expect(ro.putMasks(s.id, [{ objectId: 1, frame: 0, rle: mask(0, 0, 1, 1) }])).rejects.toMatchObject({ code: 'E_STORE' });
    await expect(ro.history.pushEdit(s.id, 'x', {})).rejects.toMatchObject({ code: 'E_STORE' });
    await w.destroy();
    await expect(w.getSession(s.id)).rejects.toMatchObject({ code: 'E_STORE' });
    await expect(w.putMasks(s.id, [{ objectId: 1, frame: 0, rle: mask(0, 0, 1, 1) }])).rejects.toMatchObject({ code: 'E_STORE' });
    await w.destroy();
  });
});

describe('PostgresStore only', () => {
  it('several openers racing on an empty database apply each migration once', async () => {
    const url = await freshDatabase();
    const stores = await Promise.all(Array.from({ length: 5 }, () => PostgresStore.open(url, { poolSize: 1 })));
    try {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const rows = (await c.query('SELECT version FROM schema_migrations ORDER BY version')).rows;
      await c.end();
      expect(rows.map((r) => r.version)).toEqual(Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1));
      for (const s of stores) expect(await s.integrityCheck()).toBe('ok');
    } finally {
      for (const s of stores) await s.destroy();
    }
  });

  it('a schema newer than this build is E_STORE_VERSION and is left untouched; a foreign database read-only is E_STORE', async () => {
    const url = await freshDatabase();
    await expect(PostgresStore.open(url, { readonly: true })).rejects.toMatchObject({ code: 'E_STORE' });
    await (await PostgresStore.open(url)).destroy();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query("INSERT INTO schema_migrations (version, name) VALUES ($1, 'from the future')", [PG_SCHEMA_VERSION + 1]);
    try {
      await expect(PostgresStore.open(url)).rejects.toMatchObject({ code: 'E_STORE_VERSION' });
      await expect(PostgresStore.open(url, { readonly: true })).rejects.toMatchObject({ code: 'E_STORE_VERSION' });
      expect((await c.query('SELECT COUNT(*)::int AS n FROM schema_migrations')).rows[0].n).toBe(PG_SCHEMA_VERSION + 1);
    } finally {
      await c.end();
    }
  });

  it('an unreachable database is E_STORE_UNAVAILABLE naming host:port/db and never the password; location hides it too', async () => {
    const port = pgc!.port;
    const secret = 'hunter2-secret';
    // Nothing listens on port 1.
    const err = await PostgresStore.open(`postgres://cineseg:${secret}@127.0.0.1:1/somedb`, { connectTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_STORE_UNAVAILABLE', message: expect.stringContaining('127.0.0.1:1/somedb') });
    expect(String((err as Error).message)).not.toContain(secret);
    const missing = await PostgresStore.open(`postgres://cineseg:${secret}@127.0.0.1:${port}/no_such_db`).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'E_STORE_UNAVAILABLE', message: expect.stringContaining(`127.0.0.1:${port}/no_such_db`) });
    expect(String((missing as Error).message)).not.toContain(secret);
    // Trust auth ignores the password: the store opens, and prints no password.
    const url = (await freshDatabase()).replace('cineseg@', `cineseg:${secret}@`);
    const s = await PostgresStore.open(url);
    try {
      expect(s.location).not.toContain(secret);
      expect(s.location).toContain(`127.0.0.1:${port}/`);
      expect(s.spec).toBe(url);
    } finally {
      await s.destroy();
    }
  });

  it('a database that goes away mid-use is E_STORE_UNAVAILABLE, and the store works again once it is back', async () => {
    const url = await freshDatabase();
    const s = await PostgresStore.open(url, { poolSize: 2, connectTimeoutMs: 2000 });
    try {
      const clip = await s.upsertClip(clipInput());
      const sess = await s.createSession(clip.id);
      const [acked] = await s.putMasks(sess.id, [{ objectId: 1, frame: 0, rle: mask(0, 0, 3, 3) }]);
      await pgc!.kill();
      await expect(s.putMasks(sess.id, [{ objectId: 1, frame: 1, rle: mask(0, 0, 3, 3) }])).rejects.toMatchObject({ code: 'E_STORE_UNAVAILABLE' });
      await pgc!.restart();
      expect((await s.getMask(sess.id, 1, 0))!.id).toBe(acked!.id);
      await s.putMasks(sess.id, [{ objectId: 1, frame: 1, rle: mask(0, 0, 3, 3) }]);
      expect(await s.completeFrames(sess.id)).toEqual([0, 1]);
    } finally {
      await pgc!.restart();
      await s.destroy();
    }
  });
});
