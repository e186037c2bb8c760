/**
 * The SQLite store's hot statements, prepared once per open file: the lookups and writes that
 * every prompt and mask goes through (session-store.ts runs them inside its transactions).
 */
import type Database from 'better-sqlite3';

/** One prepared statement per hot lookup or write of the store. */
export interface SqliteStatements {
  clipByHash: Database.Statement;
  clipById: Database.Statement;
  insertClip: Database.Statement;
  session: Database.Statement;
  insertSession: Database.Statement;
  touchSession: Database.Statement;
  bumpVersion: Database.Statement;
  upsertObject: Database.Statement;
  object: Database.Statement;
  currentMask: Database.Statement;
  supersede: Database.Statement;
  insertMask: Database.Statement;
}

/**
 * Prepares the statements on `db`. On a read-only handle the writes are `SELECT 1` stand-ins:
 * SQLite refuses to prepare a write there, and the store refuses writes before reaching them.
 */
export function prepareSqliteStatements(db: Database.Database): SqliteStatements {
  const p = (sql: string) => db.prepare(sql);
  const ro = db.readonly;
  return {
    clipByHash: p('SELECT * FROM clips WHERE content_hash = ?'),
    clipById: p('SELECT * FROM clips WHERE id = ?'),
    insertClip: ro ? p('SELECT 1') : p('INSERT INTO clips (path, content_hash, width, height, num_frames, fps, frame_time_ms, dicom, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    session: p('SELECT * FROM sessions WHERE id = ?'),
    insertSession: ro ? p('SELECT 1') : p('INSERT INTO sessions (id, clip_id, status, meta, prompt_version, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)'),
    touchSession: ro ? p('SELECT 1') : p('UPDATE sessions SET updated_at = ? WHERE id = ?'),
    bumpVersion: ro ? p('SELECT 1') : p('UPDATE sessions SET prompt_version = prompt_version + 1, updated_at = ? WHERE id = ? RETURNING prompt_version'),
    upsertObject: ro
      ? p('SELECT 1')
      : // Every write through it touches the object: its version goes up by one (a new object is at 1).
        p(
          "INSERT INTO objects (session_id, object_id, label, removed, created_at, version) VALUES (?, ?, ?, 0, ?, 1) ON CONFLICT (session_id, object_id) DO UPDATE SET removed = 0, version = objects.version + 1, label = CASE WHEN excluded.label = 'object' THEN objects.label ELSE excluded.label END",
        ),
    object: p('SELECT * FROM objects WHERE session_id = ? AND object_id = ?'),
    currentMask: p('SELECT * FROM masks WHERE session_id = ? AND object_id = ? AND frame = ? AND current = 1'),
    supersede: ro ? p('SELECT 1') : p('UPDATE masks SET current = 0, superseded_by = ? WHERE id = ?'),
    insertMask: ro
      ? p('SELECT 1')
      : p(
          'INSERT INTO masks (session_id, object_id, frame, height, width, counts, area, bbox, score, prompt_version, origin, current, superseded_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, NULL, ?)',
        ),
  };
}
