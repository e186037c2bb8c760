/**
 * Every stored row of one session, read straight from the SQLite file through a second,
 * read-only connection: two snapshots are equal exactly when nothing of the session (its row,
 * objects, prompts, every mask version) changed in between. Not a test file itself.
 */
import Database from 'better-sqlite3';

export function snapshotSession(dbPath: string, sessionId: string): string {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = (table: string, order: string) => db.prepare(`SELECT * FROM ${table} WHERE ${table === 'sessions' ? 'id' : 'session_id'} = ? ORDER BY ${order}`).all(sessionId);
    const snap = { session: rows('sessions', 'id'), objects: rows('objects', 'object_id'), prompts: rows('prompts', 'id'), masks: rows('masks', 'id') };
    // Blobs as hex, so a changed byte anywhere changes the string.
    return JSON.stringify(snap, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v));
  } finally {
    db.close();
  }
}
