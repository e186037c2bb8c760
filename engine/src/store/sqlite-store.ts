/**
 * The SQLite implementation of {@link AnnotationStore}: the synchronous SessionStore
 * (session-store.ts) behind the async interface. Each call runs the sync store at once (its
 * writes return after COMMIT, so the promise resolves after it too), except while a
 * {@link SqliteStore.transaction} runs: one connection has one transaction, so every other call of
 * this SqliteStore waits for it to end (an in-process lock). Callers who use the wrapped
 * SessionStore directly (`sync`) bypass that lock: do not mix both while a transaction runs.
 */
import { CinesegError, ErrorCode, isCinesegError } from '../errors.js';
import type { VisJson } from '../mask/vis-json.js';
import type { AnnotationStore, EditOptions, PromptHistory, SessionSummary } from './annotation-store.js';
import type { StoredEdit } from './prompt-history-store.js';
import { SessionStore, type SessionStoreOptions } from './session-store.js';
import type { ClipInput, ClipRecord, LoadedSession, MaskInput, MaskRecord, ObjectRecord, PromptInput, PromptRecord, SessionRecord, SessionStatus } from './store-records.js';

/** The lock shared by a store and its transaction views. */
interface Gate {
  /** Settles when the last transaction queued has ended (null: none runs or waits). */
  active: Promise<unknown> | null;
  savepoints: number;
}

export class SqliteStore implements AnnotationStore {
  readonly kind = 'sqlite' as const;
  readonly history: PromptHistory;

  /** Opens (creating when needed) the SQLite file at `path`; see SessionStore.open. */
  static async open(path: string, opts: SessionStoreOptions = {}): Promise<SqliteStore> {
    return new SqliteStore(SessionStore.open(path, opts), true, { active: null, savepoints: 0 }, false);
  }

  /** An AnnotationStore over a SessionStore someone else owns: destroy() leaves it open. */
  static wrap(store: SessionStore): SqliteStore {
    return new SqliteStore(store, false, { active: null, savepoints: 0 }, false);
  }

  private constructor(
    private readonly store: SessionStore,
    private readonly owned: boolean,
    private readonly gate: Gate,
    /** True for the view a transaction's callback gets: it runs inside the lock, so never waits on it. */
    private readonly inTx: boolean,
  ) {
    const h = store.history;
    this.history = {
      removedPromptIds: (id) => this.call(() => h.removedPromptIds(id)),
      setPromptsRemoved: (id, ids, removed) => this.call(() => h.setPromptsRemoved(id, ids, removed)),
      pushEdit: (id, kind, data) => this.call(() => h.pushEdit(id, kind, data)),
      peekEdit: (id, which): Promise<StoredEdit | null> => this.call(() => h.peekEdit(id, which)),
      markEdit: (id, editId, undone) => this.call(() => h.markEdit(id, editId, undone)),
      editState: (id) => this.call(() => h.editState(id)),
      setLabel: (id, objectId, label, opts) => this.call(() => h.setLabel(id, objectId, label, opts)),
    };
  }

  /** The SessionStore underneath, for SQLite-only needs (raw queries, checkpoint). */
  get sync(): SessionStore {
    return this.store;
  }

  get location(): string {
    return this.store.path;
  }

  get spec(): string {
    return this.store.path;
  }

  get readonly(): boolean {
    return this.store.database.readonly;
  }

  upsertClip(clip: ClipInput): Promise<ClipRecord> {
    return this.call(() => this.store.upsertClip(clip));
  }
  getClip(idOrHash: number | string): Promise<ClipRecord | undefined> {
    return this.call(() => this.store.getClip(idOrHash));
  }
  growClip(clipId: number, numFrames: number): Promise<void> {
    return this.call(() => this.store.growClip(clipId, numFrames));
  }

  createSession(clipId: number, opts?: { id?: string; meta?: Record<string, unknown> }): Promise<SessionRecord> {
    return this.call(() => this.store.createSession(clipId, opts));
  }
  getSession(id: string): Promise<SessionRecord | undefined> {
    return this.call(() => this.store.getSession(id));
  }
  requireSession(id: string): Promise<SessionRecord> {
    return this.call(() => this.store.requireSession(id));
  }
  listSessions(filter?: { status?: SessionStatus; clipId?: number }): Promise<SessionRecord[]> {
    return this.call(() => this.store.listSessions(filter));
  }
  sessionSummaries(): Promise<SessionSummary[]> {
    return this.call(() => this.store.sessionSummaries());
  }
  openSessions(): Promise<SessionRecord[]> {
    return this.call(() => this.store.openSessions());
  }
  setSessionStatus(id: string, status: SessionStatus): Promise<void> {
    return this.call(() => this.store.setSessionStatus(id, status));
  }
  deleteSession(id: string): Promise<void> {
    return this.call(() => this.store.deleteSession(id));
  }
  updateSessionMeta(id: string, meta: Record<string, unknown>): Promise<void> {
    return this.call(() => this.store.updateSessionMeta(id, meta));
  }
  loadSession(id: string): Promise<LoadedSession> {
    return this.call(() => this.store.loadSession(id));
  }

