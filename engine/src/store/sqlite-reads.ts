/**
 * The SQLite store's list and history reads (sessions, their summaries, objects, prompts, current
 * masks, a mask's history, complete frames), each one SELECT on a better-sqlite3 handle; the
 * store (session-store.ts) keeps the writes and the checks around them.
 */
import type Database from 'better-sqlite3';
import type { MaskRecord, ObjectRecord, PromptRecord, SessionRecord, SessionStatus } from './store-records.js';
import { maskFromRow, objectFromRow, promptFromRow, sessionFromRow, type MaskRow, type ObjectRow, type PromptRow, type SessionRow } from './sqlite-rows.js';

/** A session with its clip's path and frame count, live objects, and frames with current masks. */
export type SqliteSessionSummary = SessionRecord & { clipPath: string; numFrames: number; objects: number; maskedFrames: number };

/** Sessions, newest first; optionally only those with a status or on a clip. */
export function listSessionsIn(db: Database.Database, filter: { status?: SessionStatus; clipId?: number }): SessionRecord[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (filter.status) {
    where.push('status = ?');
    args.push(filter.status);
  }
  if (filter.clipId !== undefined) {
    where.push('clip_id = ?');
    args.push(filter.clipId);
  }
  const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, rowid DESC`;
  return (db.prepare(sql).all(...args) as SessionRow[]).map(sessionFromRow);
}

/** Every session's summary, newest first. */
export function sessionSummariesIn(db: Database.Database): SqliteSessionSummary[] {
  const rows = db
    .prepare(
      `SELECT s.id AS id, c.path AS clip_path, c.num_frames AS num_frames,
         (SELECT COUNT(*) FROM objects o WHERE o.session_id = s.id AND o.removed = 0) AS objects,
         (SELECT COUNT(DISTINCT m.frame) FROM masks m WHERE m.session_id = s.id AND m.current = 1) AS masked
       FROM sessions s JOIN clips c ON c.id = s.clip_id`,
    )
    .all() as { id: string; clip_path: string; num_frames: number; objects: number; masked: number }[];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return listSessionsIn(db, {}).map((s) => {
    const r = byId.get(s.id)!;
    return { ...s, clipPath: r.clip_path, numFrames: r.num_frames, objects: r.objects, maskedFrames: r.masked };
  });
}

/** Each object's version now, removed objects included; 0 for all in a version-2 file (`versioned` false). */
export function objectVersionsIn(db: Database.Database, sessionId: string, versioned: boolean): Record<number, number> {
  const sql = versioned ? 'SELECT object_id, version FROM objects WHERE session_id = ?' : 'SELECT object_id, 0 AS version FROM objects WHERE session_id = ?';
  const out: Record<number, number> = {};
  for (const r of db.prepare(sql).all(sessionId) as { object_id: number; version: number }[]) out[r.object_id] = r.version;
  return out;
}

/** A session's objects by id (removed ones only when asked). */
export function listObjectsIn(db: Database.Database, sessionId: string, opts: { includeRemoved?: boolean }): ObjectRecord[] {
  const sql = `SELECT * FROM objects WHERE session_id = ? ${opts.includeRemoved ? '' : 'AND removed = 0'} ORDER BY object_id`;
  return (db.prepare(sql).all(sessionId) as ObjectRow[]).map(objectFromRow);
}

/** A session's prompts in the order they were given (optionally one object's). */
export function listPromptsIn(db: Database.Database, sessionId: string, opts: { objectId?: number }): PromptRecord[] {
  const rows =
    opts.objectId === undefined
      ? db.prepare('SELECT * FROM prompts WHERE session_id = ? ORDER BY version').all(sessionId)
      : db.prepare('SELECT * FROM prompts WHERE session_id = ? AND object_id = ? ORDER BY version').all(sessionId, opts.objectId);
  return (rows as PromptRow[]).map(promptFromRow);
}

/** Current masks of a session (of live objects only, unless asked), by object then frame. */
export function currentMasksIn(db: Database.Database, sessionId: string, opts: { objectId?: number; includeRemoved?: boolean }): MaskRecord[] {
  const args: unknown[] = [sessionId];
  let sql = 'SELECT m.* FROM masks m JOIN objects o ON o.session_id = m.session_id AND o.object_id = m.object_id WHERE m.session_id = ? AND m.current = 1';
  if (!opts.includeRemoved) sql += ' AND o.removed = 0';
  if (opts.objectId !== undefined) {
    sql += ' AND m.object_id = ?';
    args.push(opts.objectId);
  }
  sql += ' ORDER BY m.object_id, m.frame';
  return (db.prepare(sql).all(...args) as MaskRow[]).map(maskFromRow);
}

/** Every mask ever written for an object on a frame, oldest first (the last is current). */
export function maskHistoryIn(db: Database.Database, sessionId: string, objectId: number, frame: number): MaskRecord[] {
  return (db.prepare('SELECT * FROM masks WHERE session_id = ? AND object_id = ? AND frame = ? ORDER BY id').all(sessionId, objectId, frame) as MaskRow[]).map(maskFromRow);
}

/** Frames that have a current mask for every live object of the session (ascending). */
export function completeFramesIn(db: Database.Database, sessionId: string): number[] {
  const rows = db
    .prepare(
      `SELECT m.frame AS frame, COUNT(*) AS n FROM masks m JOIN objects o ON o.session_id = m.session_id AND o.object_id = m.object_id
       WHERE m.session_id = ? AND m.current = 1 AND o.removed = 0 GROUP BY m.frame ORDER BY m.frame`,
    )
    .all(sessionId) as { frame: number; n: number }[];
  const live = listObjectsIn(db, sessionId, {}).length;
  return rows.filter((r) => r.n === live).map((r) => r.frame);
}
