/**
 * The SQLite store's tables, their migrations, and the object-version check every write that
 * touches an object makes (session-store.ts, prompt-history-store.ts). Kept apart from the store
 * so that both stores can use the check without importing each other.
 *
 * Schema versions (the `meta` row `schema_version`): 1 the first; 2 added the prompt history's
 * tables (prompt-history-store.ts); 3 added `objects.version`, the optimistic version of each
 * object (annotation-store.ts says what it means). A file of an older version is migrated on
 * open; a read-only open migrates nothing and reads a missing column as version 0.
 */
import type Database from 'better-sqlite3';
import { CinesegError, ErrorCode } from '../errors.js';

/** Schema version written to the `meta` table; bumped on incompatible changes. */
export const STORE_SCHEMA_VERSION = 3;

/**
 * The writers' expected object versions. Declared here, structurally equal to annotation-store.ts's
 * EditOptions, so that the sync stores never import the async interface (no type cycle).
 */
export interface VersionCheck {
  ifVersions?: Readonly<Record<number, number>>;
}

export const SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clips (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL,
  content_hash TEXT NOT NULL UNIQUE,
  width INTEGER NOT NULL, height INTEGER NOT NULL,
  num_frames INTEGER NOT NULL, fps REAL NOT NULL, frame_time_ms REAL,
  dicom TEXT,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  clip_id INTEGER NOT NULL REFERENCES clips(id),
  status TEXT NOT NULL CHECK (status IN ('open','closed','done')),
  meta TEXT NOT NULL DEFAULT '{}',
  prompt_version INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_status ON sessions(status);
CREATE TABLE IF NOT EXISTS objects (
  session_id TEXT NOT NULL REFERENCES sessions(id),
  object_id INTEGER NOT NULL,
  label TEXT NOT NULL DEFAULT 'object',
  removed INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (session_id, object_id)
);
CREATE TABLE IF NOT EXISTS prompts (
  id INTEGER PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions(id),
  object_id INTEGER NOT NULL,
  frame INTEGER NOT NULL,
  kind TEXT NOT NULL,
  data TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS prompts_session ON prompts(session_id, version);
CREATE TABLE IF NOT EXISTS masks (
  id INTEGER PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions(id),
  object_id INTEGER NOT NULL,
  frame INTEGER NOT NULL,
  height INTEGER NOT NULL, width INTEGER NOT NULL,
  counts TEXT NOT NULL,
  area INTEGER NOT NULL,
  bbox TEXT NOT NULL,
  score REAL,
  prompt_version INTEGER NOT NULL,
  origin TEXT NOT NULL,
  current INTEGER NOT NULL,
  superseded_by INTEGER,
  created_at TEXT NOT NULL
);
-- At most one current mask per (session, object, frame); the partial index also makes the
-- "current masks of a session" read an index range scan.
CREATE UNIQUE INDEX IF NOT EXISTS masks_current ON masks(session_id, object_id, frame) WHERE current = 1;
CREATE INDEX IF NOT EXISTS masks_history ON masks(session_id, object_id, frame, id);
`;

/** Tables of the prompt history (prompt-history-store.ts says what they hold); version 2. */
export const PROMPT_HISTORY_SCHEMA = `
CREATE TABLE IF NOT EXISTS prompt_removals (
  prompt_id INTEGER PRIMARY KEY,
  session_id TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS prompt_removals_session ON prompt_removals(session_id);
CREATE TABLE IF NOT EXISTS edits (
  id INTEGER PRIMARY KEY,
  session_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  data TEXT NOT NULL,
  undone INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS edits_session ON edits(session_id, undone, id);
`;

/**
 * Checks the file's version, then creates or migrates the schema of a writable file (in one
 * transaction, so a crash mid-way leaves the old version). A file of a newer version is left
 * untouched: E_STORE_VERSION. Other failures throw a plain Error the caller wraps in E_STORE.
 */
export function prepareSqliteSchema(db: Database.Database, path: string): void {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
  const version = (): number | null => {
    const v = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
    return v ? Number(v.value) : null;
  };
  const found = hasMeta ? version() : null;
  if (found !== null && found > STORE_SCHEMA_VERSION) {
    throw new CinesegError(ErrorCode.E_STORE_VERSION, `store ${path} has schema version ${found}, newer than this cineseg (${STORE_SCHEMA_VERSION}): upgrade cineseg`, {
      details: { found, supported: STORE_SCHEMA_VERSION },
    });
  }
  // A file at this version needs nothing: no write lock taken, so opening a store another
  // process is writing to does not wait for (or fail on) that process's lock.
  if (!db.readonly && found !== STORE_SCHEMA_VERSION) {
    db.transaction(() => {
      db.exec(SQLITE_SCHEMA);
      // 1 → 2: the history tables (additive, nothing to copy).
      db.exec(PROMPT_HISTORY_SCHEMA);
      // 2 → 3: objects.version; every existing object starts at 0 (CREATE IF NOT EXISTS kept the old table).
      if (!hasColumn(db, 'objects', 'version')) db.exec('ALTER TABLE objects ADD COLUMN version INTEGER NOT NULL DEFAULT 0');
      if (found === null) db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(STORE_SCHEMA_VERSION));
      else if (found < STORE_SCHEMA_VERSION) db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(STORE_SCHEMA_VERSION));
    }).immediate();
  } else if (found === null) {
    throw new Error('no schema version (not a cineseg store)');
  }
}

function hasColumn(db: Database.Database, table: string, column: string): boolean {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
}

/** Whether the file has `objects.version` (a read-only version-2 file has not). */
export function hasObjectVersions(db: Database.Database): boolean {
  return hasColumn(db, 'objects', 'version');
}

/**
 * Inside a write's transaction (so no other writer can slip in between the check and the write):
 * throws E_EDIT_CONFLICT when a touched object named in `opts.ifVersions` has another version
 * stored. An object without a row counts as version 0.
 */
export function checkObjectVersions(db: Database.Database, sessionId: string, objectIds: Iterable<number>, opts: VersionCheck | undefined): void {
  const want = opts?.ifVersions;
  if (!want) return;
  const get = db.prepare('SELECT version FROM objects WHERE session_id = ? AND object_id = ?');
  for (const id of objectIds) {
    const expected = want[id];
    if (expected === undefined) continue;
    const stored = (get.get(sessionId, id) as { version: number } | undefined)?.version ?? 0;
    if (stored !== expected) {
      throw new CinesegError(
        ErrorCode.E_EDIT_CONFLICT,
        `session "${sessionId}" object ${id} was changed by another editor: stored version ${stored}, this edit expected ${expected}; nothing was written`,
        { details: { sessionId, objectId: id, stored, expected } },
      );
    }
  }
}