  addObject(sessionId: string, objectId: number, label?: string, opts?: EditOptions): Promise<ObjectRecord> {
    return this.call(() => this.store.addObject(sessionId, objectId, label, opts));
  }
  removeObject(sessionId: string, objectId: number, opts?: EditOptions): Promise<void> {
    return this.call(() => this.store.removeObject(sessionId, objectId, opts));
  }
  listObjects(sessionId: string, opts?: { includeRemoved?: boolean }): Promise<ObjectRecord[]> {
    return this.call(() => this.store.listObjects(sessionId, opts));
  }
  objectVersions(sessionId: string): Promise<Record<number, number>> {
    return this.call(() => this.store.objectVersions(sessionId));
  }

  addPrompt(sessionId: string, prompt: PromptInput, opts?: EditOptions): Promise<PromptRecord> {
    return this.call(() => this.store.addPrompt(sessionId, prompt, opts));
  }
  listPrompts(sessionId: string, opts?: { objectId?: number }): Promise<PromptRecord[]> {
    return this.call(() => this.store.listPrompts(sessionId, opts));
  }

  putMasks(sessionId: string, masks: readonly MaskInput[], opts?: EditOptions): Promise<MaskRecord[]> {
    return this.call(() => this.store.putMasks(sessionId, masks, opts));
  }
  getMask(sessionId: string, objectId: number, frame: number): Promise<MaskRecord | undefined> {
    return this.call(() => this.store.getMask(sessionId, objectId, frame));
  }
  currentMasks(sessionId: string, opts?: { objectId?: number; includeRemoved?: boolean }): Promise<MaskRecord[]> {
    return this.call(() => this.store.currentMasks(sessionId, opts));
  }
  maskHistory(sessionId: string, objectId: number, frame: number): Promise<MaskRecord[]> {
    return this.call(() => this.store.maskHistory(sessionId, objectId, frame));
  }
  completeFrames(sessionId: string): Promise<number[]> {
    return this.call(() => this.store.completeFrames(sessionId));
  }
  toVisJson(sessionId: string): Promise<VisJson> {
    return this.call(() => this.store.toVisJson(sessionId));
  }

  /**
   * `BEGIN IMMEDIATE` (the file's write lock taken at once, so another process cannot make it fail
   * half-way) … `COMMIT`, or `ROLLBACK` when `fn` throws. The sync store's own transactions inside
   * nest as savepoints (better-sqlite3 sees the open transaction). Inside `fn`, `tx.transaction`
   * nests as a savepoint too.
   */
  transaction<T>(fn: (tx: AnnotationStore) => Promise<T>): Promise<T> {
    if (this.inTx) return this.savepoint(fn);
    // Queued at once, in call order: a call made after this one waits for it, one made before ran already.
    const prev = this.gate.active;
    const run = (async () => {
      if (prev) await prev;
      const db = this.store.database;
      if (db.readonly) throw new CinesegError(ErrorCode.E_STORE, `store ${this.store.path} was opened read-only`);
      sqlite(() => db.exec('BEGIN IMMEDIATE'), 'transaction');
      try {
        const out = await fn(new SqliteStore(this.store, false, this.gate, true));
        sqlite(() => db.exec('COMMIT'), 'transaction');
        return out;
      } catch (e) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw e;
      }
    })();
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.gate.active = settled;
    void settled.then(() => {
      if (this.gate.active === settled) this.gate.active = null;
    });
    return run;
  }

  /** A transaction inside a transaction: a savepoint, rolled back alone when `fn` throws. */
  private async savepoint<T>(fn: (tx: AnnotationStore) => Promise<T>): Promise<T> {
    const db = this.store.database;
    const name = `cineseg_sp${++this.gate.savepoints}`;
    sqlite(() => db.exec(`SAVEPOINT ${name}`), 'transaction');
    try {
      const out = await fn(this);
      db.exec(`RELEASE ${name}`);
      return out;
    } catch (e) {
      db.exec(`ROLLBACK TO ${name}`);
      db.exec(`RELEASE ${name}`);
      throw e;
    }
  }

  integrityCheck(): Promise<string> {
    return this.call(() => this.store.integrityCheck());
  }

  /** Waits for a running transaction, then closes the file when this store opened it. */
  async destroy(): Promise<void> {
    if (this.inTx) return;
    await this.idle();
    if (this.owned) this.store.destroy();
  }

  /** Resolves when no transaction runs or waits (the view inside one never waits). */
  private async idle(): Promise<void> {
    // A loop: a transaction queued meanwhile runs before the waiting call.
    while (this.gate.active && !this.inTx) await this.gate.active;
  }

  private async call<T>(fn: () => T): Promise<T> {
    if (!this.inTx && this.gate.active) await this.idle();
    return fn();
  }
}

function sqlite(fn: () => void, what: string): void {
  try {
    fn();
  } catch (cause) {
    if (isCinesegError(cause)) throw cause;
    throw new CinesegError(ErrorCode.E_STORE, `store: ${what}: ${(cause as Error).message}`, { cause });
  }
}
