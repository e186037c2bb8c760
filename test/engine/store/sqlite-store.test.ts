/**
 * SqliteStore (store/sqlite-store.ts), the async AnnotationStore over the SQLite file: a
 * transaction commits whole or not at all, other calls of the store wait while it runs, nested
 * transactions are savepoints, wrap() does not own the file, and open-store picks the backend.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asAnnotationStore, defaultStoreSpec, isPostgresSpec, openStore } from '../../../engine/src/store/open-store.js';
import { SessionStore } from '../../../engine/src/store/session-store.js';
import { SqliteStore } from '../../../engine/src/store/sqlite-store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cineseg-sqlite-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const clip = { path: '/clips/x.mp4', contentHash: 'c'.repeat(64), width: 8, height: 8, numFrames: 4, fps: 25 };

describe('SqliteStore', () => {
  it('transaction: all or nothing; other calls wait until it ends; nested ones are savepoints', async () => {
    const store = await SqliteStore.open(join(dir, 'a.db'));
    try {
      expect(store.kind).toBe('sqlite');
      expect(store.location).toBe(join(dir, 'a.db'));
      const c = await store.upsertClip(clip);
      await expect(
        store.transaction(async (tx) => {
          await tx.createSession(c.id, { id: 'half' });
          await tx.addPrompt('half', { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 4, 4] });
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await store.getSession('half')).toBeUndefined();

      const order: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const t = store.transaction(async (tx) => {
        await tx.createSession(c.id, { id: 'whole' });
        order.push('tx: session made');
        await gate;
        // A nested transaction that fails rolls back only its own writes.
        await expect(
          tx.transaction(async (inner) => {
            await inner.addPrompt('whole', { objectId: 2, frame: 0, kind: 'box', box: [1, 1, 4, 4] });
            throw new Error('inner');
          }),
        ).rejects.toThrow('inner');
        await tx.addPrompt('whole', { objectId: 1, frame: 0, kind: 'box', box: [1, 1, 4, 4] });
        order.push('tx: end');
        return 7;
      });
      const outside = store.listSessions().then((l) => order.push(`outside saw ${l.map((s) => s.id).join(',')}`));
      await new Promise((r) => setTimeout(r, 30));
      order.push('released');
      release();
      expect(await t).toBe(7);
      await outside;
      expect(order).toEqual(['tx: session made', 'released', 'tx: end', 'outside saw whole']);
      expect((await store.listPrompts('whole')).map((p) => p.objectId)).toEqual([1]);
      expect(await store.objectVersions('whole')).toEqual({ 1: 1 });
      expect(await store.integrityCheck()).toBe('ok');
    } finally {
      await store.destroy();
    }
    await expect(store.listSessions()).rejects.toMatchObject({ code: 'E_STORE' });
  });

  it('wrap() leaves the SessionStore open; asAnnotationStore wraps once; openStore picks the backend', async () => {
    const sync = SessionStore.open(join(dir, 'b.db'));
    const w = SqliteStore.wrap(sync);
    expect(w.sync).toBe(sync);
    expect(asAnnotationStore(w)).toBe(w);
    expect(asAnnotationStore(sync)).toBeInstanceOf(SqliteStore);
    await w.upsertClip(clip);
    await w.destroy();
    expect(sync.getClip(clip.contentHash)?.width).toBe(8);
    sync.destroy();

    const ro = await openStore(join(dir, 'b.db'), { readonly: true });
    expect(ro.readonly).toBe(true);
    await expect(ro.upsertClip(clip)).rejects.toMatchObject({ code: 'E_STORE' });
    await ro.destroy();
    await expect(openStore(join(dir, 'missing.db'), { readonly: true })).rejects.toMatchObject({ code: 'E_INPUT_NOT_FOUND' });

    expect(isPostgresSpec('postgres://u:p@127.0.0.1:5432/db')).toBe(true);
    expect(isPostgresSpec('postgresql://127.0.0.1/db')).toBe(true);
    expect(isPostgresSpec('/data/postgres.db')).toBe(false);
    const saved = { CINESEG_STORE: process.env.CINESEG_STORE, XDG_DATA_HOME: process.env.XDG_DATA_HOME, HOME: process.env.HOME };
    try {
      process.env.CINESEG_STORE = 'postgres://example/db';
      expect(defaultStoreSpec()).toBe('postgres://example/db');
      // Unnamed, the store is per user, wherever the command runs: under $XDG_DATA_HOME, else ~/.local/share.
      delete process.env.CINESEG_STORE;
      process.env.HOME = '/home/someone';
      delete process.env.XDG_DATA_HOME;
      expect(defaultStoreSpec()).toBe('/home/someone/.local/share/cineseg/cineseg.db');
      process.env.XDG_DATA_HOME = '/data/xdg';
      expect(defaultStoreSpec()).toBe('/data/xdg/cineseg/cineseg.db');
      // The XDG spec ignores a relative path there.
      process.env.XDG_DATA_HOME = 'relative/xdg';
      expect(defaultStoreSpec()).toBe('/home/someone/.local/share/cineseg/cineseg.db');
      process.env.CINESEG_STORE = '';
      expect(defaultStoreSpec()).toBe('/home/someone/.local/share/cineseg/cineseg.db');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
