/**
 * The prompt history of a session in the SQLite store (schema version 2; the tables are in
 * sqlite-schema.ts): which stored prompts are
 * taken back (removePrompt, clearFrame, an undone add) and the session's list of edits with its
 * undo cursor. Everything in the session's own file, so that undo still works after a restart.
 *
 * - `prompt_removals`: one row per prompt that is not in effect now. The prompt row itself stays
 *   (history is never deleted, session-store.ts); a prompt comes back by deleting its row here.
 * - `edits`: the session's edits in order (`id`), each a kind and a JSON payload
 *   (server/prompt-history.ts says what each holds). `undone = 0` rows are the undo stack (the
 *   newest is taken back first), `undone = 1` rows the redo stack (the oldest undone is done again
 *   first). A new edit deletes the session's undone rows: a redo branch is dropped as in any editor.
 *
 * Every write is synchronous and committed on return, like the rest of the store. A store opened
 * read-only on a version-1 file has neither table: it reads as no history.
 */
import type Database from 'better-sqlite3';
import { CinesegError, ErrorCode } from '../errors.js';
import { checkObjectVersions, type VersionCheck } from './sqlite-schema.js';

/** One stored edit: its row id, kind and payload (opaque here). */
export interface StoredEdit {
  id: number;
  kind: string;
  data: unknown;
}

function storeError(what: string, cause: unknown): CinesegError {
  return new CinesegError(ErrorCode.E_STORE, `store: ${what}: ${(cause as Error).message}`, { cause });
}

export class PromptHistoryStore {
  /** False for a read-only store on a file without the tables (version 1). */
  private readonly present: boolean;

  constructor(private readonly db: Database.Database) {
    this.present = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'edits'").get() !== undefined;
  }

  /** Ids of the session's prompts that are taken back now. */
  removedPromptIds(sessionId: string): Set<number> {
    if (!this.present) return new Set();
    const rows = this.db.prepare('SELECT prompt_id FROM prompt_removals WHERE session_id = ?').all(sessionId) as { prompt_id: number }[];
    return new Set(rows.map((r) => r.prompt_id));
  }

  /** Takes prompts back (`removed`) or puts them in effect again, in one transaction. */
  setPromptsRemoved(sessionId: string, promptIds: readonly number[], removed: boolean): void {
    this.tx('setPromptsRemoved', () => {
      const t = new Date().toISOString();
      for (const id of promptIds) {
        if (removed) this.db.prepare('INSERT OR IGNORE INTO prompt_removals (prompt_id, session_id, created_at) VALUES (?, ?, ?)').run(id, sessionId, t);
        else this.db.prepare('DELETE FROM prompt_removals WHERE prompt_id = ? AND session_id = ?').run(id, sessionId);
      }
    });
  }

  /** Records a new edit and drops the session's redo branch; returns the edit's id. */
  pushEdit(sessionId: string, kind: string, data: unknown): number {
    return this.tx('pushEdit', () => {
      this.db.prepare('DELETE FROM edits WHERE session_id = ? AND undone = 1').run(sessionId);
      return Number(
        this.db.prepare('INSERT INTO edits (session_id, kind, data, undone, created_at) VALUES (?, ?, ?, 0, ?)').run(sessionId, kind, JSON.stringify(data), new Date().toISOString()).lastInsertRowid,
      );
    });
  }

  /** The edit an undo takes back (the newest done one) or a redo does again (the oldest undone one), or null. */
  peekEdit(sessionId: string, which: 'undo' | 'redo'): StoredEdit | null {
    if (!this.present) return null;
    const sql =
      which === 'undo'
        ? 'SELECT id, kind, data FROM edits WHERE session_id = ? AND undone = 0 ORDER BY id DESC LIMIT 1'
        : 'SELECT id, kind, data FROM edits WHERE session_id = ? AND undone = 1 ORDER BY id ASC LIMIT 1';
    const r = this.db.prepare(sql).get(sessionId) as { id: number; kind: string; data: string } | undefined;
    return r ? { id: r.id, kind: r.kind, data: JSON.parse(r.data) as unknown } : null;
  }

  /** Moves an edit across the cursor: `undone` after an undo, done again after a redo. */
  markEdit(sessionId: string, editId: number, undone: boolean): void {
    const r = this.tx('markEdit', () => this.db.prepare('UPDATE edits SET undone = ? WHERE id = ? AND session_id = ?').run(undone ? 1 : 0, editId, sessionId));
    if (r.changes === 0) throw new CinesegError(ErrorCode.E_STORE, `store: session "${sessionId}" has no edit ${editId}`);
  }

  /** Whether the session has an edit to undo and one to redo. */
  editState(sessionId: string): { canUndo: boolean; canRedo: boolean } {
    if (!this.present) return { canUndo: false, canRedo: false };
    const rows = this.db.prepare('SELECT undone, COUNT(*) AS n FROM edits WHERE session_id = ? GROUP BY undone').all(sessionId) as { undone: number; n: number }[];
    return { canUndo: rows.some((r) => r.undone === 0 && r.n > 0), canRedo: rows.some((r) => r.undone === 1 && r.n > 0) };
  }

  /**
   * Sets an object's label as given, 'object' included (SessionStore.addObject keeps a name when
   * given 'object'): an undone first rename goes back to no name. The object's version goes up;
   * `opts.ifVersions` as in SessionStore (E_EDIT_CONFLICT). Returns whether the object exists.
   */
  setLabel(sessionId: string, objectId: number, label: string, opts?: VersionCheck): boolean {
    return this.tx('setLabel', () => {
      checkObjectVersions(this.db, sessionId, [objectId], opts);
      return this.db.prepare('UPDATE objects SET label = ?, version = version + 1 WHERE session_id = ? AND object_id = ?').run(label, sessionId, objectId).changes > 0;
    });
  }

  /** Deletes the session's history (SessionStore.deleteSession calls it inside its transaction). */
  deleteSession(sessionId: string): void {
    if (!this.present) return;
    this.db.prepare('DELETE FROM prompt_removals WHERE session_id = ?').run(sessionId);
    this.db.prepare('DELETE FROM edits WHERE session_id = ?').run(sessionId);
  }

  private tx<T>(what: string, fn: () => T): T {
    if (this.db.readonly) throw new CinesegError(ErrorCode.E_STORE, 'store was opened read-only');
    try {
      // Nests as a savepoint inside a caller's transaction (SessionStore.atomic).
      return this.db.inTransaction ? this.db.transaction(fn)() : this.db.transaction(fn).immediate();
    } catch (cause) {
      if (cause instanceof CinesegError) throw cause;
      throw storeError(what, cause);
    }
  }
}
