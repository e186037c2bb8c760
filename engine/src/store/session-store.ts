/**
 * The synchronous SQLite annotation store (sqlite-store.ts gives it the async AnnotationStore
 * interface the rest of cineseg uses): one SQLite file (better-sqlite3, WAL journal) holding clips, sessions,
 * objects, every prompt, and every frame's mask with the prompt version that produced it.
 *
 * Durability contract — what "confirmed" means:
 * - Every write method is synchronous and returns only after its transaction has COMMITTED. A mask
 *   the store has returned from {@link SessionStore.putMasks} survives a crash of the process
 *   (kill -9) at any later moment; with `synchronous: 'full'` (the default) it also survives a power
 *   loss, because the WAL is fsynced at each commit.
 * - So a server acknowledges a mask to a client only after `putMasks` (or
 *   {@link MaskWriter.flush}) has returned for it. Never ack before: an un-committed mask can vanish.
 * - Writes are batched by the caller: one `putMasks` call is one transaction however many masks it
 *   holds, so propagation (a mask per frame per object) should hand a frame's masks — or a few
 *   frames' — in one call, or use MaskWriter (mask-writer.ts), which batches and reports what committed.
 *
 * History is never deleted: a correction (a new prompt, or a re-propagation) adds new mask rows and
 * marks the earlier row of the same (session, object, frame) as superseded. Only the newest row is
 * "current"; {@link SessionStore.maskHistory} returns them all. The one exception is
 * {@link SessionStore.deleteSession}, which a person asks for (DELETE /api/sessions/:id).
 *
 * Restart: a process that opens the same file sees every committed session, with
 * {@link SessionStore.openSessions} listing the ones never closed and {@link SessionStore.loadSession}
 * returning everything needed to rebuild one (clip, objects, prompts, current masks); a server
 * reopens them through server/session-restore.ts (which also says what each status means there).
 *
 * Objects carry a version (schema 3): every write that touches an object adds one to it in the
 * same transaction, and a write given `ifVersions` fails with E_EDIT_CONFLICT, nothing written,
 * when a touched object's stored version differs (annotation-store.ts says why).
 *
 * One store object per process and file. SQLite serializes writers across processes, and a
 * second process blocks up to `busyTimeoutMs` on a lock held by another.
 *
 * Kept elsewhere: the schema and migrations (sqlite-schema.ts), the rows (sqlite-rows.ts), the hot
 * statements (sqlite-statements.ts), the list and history reads (sqlite-reads.ts), the VIS view
 * (session-vis-json.ts), clip hashing (clip-hash.ts), the mask writer (mask-writer.ts).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { CinesegError, ErrorCode } from '../errors.js';
import { rleArea, rleToBbox, toCompressed } from '../mask/rle.js';
import type { VisJson } from '../mask/vis-json.js';
import { PromptHistoryStore } from './prompt-history-store.js';
import { sessionVisJson } from './session-vis-json.js';
import { completeFramesIn, currentMasksIn, listObjectsIn, listPromptsIn, listSessionsIn, maskHistoryIn, objectVersionsIn, sessionSummariesIn, type SqliteSessionSummary } from './sqlite-reads.js';
import { checkObjectVersions, hasObjectVersions, prepareSqliteSchema, STORE_SCHEMA_VERSION, type VersionCheck } from './sqlite-schema.js';
import { prepareSqliteStatements, type SqliteStatements } from './sqlite-statements.js';
import type { ClipInput, ClipRecord, LoadedSession, MaskInput, MaskRecord, ObjectRecord, PromptInput, PromptRecord, SessionRecord, SessionStatus } from './store-records.js';
import { clipFromRow, maskFromRow, now, objectFromRow, promptFromRow, sessionFromRow, type ClipRow, type MaskRow, type ObjectRow, type PromptRow, type SessionRow } from './sqlite-rows.js';

export { STORE_SCHEMA_VERSION, type VersionCheck };
export type * from './store-records.js';
// Callers have long imported clip hashing from here (adapt/, the public index, tests).
export { hashFile } from './clip-hash.js';

/** Options of {@link SessionStore.open}. */
export interface SessionStoreOptions {
  /** Open without writing (exporters, inspection). The file must exist. */
  readonly?: boolean;
  /**
   * SQLite `synchronous` level. 'full' (default): each commit is fsynced, so acknowledged masks
   * survive power loss. 'normal': survives a process crash but a power loss may drop the last
   * commits; faster on slow disks.
   */
  synchronous?: 'full' | 'normal';
  /** How long a write waits for another process's lock before failing (default 5000 ms). */
  busyTimeoutMs?: number;
}

