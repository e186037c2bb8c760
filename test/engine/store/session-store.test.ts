import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeMask, encodeMask, type RleCounts } from 'cineseg';
import { readVisJson } from '../../../engine/src/mask/vis-json.js';
import { MaskWriter } from '../../../engine/src/store/mask-writer.js';
import { hashFile, SessionStore, type ClipInput } from '../../../engine/src/store/session-store.js';
import { SqliteStore } from '../../../engine/src/store/sqlite-store.js';

const W = 64;
const H = 48;

/** A filled rectangle mask (x0..x1, y0..y1 exclusive) at W x H. */
function rect(x0: number, y0: number, x1: number, y1: number): Uint8Array {
  const m = new Uint8Array(W * H);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * W + x] = 1;
  return m;
}

let dir: string;
let store: SessionStore | null = null;
const clipInput = (hash = 'a'.repeat(64)): ClipInput => ({ path: '/clips/x.mp4', contentHash: hash, width: W, height: H, numFrames: 10, fps: 25 });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cineseg-store-'));
});
afterEach(() => {
  store?.destroy();
  store = null;
  rmSync(dir, { recursive: true, force: true });
});

describe('SessionStore', () => {
  it('is a WAL SQLite file that keeps sessions, prompts and masks across a reopen', () => {
    const path = join(dir, 'a.db');
    store = SessionStore.open(path);
    const clip = store.upsertClip(clipInput());
    const s = store.createSession(clip.id, { meta: { model: 'tiny' } });
    const p = store.addPrompt(s.id, { objectId: 3, frame: 2, kind: 'points', points: [{ x: 10, y: 12, label: 1 }] });
    expect(p.version).toBe(1);
    const recs = store.putMasks(s.id, [
      { objectId: 3, frame: 2, rle: encodeMask(rect(5, 5, 20, 30), H, W), score: 0.9, origin: 'prompt' },
      { objectId: 3, frame: 3, rle: encodeMask(rect(6, 5, 21, 30), H, W), score: 0.8 },
    ]);
    expect(recs.map((r) => r.area)).toEqual([15 * 25, 15 * 25]);
    expect(recs[0]!.bbox).toEqual([5, 5, 15, 25]);
    expect(recs[0]!.promptVersion).toBe(1);
    store.destroy();

    // The file is an ordinary SQLite database another reader can open.
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect((raw.prepare('SELECT COUNT(*) AS n FROM masks').get() as { n: number }).n).toBe(2);
    raw.close();

    store = SessionStore.open(path);
    expect(store.integrityCheck()).toBe('ok');
    expect(store.openSessions().map((x) => x.id)).toEqual([s.id]);
    const loaded = store.loadSession(s.id);
    expect(loaded.clip.contentHash).toBe('a'.repeat(64));
    expect(loaded.session.meta).toEqual({ model: 'tiny' });
    expect(loaded.prompts).toHaveLength(1);
    expect(loaded.prompts[0]).toMatchObject({ kind: 'points', objectId: 3, frame: 2, points: [{ x: 10, y: 12, label: 1 }] });
    expect(loaded.objects.map((o) => o.objectId)).toEqual([3]);
    expect(loaded.masks.map((m) => m.frame)).toEqual([2, 3]);
    expect(decodeMask(loaded.masks[1]!.rle)).toEqual(rect(6, 5, 21, 30));
  });

  it('supersedes a corrected mask without deleting it, and stamps the new prompt version', () => {
    store = SessionStore.open(join(dir, 'b.db'));
    const s = store.createSession(store.upsertClip(clipInput()).id);
    store.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 10, 10] });
    const first = store.putMask(s.id, { objectId: 1, frame: 4, rle: encodeMask(rect(0, 0, 8, 8), H, W) });
    const v2 = store.addPrompt(s.id, { objectId: 1, frame: 4, kind: 'points', points: [{ x: 30, y: 30 }] }).version;
    expect(v2).toBe(2);
    const second = store.putMask(s.id, { objectId: 1, frame: 4, rle: encodeMask(rect(20, 20, 40, 40), H, W) });
    expect(second.promptVersion).toBe(2);
    const hist = store.maskHistory(s.id, 1, 4);
    expect(hist.map((h) => h.id)).toEqual([first.id, second.id]);
    expect(hist[0]!.current).toBe(false);
    expect(hist[0]!.supersededBy).toBe(second.id);
    expect(hist[1]!.current).toBe(true);
    expect(store.getMask(s.id, 1, 4)!.id).toBe(second.id);
    expect(store.currentMasks(s.id)).toHaveLength(1);
    expect(store.integrityCheck()).toBe('ok');
  });

  it('one clip per content hash; hashFile is the sha256 of the bytes', async () => {
    const f = join(dir, 'clip.bin');
    writeFileSync(f, 'abc');
    expect(await hashFile(f)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    store = SessionStore.open(join(dir, 'c.db'));
    const a = store.upsertClip(clipInput('1'.repeat(64)));
    const b = store.upsertClip({ ...clipInput('1'.repeat(64)), path: '/moved/x.mp4' });
    const c = store.upsertClip(clipInput('2'.repeat(64)));
    expect(b.id).toBe(a.id);
    expect(b.path).toBe('/moved/x.mp4');
    expect(c.id).not.toBe(a.id);
  });

  it('hashFile remembers an unchanged file and hashes a changed one again', async () => {
    const f = join(dir, 'memo.bin');
    writeFileSync(f, 'abc');
    const t = new Date('2026-01-01T00:00:00Z');
    utimesSync(f, t, t);
    expect(await hashFile(f)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    // Same size, new bytes, new mtime: hashed again (sha256 of "abd").
    writeFileSync(f, 'abd');
    const t2 = new Date('2026-01-01T00:00:01Z');
    utimesSync(f, t2, t2);
    expect(await hashFile(f)).toBe('a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9');
    await expect(hashFile(join(dir, 'missing.bin'))).rejects.toMatchObject({ code: 'E_INPUT_NOT_FOUND' });
  });

  it('rejects bad writes with coded errors and leaves nothing half-written', () => {
    store = SessionStore.open(join(dir, 'd.db'));
    const s = store.createSession(store.upsertClip(clipInput()).id);
    expect(() => store!.putMasks('nope', [{ objectId: 1, frame: 0, rle: encodeMask(rect(0, 0, 1, 1), H, W) }])).toThrow(expect.objectContaining({ code: 'E_SESSION_UNKNOWN' }));
    expect(() => store!.putMask(s.id, { objectId: 1, frame: 0, rle: encodeMask(new Uint8Array(4), 2, 2) })).toThrow(expect.objectContaining({ code: 'E_MASK_INVALID' }));
    // The second mask is out of range: the whole batch must be refused, the first included.
    expect(() =>
      store!.putMasks(s.id, [
        { objectId: 1, frame: 0, rle: encodeMask(rect(0, 0, 1, 1), H, W) },
        { objectId: 1, frame: 10, rle: encodeMask(rect(0, 0, 1, 1), H, W) },
      ]),
    ).toThrow(expect.objectContaining({ code: 'E_FRAME_OUT_OF_RANGE' }));
    expect(store.currentMasks(s.id)).toHaveLength(0);
    expect(() => store!.putMask(s.id, { objectId: 1, frame: 0, rle: null as unknown as RleCounts })).toThrow(expect.objectContaining({ code: 'E_MASK_INVALID' }));
    expect(() => store!.removeObject(s.id, 9)).toThrow(expect.objectContaining({ code: 'E_OBJECT_UNKNOWN' }));
  });

  it('removed objects leave exports; the VIS view has nulls where no mask was written', () => {
    store = SessionStore.open(join(dir, 'e.db'));
    const s = store.createSession(store.upsertClip(clipInput()).id);
    store.addObject(s.id, 1, 'vessel');
    store.putMasks(s.id, [
      { objectId: 1, frame: 1, rle: encodeMask(rect(1, 1, 5, 5), H, W), score: 0.5 },
      { objectId: 2, frame: 1, rle: encodeMask(rect(9, 9, 12, 12), H, W) },
    ]);
    expect(store.completeFrames(s.id)).toEqual([1]);
    store.removeObject(s.id, 2);
    const vis = store.toVisJson(s.id);
    expect(vis.annotations).toHaveLength(1);
    expect(vis.categories).toEqual([{ id: 1, name: 'vessel' }]);
    const segs = vis.annotations[0]!.segmentations;
    expect(segs).toHaveLength(10);
    expect(segs.filter((x) => x !== null)).toHaveLength(1);
    expect(decodeMask(segs[1]!)).toEqual(rect(1, 1, 5, 5));
    expect(vis.annotations[0]!.scores![1]).toBe(0.5);
    // The shape is the one readVisJson accepts.
    const f = join(dir, 'v.json');
    writeFileSync(f, JSON.stringify(vis));
    expect(readVisJson(f).videos[0]!.length).toBe(10);
    expect(store.currentMasks(s.id, { includeRemoved: true })).toHaveLength(2);
  });

  it('MaskWriter commits in batches and reports only committed masks', async () => {
    store = SessionStore.open(join(dir, 'f.db'));
    const s = store.createSession(store.upsertClip(clipInput()).id);
    const committed: number[][] = [];
    const w = new MaskWriter(SqliteStore.wrap(store), s.id, { maxBatch: 4, maxDelayMs: 20, onCommit: (r) => committed.push(r.map((x) => x.frame)) });
    for (let f = 0; f < 6; f++) w.add({ objectId: 1, frame: f, rle: encodeMask(rect(f, 0, f + 2, 3), H, W) });
    expect(w.pendingCount).toBe(2);
    await new Promise((r) => setImmediate(r));
    expect(committed).toEqual([[0, 1, 2, 3]]);
    // A second connection sees exactly what was reported, nothing more.
    const other = SessionStore.open(store.path, { readonly: true });
    expect(other.currentMasks(s.id).map((m) => m.frame)).toEqual([0, 1, 2, 3]);
    await new Promise((r) => setTimeout(r, 60));
    expect(committed).toEqual([
      [0, 1, 2, 3],
      [4, 5],
    ]);
    expect(other.currentMasks(s.id).map((m) => m.frame)).toEqual([0, 1, 2, 3, 4, 5]);
    // flush() resolves after the commit with its own records; a failed background batch is not lost.
    w.add({ objectId: 1, frame: 7, rle: encodeMask(rect(0, 0, 2, 3), H, W) });
    expect((await w.flush()).map((r) => r.frame)).toEqual([7]);
    w.add({ objectId: 1, frame: 99, rle: encodeMask(rect(0, 0, 2, 3), H, W) });
    await new Promise((r) => setTimeout(r, 60));
    await expect(w.flush()).rejects.toMatchObject({ code: 'E_FRAME_OUT_OF_RANGE' });
    expect(await w.flush()).toEqual([]);
    other.destroy();
    await w.destroy();
  });

  it('read-only stores refuse writes; a missing file is E_INPUT_NOT_FOUND', () => {
    expect(() => SessionStore.open(join(dir, 'none.db'), { readonly: true })).toThrow(expect.objectContaining({ code: 'E_INPUT_NOT_FOUND' }));
    SessionStore.open(join(dir, 'g.db')).destroy();
    store = SessionStore.open(join(dir, 'g.db'), { readonly: true });
    expect(() => store!.upsertClip(clipInput())).toThrow(expect.objectContaining({ code: 'E_STORE' }));
  });

  it('refuses a SQLite file that is not a cineseg store', () => {
    const p = join(dir, 'other.db');
    const raw = new Database(p);
    raw.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema_version', '99')");
    raw.close();
    // A newer cineseg's file is left untouched: no table of ours added to it.
    expect(() => SessionStore.open(p)).toThrow(expect.objectContaining({ code: 'E_STORE_VERSION' }));
    const check = new Database(p, { readonly: true });
    expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([{ name: 'meta' }]);
    check.close();
    const notOurs = join(dir, 'not-ours.db');
    const raw2 = new Database(notOurs);
    raw2.exec('CREATE TABLE t (x)');
    raw2.close();
    expect(() => SessionStore.open(notOurs, { readonly: true })).toThrow(expect.objectContaining({ code: 'E_STORE' }));
  });

  it('atomic(): a session and its prompts commit together or not at all', () => {
    store = SessionStore.open(join(dir, 'h.db'));
    const clip = store.upsertClip(clipInput());
    expect(() =>
      store!.atomic(() => {
        const s = store!.createSession(clip.id, { id: 'half' });
        store!.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
        store!.addPrompt(s.id, { objectId: 1, frame: -1, kind: 'box', box: [1, 1, 5, 5] });
      }),
    ).toThrow(expect.objectContaining({ code: 'E_PROMPT_INVALID' }));
    expect(store.getSession('half')).toBeUndefined();
    const s = store.atomic(() => {
      const x = store!.createSession(clip.id, { id: 'whole' });
      store!.addPrompt(x.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
      return x;
    });
    expect(store.listPrompts(s.id)).toHaveLength(1);
    expect(store.integrityCheck()).toBe('ok');
  });

  it('deleteSession removes one session with everything it had, and nothing of another', () => {
    store = SessionStore.open(join(dir, 'del.db'));
    const clip = store.upsertClip(clipInput());
    const a = store.createSession(clip.id);
    const b = store.createSession(clip.id);
    for (const s of [a, b]) {
      store.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'points', points: [{ x: 5, y: 5, label: 1 }] });
      store.putMask(s.id, { objectId: 1, frame: 0, rle: encodeMask(rect(0, 0, 8, 8), H, W) });
      store.putMask(s.id, { objectId: 1, frame: 0, rle: encodeMask(rect(0, 0, 9, 9), H, W) });
    }
    store.deleteSession(a.id);
    expect(store.getSession(a.id)).toBeUndefined();
    expect(store.listPrompts(a.id)).toEqual([]);
    expect(store.maskHistory(a.id, 1, 0)).toEqual([]);
    expect(store.listObjects(a.id, { includeRemoved: true })).toEqual([]);
    expect(store.maskHistory(b.id, 1, 0)).toHaveLength(2);
    expect(store.listPrompts(b.id)).toHaveLength(1);
    expect(store.getClip(clip.id)).toBeDefined();
    expect(() => store!.deleteSession(a.id)).toThrow(expect.objectContaining({ code: 'E_SESSION_UNKNOWN' }));
    expect(store.integrityCheck()).toBe('ok');
  });

  it('removeObject keeps the prompt version of the removal in meta removals', () => {
    store = SessionStore.open(join(dir, 'rm.db'));
    const s = store.createSession(store.upsertClip(clipInput()).id, { meta: { tool: 'x' } });
    store.addPrompt(s.id, { objectId: 2, frame: 0, kind: 'points', points: [{ x: 5, y: 5, label: 1 }] });
    store.addPrompt(s.id, { objectId: 3, frame: 0, kind: 'points', points: [{ x: 5, y: 5, label: 1 }] });
    store.removeObject(s.id, 2);
    expect(store.requireSession(s.id).meta).toEqual({ tool: 'x', removals: { 2: 2 } });
    store.addPrompt(s.id, { objectId: 2, frame: 1, kind: 'points', points: [{ x: 5, y: 5, label: 1 }] });
    store.removeObject(s.id, 2);
    expect(store.requireSession(s.id).meta.removals).toEqual({ 2: 3 });
  });

  it('every write that touches an object adds one to its version, in the same transaction', () => {
    store = SessionStore.open(join(dir, 'ver.db'));
    const s = store.createSession(store.upsertClip(clipInput()).id);
    expect(store.addObject(s.id, 1).version).toBe(1);
    // A call that changes nothing writes nothing.
    expect(store.addObject(s.id, 1).version).toBe(1);
    expect(store.addObject(s.id, 1, 'polyp').version).toBe(2);
    store.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
    store.putMasks(s.id, [
      { objectId: 1, frame: 0, rle: encodeMask(rect(1, 1, 5, 5), H, W) },
      { objectId: 1, frame: 1, rle: encodeMask(rect(1, 1, 5, 5), H, W) },
      { objectId: 2, frame: 1, rle: encodeMask(rect(1, 1, 5, 5), H, W) },
    ]);
    expect(store.objectVersions(s.id)).toEqual({ 1: 4, 2: 1 });
    store.history.setLabel(s.id, 2, 'tool');
    store.removeObject(s.id, 2);
    expect(store.objectVersions(s.id)).toEqual({ 1: 4, 2: 3 });
    expect(store.listObjects(s.id, { includeRemoved: true }).map((o) => [o.objectId, o.version])).toEqual([
      [1, 4],
      [2, 3],
    ]);
  });

  it('ifVersions: a touched object at another version is E_EDIT_CONFLICT with nothing written', () => {
    store = SessionStore.open(join(dir, 'conflict.db'));
    const s = store.createSession(store.upsertClip(clipInput()).id);
    store.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
    store.addPrompt(s.id, { objectId: 2, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
    const seen = store.objectVersions(s.id);
    // Another editor corrects object 1 meanwhile.
    store.putMask(s.id, { objectId: 1, frame: 3, rle: encodeMask(rect(0, 0, 4, 4), H, W) });
    const before = { versions: store.objectVersions(s.id), masks: store.currentMasks(s.id).length, prompts: store.listPrompts(s.id).length, meta: store.requireSession(s.id).meta };
    const conflict = expect.objectContaining({ code: 'E_EDIT_CONFLICT', message: expect.stringMatching(/session "[^"]+" object 1 .*stored version 2, this edit expected 1/) });
    const opts = { ifVersions: seen };
    expect(() =>
      store!.putMasks(
        s.id,
        [
          { objectId: 2, frame: 4, rle: encodeMask(rect(0, 0, 4, 4), H, W) },
          { objectId: 1, frame: 4, rle: encodeMask(rect(0, 0, 4, 4), H, W) },
        ],
        opts,
      ),
    ).toThrow(conflict);
    expect(() => store!.addPrompt(s.id, { objectId: 1, frame: 2, kind: 'box', box: [1, 1, 5, 5] }, opts)).toThrow(conflict);
    expect(() => store!.removeObject(s.id, 1, opts)).toThrow(conflict);
    expect(() => store!.addObject(s.id, 1, 'renamed', opts)).toThrow(conflict);
    expect(() => store!.history.setLabel(s.id, 1, 'renamed', opts)).toThrow(conflict);
    expect({ versions: store.objectVersions(s.id), masks: store.currentMasks(s.id).length, prompts: store.listPrompts(s.id).length, meta: store.requireSession(s.id).meta }).toEqual(before);
    expect(store.listObjects(s.id).map((o) => o.label)).toEqual(['object', 'object']);
    // Objects not named, or at the version named, go through.
    expect(store.putMask(s.id, { objectId: 2, frame: 4, rle: encodeMask(rect(0, 0, 4, 4), H, W) }, opts).objectId).toBe(2);
    expect(store.putMask(s.id, { objectId: 3, frame: 4, rle: encodeMask(rect(0, 0, 4, 4), H, W) }, opts).objectId).toBe(3);
    store.removeObject(s.id, 1, { ifVersions: { 1: 2 } });
    expect(store.objectVersions(s.id)).toEqual({ 1: 3, 2: 2, 3: 1 });
  });

  it('migrates a version-2 file to 3: objects gain version 0, then count up', () => {
    const path = join(dir, 'v2.db');
    store = SessionStore.open(path);
    const s = store.createSession(store.upsertClip(clipInput()).id);
    store.addPrompt(s.id, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
    store.destroy();
    const raw = new Database(path);
    raw.exec("ALTER TABLE objects DROP COLUMN version; UPDATE meta SET value = '2' WHERE key = 'schema_version'");
    raw.close();
    // Read-only: nothing migrated, every object reads as version 0.
    store = SessionStore.open(path, { readonly: true });
    expect(store.objectVersions(s.id)).toEqual({ 1: 0 });
    expect(store.listObjects(s.id)[0]!.version).toBe(0);
    store.destroy();
    store = SessionStore.open(path);
    expect(store.objectVersions(s.id)).toEqual({ 1: 0 });
    store.addPrompt(s.id, { objectId: 1, frame: 1, kind: 'box', box: [1, 1, 5, 5] }, { ifVersions: { 1: 0 } });
    expect(store.objectVersions(s.id)).toEqual({ 1: 1 });
    expect(store.integrityCheck()).toBe('ok');
    const check = new Database(path, { readonly: true });
    expect((check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value).toBe('3');
    check.close();
  });
});
