/**
 * The prompt history (undo/redo, prompts taken back) of the PostgreSQL store: the same tables and
 * meaning as prompt-history-store.ts, through the store's executor (postgres-pool.ts), so it joins
 * a transaction the store is bound to.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import type { EditOptions, PromptHistory } from './annotation-store.js';
import type { StoredEdit } from './prompt-history-store.js';
import type { PgExec } from './postgres-pool.js';
import { checkVersions } from './postgres-versions.js';

export class PostgresHistory implements PromptHistory {
  constructor(
    private readonly exec: PgExec,
    /** Throws when the store is destroyed or read-only. */
    private readonly writable: () => void,
    private readonly alive: () => void,
  ) {}

  async removedPromptIds(sessionId: string): Promise<Set<number>> {
    this.alive();
    const r = await this.exec.read('removedPromptIds', (db) => db.query<{ prompt_id: number }>('SELECT prompt_id FROM prompt_removals WHERE session_id = $1', [sessionId]));
    return new Set(r.rows.map((x) => x.prompt_id));
  }

  async setPromptsRemoved(sessionId: string, promptIds: readonly number[], removed: boolean): Promise<void> {
    this.writable();
    await this.exec.write('setPromptsRemoved', async (db) => {
      if (removed) {
        await db.query('INSERT INTO prompt_removals (prompt_id, session_id, created_at) SELECT p, $1, $3 FROM unnest($2::bigint[]) AS p ON CONFLICT (prompt_id) DO NOTHING', [
          sessionId,
          [...promptIds],
          new Date(),
        ]);
      } else {
        await db.query('DELETE FROM prompt_removals WHERE session_id = $1 AND prompt_id = ANY($2::bigint[])', [sessionId, [...promptIds]]);
      }
    });
  }

  async pushEdit(sessionId: string, kind: string, data: unknown): Promise<number> {
    this.writable();
    return this.exec.write('pushEdit', async (db) => {
      // A new edit drops the redo branch, as in any editor.
      await db.query('DELETE FROM edits WHERE session_id = $1 AND undone', [sessionId]);
      const r = await db.query<{ id: number }>('INSERT INTO edits (session_id, kind, data, undone, created_at) VALUES ($1, $2, $3::jsonb, false, $4) RETURNING id', [
        sessionId,
        kind,
        JSON.stringify(data ?? null),
        new Date(),
      ]);
      return r.rows[0]!.id;
    });
  }

  async peekEdit(sessionId: string, which: 'undo' | 'redo'): Promise<StoredEdit | null> {
    this.alive();
    const sql =
      which === 'undo'
        ? 'SELECT id, kind, data FROM edits WHERE session_id = $1 AND NOT undone ORDER BY id DESC LIMIT 1'
        : 'SELECT id, kind, data FROM edits WHERE session_id = $1 AND undone ORDER BY id ASC LIMIT 1';
    const r = await this.exec.read('peekEdit', (db) => db.query<{ id: number; kind: string; data: unknown }>(sql, [sessionId]));
    const row = r.rows[0];
    return row ? { id: row.id, kind: row.kind, data: row.data } : null;
  }

  async markEdit(sessionId: string, editId: number, undone: boolean): Promise<void> {
    this.writable();
    const n = await this.exec.write('markEdit', async (db) => (await db.query('UPDATE edits SET undone = $1 WHERE id = $2 AND session_id = $3', [undone, editId, sessionId])).rowCount ?? 0);
    if (n === 0) throw new CinesegError(ErrorCode.E_STORE, `store: session "${sessionId}" has no edit ${editId}`);
  }

  async editState(sessionId: string): Promise<{ canUndo: boolean; canRedo: boolean }> {
    this.alive();
    const r = await this.exec.read('editState', (db) =>
      db.query<{ can_undo: boolean; can_redo: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM edits WHERE session_id = $1 AND NOT undone) AS can_undo, EXISTS (SELECT 1 FROM edits WHERE session_id = $1 AND undone) AS can_redo',
        [sessionId],
      ),
    );
    return { canUndo: r.rows[0]!.can_undo, canRedo: r.rows[0]!.can_redo };
  }

  async setLabel(sessionId: string, objectId: number, label: string, opts: EditOptions = {}): Promise<boolean> {
    this.writable();
    return this.exec.write('setLabel', async (db) => {
      // The session's row lock first, as every write of a session takes it (postgres-masks.ts).
      const s = await db.query('SELECT 1 FROM sessions WHERE id = $1 FOR NO KEY UPDATE', [sessionId]);
      if (s.rowCount === 0) return false;
      const r = await db.query<{ version: number }>('UPDATE objects SET label = $3, version = version + 1 WHERE session_id = $1 AND object_id = $2 RETURNING version', [sessionId, objectId, label]);
      const row = r.rows[0];
      if (!row) return false;
      checkVersions(sessionId, new Map([[objectId, row.version - 1]]), opts.ifVersions);
      return true;
    });
  }
}