function storeError(what: string, cause: unknown): CinesegError {
  return new CinesegError(ErrorCode.E_STORE, `store: ${what}: ${(cause as Error).message}`, { cause });
}

/** The SQLite annotation store. See the module comment for the durability contract. */
export class SessionStore {
  /**
   * Opens (creating when needed) the store at `path`, switches it to WAL, and creates the schema.
   * Fails with E_STORE when the file is not a cineseg store, E_STORE_VERSION when its schema is newer.
   */
  static open(path: string, opts: SessionStoreOptions = {}): SessionStore {
    const abs = resolve(path);
    let db: Database.Database;
    try {
      if (!opts.readonly) mkdirSync(dirname(abs), { recursive: true });
      db = new Database(abs, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false, timeout: opts.busyTimeoutMs ?? 5000 });
    } catch (cause) {
      const code = opts.readonly ? ErrorCode.E_INPUT_NOT_FOUND : ErrorCode.E_STORE;
      throw new CinesegError(code, `cannot open store ${path}: ${(cause as Error).message}`, { cause });
    }
    try {
      if (!opts.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${(opts.synchronous ?? 'full').toUpperCase()}`);
        db.pragma('foreign_keys = ON');
      }
      prepareSqliteSchema(db, path);
    } catch (cause) {
      db.close();
      if (cause instanceof CinesegError) throw cause;
      throw storeError(`cannot use ${path}`, cause);
    }
    return new SessionStore(db, abs);
  }

  private readonly stmts: SqliteStatements;
  private destroyed = false;
  /** False for a version-2 file opened read-only (no `objects.version`: every object reads as 0). */
  private readonly versioned: boolean;
  /** Prompts taken back and the undo/redo list of each session (prompt-history-store.ts). */
  readonly history: PromptHistoryStore;

  private constructor(
    private readonly db: Database.Database,
    /** Absolute path of the SQLite file. */
    readonly path: string,
  ) {
    this.history = new PromptHistoryStore(db);
    this.versioned = hasObjectVersions(db);
    this.stmts = prepareSqliteStatements(db);
  }

  /** The SQLite handle, for store code kept in files of its own (e.g. store/session-review.ts). */
  get database(): Database.Database {
    this.alive();
    return this.db;
  }

  // ---------------------------------------------------------------- clips

  /** Registers a clip, or returns the existing one with the same content hash (path updated). */
  upsertClip(clip: ClipInput): ClipRecord {
    this.writable();
    return this.tx('upsertClip', () => {
      const existing = this.stmts.clipByHash.get(clip.contentHash) as ClipRow | undefined;
      if (existing) {
        if (existing.path !== clip.path) this.db.prepare('UPDATE clips SET path = ? WHERE id = ?').run(clip.path, existing.id);
        return clipFromRow({ ...existing, path: clip.path });
      }
      const r = this.stmts.insertClip.run(
        clip.path,
        clip.contentHash,
        clip.width,
        clip.height,
        clip.numFrames,
        clip.fps,
        clip.frameTimeMs ?? null,
        clip.dicom ? JSON.stringify(clip.dicom) : null,
        now(),
      );
      return clipFromRow(this.stmts.clipById.get(r.lastInsertRowid) as ClipRow);
    });
  }

  /** A clip by id or content hash, or undefined. */
  getClip(idOrHash: number | string): ClipRecord | undefined {
    this.alive();
    const r = (typeof idOrHash === 'number' ? this.stmts.clipById.get(idOrHash) : this.stmts.clipByHash.get(idOrHash)) as ClipRow | undefined;
    return r ? clipFromRow(r) : undefined;
  }

  /**
   * Raises a clip's frame count to at least `numFrames`. A live source has no length: its pseudo
   * clip grows as frames are stored, so exports cover exactly the frames seen, also after a crash.
   */
  growClip(clipId: number, numFrames: number): void {
    this.writable();
    this.tx('growClip', () => this.db.prepare('UPDATE clips SET num_frames = ? WHERE id = ? AND num_frames < ?').run(numFrames, clipId, numFrames));
  }

  // ---------------------------------------------------------------- sessions

  /** Starts a session on a registered clip (status 'open'). `id` defaults to a random UUID. */
  createSession(clipId: number, opts: { id?: string; meta?: Record<string, unknown> } = {}): SessionRecord {
    this.writable();
    if (!this.getClip(clipId)) throw new CinesegError(ErrorCode.E_STORE, `store: no clip with id ${clipId}`);
    const id = opts.id ?? randomUUID();
    const t = now();
    this.tx('createSession', () => this.stmts.insertSession.run(id, clipId, 'open', JSON.stringify(opts.meta ?? {}), t, t));
    return this.getSession(id)!;
  }

  /** A session by id, or undefined. */
  getSession(id: string): SessionRecord | undefined {
    this.alive();
    const r = this.stmts.session.get(id) as SessionRow | undefined;
    return r ? sessionFromRow(r) : undefined;
  }

  /** Like {@link getSession} but fails with E_SESSION_UNKNOWN. */
  requireSession(id: string): SessionRecord {
    const s = this.getSession(id);
    if (!s) throw new CinesegError(ErrorCode.E_SESSION_UNKNOWN, `no session "${id}" in ${this.path}`, { details: { sessionId: id } });
    return s;
  }

  /** Sessions, newest first; optionally only those with a status or on a clip. */
  listSessions(filter: { status?: SessionStatus; clipId?: number } = {}): SessionRecord[] {
    this.alive();
    return listSessionsIn(this.db, filter);
  }

  /** Per session: its clip's path and frame count, live objects, and frames with current masks. */
  sessionSummaries(): SqliteSessionSummary[] {
    this.alive();
    return sessionSummariesIn(this.db);
  }

  /** Sessions never closed: what a restarted server offers to resume. */
  openSessions(): SessionRecord[] {
    return this.listSessions({ status: 'open' });
  }

  /** Sets a session's status ('closed' when a client ends it, 'done' when a batch finished it, 'open' to resume). */
  setSessionStatus(id: string, status: SessionStatus): void {
    this.writable();
    this.requireSession(id);
    this.tx('setSessionStatus', () => this.db.prepare('UPDATE sessions SET status = ?, updated_at = ? WHERE id = ?').run(status, now(), id));
  }

  /**
   * Deletes a session with its objects, prompts and every mask it ever had (its clip stays). The
   * one exception to "history is never deleted": a person asked for it (DELETE /api/sessions/:id).
   */
  deleteSession(id: string): void {
    this.writable();
    this.requireSession(id);
    this.tx('deleteSession', () => {
      this.history.deleteSession(id);
      for (const t of ['masks', 'prompts', 'objects']) this.db.prepare(`DELETE FROM ${t} WHERE session_id = ?`).run(id);
      this.db.prepare('DELETE FROM sessions WHERE id = ?').run(id);
    });
  }

  /** Merges `meta` into the session's meta. */
  updateSessionMeta(id: string, meta: Record<string, unknown>): void {
    this.writable();
    const s = this.requireSession(id);
    this.tx('updateSessionMeta', () => this.db.prepare('UPDATE sessions SET meta = ?, updated_at = ? WHERE id = ?').run(JSON.stringify({ ...s.meta, ...meta }), now(), id));
  }

  /** Everything about a session: clip, objects, prompts in order, current masks. */
  loadSession(id: string): LoadedSession {
    const session = this.requireSession(id);
    const clip = this.getClip(session.clipId)!;
    return { session, clip, objects: this.listObjects(id, { includeRemoved: true }), prompts: this.listPrompts(id), masks: this.currentMasks(id) };
  }

  // ---------------------------------------------------------------- objects

  /**
   * Adds an object (or revives a removed one, or renames it when `label` is not 'object'); its
   * version goes up when it is made or changed, and a call that changes nothing writes nothing.
   * Prompts and masks add their object by themselves.
   */
  addObject(sessionId: string, objectId: number, label = 'object', opts?: VersionCheck): ObjectRecord {
    this.writable();
    this.requireSession(sessionId);
    checkObjectId(objectId);
    this.tx('addObject', () => {
      const old = this.stmts.object.get(sessionId, objectId) as ObjectRow | undefined;
      if (old && old.removed === 0 && (label === 'object' || label === old.label)) return;
      checkObjectVersions(this.db, sessionId, [objectId], opts);
      this.stmts.upsertObject.run(sessionId, objectId, label, now());
      this.stmts.touchSession.run(now(), sessionId);
    });
    return objectFromRow(this.stmts.object.get(sessionId, objectId) as ObjectRow);
  }

  /**
   * Marks an object removed (its version goes up); its prompts and masks stay in history and leave
   * exports. The prompt version at the removal is kept in session meta `removals` (object id →
   * version): an object id used again later starts afresh, so a restore leaves out what came
   * before (session-restore.ts).
   */
  removeObject(sessionId: string, objectId: number, opts?: VersionCheck): void {
    this.writable();
    const r = this.tx('removeObject', () => {
      // Read inside the transaction: another process's write to the meta cannot slip in between.
      const s = this.requireSession(sessionId);
      checkObjectVersions(this.db, sessionId, [objectId], opts);
      this.stmts.touchSession.run(now(), sessionId);
      const changed = this.db.prepare('UPDATE objects SET removed = 1, version = version + 1 WHERE session_id = ? AND object_id = ?').run(sessionId, objectId);
      if (changed.changes > 0) {
        const removals = { ...((s.meta.removals as Record<string, number> | undefined) ?? {}), [objectId]: s.promptVersion };
        this.db.prepare('UPDATE sessions SET meta = ? WHERE id = ?').run(JSON.stringify({ ...s.meta, removals }), sessionId);
      }
      return changed;
    });
    if (r.changes === 0) throw new CinesegError(ErrorCode.E_OBJECT_UNKNOWN, `session has no object ${objectId}`, { details: { objectId } });
  }

  /** Each object's version now, removed objects included. */
  objectVersions(sessionId: string): Record<number, number> {
    this.alive();
    return objectVersionsIn(this.db, sessionId, this.versioned);
  }

  /** A session's objects by id (removed ones only when asked). */
  listObjects(sessionId: string, opts: { includeRemoved?: boolean } = {}): ObjectRecord[] {
    this.alive();
    return listObjectsIn(this.db, sessionId, opts);
  }

  // ---------------------------------------------------------------- prompts

  /**
   * Records a prompt (adding its object) and bumps the session's prompt version; returns the record,
   * whose `version` is the new version. Committed on return.
   */
  addPrompt(sessionId: string, prompt: PromptInput, opts?: VersionCheck): PromptRecord {
    this.writable();
    this.requireSession(sessionId);
    checkObjectId(prompt.objectId);
    if (!Number.isInteger(prompt.frame) || prompt.frame < 0) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `prompt frame must be a non-negative integer, got ${prompt.frame}`);
    const { objectId, frame, ...data } = prompt;
    const stored = data.kind === 'mask' ? { ...data, mask: toCompressed(data.mask) } : data;
    const id = this.tx('addPrompt', () => {
      checkObjectVersions(this.db, sessionId, [objectId], opts);
      const t = now();
      this.stmts.upsertObject.run(sessionId, objectId, 'object', t);
      const { prompt_version: version } = this.stmts.bumpVersion.get(t, sessionId) as { prompt_version: number };
      return this.db
        .prepare('INSERT INTO prompts (session_id, object_id, frame, kind, data, version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(sessionId, objectId, frame, data.kind, JSON.stringify(stored), version, t).lastInsertRowid;
    });
    return promptFromRow(this.db.prepare('SELECT * FROM prompts WHERE id = ?').get(id) as PromptRow);
  }

  /** A session's prompts in the order they were given (optionally one object's). */
  listPrompts(sessionId: string, opts: { objectId?: number } = {}): PromptRecord[] {
    this.alive();
    return listPromptsIn(this.db, sessionId, opts);
  }

  // ---------------------------------------------------------------- masks

  /**
   * Writes masks in ONE transaction and returns their records after the commit: only now may they
   * be acknowledged. Each mask becomes the current one of its (object, frame); the one it replaces
   * is kept, marked superseded. The masks' objects are added when new; each touched object's
   * version goes up by one. Masks must be at the clip's size and frames inside the clip.
   */
  putMasks(sessionId: string, masks: readonly MaskInput[], opts?: VersionCheck): MaskRecord[] {
    this.writable();
    if (masks.length === 0) return [];
    const session = this.requireSession(sessionId);
    const clip = this.getClip(session.clipId)!;
    const prepared = masks.map((m) => {
      checkObjectId(m.objectId);
      if (!Number.isInteger(m.frame) || m.frame < 0 || m.frame >= clip.numFrames) {
        throw new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `mask on frame ${m.frame}, the clip has ${clip.numFrames} frames`, { details: { frame: m.frame } });
      }
      if (!m.rle || !Array.isArray(m.rle.size) || (typeof m.rle.counts !== 'string' && !Array.isArray(m.rle.counts))) {
        throw new CinesegError(ErrorCode.E_MASK_INVALID, `object ${m.objectId} frame ${m.frame}: mask is not COCO RLE`);
      }
      const rle = toCompressed(m.rle);
      if (rle.size[0] !== clip.height || rle.size[1] !== clip.width) {
        throw new CinesegError(ErrorCode.E_MASK_INVALID, `mask is ${rle.size[1]}x${rle.size[0]}, the clip is ${clip.width}x${clip.height}`);
      }
      return { m, rle, area: rleArea(rle), bbox: JSON.stringify(rleToBbox(rle)) };
    });
    const ids = this.tx('putMasks', () => {
      checkObjectVersions(this.db, sessionId, new Set(masks.map((m) => m.objectId)), opts);
      const t = now();
      const out: number[] = [];
      const seen = new Set<number>();
      for (const { m, rle, area, bbox } of prepared) {
        if (!seen.has(m.objectId)) {
          seen.add(m.objectId);
          this.stmts.upsertObject.run(sessionId, m.objectId, 'object', t);
        }
        const old = this.stmts.currentMask.get(sessionId, m.objectId, m.frame) as MaskRow | undefined;
        // The old row leaves the unique "current" slot before the new one takes it.
        if (old) this.db.prepare('UPDATE masks SET current = 0 WHERE id = ?').run(old.id);
        const id = Number(
          this.stmts.insertMask.run(
            sessionId,
            m.objectId,
            m.frame,
            rle.size[0],
            rle.size[1],
            rle.counts,
            area,
            bbox,
            m.score ?? null,
            m.promptVersion ?? session.promptVersion,
            m.origin ?? 'propagate',
            t,
          ).lastInsertRowid,
        );
        if (old) this.stmts.supersede.run(id, old.id);
        out.push(id);
      }
      this.stmts.touchSession.run(t, sessionId);
      return out;
    });
    const get = this.db.prepare('SELECT * FROM masks WHERE id = ?');
    return ids.map((id) => maskFromRow(get.get(id) as MaskRow));
  }

  /** One mask; see {@link putMasks}. */
  putMask(sessionId: string, mask: MaskInput, opts?: VersionCheck): MaskRecord {
    return this.putMasks(sessionId, [mask], opts)[0]!;
  }

  /** The current mask of an object on a frame, or undefined. */
  getMask(sessionId: string, objectId: number, frame: number): MaskRecord | undefined {
    this.alive();
    const r = this.stmts.currentMask.get(sessionId, objectId, frame) as MaskRow | undefined;
    return r ? maskFromRow(r) : undefined;
  }

  /** Current masks of a session (of live objects only, unless asked), by object then frame. */
  currentMasks(sessionId: string, opts: { objectId?: number; includeRemoved?: boolean } = {}): MaskRecord[] {
    this.alive();
    return currentMasksIn(this.db, sessionId, opts);
  }

  /** Every mask ever written for an object on a frame, oldest first (the last is current). */
  maskHistory(sessionId: string, objectId: number, frame: number): MaskRecord[] {
    this.alive();
    return maskHistoryIn(this.db, sessionId, objectId, frame);
  }

  /** Frames that have a current mask for every live object of the session (ascending). */
  completeFrames(sessionId: string): number[] {
    this.alive();
    return completeFramesIn(this.db, sessionId);
  }

  /** The session's current masks as YouTube-VIS JSON (session-vis-json.ts); exporters start from this. */
  toVisJson(sessionId: string): VisJson {
    return sessionVisJson(this.loadSession(sessionId));
  }

  /**
   * Runs `fn` as ONE transaction: the store calls inside it (which nest as savepoints) all commit
   * together when it returns, or none do when it throws. E.g. a session and its first prompts,
   * so a crash never leaves a session with half its prompts.
   */
  atomic<T>(fn: () => T): T {
    this.writable();
    return this.tx('atomic', fn);
  }

  // ---------------------------------------------------------------- maintenance

  /** `PRAGMA integrity_check`: 'ok' when the file is sound, else SQLite's first problems. */
  integrityCheck(): string {
    this.alive();
    const rows = this.db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join('; ');
  }

  /** Moves the WAL into the main file (e.g. before copying the .db alone). */
  checkpoint(): void {
    this.writable();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Closes the database. Idempotent; committed data is already on disk. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.db.close();
  }

  private tx<T>(what: string, fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (cause) {
      if (cause instanceof CinesegError) throw cause;
      throw storeError(what, cause);
    }
  }

  private alive(): void {
    if (this.destroyed) throw new CinesegError(ErrorCode.E_STORE, 'store was destroyed');
  }

  private writable(): void {
    this.alive();
    if (this.db.readonly) throw new CinesegError(ErrorCode.E_STORE, `store ${this.path} was opened read-only`);
  }
}

function checkObjectId(id: number): void {
  if (!Number.isInteger(id) || id < 0) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `object id must be a non-negative integer, got ${id}`);
}
