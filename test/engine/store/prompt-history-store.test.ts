/**
 * The prompt history's tables in a real SQLite file (store/prompt-history-store.ts): the undo /
 * redo cursor (newest done first, oldest undone first, a new edit dropping the redo branch),
 * prompts taken back, exact labels, what deleteSession takes with it, and the 1 → 2 migration of
 * a file written before the history existed (a read-only open of such a file reads no history).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionStore, STORE_SCHEMA_VERSION } from '../../../engine/src/store/session-store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cineseg-history-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function seeded(path: string): { store: SessionStore; sid: string } {
  const store = SessionStore.open(path);
  const clip = store.upsertClip({ path: '/x/clip.mp4', contentHash: 'a'.repeat(64), width: 8, height: 6, numFrames: 4, fps: 10 });
  const sid = store.createSession(clip.id, { id: 's1' }).id;
  return { store, sid };
}

describe('PromptHistoryStore', () => {
  it('keeps an undo / redo cursor and drops the redo branch on a new edit', () => {
    const { store, sid } = seeded(join(dir, 'a.db'));
    const h = store.history;
    expect(h.editState(sid)).toEqual({ canUndo: false, canRedo: false });
    expect(h.peekEdit(sid, 'undo')).toBeNull();
    const e1 = h.pushEdit(sid, 'add', { promptIds: [1] });
    const e2 = h.pushEdit(sid, 'add', { promptIds: [2] });
    const e3 = h.pushEdit(sid, 'rename', { objectId: 1, before: 'object', after: 'a' });
    expect(h.peekEdit(sid, 'undo')).toEqual({ id: e3, kind: 'rename', data: { objectId: 1, before: 'object', after: 'a' } });
    h.markEdit(sid, e3, true);
    h.markEdit(sid, e2, true);
    expect(h.editState(sid)).toEqual({ canUndo: true, canRedo: true });
    // Redo takes the oldest undone first: the one undone last.
    expect(h.peekEdit(sid, 'redo')!.id).toBe(e2);
    expect(h.peekEdit(sid, 'undo')!.id).toBe(e1);
    h.markEdit(sid, e2, false);
    expect(h.peekEdit(sid, 'redo')!.id).toBe(e3);
    const e4 = h.pushEdit(sid, 'remove', { promptIds: [1] });
    expect(h.peekEdit(sid, 'redo')).toBeNull();
    expect(h.peekEdit(sid, 'undo')!.id).toBe(e4);
    expect(h.editState(sid)).toEqual({ canUndo: true, canRedo: false });
    expect(() => h.markEdit(sid, 999, true)).toThrow(expect.objectContaining({ code: 'E_STORE' }));
    // Another session's history is its own.
    expect(h.editState('other')).toEqual({ canUndo: false, canRedo: false });
    store.destroy();
  });

  it('takes prompts back and puts them back; labels are set exactly; deleteSession takes the history with it', () => {
    const path = join(dir, 'b.db');
    const { store, sid } = seeded(path);
    const p1 = store.addPrompt(sid, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
    const p2 = store.addPrompt(sid, { objectId: 1, frame: 1, kind: 'box', box: [1, 1, 5, 5] });
    store.history.setPromptsRemoved(sid, [p1.id, p2.id], true);
    store.history.setPromptsRemoved(sid, [p1.id], true);
    expect([...store.history.removedPromptIds(sid)].sort()).toEqual([p1.id, p2.id].sort());
    store.history.setPromptsRemoved(sid, [p2.id], false);
    expect([...store.history.removedPromptIds(sid)]).toEqual([p1.id]);
    store.addObject(sid, 1, 'liver');
    expect(store.history.setLabel(sid, 1, 'object')).toBe(true);
    expect(store.listObjects(sid)[0]!.label).toBe('object');
    expect(store.history.setLabel(sid, 7, 'x')).toBe(false);
    store.history.pushEdit(sid, 'add', { promptIds: [p1.id] });
    store.destroy();

    const again = SessionStore.open(path);
    expect([...again.history.removedPromptIds(sid)]).toEqual([p1.id]);
    expect(again.history.editState(sid)).toEqual({ canUndo: true, canRedo: false });
    again.deleteSession(sid);
    expect(again.history.removedPromptIds(sid).size).toBe(0);
    expect(again.history.editState(sid)).toEqual({ canUndo: false, canRedo: false });
    again.destroy();
  });

  it('migrates a version-1 file to the current version and keeps its data; read-only on version 1 reads no history', () => {
    const path = join(dir, 'v1.db');
    const { store, sid } = seeded(path);
    store.addPrompt(sid, { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 5, 5] });
    store.destroy();
    // What a cineseg before the history wrote: no history tables, schema version 1.
    const raw = new Database(path);
    raw.exec("DROP TABLE edits; DROP TABLE prompt_removals; UPDATE meta SET value = '1' WHERE key = 'schema_version'");
    raw.close();

    const ro = SessionStore.open(path, { readonly: true });
    expect(ro.listPrompts(sid)).toHaveLength(1);
    expect(ro.history.removedPromptIds(sid).size).toBe(0);
    expect(ro.history.editState(sid)).toEqual({ canUndo: false, canRedo: false });
    expect(ro.history.peekEdit(sid, 'undo')).toBeNull();
    ro.destroy();

    const rw = SessionStore.open(path);
    expect(STORE_SCHEMA_VERSION).toBe(3);
    rw.history.pushEdit(sid, 'add', { promptIds: [1] });
    expect(rw.history.editState(sid).canUndo).toBe(true);
    expect(rw.listPrompts(sid)).toHaveLength(1);
    rw.destroy();
    const check = new Database(path, { readonly: true });
    expect((check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value).toBe('3');
    check.close();
  });
});
