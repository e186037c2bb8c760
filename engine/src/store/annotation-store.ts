/**
 * The one store interface every part of cineseg writes annotations through, with two
 * implementations: SQLite (store/sqlite-store.ts over session-store.ts, one file, the embedded
 * default) and PostgreSQL (store/postgres-store.ts, shared by several servers and workers).
 * store/open-store.ts picks one from a spec (a path, or a postgres:// URL) and resolves the default.
 *
 * The record types (ClipRecord, SessionRecord, …) and their meaning are those of session-store.ts;
 * the contract is the same on both backends:
 * - A write's promise resolves only after its transaction has COMMITTED: an acknowledgement that
 *   waits for it can never be lost (kill -9 of the process, or of the database's client).
 * - History is never deleted: a correction adds mask rows and supersedes the older row of the same
 *   (session, object, frame); only deleteSession removes rows.
 * - Objects carry a version (optimistic concurrency): every write that touches an object (a prompt,
 *   masks, a removal, a new name) adds one to it. A writer that passes `ifVersions` gets
 *   E_EDIT_CONFLICT, with nothing written, when any touched object's stored version differs from the
 *   one it names — another editor (another server on the same PostgreSQL) changed it in between.
 *   Objects not named in `ifVersions` are not checked (a new object, a batch that owns its session).
 * - Errors: E_SESSION_UNKNOWN, E_OBJECT_UNKNOWN, E_MASK_INVALID as the request's fault; E_STORE for
 *   a failed statement; E_STORE_UNAVAILABLE when the database cannot be reached; E_STORE_VERSION
 *   when its schema is newer than this build.
 */
import type { VisJson } from '../mask/vis-json.js';
import type { StoredEdit } from './prompt-history-store.js';
import type { ClipInput, ClipRecord, LoadedSession, MaskInput, MaskRecord, ObjectRecord, PromptInput, PromptRecord, SessionRecord, SessionStatus } from './session-store.js';

/** For each object id, the version the writer last read (see the module comment). */
export type ObjectVersions = Readonly<Record<number, number>>;

/** Options of the writes that touch objects. */
export interface EditOptions {
  /** Versions the writer based its edit on; a mismatch on a touched object is E_EDIT_CONFLICT. */
  ifVersions?: ObjectVersions;
}

/** A stored session with the counts the sessions list shows. */
export type SessionSummary = SessionRecord & { clipPath: string; numFrames: number; objects: number; maskedFrames: number };

/** The prompt history of sessions (undo/redo, prompts taken back); see prompt-history-store.ts. */
export interface PromptHistory {
  removedPromptIds(sessionId: string): Promise<Set<number>>;
  setPromptsRemoved(sessionId: string, promptIds: readonly number[], removed: boolean): Promise<void>;
  pushEdit(sessionId: string, kind: string, data: unknown): Promise<number>;
  peekEdit(sessionId: string, which: 'undo' | 'redo'): Promise<StoredEdit | null>;
  markEdit(sessionId: string, editId: number, undone: boolean): Promise<void>;
  editState(sessionId: string): Promise<{ canUndo: boolean; canRedo: boolean }>;
  /** Sets the label as given ('object' too); bumps the object's version. Returns whether it exists. */
  setLabel(sessionId: string, objectId: number, label: string, opts?: EditOptions): Promise<boolean>;
}

export type StoreKind = 'sqlite' | 'postgres';

export interface AnnotationStore {
  readonly kind: StoreKind;
  /** Where the data is, safe to print: the file's absolute path, or the URL without its password. */
  readonly location: string;
  /** What `--store` takes to open this store again from another process (the URL keeps its password). */
  readonly spec: string;
  readonly readonly: boolean;
  readonly history: PromptHistory;

  upsertClip(clip: ClipInput): Promise<ClipRecord>;
  getClip(idOrHash: number | string): Promise<ClipRecord | undefined>;
  /** A live clip's frame count grows with the frames stored (never shrinks). */
  growClip(clipId: number, numFrames: number): Promise<void>;

  createSession(clipId: number, opts?: { id?: string; meta?: Record<string, unknown> }): Promise<SessionRecord>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** @throws CinesegError E_SESSION_UNKNOWN */
  requireSession(id: string): Promise<SessionRecord>;
  listSessions(filter?: { status?: SessionStatus; clipId?: number }): Promise<SessionRecord[]>;
  sessionSummaries(): Promise<SessionSummary[]>;
  /** Sessions never closed (status 'open'). */
  openSessions(): Promise<SessionRecord[]>;
  setSessionStatus(id: string, status: SessionStatus): Promise<void>;
  deleteSession(id: string): Promise<void>;
  /** Merges `meta` into the session's meta (top-level keys replaced). */
  updateSessionMeta(id: string, meta: Record<string, unknown>): Promise<void>;
  loadSession(id: string): Promise<LoadedSession>;

  addObject(sessionId: string, objectId: number, label?: string, opts?: EditOptions): Promise<ObjectRecord>;
  removeObject(sessionId: string, objectId: number, opts?: EditOptions): Promise<void>;
  listObjects(sessionId: string, opts?: { includeRemoved?: boolean }): Promise<ObjectRecord[]>;
  /** Each object's version now (removed ones included). */
  objectVersions(sessionId: string): Promise<Record<number, number>>;

  addPrompt(sessionId: string, prompt: PromptInput, opts?: EditOptions): Promise<PromptRecord>;
  listPrompts(sessionId: string, opts?: { objectId?: number }): Promise<PromptRecord[]>;

  /** One transaction however many masks; returns the new rows in input order. */
  putMasks(sessionId: string, masks: readonly MaskInput[], opts?: EditOptions): Promise<MaskRecord[]>;
  getMask(sessionId: string, objectId: number, frame: number): Promise<MaskRecord | undefined>;
  currentMasks(sessionId: string, opts?: { objectId?: number; includeRemoved?: boolean }): Promise<MaskRecord[]>;
  maskHistory(sessionId: string, objectId: number, frame: number): Promise<MaskRecord[]>;
  /** Frames where every live object has a current mask, ascending. */
  completeFrames(sessionId: string): Promise<number[]>;
  toVisJson(sessionId: string): Promise<VisJson>;

  /**
   * Runs `fn` in one transaction: everything it writes through `tx` commits together or not at all.
   * Other callers of this store wait until it ends (SQLite) or see nothing of it before COMMIT
   * (PostgreSQL). Write through `tx` only, never through the outer store, inside `fn`.
   */
  transaction<T>(fn: (tx: AnnotationStore) => Promise<T>): Promise<T>;
  /** 'ok', or what is wrong (SQLite's integrity_check; PostgreSQL: the schema version and row counts agree). */
  integrityCheck(): Promise<string>;
  /** Closes the file or the connection pool; later calls reject with E_STORE. */
  destroy(): Promise<void>;
}
